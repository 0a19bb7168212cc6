"""The namespace plugin's settings (``cm_settings_model``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from container_maker.sdk import PluginSettings


class NamespaceSettings(PluginSettings):
    """The namespaces Container Maker creates."""

    pod_security_level: Literal["privileged", "baseline", "restricted"] = Field(
        default="baseline",
        description="Pod Security Standard enforced on the namespaces Container Maker creates "
        "(the pod-security.kubernetes.io/enforce label): privileged, baseline or restricted.",
    )
