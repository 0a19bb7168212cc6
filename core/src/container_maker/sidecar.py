"""The shape of a sidecar container, for plugins that add one to every pod (pure).

A plugin's ``cm_pod_extras`` builds its container with :func:`sidecar_container` and returns it
in its :class:`~container_maker.models.PodExtras`; the snapshot and status plugins do. The
container gets the small resources of ``Settings.sidecar_resources`` (which the namespace's
LimitRange always admits), a securityContext without privileges or capabilities, and the
identity of the user's container in its environment, so that the program inside can find its
pod's objects. A sidecar that needs more (a user id, capabilities) changes the returned dict,
which is its own.
"""

from __future__ import annotations

from typing import Any

from .context import BuildContext
from .identity import ID_KEY
from .models import ContainerSpec
from .shapes import resource_requirements, unprivileged


def sidecar_container(
    name: str,
    image: str,
    spec: ContainerSpec,
    context: BuildContext,
    *,
    env: dict[str, str] | None = None,
    volume_mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A sidecar container: its own small resources, no privileges, the container's identity."""
    variables = {
        "CONTAINER_MAKER_CONTAINER_ID": context.container_id,
        "CONTAINER_MAKER_CONTAINER_NAME": spec.container_name,
        "CONTAINER_MAKER_NAMESPACE": spec.network_name,
        # The agents find their pod's objects by this label key.
        "CONTAINER_MAKER_ID_LABEL": ID_KEY,
        **(env or {}),
    }
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": v} for k, v in sorted(variables.items())],
        "resources": resource_requirements(context.settings.sidecar_resources),
        "securityContext": unprivileged(drop_all_capabilities=True),
    }
    if volume_mounts:
        container["volumeMounts"] = volume_mounts
    return container
