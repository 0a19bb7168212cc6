"""The save settings read from the environment (pure)."""

from __future__ import annotations

from container_maker import cli
from container_maker.settings import Settings, split_names


def test_registry_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_REGISTRY": "reg.example/saved",
            "CONTAINER_MAKER_REGISTRY_SECRET": "push-creds",
            "CONTAINER_MAKER_REGISTRY_ENDPOINTS": "127.0.0.1:5000=10.245.0.1:4000, a=b:1",
        }
    )
    assert settings.registry == "reg.example/saved"
    assert settings.registry_secret == "push-creds"
    assert settings.registry_endpoints == {"127.0.0.1:5000": "10.245.0.1:4000", "a": "b:1"}


def test_empty_registry_settings_mean_none() -> None:
    settings = Settings.from_env(
        {"CONTAINER_MAKER_REGISTRY": "", "CONTAINER_MAKER_REGISTRY_SECRET": ""}
    )
    assert settings.registry is None
    assert settings.registry_secret is None
    assert settings.registry_endpoints == {}


def test_insecure_registries_from_environment_and_command_line() -> None:
    settings = Settings.from_env({"CONTAINER_MAKER_REGISTRY_INSECURE": "10.0.0.5:5000, reg.local"})
    assert settings.registry_insecure == ("10.0.0.5:5000", "reg.local")
    assert Settings.from_env({}).registry_insecure == ()
    # The flag is repeatable and each value may be comma separated; it wins over the env.
    given = split_names("a:1,b:2", "c")
    assert given == ("a:1", "b:2", "c")
    assert cli._settings({"registry_insecure": given}).registry_insecure == given
    assert cli._settings({"registry_insecure": None}).registry_insecure == ()
