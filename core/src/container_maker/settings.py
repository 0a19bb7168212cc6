"""The service's configuration, as one frozen model with documented defaults.

Plugins read it from the context they are handed; nothing reads the environment behind the
core's back. :meth:`Settings.from_env` is the one place environment variables are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

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

LOCAL_INGRESS_DOMAIN = "containers.localhost"
"""The sandbox domain of ``serve --local`` and of the test kit: under ``.localhost`` (RFC 6761),
which resolvers answer with the loopback address or not at all, never an outside address."""

MAX_INGRESS_DOMAIN_LENGTH = 253 - 63 - 1
"""A host is one label of up to 63 characters, a dot, then the domain; a DNS name is at most
253 characters, so the domain may have 189."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")

RETIRED_INGRESS_HOST = (
    "ingress_host (--ingress-host, CONTAINER_MAKER_INGRESS_HOST) is no longer supported: it put "
    "every EXPOSED container on one host, one browser origin shared by all tenants. EXPOSED "
    "containers now get a host per container and port under --ingress-domain "
    "(CONTAINER_MAKER_INGRESS_DOMAIN), such as 80-web-demo-<hash>.<domain>; point a wildcard DNS "
    "record *.<domain> at the ingress controller, set the domain and unset ingress_host"
)
"""Why a configured ``ingress_host`` stops the server instead of being used (see the README)."""


class Settings(Model):
    """Configuration of the container manager and its plugins.

    - ``blocked_plugins``: plugin names not to load (never "namespace" or "pod").
    - ``ingress_domain``: the sandbox domain under which every EXPOSED container gets one host
      per published TCP port (``<port>-<name>-<namespace>-<hash>.<domain>``; see
      :mod:`container_maker_ingress.hosts`). None: EXPOSED is refused (FAILED_PRECONDITION). A
      lowercase DNS name of at most 189 characters.
    - ``ingress_tls_secret``: name of a TLS Secret (a wildcard certificate for ``*.<domain>``)
      that every EXPOSED Ingress names in its ``tls`` entry for its hosts; the ingress
      controller reads it from the container's namespace. None: no ``tls`` entry (plain HTTP).
    - ``ingress_class``: the IngressClass of EXPOSED containers' Ingresses (None: the cluster's
      default class).
    - ``ingress_host`` is retired: giving it is an error (:data:`RETIRED_INGRESS_HOST`).
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
    """

    blocked_plugins: tuple[str, ...] = ()
    ingress_domain: str | None = None
    ingress_tls_secret: str | None = None
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

    @model_validator(mode="before")
    @classmethod
    def _refuse_ingress_host(cls, data: Any) -> Any:
        # An operator upgrading with the old one-host setting must hear about it at startup:
        # using it as before would keep the shared origin, and using it as the domain would
        # move every container to hosts that its DNS record and certificate do not cover.
        if isinstance(data, Mapping) and "ingress_host" in data:
            if data["ingress_host"] not in (None, ""):
                raise ValueError(RETIRED_INGRESS_HOST)
            data = {k: v for k, v in data.items() if k != "ingress_host"}
        return data

    @field_validator("ingress_domain")
    @classmethod
    def _domain_is_a_dns_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_INGRESS_DOMAIN_LENGTH:
            raise ValueError(
                f"{value!r} is {len(value)} characters; at most {MAX_INGRESS_DOMAIN_LENGTH} "
                "leave room for the 63-character label of each host within DNS's 253"
            )
        bad = [label for label in value.split(".") if not _DNS_LABEL.match(label)]
        if bad:
            raise ValueError(
                f"{value!r} is not a lowercase DNS name (labels of letters, digits and '-', "
                f"1-63 characters, no leading or trailing '-' or dot; bad label {bad[0]!r})"
            )
        return value

    @field_validator("ingress_tls_secret")
    @classmethod
    def _secret_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > 253 or not all(_DNS_LABEL.match(part) for part in value.split("."))
        ):
            raise ValueError(f"{value!r} is not a Secret name (a lowercase DNS subdomain)")
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
            "ingress_domain",
            "ingress_tls_secret",
            "ingress_class",
            "snapshot_image",
            "status_image",
            "registry",
            "registry_secret",
        ):
            value = env.get(ENV_PREFIX + name.upper())
            if value is not None:
                # An empty ingress setting (or registry) means "none", not "".
                optional = name.startswith(("ingress", "registry"))
                values[name] = (value or None) if optional else value
        endpoints = env.get(ENV_PREFIX + "REGISTRY_ENDPOINTS")
        if endpoints:
            # "name=host:port,name=host:port"
            pairs = (p.split("=", 1) for p in endpoints.split(",") if "=" in p)
            values["registry_endpoints"] = {k.strip(): v.strip() for k, v in pairs}
        return cls.model_validate(values)
