"""The network policy plugin: kinds "networkpolicy" and "default-deny", from exposure INTERNAL on.

Made after the namespace and before the pod: the container's own NetworkPolicy and, in a namespace
Container Maker made, the namespace's default-deny (a namespace-scoped kind: created with the first
container there, or the first after an upgrade; it goes with the namespace). A namespace Container
Maker did not make gets no namespace-wide policy, which would change the owner's own pods; the
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

from container_maker.sdk import (
    ID_KEY,
    NAME_SUFFIXES,
    BuildContext,
    ContainerSpec,
    KubeContext,
    Manifest,
    NamespacedApi,
    NotFound,
    ObservedObject,
    Query,
    Resource,
    ResourceRegistry,
    api_errors,
    create_object,
    hookimpl,
    label_selector,
)

from .policy_manifests import (
    container_policy,
    default_deny,
    endpoint_rules,
    needs_api_server,
)
from .policy_settings import PolicySettings

log = logging.getLogger(__name__)

KIND = "networkpolicy"
DEFAULT_DENY_KIND = "default-deny"
API_SERVICE_NAMESPACE = "default"
API_SERVICE_NAME = "kubernetes"


def observe(policy: Any) -> ObservedObject:
    """Summarise a ``V1NetworkPolicy``."""
    return ObservedObject.from_metadata(policy, KIND)


POLICIES = NamespacedApi.of(
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
    configured = context.settings.of(PolicySettings).api_server_endpoints
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


def build(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The container's policy (without the API server's endpoints when they are to be
    discovered: :func:`create` adds them)."""
    return container_policy(spec, context, context.settings.of(PolicySettings).api_server_endpoints)


def create(manifest: Manifest, context: KubeContext) -> ObservedObject:
    """Create the container's policy, with the API server's endpoints found now if needed."""
    policy = manifest.to_body()
    settings = context.settings
    if needs_api_server(settings) and not settings.of(PolicySettings).api_server_endpoints:
        policy["spec"]["egress"] += endpoint_rules(api_server_endpoints(context))
    return create_object(POLICIES, Manifest(kind=KIND, body=policy), context)


def get(query: Query, context: KubeContext) -> tuple[ObservedObject, ...]:
    """The containers' policies matching the query (never the namespace's default-deny)."""
    api = client.NetworkingV1Api(context.api_client)
    selector = label_selector(query.container_id, query.container_name) + f",{ID_KEY}"
    with api_errors(f"listing networkpolicies in {query.namespace}"):
        found = api.list_namespaced_network_policy(
            query.namespace, label_selector=selector, _request_timeout=context.request_timeout()
        )
    return tuple(observe(o) for o in found.items)


# Both before the pod, so that it never runs without its rules; neither is part of the
# container's view (they say nothing about its state) nor of its tree.
RESOURCE = Resource(
    kind=KIND,
    build=build,
    client=POLICIES,
    create=create,
    get=get,
    before=("pod",),
    view=False,
    tree=False,
    name_suffix=NAME_SUFFIXES[KIND],
)
DEFAULT_DENY = Resource(
    kind=DEFAULT_DENY_KIND,
    build=lambda spec, context: default_deny(spec.network_name),
    client=POLICIES,
    before=("pod",),
    scope="namespace",
    view=False,
    tree=False,
)


@hookimpl
def cm_settings_model() -> type[PolicySettings]:
    return PolicySettings


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
    registry.add(DEFAULT_DENY)
