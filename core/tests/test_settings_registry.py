"""The save settings read from the environment (pure)."""

from __future__ import annotations

from container_maker.settings import Settings


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
