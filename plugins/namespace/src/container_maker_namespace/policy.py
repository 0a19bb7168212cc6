"""Hooks of the network policy plugin (kind "networkpolicy", from exposure INTERNAL on).

Made right after the namespace and before the pod: the container's own NetworkPolicy and, in a
namespace Container Maker made, the namespace's default-deny (created with the first container
there, or the first after an upgrade; it goes with the namespace). A namespace Container Maker
did not make gets no namespace-wide policy, which would change the owner's own pods; the
container's policy selects our pod only. See :mod:`.policy_manifests` for what is allowed.

The API server's endpoints (what the status sidecar may reach) are ``api_server_endpoints``
when set, else read from the ``kubernetes`` EndpointSlice in ``default`` at each create (one
call; policies match after kube-proxy's DNAT, so the rule names the endpoint, not the Service).
Blocking this plugin (``CONTAINER_MAKER_BLOCKED_PLUGINS=networkpolicy``) makes no policy at all,
for clusters whose network does not enforce policies or whose operator writes their own.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes import client

from container_maker import hookimpl
from container_maker.context import BuildContext, KubeContext
from container_maker.errors import AlreadyExists, NotFound
from container_maker.identity import ID_KEY, is_managed, label_selector
from container_maker.kube import (
    NamespacedKind,
    api_errors,
    create_object,
    delete_objects,
    request_body,
)
from container_maker.models import (
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObservedObject,
    Query,
    ResourceKind,
)

from .policy_manifests import (
    container_policy,
    default_deny,
    endpoint_rules,
    needs_api_server,
)

log = logging.getLogger(__name__)

KIND = "networkpolicy"
API_SERVICE_NAMESPACE = "default"
API_SERVICE_NAME = "kubernetes"


def observe(policy: Any) -> ObservedObject:
    """Summarise a ``V1NetworkPolicy``."""
    return ObservedObject.from_metadata(policy, KIND)


POLICIES = NamespacedKind.of(
    client.NetworkingV1Api,
    "network_policy",
    observe=observe,
    plural="networkpolicies",
    watchable=False,
)


def api_server_endpoints(context: KubeContext) -> tuple[str, ...]:
    """The API server's endpoints: the setting, else the ``kubernetes`` EndpointSlice's.

    A cluster whose ``kubernetes`` Service has no endpoint (an API server advertising a
    loopback address, as the simulated test cluster's does) gives none: pods could not reach
    the API server through the Service anyway, so no rule is made, and a warning says so.
    """
    configured = context.settings.api_server_endpoints
    if configured:
        return configured
    discovery = client.DiscoveryV1Api(context.api_client)
    what = f"reading the EndpointSlice {API_SERVICE_NAME} in {API_SERVICE_NAMESPACE}"
    try:
        with api_errors(what):
            found: Any = discovery.read_namespaced_endpoint_slice(
                API_SERVICE_NAME,
                API_SERVICE_NAMESPACE,
                _request_timeout=context.request_timeout(),
            )
    except NotFound:
        found = None
    ports = [p.port for p in (found.ports if found else None) or () if p.port]
    addresses = [a for e in (found.endpoints if found else None) or () for a in e.addresses or ()]
    endpoints = tuple(
        f"[{a}]:{port}" if ":" in a else f"{a}:{port}" for a in addresses for port in ports
    )
    if not endpoints:
        log.warning(
            "the kubernetes Service in default has no endpoint: containers' NetworkPolicies "
            "allow no API server, so status sidecars cannot report where policies are enforced; "
            "set --api-server-endpoints"
        )
    return endpoints


def _namespace_is_ours(context: KubeContext, namespace: str) -> bool:
    core = client.CoreV1Api(context.api_client)
    try:
        with api_errors(f"reading namespace {namespace}"):
            found: Any = core.read_namespace(namespace, _request_timeout=context.request_timeout())
    except NotFound:
        return False
    meta = found.metadata
    return is_managed(meta.labels) and meta.deletion_timestamp is None


def _ensure_default_deny(context: KubeContext, body: dict[str, Any]) -> None:
    """Create the namespace's default-deny unless it exists (one call either way)."""
    api = client.NetworkingV1Api(context.api_client)
    meta = body["metadata"]
    try:
        with api_errors(f"creating networkpolicy {meta['name']} in {meta['namespace']}"):
            api.create_namespaced_network_policy(
                meta["namespace"],
                request_body(Manifest(kind=KIND, body=body)),
                _request_timeout=context.request_timeout(),
            )
    except AlreadyExists:
        pass  # made with an earlier container of the namespace


@hookimpl
def cm_declare_kind() -> ResourceKind:
    return ResourceKind(kind=KIND, min_level=ExposureLevel.INTERNAL)


@hookimpl
def cm_build(kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
    """A ``List``: the namespace's default-deny, then the container's policy (without the
    API server's endpoints when they are to be discovered: ``cm_create`` adds them)."""
    if kind != KIND:
        return None
    settings = context.settings
    items = [
        default_deny(spec.network_name),
        container_policy(spec, context, settings.api_server_endpoints),
    ]
    return Manifest(kind=KIND, body={"apiVersion": "v1", "kind": "List", "items": items})


@hookimpl
def cm_create(kind: str, manifest: Manifest, context: KubeContext) -> ObservedObject | None:
    """The default-deny when the namespace is ours, then the container's policy; the latter."""
    if kind != KIND:
        return None
    deny, policy = manifest.to_body()["items"]
    settings = context.settings
    if needs_api_server(settings) and not settings.api_server_endpoints:
        policy["spec"]["egress"] += endpoint_rules(api_server_endpoints(context))
    if _namespace_is_ours(context, policy["metadata"]["namespace"]):
        _ensure_default_deny(context, deny)
    return create_object(POLICIES, Manifest(kind=KIND, body=policy), context)


@hookimpl
def cm_get(kind: str, query: Query, context: KubeContext) -> tuple[ObservedObject, ...] | None:
    """The containers' policies matching the query (never the namespace's default-deny)."""
    if kind != KIND:
        return None
    api = client.NetworkingV1Api(context.api_client)
    selector = label_selector(query.container_id, query.container_name) + f",{ID_KEY}"
    with api_errors(f"listing networkpolicies in {query.namespace}"):
        found = api.list_namespaced_network_policy(
            query.namespace, label_selector=selector, _request_timeout=context.request_timeout()
        )
    return tuple(observe(o) for o in found.items)


@hookimpl
def cm_delete(
    kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
) -> DeleteResult | None:
    """Delete the containers' policies and wait until they are gone."""
    if kind != KIND:
        return None
    return delete_objects(POLICIES, objects, context)
