"""The ingress settings (pure): the sandbox domain, the TLS Secret, the retired one-host setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from container_maker.settings import LOCAL_INGRESS_DOMAIN, MAX_INGRESS_DOMAIN_LENGTH, Settings


def test_domain_and_tls_secret_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_INGRESS_DOMAIN": "sandbox.example.net",
            "CONTAINER_MAKER_INGRESS_TLS_SECRET": "wildcard-cert",
        }
    )
    assert settings.ingress_domain == "sandbox.example.net"
    assert settings.ingress_tls_secret == "wildcard-cert"
    empty = Settings.from_env(
        {"CONTAINER_MAKER_INGRESS_DOMAIN": "", "CONTAINER_MAKER_INGRESS_TLS_SECRET": ""}
    )
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
    with pytest.raises(ValidationError, match="ingress_domain"):
        Settings(ingress_domain=domain)


def test_the_domain_leaves_room_for_a_full_label() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 61])
    assert len(longest) == MAX_INGRESS_DOMAIN_LENGTH
    assert Settings(ingress_domain=longest).ingress_domain == longest
    with pytest.raises(ValidationError, match="at most 189"):
        Settings(ingress_domain=longest + "c")


def test_a_bad_tls_secret_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="ingress_tls_secret"):
        Settings(ingress_tls_secret="Not A Name")


@pytest.mark.parametrize("source", ["model", "environment"])
def test_the_retired_ingress_host_is_refused_with_what_to_do(source: str) -> None:
    with pytest.raises(ValidationError) as refused:
        if source == "model":
            Settings(ingress_host="apps.example.com")
        else:
            Settings.from_env({"CONTAINER_MAKER_INGRESS_HOST": "apps.example.com"})
    message = str(refused.value)
    assert "ingress_host" in message and "no longer supported" in message
    assert "--ingress-domain" in message and "CONTAINER_MAKER_INGRESS_DOMAIN" in message


def test_an_empty_ingress_host_is_no_setting() -> None:
    assert Settings.from_env({"CONTAINER_MAKER_INGRESS_HOST": ""}) == Settings()
    assert Settings(ingress_host=None) == Settings()  # type: ignore[call-arg]


def test_the_local_sandbox_domain_is_loopback_only() -> None:
    """The domain of the test kit and of the test cluster's serve (whose defaulting is tested
    in cluster/tests/test_serve.py)."""
    assert LOCAL_INGRESS_DOMAIN.endswith(".localhost")  # RFC 6761: never an outside address
    assert Settings(ingress_domain=LOCAL_INGRESS_DOMAIN).ingress_domain == LOCAL_INGRESS_DOMAIN
