"""The network policy plugin's settings (``cm_settings_model``): who may reach containers and
where containers may not connect."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from pydantic import Field, field_validator, model_validator

from container_maker.sdk import Model, PluginSettings, split_endpoint

DEFAULT_EGRESS_DENIED_CIDRS: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # carrier-grade NAT, often a cloud's internal range
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, with the cloud metadata service at 169.254.169.254
    "172.16.0.0/12",  # private (RFC 1918)
    "192.168.0.0/16",  # private (RFC 1918)
    "::1/128",  # loopback
    "fc00::/7",  # unique local (ULA)
    "fe80::/10",  # link-local
)
"""Where containers may not connect to, although the rest of the internet is allowed."""


class PolicyPeer(Model):
    """A peer allowed to reach containers' published ports (the ingress controller, a gateway).

    Either the pods of the namespaces matching ``namespace_labels`` (only those of them
    matching ``pod_labels`` when given), or the addresses in ``cidr``. A namespace is matched
    by name with its ``kubernetes.io/metadata.name`` label, which the API server sets.
    """

    namespace_labels: dict[str, str] = Field(default_factory=dict)
    pod_labels: dict[str, str] = Field(default_factory=dict)
    cidr: str | None = None

    @model_validator(mode="after")
    def _one_kind_of_peer(self) -> PolicyPeer:
        if self.cidr is not None:
            if self.namespace_labels or self.pod_labels:
                raise ValueError("a peer is either a cidr or namespace (and pod) labels, not both")
            ipaddress.ip_network(self.cidr, strict=True)
        elif not self.namespace_labels:
            # Pod labels alone would select pods of the tenant's own namespace.
            raise ValueError("a peer needs a cidr or namespace_labels")
        return self


def parse_peers(text: str) -> tuple[PolicyPeer, ...]:
    """Ingress peers from JSON: a list of objects with ``namespace_labels`` (and
    ``pod_labels``) or ``cidr``."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"ingress peers must be a JSON list: {e}") from e
    if not isinstance(data, list):
        raise ValueError("ingress peers must be a JSON list of objects")
    return tuple(PolicyPeer.model_validate(item) for item in data)


class PolicySettings(PluginSettings):
    """The NetworkPolicies of each container and of each namespace Container Maker creates."""

    ingress_peers: tuple[PolicyPeer, ...] = Field(
        default=(),
        description="Who may reach containers' published ports besides their own namespace's "
        'containers, as JSON: [{"namespace_labels": {"kubernetes.io/metadata.name": '
        '"ingress-nginx"}, "pod_labels": {...}}, {"cidr": "..."}]. Default: nobody. '
        "CLUSTER_EXTERNAL containers' published ports are open to every address.",
        json_schema_extra={"text": True},
    )
    egress_denied_cidrs: tuple[str, ...] = Field(
        default=DEFAULT_EGRESS_DENIED_CIDRS,
        description="Ranges containers may not connect to (the rest of the internet is "
        "allowed); comma separated. Default: private, CGNAT, loopback, link-local, ULA.",
    )
    api_server_endpoints: tuple[str, ...] = Field(
        default=(),
        description="ip:port of the API server as pods reach it (after the Service's DNAT), "
        "which the status sidecar may connect to; comma separated. Default: the kubernetes "
        "EndpointSlice's in default, read at each create.",
    )
    egress_cluster_dns: bool = Field(
        default=True,
        description="Containers may query the cluster DNS (pods labelled k8s-app=kube-dns in "
        "kube-system) on port 53.",
    )

    @field_validator("ingress_peers", mode="before")
    @classmethod
    def _peers_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_peers(value) if value.strip() else ()
            except ValueError as e:
                raise ValueError(f"bad --ingress-peers: {e}") from e
        return value

    @field_validator("egress_denied_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                raise ValueError(f"{cidr!r} is not a network in CIDR notation: {e}") from e
            # The API server refuses IPv4-mapped blocks; on the wire they are IPv4 anyway.
            if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped:
                raise ValueError(f"{cidr!r} is IPv4-mapped: give the IPv4 range instead")
        return value

    @field_validator("api_server_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for endpoint in value:
            split_endpoint(endpoint)
        return value
