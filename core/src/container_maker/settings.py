"""The service's configuration, as one frozen model with documented defaults.

Plugins read it from the context they are handed; nothing reads the environment behind the
core's back. :meth:`Settings.from_env` is the one place environment variables are read.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping

from pydantic import Field, field_validator, model_validator

from .models import ContainerResources, Model

ENV_PREFIX = "CONTAINER_MAKER_"

DEFAULT_RESOURCES = ContainerResources(
    cpu_request="100m",
    cpu_limit="1",
    memory_request="256Mi",
    memory_limit="1Gi",
    ephemeral_request="512Mi",
    ephemeral_limit="1Gi",
    snapshot_size_limit="2Gi",
)
"""Per-container defaults of design.md section 1; every value is overridable per request."""

DEFAULT_SIDECAR_RESOURCES = ContainerResources(
    cpu_request="10m",
    cpu_limit="200m",
    memory_request="32Mi",
    memory_limit="128Mi",
    ephemeral_request="16Mi",
    ephemeral_limit="256Mi",
)
"""Each sidecar's own small requests (a pod must not cost three times what was asked)."""

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


class Settings(Model):
    """Configuration of the container manager and its plugins.

    - ``blocked_plugins``: plugin names not to load (never "namespace" or "pod").
    - ``ingress_host`` / ``ingress_class``: host rule and class of EXPOSED containers' Ingresses
      (None: no host rule, the cluster's default class).
    - ``snapshot_image`` / ``status_image``: the sidecar images.
    - ``registry``: the OCI registry (``host[:port][/path]``) that ``saveContainer`` pushes
      saved images to (None: saving is not configured). A registry on the loopback
      (``localhost``, ``127.0.0.1``, ``[::1]``) is reached over plain HTTP, any other over HTTPS.
    - ``registry_secret``: name of a Secret of type ``kubernetes.io/dockerconfigjson`` in the
      container's namespace holding the registry credentials; it is mounted into the snapshot
      sidecar only (None: anonymous push).
    - ``registry_endpoints``: registry name -> ``host:port`` at which pods reach that registry
      when it differs from its name (a node-local test registry reached through a relay);
      applies to ``registry`` and to the registries of saved containers' images.
    - ``snapshot_mount_path``: where the shared snapshot volume is mounted in every container.
    - ``default_resources`` / ``sidecar_resources``: see the constants above.
    - ``pod_security_level``: Pod Security Standard enforced on namespaces we create.
    - ``node_port_min`` / ``node_port_max``: the cluster's NodePort range.
    - ``operation_timeout``: seconds an operation may take (create, delete) unless the caller
      gives its own deadline.
    - ``delete_wait_timeout``: seconds delete waits for objects to disappear before leaving the
      rest to Kubernetes (the garbage collector and the kubelet).
    - ``pod_grace_period_seconds``: grace period given to pods on delete.
    - ``watch_read_timeout``: seconds the watch hub waits for a byte from a watch before it
      takes the connection for dead and watches again from the last resourceVersion (a
      frozen or restarted API server; in a quiet cluster it just renews the watch).
    - ``watch_server_timeout``: seconds after which the API server ends each watch request
      (``timeoutSeconds``); the hub then watches again from where it was.
    - ``status_poll_interval``: seconds between two looks of the status sidecar at its ports.
    - ``status_heartbeat_interval``: seconds after which the sidecar writes its report even if
      no port changed state (a change is written at once); it carries the last activity.
    - ``status_report_validity``: seconds a report vouches for the ports; past that without a
      new one the container is not ready and its ports are UNKNOWN. It bounds how long a
      frozen sidecar's last word can stand. It must exceed the heartbeat interval.
    - ``ingress_peers``: who may reach containers' published ports besides the containers of
      the same namespace (the ingress controller, a gateway), as :class:`PolicyPeer` objects;
      none
      by default. CLUSTER_EXTERNAL containers' published ports are open to every address.
    - ``egress_denied_cidrs``: ranges containers may not connect to although the rest of the
      internet is allowed (default :data:`DEFAULT_EGRESS_DENIED_CIDRS`).
    - ``api_server_endpoints``: ``ip:port`` of the API server as pods reach it after the
      Service's DNAT, which the status sidecar may connect to; empty: read from the
      ``kubernetes`` EndpointSlice of ``default`` at each create.
    - ``egress_cluster_dns``: containers may query the cluster DNS (pods labelled
      ``k8s-app=kube-dns`` in ``kube-system``) on port 53.
    """

    blocked_plugins: tuple[str, ...] = ()
    ingress_host: str | None = None
    ingress_class: str | None = None
    snapshot_image: str = "container-maker/snapshot-agent:0.1.0"
    status_image: str = "container-maker/status-agent:0.1.0"
    registry: str | None = None
    registry_secret: str | None = None
    registry_endpoints: dict[str, str] = Field(default_factory=dict)
    snapshot_mount_path: str = "/var/lib/container-maker/snapshot"
    default_resources: ContainerResources = DEFAULT_RESOURCES
    sidecar_resources: ContainerResources = DEFAULT_SIDECAR_RESOURCES
    pod_security_level: str = "baseline"
    node_port_min: int = 30000
    node_port_max: int = 32767
    operation_timeout: float = Field(default=120.0, gt=0)
    delete_wait_timeout: float = Field(default=60.0, ge=0)
    pod_grace_period_seconds: int = Field(default=5, ge=0)
    watch_read_timeout: float = Field(default=60.0, gt=0)
    watch_server_timeout: int = Field(default=300, gt=0)
    status_poll_interval: float = Field(default=1.0, gt=0)
    status_heartbeat_interval: float = Field(default=10.0, gt=0)
    status_report_validity: int = Field(default=30, gt=0)
    ingress_peers: tuple[PolicyPeer, ...] = ()
    egress_denied_cidrs: tuple[str, ...] = DEFAULT_EGRESS_DENIED_CIDRS
    api_server_endpoints: tuple[str, ...] = ()
    egress_cluster_dns: bool = True

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

    @model_validator(mode="after")
    def _report_outlives_heartbeat(self) -> Settings:
        if self.status_report_validity <= self.status_heartbeat_interval:
            raise ValueError(
                f"status_report_validity ({self.status_report_validity}s) must exceed "
                f"status_heartbeat_interval ({self.status_heartbeat_interval}s), or every "
                "report would expire before the next one"
            )
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``CONTAINER_MAKER_*`` variables; unset variables keep the defaults.

        ``CONTAINER_MAKER_BLOCKED_PLUGINS`` is a comma-separated list.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        blocked = env.get(ENV_PREFIX + "BLOCKED_PLUGINS")
        if blocked is not None:
            values["blocked_plugins"] = tuple(p.strip() for p in blocked.split(",") if p.strip())
        for name in (
            "ingress_host",
            "ingress_class",
            "snapshot_image",
            "status_image",
            "registry",
            "registry_secret",
        ):
            value = env.get(ENV_PREFIX + name.upper())
            if value is not None:
                # An empty ingress host or class (or registry) means "none", not "".
                optional = name.startswith(("ingress", "registry"))
                values[name] = (value or None) if optional else value
        for name in ("egress_denied_cidrs", "api_server_endpoints"):
            listed = env.get(ENV_PREFIX + name.upper())
            if listed is not None:
                values[name] = tuple(p.strip() for p in listed.split(",") if p.strip())
        peers = env.get(ENV_PREFIX + "INGRESS_PEERS")
        if peers:
            values["ingress_peers"] = parse_peers(peers)
        dns = env.get(ENV_PREFIX + "EGRESS_CLUSTER_DNS")
        if dns is not None:
            values["egress_cluster_dns"] = parse_bool("EGRESS_CLUSTER_DNS", dns)
        endpoints = env.get(ENV_PREFIX + "REGISTRY_ENDPOINTS")
        if endpoints:
            # "name=host:port,name=host:port"
            pairs = (p.split("=", 1) for p in endpoints.split(",") if "=" in p)
            values["registry_endpoints"] = {k.strip(): v.strip() for k, v in pairs}
        return cls.model_validate(values)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``"ip:port"`` (``"[v6]:port"`` for IPv6) as an address and a port; ValueError if not."""
    host, sep, port = endpoint.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = 0
        address = None
    if not sep or address is None or not 0 < number < 65536:
        raise ValueError(f"{endpoint!r} is not an ip:port ([ip]:port for IPv6)")
    return str(address), number


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


def parse_bool(name: str, text: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no) of the variable ``name``."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{ENV_PREFIX}{name} must be true or false, not {text!r}")
