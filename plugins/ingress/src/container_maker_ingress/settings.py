"""The ingress plugin's settings (``cm_settings_model``): its sandbox domain, class and TLS."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from container_maker.sdk import PluginSettings

MAX_DOMAIN_LENGTH = 253 - 63 - 1
"""The longest sandbox domain: every host is one label of at most 63 characters in front of it,
within DNS's 253."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class IngressSettings(PluginSettings):
    """Where EXPOSED containers are published."""

    ingress_domain: str | None = Field(
        default=None,
        description="Sandbox domain of EXPOSED containers: each published TCP port gets its "
        "own host <port>-<name>-<namespace>-<hash>.<domain> (a wildcard DNS record *.<domain> "
        "must point at the ingress controller). Unset: EXPOSED is refused "
        "(FAILED_PRECONDITION). The test cluster's serve uses containers.localhost.",
    )
    ingress_tls_secret: str | None = Field(
        default=None,
        description="Name of a TLS Secret holding a wildcard certificate for *.<domain>, in "
        "each container's namespace (where the ingress controller reads it): every EXPOSED "
        "Ingress names it for its hosts and URLs are https. Unset: plain HTTP.",
    )
    ingress_class: str | None = Field(
        default=None,
        description="IngressClass of the EXPOSED containers' Ingresses. Unset: the cluster's "
        "default class.",
    )

    @field_validator("ingress_domain")
    @classmethod
    def _domain_is_a_dns_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_DOMAIN_LENGTH:
            raise ValueError(
                f"{value!r} is {len(value)} characters; at most {MAX_DOMAIN_LENGTH} "
                "leave room for the 63-character label of each host within DNS's 253"
            )
        bad = [label for label in value.split(".") if not _DNS_LABEL.match(label)]
        if bad:
            raise ValueError(
                f"{value!r} is not a lowercase DNS name (labels of letters, digits and '-', "
                f"1-63 characters, no leading or trailing '-' or dot; bad label {bad[0]!r})"
            )
        return value

    @field_validator("ingress_tls_secret")
    @classmethod
    def _secret_is_a_name(cls, value: str | None) -> str | None:
        if value is not None and (
            len(value) > 253 or not all(_DNS_LABEL.match(part) for part in value.split("."))
        ):
            raise ValueError(f"{value!r} is not a Secret name (a lowercase DNS subdomain)")
        return value
