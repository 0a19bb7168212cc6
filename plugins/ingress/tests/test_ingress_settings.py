"""The ingress plugin's settings (pure): the sandbox domain and the TLS Secret."""

from __future__ import annotations

import pytest

from container_maker.errors import InvalidConfiguration
from container_maker.settings import Settings
from container_maker_ingress.settings import MAX_DOMAIN_LENGTH, IngressSettings


def test_domain_and_tls_secret_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_INGRESS_DOMAIN": "sandbox.example.net",
            "CONTAINER_MAKER_INGRESS_TLS_SECRET": "wildcard-cert",
        },
        models=[IngressSettings],
    ).of(IngressSettings)
    assert settings.ingress_domain == "sandbox.example.net"
    assert settings.ingress_tls_secret == "wildcard-cert"
    empty = Settings.from_env(
        {"CONTAINER_MAKER_INGRESS_DOMAIN": "", "CONTAINER_MAKER_INGRESS_TLS_SECRET": ""},
        models=[IngressSettings],
    ).of(IngressSettings)
    assert (empty.ingress_domain, empty.ingress_tls_secret) == (None, None)


@pytest.mark.parametrize(
    "domain",
    [
        "Sandbox.example.net",  # uppercase: Ingress hosts must be lowercase
        "sandbox..example.net",
        "sandbox.example.net.",
        ".example.net",
        "-sandbox.example.net",
        "*.example.net",
        "sand_box.example.net",
        "a" * 64 + ".net",
        "https://sandbox.example.net",
    ],
)
def test_a_domain_that_is_not_a_dns_name_is_refused(domain: str) -> None:
    with pytest.raises(InvalidConfiguration, match="ingress_domain"):
        Settings(ingress_domain=domain).of(IngressSettings)


def test_the_domain_leaves_room_for_a_full_label() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 61])
    assert len(longest) == MAX_DOMAIN_LENGTH
    assert Settings(ingress_domain=longest).of(IngressSettings).ingress_domain == longest
    with pytest.raises(InvalidConfiguration, match="at most 189"):
        Settings(ingress_domain=longest + "c").of(IngressSettings)


def test_a_bad_tls_secret_name_is_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="ingress_tls_secret"):
        Settings(ingress_tls_secret="Not A Name").of(IngressSettings)
