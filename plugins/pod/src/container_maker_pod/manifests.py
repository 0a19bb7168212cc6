"""The pod manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.sdk import (
    SNAPSHOT_VOLUME,
    BuildContext,
    ContainerSpec,
    InternalError,
    InvalidArgument,
    object_metadata,
    object_name,
    protocol_of,
    resource_requirements,
    unprivileged,
)

from .settings import PodSettings


def port_name(protocol: str, port: int) -> str:
    """A container or Service port name ("tcp-8080"): at most 15 characters, unique."""
    return f"{protocol_of(protocol).lower()}-{port}"


def readiness_probe(spec: ContainerSpec) -> dict[str, Any] | None:
    """Ready only once the first declared TCP port accepts connections.

    Without it the kubelet reports a container Ready the moment its process starts, even one
    that exits at once or has not bound its port yet, so ``wait_until_ready`` and the Service's
    endpoints would trust a container that cannot serve. UDP and SCTP ports cannot be probed
    this way; a container with none of its ports on TCP (or no ports) keeps the kubelet's view.
    """
    tcp = [p.target_port for p in spec.publish_information if protocol_of(p.protocol) == "TCP"]
    if not tcp:
        return None
    return {"tcpSocket": {"port": tcp[0]}, "periodSeconds": 2, "failureThreshold": 3}


def user_container(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The user's container: image, environment, ports, resources, the snapshot volume, and a
    readiness probe on its first TCP port.

    Its image is pulled by ``image_pull_policy`` (:class:`.settings.PodSettings`) (``Always`` by
    default): with ``IfNotPresent`` a tenant naming another tenant's private image, once that one
    ran on the node, would get it from the node's cache without any right to pull it.
    """
    probe = readiness_probe(spec)
    return {
        "name": spec.container_name,
        "image": spec.image_name,
        "imagePullPolicy": context.settings.of(PodSettings).image_pull_policy,
        "env": [{"name": k, "value": v} for k, v in sorted(spec.environment_variables.items())],
        "ports": [
            {
                "name": port_name(p.protocol, p.target_port),
                "containerPort": p.target_port,
                "protocol": protocol_of(p.protocol),
            }
            for p in spec.publish_information
        ],
        "resources": resource_requirements(context.resources),
        "securityContext": unprivileged(),
        "volumeMounts": [
            {"name": SNAPSHOT_VOLUME, "mountPath": context.settings.snapshot_mount_path}
        ],
        **({"readinessProbe": probe} if probe else {}),
    }


def _check_sidecar(container: dict[str, Any], plugin: str) -> None:
    security = container.get("securityContext") or {}
    if security.get("privileged") or security.get("allowPrivilegeEscalation", False):
        raise InternalError(f"plugin {plugin} asked for a privileged container; refused")


def build_pod(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The pod of a container, with the sidecars' contributions (ordered by plugin name)."""
    containers = [user_container(spec, context)]
    volumes: list[dict[str, Any]] = [
        {"name": SNAPSHOT_VOLUME, "emptyDir": {"sizeLimit": context.resources.snapshot_size_limit}}
    ]
    for extras in sorted(context.pod_extras, key=lambda e: e.plugin):
        for container in extras.containers:
            _check_sidecar(container, extras.plugin)
            containers.append(dict(container))
        volumes.extend(dict(v) for v in extras.volumes)
    names = [c.get("name") for c in containers]
    if len(set(names)) != len(names):
        if names.count(spec.container_name) > 1:
            raise InvalidArgument(
                "container_name", f"{spec.container_name!r} is reserved for a sidecar container"
            )
        raise InternalError(f"two sidecar containers share a name: {names}")
    accounts = {e.service_account_name for e in context.pod_extras if e.service_account_name}
    if len(accounts) > 1:
        raise InternalError(f"sidecar plugins ask for two ServiceAccounts: {sorted(accounts)}")
    volume_names = [v.get("name") for v in volumes]
    if len(set(volume_names)) != len(volume_names):
        raise InternalError(f"sidecar plugins declare clashing volumes: {volume_names}")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": object_metadata(object_name("pod", spec.container_name), spec, context),
        "spec": {
            "containers": containers,
            "volumes": volumes,
            # The user's code must not get credentials for the cluster: no token is mounted
            # automatically; a sidecar that needs one mounts a projected token itself.
            "automountServiceAccountToken": False,
            **({"serviceAccountName": accounts.pop()} if accounts else {}),
            # Service environment variables would leak other containers' addresses.
            "enableServiceLinks": False,
            # One PID namespace for the pod: the snapshot sidecar reads the user container's
            # filesystem through /proc/<pid>/root (no privileges, no shared volume of its root).
            "shareProcessNamespace": True,
            "restartPolicy": "Always",
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        },
    }
