"""The service's configuration, as one frozen model with documented defaults.

Plugins read it from the context they are handed; nothing reads the environment behind the
core's back. :meth:`Settings.from_env` is the one place environment variables are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

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

ImagePullPolicy = Literal["Always", "IfNotPresent", "Never"]

# An allowed registry: host[:port] (a DNS name or [IPv6]) and an optional path prefix.
_REGISTRY_ENTRY = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)


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
    - ``image_pull_policy``: the user container's ``imagePullPolicy``. ``Always`` (the default)
      makes the node ask the registry, with the pod's own pull rights, every time a container
      starts, so a tenant cannot run another tenant's private image that happens to be cached
      on the node; the layers themselves are not downloaded again.
    - ``image_registries``: the registries ``image_name`` may come from, each
      ``host[:port][/path prefix]`` (``docker.io`` covers short names such as ``nginx:1.27``,
      which mean ``docker.io/library/nginx``). Empty: any registry. When set, the registry of
      ``registry`` is allowed too, so saved images can be created again.
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
    ingress_host: str | None = None
    ingress_class: str | None = None
    snapshot_image: str = "container-maker/snapshot-agent:0.1.0"
    status_image: str = "container-maker/status-agent:0.1.0"
    registry: str | None = None
    registry_secret: str | None = None
    registry_endpoints: dict[str, str] = Field(default_factory=dict)
    image_pull_policy: ImagePullPolicy = "Always"
    image_registries: tuple[str, ...] = ()
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

    @field_validator("image_registries")
    @classmethod
    def _registries_are_hosts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not _REGISTRY_ENTRY.match(entry):
                raise ValueError(
                    f"{entry!r} is not a registry: host[:port][/path prefix], like "
                    "registry.example.com, 10.0.0.5:5000 or docker.io/library"
                )
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

        ``CONTAINER_MAKER_BLOCKED_PLUGINS`` and ``CONTAINER_MAKER_IMAGE_REGISTRIES`` are
        comma-separated lists.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        blocked = env.get(ENV_PREFIX + "BLOCKED_PLUGINS")
        if blocked is not None:
            values["blocked_plugins"] = tuple(p.strip() for p in blocked.split(",") if p.strip())
        registries = env.get(ENV_PREFIX + "IMAGE_REGISTRIES")
        if registries is not None:
            values["image_registries"] = split_list(registries)
        for name in (
            "ingress_host",
            "ingress_class",
            "snapshot_image",
            "status_image",
            "registry",
            "registry_secret",
            "image_pull_policy",
        ):
            value = env.get(ENV_PREFIX + name.upper())
            if value is not None:
                # An empty ingress host or class (or registry) means "none", not "".
                optional = name.startswith(("ingress", "registry"))
                values[name] = (value or None) if optional else value
        endpoints = env.get(ENV_PREFIX + "REGISTRY_ENDPOINTS")
        if endpoints:
            # "name=host:port,name=host:port"
            pairs = (p.split("=", 1) for p in endpoints.split(",") if "=" in p)
            values["registry_endpoints"] = {k.strip(): v.strip() for k, v in pairs}
        return cls.model_validate(values)


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated setting as a tuple, blanks around and between commas dropped."""
    return tuple(part.strip() for part in value.split(",") if part.strip())
