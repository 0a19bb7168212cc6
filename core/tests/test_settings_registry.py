"""The save settings read from the environment (pure)."""

from __future__ import annotations

import pytest

from container_maker import cli
from container_maker.settings import Settings, split_names


def test_registry_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_REGISTRY": "reg.example/saved",
            "CONTAINER_MAKER_REGISTRY_ENDPOINTS": "127.0.0.1:5000=10.245.0.1:4000, a=b:1",
        }
    )
    assert settings.registry == "reg.example/saved"
    assert settings.registry_endpoints == {"127.0.0.1:5000": "10.245.0.1:4000", "a": "b:1"}


def test_empty_registry_settings_mean_none() -> None:
    settings = Settings.from_env({"CONTAINER_MAKER_REGISTRY": ""})
    assert settings.registry is None
    assert settings.registry_endpoints == {}


def test_limit_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_MAX_PORTS": "4",
            "CONTAINER_MAKER_MAX_ENVIRONMENT_BYTES": "1024",
            "CONTAINER_MAKER_MAX_ENVIRONMENT_VALUE_BYTES": "512",
            "CONTAINER_MAKER_MAX_RESOURCES": "cpu_limit=8, memory_limit=16Gi",
            "CONTAINER_MAKER_MIN_RESOURCES": "cpu_request=50m,memory_request=",
            "CONTAINER_MAKER_ALLOW_NODE_PORTS": "true",
            "CONTAINER_MAKER_NAMESPACE_QUOTA": "count/pods=2,services.loadbalancers=",
        }
    )
    assert (settings.max_ports, settings.max_environment_bytes) == (4, 1024)
    assert settings.max_environment_value_bytes == 512
    assert settings.max_resources.cpu_limit == "8"
    assert settings.max_resources.cpu_request == "4"  # not named: the default stays
    assert settings.max_resources.memory_limit == "16Gi"
    assert settings.min_resources.cpu_request == "50m"
    assert settings.min_resources.memory_request == ""  # an empty value: no minimum
    assert settings.allow_node_ports and not settings.load_balancer_node_ports
    assert settings.namespace_quota["count/pods"] == "2"
    assert "services.loadbalancers" not in settings.namespace_quota
    assert settings.namespace_quota["requests.cpu"] == "8"


def test_quota_node_ports_follow_the_node_port_settings() -> None:
    assert Settings().quota_hard()["services.nodeports"] == "0"
    # Load balancers with node ports: max_ports for each of the 5 load balancers allowed.
    assert Settings(load_balancer_node_ports=True).quota_hard()["services.nodeports"] == "80"
    given = Settings(namespace_quota={"services.nodeports": "3"}, allow_node_ports=True)
    assert given.quota_hard() == {"services.nodeports": "3"}


def test_bad_limit_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="CONTAINER_MAKER_MAX_RESOURCES: unknown fields"):
        Settings.from_env({"CONTAINER_MAKER_MAX_RESOURCES": "gpu=1"})
    with pytest.raises(ValueError, match="CONTAINER_MAKER_ALLOW_NODE_PORTS"):
        Settings.from_env({"CONTAINER_MAKER_ALLOW_NODE_PORTS": "maybe"})
    with pytest.raises(ValueError, match="not name=value"):
        Settings.from_env({"CONTAINER_MAKER_NAMESPACE_QUOTA": "count/pods"})


def test_insecure_registries_from_environment_and_command_line() -> None:
    settings = Settings.from_env({"CONTAINER_MAKER_REGISTRY_INSECURE": "10.0.0.5:5000, reg.local"})
    assert settings.registry_insecure == ("10.0.0.5:5000", "reg.local")
    assert Settings.from_env({}).registry_insecure == ()
    # The flag is repeatable and each value may be comma separated; it wins over the env.
    given = split_names("a:1,b:2", "c")
    assert given == ("a:1", "b:2", "c")
    assert cli._settings({"registry_insecure": given}).registry_insecure == given
    assert cli._settings({"registry_insecure": None}).registry_insecure == ()
