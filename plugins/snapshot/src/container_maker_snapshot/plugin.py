"""The snapshot sidecar plugin: the container that saves the user's container (``cm_save``).

The sidecar runs ``snapshot-agent idle`` from the configured image. It shares the pod's PID
namespace (the pod plugin sets ``shareProcessNamespace``). To save, the agent opens the user
container's main process's root (/proc/<pid>/root) once and hands it to a capture child without
credentials, which chroots there, takes that process's uid, gid, groups and capabilities and
streams the tree, read by file descriptor only (see ``snapshot-agent/child.go``). The kernel
lets a process open /proc/<pid>/root without CAP_SYS_PTRACE when it has the same (filesystem)
ids and its capabilities include all of the target's: a non-root target has none; a root
target has the runtime's default capabilities less NET_RAW and MKNOD, so the sidecar must hold
at least those. So the sidecar keeps
the runtime's default set (naming them under ``capabilities.add`` is not possible: Pod Security
"baseline" refuses an added NET_RAW, a containerd default): no privileged container, no
CAP_SYS_ADMIN, no CAP_SYS_PTRACE. The user's container drops NET_RAW and MKNOD
(``container_maker.shapes.USER_DROPPED_CAPABILITIES``), so it is strictly weaker than the
sidecar and the same kernel check refuses it the sidecar's files. Registry credentials, when
configured, are a Secret mounted into this container only.

The save lock lives in a small emptyDir of the sidecar's own (``cm-snapshot-lock``), not in the
snapshot volume the user's container mounts read-write: there the user could replace the lock
file by a symlink or a FIFO, or simply hold the lock to make every save of its container
ABORTED. The sidecar does not mount the shared snapshot volume at all (nothing is written there
any more: the agent streams to the registry), so no directory the user can write is in its view.
"""

from __future__ import annotations

from typing import Any

from container_maker.sdk import (
    BuildContext,
    ContainerSpec,
    KubeContext,
    ObservedObject,
    PodExtras,
    SavedImage,
    hookimpl,
    sidecar_container,
)

from .save import AUTH_DIR, LOCK_DIR, save_pod
from .settings import SnapshotSettings

NAME = "snapshot"
CONTAINER_NAME = "cm-snapshot"
AUTH_VOLUME = "cm-registry-auth"
LOCK_VOLUME = "cm-snapshot-lock"


def snapshot_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    """The snapshot sidecar container with its own lock volume (and the registry Secret)."""
    settings = context.settings.of(SnapshotSettings)
    mounts: list[dict[str, Any]] = [{"name": LOCK_VOLUME, "mountPath": LOCK_DIR}]
    # One empty lock file: a megabyte is plenty.
    volumes: tuple[dict[str, Any], ...] = ({"name": LOCK_VOLUME, "emptyDir": {"sizeLimit": "1Mi"}},)
    if settings.registry_secret:
        mounts.append({"name": AUTH_VOLUME, "mountPath": AUTH_DIR, "readOnly": True})
        volumes += (
            {
                "name": AUTH_VOLUME,
                "secret": {
                    "secretName": settings.registry_secret,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                    # Readable by the sidecar's root only; the agent reads it before it takes
                    # the user's identity.
                    "defaultMode": 0o400,
                    # A namespace without the Secret still gets working containers; a save
                    # there is anonymous and the registry's refusal says so.
                    "optional": True,
                },
            },
        )
    container = sidecar_container(
        CONTAINER_NAME,
        settings.snapshot_image,
        spec,
        context,
        env={"CONTAINER_MAKER_SNAPSHOT_LOCK_DIR": LOCK_DIR},
        volume_mounts=mounts,
    )
    # The runtime's defaults, a strict superset of the user's container's: reading a root
    # container's files needs all of its capabilities (see the module doc); the agent loses
    # them when it takes a non-root user's ids.
    del container["securityContext"]["capabilities"]
    return PodExtras(plugin=NAME, containers=(container,), volumes=volumes)


@hookimpl
def cm_settings_model() -> type[SnapshotSettings]:
    return SnapshotSettings


@hookimpl
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    return snapshot_extras(spec, context)


@hookimpl
def cm_save(pod: ObservedObject, context: KubeContext) -> SavedImage:
    return save_pod(pod, CONTAINER_NAME, context)
