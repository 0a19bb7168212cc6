"""What the two sidecars share: the shape of a sidecar container (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.context import BuildContext
from container_maker.identity import ID_KEY
from container_maker.manifests import resource_requirements, unprivileged
from container_maker.models import ContainerSpec


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
