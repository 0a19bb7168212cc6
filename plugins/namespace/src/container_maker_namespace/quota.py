"""The ResourceQuota and LimitRange of every namespace Container Maker creates.

The builders are pure and read only the settings: the quota's ``hard`` is
:meth:`~container_maker.settings.Settings.quota_hard`; the LimitRange gives containers that
name no resources the default ones, and bounds every container between the least and the most
that either a user container (``min_resources``/``max_resources``) or a sidecar
(``sidecar_resources``) may have, so our own pods always fit.

:func:`ensure_quota` creates whichever of the two is missing and then waits until the quota
controller has counted the namespace: until it has, the API server admits everything without
counting (admission enforces only what ``status.hard`` lists), so returning earlier would let
the first creates in a new namespace slip past the quota.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kubernetes import client

from container_maker.context import KubeContext
from container_maker.errors import AlreadyExists, NotFound, Unavailable
from container_maker.identity import managed_labels
from container_maker.kube import api_errors, wait_until
from container_maker.models import ContainerResources
from container_maker.quantity import parse_quantity
from container_maker.settings import QUOTA_NAME, Settings

# Kubernetes resource name -> (request field, limit field) of ContainerResources.
_RESOURCES: dict[str, tuple[str, str]] = {
    "cpu": ("cpu_request", "cpu_limit"),
    "memory": ("memory_request", "memory_limit"),
    "ephemeral-storage": ("ephemeral_request", "ephemeral_limit"),
}

QUOTA_COUNT_TIMEOUT = 30.0
"""Seconds to wait for the quota controller to count a namespace (it takes well under one on
a healthy cluster; longer means the controller is not running)."""


def build_resource_quota(namespace: str, settings: Settings) -> dict[str, Any]:
    """The namespace's ResourceQuota, labelled as Container Maker's."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": managed_labels()},
        "spec": {"hard": settings.quota_hard()},
    }


def _pick(values: list[str], choose: Callable[[list[Decimal]], Decimal]) -> str | None:
    """The quantity among ``values`` (empty ones ignored) that ``choose`` (min or max) picks."""
    given = [v for v in values if v]
    if not given:
        return None
    parsed = [parse_quantity(v) for v in given]
    return given[parsed.index(choose(parsed))]


def limit_range_limits(settings: Settings) -> dict[str, dict[str, str]]:
    """The ``Container`` item of the LimitRange: ``default``, ``defaultRequest``, ``max``,
    ``min`` by Kubernetes resource name. A bound the settings leave open ("") is left out,
    and so is a minimum when the user container has none."""
    defaults: ContainerResources = settings.default_resources
    sidecar: ContainerResources = settings.sidecar_resources
    high, low = settings.max_resources, settings.min_resources
    item: dict[str, dict[str, str]] = {"default": {}, "defaultRequest": {}, "max": {}, "min": {}}
    for name, (request, limit) in _RESOURCES.items():
        if getattr(defaults, limit):
            item["default"][name] = getattr(defaults, limit)
        if getattr(defaults, request):
            item["defaultRequest"][name] = getattr(defaults, request)
        user_max = [getattr(high, request), getattr(high, limit)]
        if all(user_max):
            # max applies to requests and limits alike: the larger bound, or a sidecar's limit.
            most = _pick([*user_max, getattr(sidecar, limit)], max)
            if most is not None:
                item["max"][name] = most
        if getattr(low, request):
            least = _pick([getattr(low, request), getattr(sidecar, request)], min)
            if least is not None:
                item["min"][name] = least
    return {key: values for key, values in item.items() if values}


def build_limit_range(namespace: str, settings: Settings) -> dict[str, Any]:
    """The namespace's LimitRange (one ``Container`` item), labelled as Container Maker's."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": managed_labels()},
        "spec": {"limits": [{"type": "Container", **limit_range_limits(settings)}]},
    }


def _body(manifest: dict[str, Any]) -> Any:
    # The client sends dicts as they are; its signatures name only its V1 classes.
    return manifest


def _counted(quota: Any) -> bool:
    """Whether the quota controller has counted every resource the quota limits."""
    hard = dict(quota.spec.hard or {}) if quota.spec else {}
    status = quota.status
    counted_hard = dict(status.hard or {}) if status else {}
    used = dict(status.used or {}) if status else {}
    return all(name in counted_hard and name in used for name in hard)


def ensure_quota(namespace: str, context: KubeContext) -> None:
    """Create the ResourceQuota and LimitRange of ``namespace`` when missing (an existing one
    is left as it is), then wait until the quota is counted.

    Raises Unavailable when the quota is not counted within :data:`QUOTA_COUNT_TIMEOUT`.
    """
    core = client.CoreV1Api(context.api_client)
    settings = context.settings
    timeout = context.request_timeout()

    def read_quota() -> Any:
        with api_errors(f"reading resourcequota {QUOTA_NAME} in {namespace}"):
            return core.read_namespaced_resource_quota(QUOTA_NAME, namespace)

    try:
        quota = read_quota()
    except NotFound:
        try:
            with api_errors(f"creating resourcequota {QUOTA_NAME} in {namespace}"):
                quota = core.create_namespaced_resource_quota(
                    namespace,
                    _body(build_resource_quota(namespace, settings)),
                    _request_timeout=timeout,
                )
        except AlreadyExists:  # a concurrent create in the same namespace made it
            quota = read_quota()
    try:
        with api_errors(f"reading limitrange {QUOTA_NAME} in {namespace}"):
            core.read_namespaced_limit_range(QUOTA_NAME, namespace)
    except NotFound:
        try:
            with api_errors(f"creating limitrange {QUOTA_NAME} in {namespace}"):
                core.create_namespaced_limit_range(
                    namespace,
                    _body(build_limit_range(namespace, settings)),
                    _request_timeout=timeout,
                )
        except AlreadyExists:
            pass
    if _counted(quota):
        return
    if not wait_until(
        lambda: _counted(read_quota()),
        context,
        f"resourcequota {QUOTA_NAME} in {namespace} to be counted",
        interval=0.1,
        timeout=QUOTA_COUNT_TIMEOUT,
    ):
        raise Unavailable(
            f"the ResourceQuota {QUOTA_NAME} of namespace {namespace} was not counted by the "
            f"quota controller within {QUOTA_COUNT_TIMEOUT:g}s (is kube-controller-manager's "
            "resourcequota controller running?); retry"
        )
