"""Tenancy: which Kubernetes namespace a caller's network is, and whether the caller may use it.

A caller names a *network* (``network_name``); the Kubernetes namespace is the operator's
``settings.namespace_prefix`` followed by that name (no prefix by default, so the namespace is
the network). Every response names the network again, never the prefix.

A namespace is a tenant's when it carries the label ``container-maker.io/tenant=<tenant>``
(:data:`~container_maker.identity.TENANT_KEY`): Container Maker sets it on the namespaces it
creates, and an operator sets it on a namespace made otherwise with :func:`assign_namespace`
(``container-maker namespace assign``). No other namespace is ever used, and ``kube-*``,
``default`` and the server's own namespace (``settings.server_namespace``) are refused whatever
their labels say.

The pure parts (:func:`namespace_for`, :func:`network_name_of`, :func:`is_reserved`,
:func:`belongs_to`) need no cluster; :class:`TenantAdmission` keeps the containers-per-tenant
limit within one server process.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kubernetes import client
from kubernetes.client import ApiClient

from .context import KubeContext
from .errors import (
    FailedPrecondition,
    Forbidden,
    InternalError,
    InvalidArgument,
    ResourceExhausted,
)
from .identity import ID_KEY, MANAGED_BY_KEY, TENANT_KEY, is_managed, label_selector
from .kube import NamespacedApi, api_errors
from .settings import Settings
from .validation import validate_namespace_name

MAX_NAMESPACE_LENGTH = 63
RESERVED_PREFIX = "kube-"
RESERVED_NAMES = ("default",)
_TENANT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def namespace_for(network_name: str, settings: Settings, field: str = "network_name") -> str:
    """The Kubernetes namespace of ``network_name``: the prefix, then the name.

    InvalidArgument names ``field`` when the name is not a DNS label or when the prefixed
    name would be longer than a namespace may be (the limit counts the prefix).
    """
    validate_namespace_name(network_name, field)
    prefix = settings.namespace_prefix
    namespace = prefix + network_name
    if len(namespace) > MAX_NAMESPACE_LENGTH:
        raise InvalidArgument(
            field,
            f"must be at most {MAX_NAMESPACE_LENGTH - len(prefix)} characters, got "
            f"{len(network_name)}: this server puts the prefix {prefix!r} in front of it and "
            f"a namespace name has at most {MAX_NAMESPACE_LENGTH}",
        )
    return namespace


def network_name_of(namespace: str, settings: Settings) -> str:
    """The caller's name for ``namespace`` (the prefix removed): what responses carry."""
    return namespace.removeprefix(settings.namespace_prefix)


def is_reserved(namespace: str, settings: Settings) -> bool:
    """True for the namespaces never used for containers, whatever their labels:
    ``kube-*``, ``default`` and the server's own."""
    return (
        namespace.startswith(RESERVED_PREFIX)
        or namespace in RESERVED_NAMES
        or namespace == settings.server_namespace
    )


def belongs_to(labels: Mapping[str, str] | None, tenant: str) -> bool:
    """True when a namespace's labels assign it to ``tenant``."""
    return labels is not None and labels.get(TENANT_KEY) == tenant


def refused_namespace(namespace: str, tenant: str, settings: Settings) -> Forbidden:
    """The error for a create into a namespace that is reserved or not the tenant's.

    It says the same whether the namespace is reserved, another tenant's or someone else's,
    and does not say whose it is.
    """
    network = network_name_of(namespace, settings)
    return Forbidden(
        f"network {network} is not available to tenant {tenant}: choose another "
        "network_name (names starting with kube-, default and the server's own namespace are "
        "reserved), or ask the operator to assign the namespace to your tenant "
        "(container-maker namespace assign)"
    )


class TenantAdmission:
    """The containers-per-tenant limit: count and admit one create at a time per tenant.

    :meth:`admit` counts the tenant's containers (the ids of its live pods, one label-selected
    list across namespaces, supplied by the caller) together with the creates this process
    admitted that may not be visible yet, and admits the new container only below ``limit``.
    Count and admission are serialized per tenant, so concurrent creates of one server never
    overshoot; the create itself runs outside the lock. Several replicas each count what the
    cluster shows plus their own creates in flight, so together they may overshoot by at most
    their number minus one (each may admit one create the others do not see yet).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._in_flight: dict[str, set[str]] = defaultdict(set)

    @contextmanager
    def admit(self, tenant: str, container_id: str, live: Callable[[], set[str]]) -> Iterator[None]:
        """Admit ``container_id`` for ``tenant`` while the block runs, or raise
        ResourceExhausted naming the limit. ``live()`` returns the ids of the tenant's
        containers in the cluster."""
        with self._guard:
            lock = self._locks[tenant]
        with lock:
            with self._guard:
                in_flight = set(self._in_flight[tenant])
            count = len(live() | in_flight)
            if count >= self.limit:
                raise ResourceExhausted(
                    f"tenant {tenant} has {count} containers, its limit "
                    f"(max_containers_per_tenant, --max-containers-per-tenant) is {self.limit}: "
                    "delete one first"
                )
            with self._guard:
                self._in_flight[tenant].add(container_id)
        try:
            yield
        finally:
            with self._guard:
                self._in_flight[tenant].discard(container_id)


def tenant_containers(pods: NamespacedApi[Any], tenant: str, context: KubeContext) -> set[str]:
    """The ids of ``tenant``'s live containers in all namespaces: one label-selected pod list
    (pods already terminating do not count)."""
    if pods.list_all is None:
        raise InternalError("the pod plugin cannot list pods in all namespaces")
    with api_errors(f"listing the pods of tenant {tenant}"):
        found = pods.list_all(
            pods.api(context.api_client),
            label_selector=label_selector(tenant=tenant),
            _request_timeout=context.request_timeout(),
        )
    observed = (pods.observe(item) for item in found.items)
    return {pod.labels[ID_KEY] for pod in observed if ID_KEY in pod.labels and not pod.terminating}


def assign_namespace(
    api_client: ApiClient,
    namespace: str,
    tenant: str,
    *,
    settings: Settings | None = None,
    reassign: bool = False,
) -> None:
    """Label the existing ``namespace`` for ``tenant`` (the operator's path to hand a namespace
    made otherwise to a tenant); it is then used for the tenant's containers and, lacking the
    managed-by label, never deleted by Container Maker.

    Refused: reserved namespaces (InvalidArgument ``namespace``), a tenant that is not a label
    value (InvalidArgument ``tenant``), a name callers cannot reach because it lacks the
    configured prefix, a namespace Container Maker made for another tenant, and one assigned to
    another tenant unless ``reassign`` (FailedPrecondition). A namespace an older server made
    (managed-by, but no tenant label yet) may be assigned: that is how it is taken over. A
    missing namespace is NotFound. The label is written with the namespace's resourceVersion,
    so a concurrent change makes it fail instead of being overwritten.
    """
    settings = settings or Settings()
    validate_namespace_name(namespace, "namespace")
    if is_reserved(namespace, settings):
        raise InvalidArgument(
            "namespace",
            f"{namespace} is reserved (kube-*, default and the server's namespace "
            f"{settings.server_namespace} never hold containers)",
        )
    if not _TENANT.match(tenant):
        raise InvalidArgument(
            "tenant",
            f"{tenant!r} is not a label value (at most 63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit)",
        )
    prefix = settings.namespace_prefix
    if not namespace.startswith(prefix) or namespace == prefix:
        raise FailedPrecondition(
            f"namespace {namespace} does not start with the namespace prefix {prefix!r}: "
            "callers name networks without the prefix, so they could never reach it"
        )
    core = client.CoreV1Api(api_client)
    with api_errors(f"reading namespace {namespace}"):
        meta = core.read_namespace(namespace).metadata
    assert meta is not None  # objects read from the API always carry metadata
    labels = dict(meta.labels or {})
    current = labels.get(TENANT_KEY)
    if is_managed(labels) and current not in (None, tenant):
        raise FailedPrecondition(
            f"namespace {namespace} was made by Container Maker (label {MANAGED_BY_KEY}) for "
            "another tenant; it cannot be assigned"
        )
    if current == tenant:
        return
    if current is not None and not reassign:
        raise FailedPrecondition(
            f"namespace {namespace} is assigned to tenant {current}; pass reassign "
            "(--reassign) to move it, which gives that tenant's containers in it to the new one"
        )
    body = {
        "metadata": {
            "labels": {TENANT_KEY: tenant},
            "resourceVersion": meta.resource_version,
        }
    }
    with api_errors(f"labelling namespace {namespace} for tenant {tenant}"):
        core.patch_namespace(namespace, body)
