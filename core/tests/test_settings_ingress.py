"""The core's ingress settings (pure): the retired one-host setting, the local sandbox domain.

The ingress plugin's own settings (domain, TLS Secret, class) are tested with the plugin.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings


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
