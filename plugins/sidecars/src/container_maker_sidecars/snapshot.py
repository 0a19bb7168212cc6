"""The snapshot sidecar plugin: a container next to the user's, sharing the snapshot volume.

It will do the work of ``saveContainer`` (see the save issue); now it adds the container.
"""

from __future__ import annotations

from container_maker import hookimpl
from container_maker.context import BuildContext
from container_maker.identity import SNAPSHOT_VOLUME
from container_maker.models import ContainerSpec, PodExtras

from .common import sidecar_container

NAME = "snapshot"
CONTAINER_NAME = "cm-snapshot"


def snapshot_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    """The snapshot sidecar container, mounting the pod's shared snapshot volume."""
    mount_path = context.settings.snapshot_mount_path
    container = sidecar_container(
        CONTAINER_NAME,
        context.settings.snapshot_image,
        spec,
        context,
        env={"CONTAINER_MAKER_SNAPSHOT_DIR": mount_path},
        volume_mounts=[{"name": SNAPSHOT_VOLUME, "mountPath": mount_path}],
    )
    return PodExtras(plugin=NAME, containers=(container,))


@hookimpl
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    return snapshot_extras(spec, context)
