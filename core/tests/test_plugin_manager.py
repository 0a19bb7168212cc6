"""The plugin-manager factory: entry-point discovery, blocklist, checks (no cluster)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pluggy
import pytest

from container_maker import NAME, hookimpl
from container_maker.chain import EXPOSURE_CHAIN, kinds_for_level
from container_maker.errors import InternalError, InvalidConfiguration
from container_maker.models import ExposureLevel
from container_maker.plugins import Hooks, create_plugin_manager, describe_plugins
from container_maker.settings import Settings

BUILT_IN = {"namespace", "networkpolicy", "pod", "service", "ingress", "snapshot", "status"}


def test_one_name_for_project_marker_and_group() -> None:
    assert NAME == "container_maker"
    pm = create_plugin_manager(load_entrypoints=False)
    assert pm.project_name == NAME
    assert hookimpl.project_name == NAME


def test_built_in_plugins_are_discovered_through_entry_points() -> None:
    declared = {ep.name for ep in entry_points(group=NAME)}
    assert declared >= BUILT_IN
    pm = create_plugin_manager()
    loaded = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert loaded >= BUILT_IN
    # Entry-point name = plugin name = kind.
    kinds = Hooks(pm).declared_kinds()
    assert set(kinds) == set(EXPOSURE_CHAIN)
    for kind in kinds:
        assert pm.get_plugin(kind) is not None


def test_without_entry_points_only_the_specs_exist() -> None:
    pm = create_plugin_manager(load_entrypoints=False)
    assert pm.list_name_plugin() == []
    assert Hooks(pm).declared_kinds() == {}


def test_blocklist_removes_optional_plugins() -> None:
    pm = create_plugin_manager(blocked=("ingress", "snapshot", "networkpolicy"))
    names = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert "ingress" not in names
    assert "snapshot" not in names
    assert "networkpolicy" not in names
    kinds = Hooks(pm).declared_kinds()
    assert "ingress" not in kinds
    assert kinds_for_level(ExposureLevel.EXPOSED, kinds) == (
        "namespace",
        "status",
        "pod",
        "service",
    )


@pytest.mark.parametrize("essential", ["namespace", "pod"])
def test_blocklist_refuses_essential_plugins(essential: str) -> None:
    with pytest.raises(InvalidConfiguration, match=essential):
        create_plugin_manager(blocked=(essential, "ingress"))


def test_blocklist_from_configuration() -> None:
    settings = Settings.from_env({"CONTAINER_MAKER_BLOCKED_PLUGINS": "status, ingress"})
    assert settings.blocked_plugins == ("status", "ingress")
    pm = create_plugin_manager(blocked=settings.blocked_plugins)
    assert pm.is_blocked("status")
    assert pm.get_plugin("status") is None


def test_check_pending_rejects_unknown_hooks() -> None:
    class Typo:
        @hookimpl
        def cm_biuld(self, kind: str) -> None:  # misspelt on purpose
            return None

    with pytest.raises(pluggy.PluginValidationError):
        create_plugin_manager(load_entrypoints=False, plugins=[("typo", Typo())])


def test_two_plugins_declaring_one_kind_are_refused() -> None:
    pm = create_plugin_manager()

    class SecondPod:
        @hookimpl
        def cm_declare_kind(self) -> object:
            from container_maker.models import ResourceKind

            return ResourceKind(kind="pod", min_level=ExposureLevel.INTERNAL)

    pm.register(SecondPod(), name="second-pod")
    with pytest.raises(InvalidConfiguration, match="pod"):
        Hooks(pm).declared_kinds()


def test_nothing_is_loaded_at_import_time() -> None:
    # Importing the core builds no plugin manager; each factory call builds a new one.
    first = create_plugin_manager()
    second = create_plugin_manager()
    assert first is not second
    assert first.get_plugin("pod") is second.get_plugin("pod")  # the same module, two managers


def test_cm_watch_source_must_name_a_list_all_call() -> None:
    """The facade refuses a watch source the hub could not list and watch with."""
    from typing import Any

    from kubernetes import client

    from container_maker import hookimpl
    from container_maker.errors import InternalError
    from container_maker.kube import NamespacedKind
    from container_maker.plugins import Hooks

    def observe(obj: Any) -> Any:
        raise AssertionError("never called")

    without = NamespacedKind(
        name="pod",
        plural="pods",
        api=client.CoreV1Api,
        create=client.CoreV1Api.create_namespaced_pod,
        list=client.CoreV1Api.list_namespaced_pod,
        read=client.CoreV1Api.read_namespaced_pod,
        delete=client.CoreV1Api.delete_namespaced_pod,
        observe=observe,
    )

    class Broken:
        @hookimpl
        def cm_watch_source(self, kind: str) -> Any:
            return without if kind == "pod" else None

    hooks = Hooks(create_plugin_manager(load_entrypoints=False, plugins=[("broken", Broken())]))
    assert hooks.watch_source(kind="service") is None
    with pytest.raises(InternalError, match="list_all"):
        hooks.watch_source(kind="pod")


def test_declared_kinds_by_plugin_attributes_each_kind_to_its_plugin() -> None:
    class Extra:
        @hookimpl
        def cm_declare_kind(self) -> object:
            from container_maker.models import ResourceKind

            return ResourceKind(kind="extra", min_level=ExposureLevel.INTERNAL)

    class Wrong:
        @hookimpl
        def cm_declare_kind(self) -> object:
            return "extra"

    pm = create_plugin_manager(plugins=[("extra", Extra())])
    by_plugin = Hooks(pm).declared_kinds_by_plugin()
    assert by_plugin["extra"] == ("extra",)
    assert by_plugin["namespace"] == ("namespace",)
    assert by_plugin["networkpolicy"] == ("networkpolicy",)
    assert "snapshot" not in by_plugin  # declares no kind
    pm.register(Wrong(), name="wrong")
    with pytest.raises(InternalError, match=r"cm_declare_kind \(wrong\)"):
        Hooks(pm).declared_kinds_by_plugin()


def test_describe_plugins_lists_loaded_registered_and_blocked() -> None:
    class Local:
        @hookimpl
        def cm_pod_extras(self) -> None:
            return None

    pm = create_plugin_manager(blocked=["ingress", "nowhere"], plugins=[("local", Local())])
    infos = {info.name: info for info in describe_plugins(pm, blocked=["ingress", "nowhere"])}
    assert infos["pod"].distribution == "container-maker-pod"
    assert infos["pod"].kinds == ("pod",)
    # Registered by code, not an entry point: no distribution.
    assert infos["local"].distribution is None
    assert infos["local"].hooks == ("cm_pod_extras",)
    assert infos["ingress"].blocked and infos["ingress"].hooks == ()
    assert infos["ingress"].distribution == "container-maker-ingress"
    assert infos["nowhere"].blocked and infos["nowhere"].distribution is None
