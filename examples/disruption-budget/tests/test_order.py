"""Where the budget goes among the other kinds, without a cluster (in-memory stand-ins)."""

from __future__ import annotations

from cm_disruption_budget import plugin
from kubernetes.client import ApiClient

from container_maker.manager import ContainerManager
from container_maker.memory import MemoryKind, Store
from container_maker.sdk import AssociatedResource, ExposureLevel, ResourceRegistry
from container_maker.testing import plugin_manager_with


def stand_ins(store: Store) -> list[MemoryKind]:
    """The built-in kinds the budget is placed among, as they declare themselves."""
    return [
        MemoryKind("namespace", store),
        MemoryKind("pod", store, parent="service"),
        MemoryKind("service", store, after=("pod",), min_level=ExposureLevel.CLUSTER_LOCAL),
    ]


def test_after_the_pod_and_before_the_service() -> None:
    """After the pod it selects and that owns it; before the service, which also comes right
    after the pod: ties are broken by kind name ("disruption-budget" < "service")."""
    registry = ResourceRegistry()
    for kind in stand_ins({}):
        registry.add(kind.resource)
    registry.add(plugin.RESOURCE)
    assert registry.kinds() == ("namespace", "pod", "disruption-budget", "service")
    # Delete walks the order backwards: the budget goes before the pod.
    assert [r.kind for r in registry.delete_order(registry.kinds())][-3:] == [
        "disruption-budget",
        "pod",
        "namespace",
    ]


def test_at_every_level_and_limiting_names_like_the_service() -> None:
    pm = plugin_manager_with(*stand_ins({}), plugin, only=True)
    resources = ContainerManager(ApiClient(), plugin_manager=pm).resources
    assert plugin.KIND in [r.kind for r in resources.for_level(ExposureLevel.INTERNAL)]
    assert resources.max_name_length() == 63 - len("-pdb")


def test_it_hangs_under_the_pod_in_the_tree() -> None:
    registry = ResourceRegistry()
    for kind in stand_ins({}):
        registry.add(kind.resource)
    budget = registry.add(plugin.RESOURCE)
    pod = registry["pod"]
    nodes = {
        "pod": (AssociatedResource(resource_name="web", resource_type="pod"),),
        plugin.KIND: (AssociatedResource(resource_name="web-pdb", resource_type=budget.kind),),
    }
    (root,) = registry.nest(nodes)
    assert (root.resource_name, pod.kind) == ("web", "pod")
    assert [n.resource_name for n in root.associated_resources] == ["web-pdb"]
