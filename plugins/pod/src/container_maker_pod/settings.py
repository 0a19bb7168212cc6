"""The pod plugin's settings (``cm_settings_model``): how the user's container is pulled and
stopped."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from container_maker.sdk import PluginSettings


class PodSettings(PluginSettings):
    """The user's container in its pod."""

    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="Always",
        description="imagePullPolicy of the user's container: Always (the registry is asked, "
        "with the pod's pull rights, at every start, so no tenant runs another's cached "
        "private image; the layers are not downloaded again), IfNotPresent or Never.",
    )
    pod_grace_period_seconds: int = Field(
        default=5, ge=0, description="Seconds a pod is given to stop when it is deleted."
    )
