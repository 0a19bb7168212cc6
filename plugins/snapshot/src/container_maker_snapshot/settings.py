"""The snapshot plugin's settings (``cm_settings_model``): the sidecar's image, the push
credentials."""

from __future__ import annotations

from pydantic import Field

from container_maker.sdk import PluginSettings


class SnapshotSettings(PluginSettings):
    """The snapshot sidecar of every pod. (Where saved images go, ``registry``, is a core
    setting: the network policy lets pods reach it, and the image allow-list admits it.)"""

    snapshot_image: str = Field(
        default="container-maker/snapshot-agent:0.1.0",
        description="Image of the snapshot sidecar (snapshot-agent idle; saveContainer execs "
        "snapshot-agent save in it).",
    )
    registry_secret: str | None = Field(
        default=None,
        description="Name of a kubernetes.io/dockerconfigjson Secret in each container's "
        "namespace with the registry credentials, mounted into the snapshot sidecar only. "
        "Unset: anonymous push.",
    )
