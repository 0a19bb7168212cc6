"""The plugin-manager factory: entry-point discovery, blocklist, checks (no cluster)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pluggy
import pytest

from container_maker import NAME, hookimpl
from container_maker.errors import InternalError, InvalidConfiguration
from container_maker.memory import MemoryKind
from container_maker.models import ExposureLevel
from container_maker.plugins import Hooks, create_plugin_manager, describe_plugins
from container_maker.resources import ResourceRegistry
from container_maker.settings import Settings

BUILT_IN = {"namespace", "networkpolicy", "pod", "service", "ingress", "snapshot", "status"}
BUILT_IN_ORDER = (
    "namespace",
    "default-deny",
    "limit-range",
    "networkpolicy",
    "resource-quota",
    "status",
    "pod",
    "service",
    "ingress",
)


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
    registry = Hooks(pm).resources()
    assert registry.kinds() == BUILT_IN_ORDER
    # Entry-point name = plugin name = kind (the policy plugin also owns the default-deny).
    assert registry.plugins() == {
        "namespace": ("limit-range", "namespace", "resource-quota"),
        "networkpolicy": ("default-deny", "networkpolicy"),
        "status": ("status",),
        "pod": ("pod",),
        "service": ("service",),
        "ingress": ("ingress",),
    }


def test_without_entry_points_only_the_specs_exist() -> None:
    pm = create_plugin_manager(load_entrypoints=False)
    assert pm.list_name_plugin() == []
    assert Hooks(pm).resources(check=False).kinds() == ()
    with pytest.raises(InvalidConfiguration, match="essential kinds"):
        Hooks(pm).resources()


def test_blocklist_removes_optional_plugins() -> None:
    pm = create_plugin_manager(blocked=("ingress", "snapshot", "networkpolicy"))
    names = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert "ingress" not in names
    assert "snapshot" not in names
    assert "networkpolicy" not in names
    registry = Hooks(pm).resources()
    assert "ingress" not in registry
    assert [r.kind for r in registry.for_level(ExposureLevel.EXPOSED)] == [
        "namespace",
        "limit-range",
        "resource-quota",
        "status",
        "pod",
        "service",
    ]


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


def test_two_plugins_registering_one_kind_are_refused_by_name() -> None:
    pm = create_plugin_manager(plugins=[("second-pod", MemoryKind("pod", {}))])
    with pytest.raises(
        InvalidConfiguration, match="plugins 'pod' and 'second-pod' both register kind 'pod'"
    ):
        Hooks(pm).resources()


def test_nothing_is_loaded_at_import_time() -> None:
    # Importing the core builds no plugin manager; each factory call builds a new one.
    first = create_plugin_manager()
    second = create_plugin_manager()
    assert first is not second
    assert first.get_plugin("pod") is second.get_plugin("pod")  # the same module, two managers


def test_what_a_plugin_registers_is_attributed_to_it() -> None:
    class Wrong:
        @hookimpl
        def cm_register_resources(self, registry: ResourceRegistry) -> None:
            registry.add("extra")  # type: ignore[arg-type]

    pm = create_plugin_manager(plugins=[("wrong", Wrong())])
    with pytest.raises(InternalError, match="plugin 'wrong' registered str, expected a Resource"):
        Hooks(pm).resources()


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
