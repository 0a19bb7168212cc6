"""The ``server_service_account`` setting: the ServiceAccount the server binds into namespaces."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from container_maker.settings import Settings


def test_unset_by_default_so_nothing_is_bound() -> None:
    assert Settings().server_service_account is None


def test_namespace_and_name() -> None:
    account = "container-maker-system/container-maker"
    assert Settings(server_service_account=account).server_service_account == account


@pytest.mark.parametrize("bad", ["container-maker", "/name", "ns/", "NS/name", "ns/na me"])
def test_refused_unless_namespace_slash_name(bad: str) -> None:
    with pytest.raises(ValidationError, match="namespace/name"):
        Settings(server_service_account=bad)


def test_from_the_environment() -> None:
    env = {"CONTAINER_MAKER_SERVER_SERVICE_ACCOUNT": "ns/sa"}
    assert Settings.from_env(env).server_service_account == "ns/sa"
    empty = {"CONTAINER_MAKER_SERVER_SERVICE_ACCOUNT": ""}
    assert Settings.from_env(empty).server_service_account is None
