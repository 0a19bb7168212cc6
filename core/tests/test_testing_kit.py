"""The testing kit as a third party gets it: plugin managers with the given plugins, and the
cluster fixtures with and without a provider of the cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from kubernetes import client

import container_maker_service.plugin as service_plugin
from container_maker.errors import InvalidConfiguration
from container_maker.memory import MemoryKind, Store
from container_maker.plugins import Hooks
from container_maker.testing import KUBECONFIG_ENV, TEST_NAMESPACE_LABEL, plugin_manager_with


def kinds(pm: pluggy.PluginManager) -> tuple[str, ...]:
    return Hooks(pm).resources(check=False).kinds()


def test_only_the_given_plugins() -> None:
    store: Store = {}
    budget = MemoryKind("budget", store, after=("pod",))
    pm = plugin_manager_with(
        MemoryKind("namespace", store), MemoryKind("pod", store), budget, only=True
    )
    assert kinds(pm) == ("namespace", "pod", "budget")
    assert pm.get_plugin("budget") is budget  # a MemoryKind is named after its kind


def test_the_installed_plugins_and_the_given_ones() -> None:
    store: Store = {}
    pm = plugin_manager_with(("extra", MemoryKind("budget", store, after=("pod",))))
    assert {"namespace", "pod", "service", "budget"} <= set(kinds(pm))
    assert pm.get_plugin("extra") is not None


def test_a_given_plugin_takes_the_place_of_an_installed_one_of_its_name() -> None:
    store: Store = {}
    pm = plugin_manager_with(("service", MemoryKind("service", store, after=("pod",))))
    assert pm.get_plugin("service") is not service_plugin
    assert not pm.is_registered(service_plugin)
    Hooks(pm).resources()  # one "service" kind: no duplicate


def test_an_installed_module_given_again_is_not_registered_twice() -> None:
    """What a distribution's own tests do: pass the plugin module it installs."""
    pm = plugin_manager_with(service_plugin)
    assert pm.get_name(service_plugin) == "service"  # its entry-point name
    renamed = plugin_manager_with(("my-service", service_plugin))
    assert renamed.get_name(service_plugin) == "my-service"
    assert renamed.get_plugin("service") is None
    assert "service" in kinds(renamed)


def test_blocked_and_twice_given_names_are_refused() -> None:
    store: Store = {}
    with pytest.raises(ValueError, match="blocked"):
        plugin_manager_with(("service", MemoryKind("service", store)), blocked=("service",))
    with pytest.raises(ValueError, match="'x'"):
        plugin_manager_with(("x", MemoryKind("a", store)), ("x", MemoryKind("b", store)))
    with pytest.raises(InvalidConfiguration, match="essential"):
        plugin_manager_with(blocked=("pod",))


@pytest.fixture
def installed_service_afterwards(cm_plugin_manager: pluggy.PluginManager) -> Iterator[None]:
    """Checks, once ``cm_register`` (set up after it) is torn down, that the installed service
    plugin is back under its name."""
    yield
    assert cm_plugin_manager.get_plugin("service") is service_plugin


def test_cm_register_replaces_an_installed_plugin_for_the_test(
    installed_service_afterwards: None,
    cm_plugin_manager: pluggy.PluginManager,
    cm_register: Callable[..., object],
) -> None:
    replacement = MemoryKind("service", {}, after=("pod",))
    cm_register(replacement, name="service")  # an installed entry point's name
    assert cm_plugin_manager.get_plugin("service") is replacement
    Hooks(cm_plugin_manager).resources()  # one "service" kind: no duplicate
    cm_register(service_plugin, name="service-again")  # an installed object, renamed
    assert cm_plugin_manager.get_name(service_plugin) == "service-again"


# -- the cluster fixtures, in pytest runs of their own ----------------------------------------

INNER = """
from kubernetes import client

def test_cluster(kube_cluster, namespace):
    ns = client.CoreV1Api(kube_cluster.api_client()).read_namespace(namespace)
    assert ns.metadata.labels[{label!r}] == "true"
    assert type(kube_cluster).__name__ == "KubeconfigCluster"
    assert kube_cluster.local is None
"""


def inner_run(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """pytest on INNER without the test-cluster plugin: the kit alone, as a third party has it."""
    (tmp_path / "test_inner.py").write_text(INNER.format(label=TEST_NAMESPACE_LABEL))
    environment = {k: v for k, v in os.environ.items() if k != KUBECONFIG_ENV}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:container_maker_testcluster",
            "--rootdir",
            str(tmp_path),
            "-c",
            os.devnull,
            str(tmp_path / "test_inner.py"),
        ],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_cluster_the_tests_are_skipped_saying_what_to_set(tmp_path: Path) -> None:
    result = inner_run(tmp_path, {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout, result.stdout
    assert f"set {KUBECONFIG_ENV} to a kubeconfig" in result.stdout, result.stdout


def test_the_kubeconfig_of_the_environment_is_used(kube_cluster: Any, tmp_path: Path) -> None:
    result = inner_run(tmp_path, {KUBECONFIG_ENV: str(kube_cluster.kubeconfig)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout, result.stdout
    # The inner run's namespace is gone or going.
    core = client.CoreV1Api(kube_cluster.api_client())
    left = core.list_namespace(label_selector=TEST_NAMESPACE_LABEL).items
    assert not [
        ns.metadata.name
        for ns in left
        if ns.metadata.name.startswith("t-test-cluster-") and not ns.metadata.deletion_timestamp
    ]
