"""The NetworkPolicies of a container and of a namespace Container Maker made (pure).

Two objects:

- the namespace's **default-deny** (``cm-default-deny``): every pod of the namespace, no
  ingress and no egress. A pod that nothing else selects (one someone else put there, or ours
  if its own policy is gone) can then neither be reached nor reach anything.
- the container's own policy (``<name>-net``), selecting its pod by the container-id label:

  * ingress on the published target ports only, from the containers of the same namespace
    (that is what a network is) and from the operator's ``ingress_peers`` (the ingress
    controller, a gateway); a CLUSTER_EXTERNAL container's published ports from every address,
    because a LoadBalancer port is public by the caller's choice: every tenant reaches it
    through the load balancer's address anyway, and load balancers' source addresses (node
    addresses after SNAT, health checkers) differ by provider;
  * egress to the internet except ``egress_denied_cidrs`` (private, link-local with the
    metadata service, loopback, ULA), to the containers of the same namespace, to cluster DNS
    on port 53 (``egress_cluster_dns``), to the API server's endpoints when the status sidecar
    runs (it reports through the API) and to the registry's endpoints when the snapshot sidecar
    can save (it pushes there, and reads the saved image's config from its registry).

NetworkPolicy selects pods, not containers: what a sidecar may reach, the user's container may
reach too. The API server is guarded by authentication (the user's container has no token) and
the registry by its credentials, which only the snapshot sidecar holds.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from container_maker.sdk import (
    MANAGED_BY_KEY,
    MANAGED_BY_VALUE,
    BuildContext,
    ContainerSpec,
    ExposureLevel,
    Settings,
    managed_labels,
    object_metadata,
    object_name,
    pod_selector,
    protocol_of,
    split_endpoint,
)

from .policy_settings import PolicyPeer, PolicySettings

DEFAULT_DENY_NAME = "cm-default-deny"
POLICY_LABEL = "container-maker.io/policy"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
# The plugins whose sidecars need egress of their own.
STATUS_PLUGIN = "status"
SNAPSHOT_PLUGIN = "snapshot"

Rule = dict[str, Any]


def default_deny(namespace: str) -> dict[str, Any]:
    """The namespace's default-deny policy: all pods, both directions, nothing allowed."""
    labels = managed_labels()
    labels[POLICY_LABEL] = "default-deny"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY_NAME, "namespace": namespace, "labels": labels},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def _same_namespace_containers() -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {MANAGED_BY_KEY: MANAGED_BY_VALUE}}}


def peer(configured: PolicyPeer) -> dict[str, Any]:
    """A NetworkPolicy peer from a configured :class:`PolicyPeer`."""
    if configured.cidr is not None:
        return {"ipBlock": {"cidr": configured.cidr}}
    out: dict[str, Any] = {"namespaceSelector": {"matchLabels": dict(configured.namespace_labels)}}
    if configured.pod_labels:
        out["podSelector"] = {"matchLabels": dict(configured.pod_labels)}
    return out


def internet(denied: tuple[str, ...]) -> list[dict[str, Any]]:
    """``ipBlock`` peers for all of IPv4 and IPv6 except ``denied`` (per family).

    A family whose whole range is denied gets no peer (an exception may not equal its block).
    """
    peers = []
    for everything in ("0.0.0.0/0", "::/0"):
        whole = ipaddress.ip_network(everything)
        excepted = [
            net for net in (ipaddress.ip_network(c) for c in denied) if net.version == whole.version
        ]
        if any(net.prefixlen == 0 for net in excepted):
            continue
        block: dict[str, Any] = {"cidr": everything}
        if excepted:
            block["except"] = [str(net) for net in excepted]
        peers.append({"ipBlock": block})
    return peers


def endpoint_rules(endpoints: tuple[str, ...]) -> list[Rule]:
    """One egress rule per ``ip:port`` endpoint: that address, that TCP port."""
    rules = []
    for endpoint in sorted(set(endpoints)):
        address, port = split_endpoint(endpoint)
        prefix = 32 if ipaddress.ip_address(address).version == 4 else 128
        rules.append(
            {
                "to": [{"ipBlock": {"cidr": f"{address}/{prefix}"}}],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        )
    return rules


def registry_endpoints(settings: Settings) -> tuple[str, ...]:
    """The ``ip:port`` endpoints at which pods reach the registries the snapshot sidecar talks
    to (``registry`` and the ``registry_endpoints`` mapping).

    A registry named by host name cannot be an ipBlock: it is left to the internet rule (a
    public registry) or must be mapped to an address in ``registry_endpoints``. One on the
    loopback is the pod's own, which no policy governs.
    """
    if not settings.registry or SNAPSHOT_PLUGIN in settings.blocked_plugins:
        return ()
    name = settings.registry.split("/", 1)[0]
    mapped = settings.registry_endpoints
    candidates = [mapped.get(name, name), *mapped.values()]
    found = []
    for candidate in candidates:
        try:
            address, _ = split_endpoint(candidate)
        except ValueError:
            continue  # a host name, or no port
        if not ipaddress.ip_address(address).is_loopback:
            found.append(candidate)
    return tuple(dict.fromkeys(found))


def needs_api_server(settings: Settings) -> bool:
    """True when the status sidecar runs, which reports through the API server."""
    return STATUS_PLUGIN not in settings.blocked_plugins


def container_policy(
    spec: ContainerSpec, context: BuildContext, api_endpoints: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The container's own NetworkPolicy (see the module doc).

    ``api_endpoints`` are the API server's ``ip:port`` endpoints to allow (only when the status
    sidecar runs; the caller passes the configured or discovered ones).
    """
    settings = context.settings
    policy = settings.of(PolicySettings)
    ports = [
        {"protocol": protocol_of(p.protocol), "port": p.target_port}
        for p in spec.publish_information
    ]
    ports = [dict(t) for t in sorted({tuple(sorted(p.items())) for p in ports})]
    ingress: list[Rule] = []
    if ports:
        sources = [_same_namespace_containers(), *(peer(p) for p in policy.ingress_peers)]
        ingress.append({"from": sources, "ports": ports})
        if spec.exposure is ExposureLevel.CLUSTER_EXTERNAL:
            ingress.append({"from": internet(()), "ports": ports})
    egress: list[Rule] = []
    outside = internet(policy.egress_denied_cidrs)
    if outside:
        egress.append({"to": outside})
    egress.append({"to": [_same_namespace_containers()]})
    if policy.egress_cluster_dns:
        egress.append(
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: DNS_NAMESPACE}},
                        "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
                    }
                ],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
            }
        )
    if needs_api_server(settings):
        egress += endpoint_rules(api_endpoints)
    egress += endpoint_rules(registry_endpoints(settings))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_metadata(
            object_name("networkpolicy", spec.container_name), spec, context
        ),
        "spec": {
            "podSelector": {"matchLabels": pod_selector(context.container_id)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }
