"""The settings of the authentication plugins (``cm_settings_model``), one model they share.

Which authenticators are enabled (``authenticators``) is the core's setting: the core checks
every call against it. What each authenticator needs is here.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from container_maker.sdk import PluginSettings, names_once

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class AuthSettings(PluginSettings):
    """How the kubernetes-token, api-key and subject-access-review plugins check callers."""

    token_audiences: tuple[str, ...] = Field(
        default=(),
        description="Audience a Kubernetes token must be bound to (a TokenReview's "
        "spec.audiences); repeatable or comma separated. None: the API server's own audiences "
        "(anything it accepts itself).",
        json_schema_extra={"flag": "token-audience"},
    )
    tenant_group_prefix: str = Field(
        default="container-maker:tenant:",
        min_length=1,
        description="A token whose user is in exactly one group <prefix><t> gets tenant t.",
    )
    api_keys_file: str | None = Field(
        default=None,
        description="JSON file of the api-key authenticator's hashed keys (re-read when it "
        "changes; see container-maker api-key new).",
    )
    api_keys_secret: str | None = Field(
        default=None,
        description="NAMESPACE/NAME of a Secret whose data key api-keys.json holds the hashed "
        "keys, instead of --api-keys-file.",
    )
    api_keys_reload_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often at most the API keys are read again (rotation and revocation "
        "take effect within that time).",
    )
    auth_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a TokenReview or SubjectAccessReview answer is reused.",
    )

    @field_validator("token_audiences")
    @classmethod
    def _names_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return names_once(value)

    @field_validator("api_keys_secret")
    @classmethod
    def _secret_reference(cls, value: str | None) -> str | None:
        if value is None:
            return None
        namespace, sep, name = value.partition("/")
        if not sep or not _DNS_LABEL.match(namespace) or not name or "/" in name:
            raise ValueError(f"{value!r} is not namespace/name of a Secret")
        return value

    @model_validator(mode="after")
    def _api_keys_have_a_source(self, info: ValidationInfo) -> AuthSettings:
        context: Any = info.context or {}
        core = context.get("settings")
        enabled = getattr(core, "authenticators", ())
        if "api-key" in enabled and (self.api_keys_file is None) == (self.api_keys_secret is None):
            raise ValueError(
                "the api-key authenticator needs exactly one of api_keys_file "
                "(--api-keys-file) and api_keys_secret (--api-keys-secret namespace/name)"
            )
        return self
