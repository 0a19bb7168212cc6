"""The status plugin's settings (``cm_settings_model``): the sidecar's image and its timing."""

from __future__ import annotations

from pydantic import Field, model_validator

from container_maker.sdk import PluginSettings


class StatusSettings(PluginSettings):
    """The status sidecar of every pod, and how long its reports hold."""

    status_image: str = Field(
        default="container-maker/status-agent:0.1.0",
        description="Image of the status sidecar (status-agent run).",
    )
    status_poll_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between two looks of the status sidecar at its ports.",
    )
    status_heartbeat_interval: float = Field(
        default=10.0,
        gt=0,
        description="Seconds after which the sidecar writes its report even if no port "
        "changed state (a change is written at once); it carries the last activity.",
    )
    status_report_validity: int = Field(
        default=30,
        gt=0,
        description="Seconds a report vouches for the ports; past that without a new one "
        "the container is not ready and its ports are UNKNOWN (it bounds how long a frozen "
        "sidecar's last word can stand). Must exceed the heartbeat interval.",
    )

    @model_validator(mode="after")
    def _report_outlives_heartbeat(self) -> StatusSettings:
        if self.status_report_validity <= self.status_heartbeat_interval:
            raise ValueError(
                f"status_report_validity ({self.status_report_validity}s) must exceed "
                f"status_heartbeat_interval ({self.status_heartbeat_interval}s), or every "
                "report would expire before the next one"
            )
        return self
