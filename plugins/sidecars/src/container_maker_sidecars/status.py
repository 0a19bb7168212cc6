"""The status sidecar plugin: reports what the control plane cannot see (ports, activity).

The reporting program comes with the status issue; now it adds the container, told which
ports the user's container should listen on.
"""

from __future__ import annotations

from container_maker import hookimpl
from container_maker.context import BuildContext
from container_maker.models import ContainerSpec, PodExtras
from container_maker.validation import protocol_of

from .common import sidecar_container

NAME = "status"
CONTAINER_NAME = "cm-status"


def status_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    """The status sidecar container, with the ports to watch ("8080/TCP,53/UDP")."""
    ports = ",".join(f"{p.target_port}/{protocol_of(p.protocol)}" for p in spec.publish_information)
    container = sidecar_container(
        CONTAINER_NAME,
        context.settings.status_image,
        spec,
        context,
        env={"CONTAINER_MAKER_WATCH_PORTS": ports},
    )
    return PodExtras(plugin=NAME, containers=(container,))


@hookimpl
def cm_pod_extras(spec: ContainerSpec, context: BuildContext) -> PodExtras:
    return status_extras(spec, context)
