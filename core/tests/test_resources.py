"""The resource registry: order from anchors, startup errors naming plugins (pure, no cluster)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from container_maker.context import BuildContext
from container_maker.errors import InternalError, InvalidConfiguration
from container_maker.kube import NamespacedApi
from container_maker.models import (
    AssociatedResource,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObservedObject,
    Query,
)
from container_maker.resources import Resource, ResourceRegistry
from container_maker.testing import build_context, container_spec


def _build(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    return {"metadata": {"name": spec.container_name, "namespace": spec.network_name}}


def _none(*args: Any) -> Any:
    raise AssertionError("not called in these tests")


def res(kind: str, **fields: Any) -> Resource:
    """A resource with explicit (never called) cluster callables."""
    return Resource(kind=kind, build=_build, create=_none, get=_none, delete=_none, **fields)


# The built-in kinds as their plugins declare them.
BUILT_IN = (
    ("namespace", res("namespace")),
    ("networkpolicy", res("networkpolicy", after=("namespace",), before=("pod",), view=False)),
    ("status", res("status", after=("namespace",), before=("pod",), tree=False)),
    ("pod", res("pod", after=("namespace",), parent="service", name_suffix="")),
    ("service", res("service", after=("pod",), parent="ingress", name_suffix="-svc")),
    # The Ingress is owned by the pod and routes to the Service: it needs both first.
    ("ingress", res("ingress", after=("pod", "service"), name_suffix="-ing")),
)
CHAIN = ("namespace", "networkpolicy", "status", "pod", "service", "ingress")


def registry(*entries: tuple[str, Resource], tolerated: tuple[str, ...] = ()) -> ResourceRegistry:
    reg = ResourceRegistry(tolerated=tolerated)
    for plugin, resource in entries:
        with reg.registering(plugin):
            reg.add(resource)
    return reg


@pytest.mark.parametrize("order", list(itertools.permutations(range(len(BUILT_IN))))[::37])
def test_order_does_not_depend_on_registration_order(order: tuple[int, ...]) -> None:
    reg = registry(*(BUILT_IN[i] for i in order))
    assert reg.kinds() == CHAIN


def test_ties_are_broken_by_kind_name() -> None:
    reg = registry(("b", res("b", after=("a",))), ("c", res("c", after=("a",))), ("a", res("a")))
    assert reg.kinds() == ("a", "b", "c")


def test_a_third_party_kind_goes_where_it_says() -> None:
    before_pod = res("policy", after=("namespace",), before=("pod",))
    under_service = res("budget", after=("service",), before=("ingress",), parent="service")
    reg = registry(*BUILT_IN, ("policy", before_pod), ("budget", under_service))
    kinds = reg.kinds()
    assert kinds.index("policy") < kinds.index("pod")
    assert kinds.index("service") < kinds.index("budget") < kinds.index("ingress")


def test_levels_views_and_delete_order() -> None:
    reg = registry(
        ("namespace", res("namespace")),
        ("pod", res("pod", after=("namespace",))),
        ("service", res("service", after=("pod",), min_level=ExposureLevel.CLUSTER_LOCAL)),
        ("quota", res("quota", after=("namespace",), scope="namespace")),
        ("policy", res("policy", after=("namespace",), before=("pod",), view=False)),
    )
    assert [r.kind for r in reg.for_level(ExposureLevel.INTERNAL)] == [
        "namespace",
        "policy",
        "pod",
        "quota",
    ]
    assert [r.kind for r in reg.container_kinds()] == ["policy", "pod", "service"]
    assert [r.kind for r in reg.view()] == ["pod", "service"]
    assert [r.kind for r in reg.namespace_kinds()] == ["quota"]
    assert [r.kind for r in reg.delete_order({"pod", "service", "policy"})] == [
        "service",
        "pod",
        "policy",
    ]


def test_two_plugins_claiming_one_kind_are_named() -> None:
    with pytest.raises(InvalidConfiguration, match=r"'my-service' and 'service'.*'service'"):
        registry(*BUILT_IN, ("my-service", res("service", after=("pod",))))


def test_an_unknown_anchor_names_the_plugin_and_the_anchor() -> None:
    with pytest.raises(
        InvalidConfiguration, match="plugin 'budget' anchors kind 'budget' to 'deployment'"
    ):
        registry(*BUILT_IN, ("budget", res("budget", after=("deployment",)))).ordered()


def test_a_blocked_plugins_kind_is_a_tolerated_anchor() -> None:
    entries = [e for e in BUILT_IN if e[0] != "service"]
    reg = registry(*entries, tolerated=("service",))
    assert reg.kinds() == ("namespace", "networkpolicy", "status", "pod", "ingress")


def test_a_cycle_names_its_kinds_and_plugins() -> None:
    with pytest.raises(InvalidConfiguration, match=r"cycle.*'a' \(pa\).*'b' \(pb\)"):
        registry(
            ("pa", res("a", after=("b",))), ("pb", res("b", after=("a",))), ("pc", res("c"))
        ).ordered()


def test_a_kind_anchored_to_itself_is_refused() -> None:
    with pytest.raises(InvalidConfiguration, match="anchored to itself"):
        res("a", before=("a",))


def test_a_resource_needs_a_client_or_its_calls() -> None:
    with pytest.raises(InvalidConfiguration, match="neither a client nor get, delete"):
        Resource(kind="a", build=_build, create=_none)


def test_the_registry_is_sealed_once_ordered() -> None:
    reg = registry(*BUILT_IN)
    reg.ordered()
    with pytest.raises(InvalidConfiguration, match="sealed"):
        reg.add(res("late"))


def test_registered_resources_carry_their_plugin() -> None:
    reg = registry(*BUILT_IN)
    assert reg["service"].plugin == "service"


def test_max_name_length_counts_the_declared_suffixes() -> None:
    assert registry(*BUILT_IN).max_name_length() == 59
    assert registry(*BUILT_IN, ("x", res("x", name_suffix="-budget"))).max_name_length() == 56


def _spec() -> ContainerSpec:
    return ContainerSpec(
        image_name="busybox", container_name="web", network_name="ns1", exposure_level=0
    )


def test_manifest_wraps_a_built_body_and_refuses_other_things() -> None:
    context = SimpleNamespace()
    manifest = res("x").manifest(_spec(), context)  # type: ignore[arg-type]
    assert manifest == Manifest(kind="x", body=_build(_spec(), context))  # type: ignore[arg-type]

    def build_a_list(spec: Any, context: Any) -> Any:
        return ["no"]

    bad = Resource(kind="x", build=build_a_list, create=_none, get=_none, delete=_none)
    bad = ResourceRegistry().add(bad)
    with pytest.raises(InternalError, match="build for x returned list"):
        bad.manifest(_spec(), context)  # type: ignore[arg-type]


def test_explicit_calls_are_checked() -> None:
    obj = ObservedObject(kind="x", namespace="ns1", name="web", uid="u1")
    good = Resource(
        kind="x",
        build=_build,
        create=lambda m, c: obj,
        get=lambda q, c: (obj,),
        delete=lambda o, c: DeleteResult(kind="x", deleted=("web",)),
    )
    context: Any = SimpleNamespace()
    assert good.create_object(Manifest(kind="x", body={}), context) is obj
    assert good.find(Query(namespace="ns1"), context) == (obj,)
    assert good.remove((obj,), context).deleted == ("web",)

    def create_nothing(manifest: Any, context: Any) -> Any:
        return None

    def get_a_list(query: Any, context: Any) -> Any:
        return [obj]

    bad = Resource(kind="x", build=_build, create=create_nothing, get=get_a_list, delete=_none)
    with pytest.raises(InternalError, match="create for x returned NoneType"):
        bad.create_object(Manifest(kind="x", body={}), context)
    with pytest.raises(InternalError, match="get for x returned"):
        bad.find(Query(namespace="ns1"), context)


def test_default_tree_nodes_and_opting_out() -> None:
    objs = (ObservedObject(kind="x", namespace="ns1", name="web-x", uid="u1"),)
    assert res("x").nodes(objs) == (AssociatedResource(resource_name="web-x", resource_type="x"),)
    assert res("x", tree=False).nodes(objs) == ()
    custom = res(
        "x", describe=lambda o: (AssociatedResource(resource_name="n", resource_type="y"),)
    )
    assert custom.nodes(objs)[0].resource_type == "y"


def _meta(**fields: Any) -> Any:
    base = {
        "namespace": "ns1",
        "name": "web",
        "uid": "u1",
        "labels": {"a": "1"},
        "annotations": None,
        "deletion_timestamp": None,
    }
    return SimpleNamespace(metadata=SimpleNamespace(**{**base, **fields}))


def test_observed_object_from_metadata() -> None:
    obj = ObservedObject.from_metadata(_meta(), "budget", address="10.0.0.1")
    assert obj == ObservedObject(
        kind="budget",
        namespace="ns1",
        name="web",
        uid="u1",
        labels={"a": "1"},
        address="10.0.0.1",
    )
    assert ObservedObject.from_metadata(_meta(deletion_timestamp="now"), "x").terminating
    cluster_scoped = ObservedObject.from_metadata(_meta(namespace=None, name="ns2"), "namespace")
    assert cluster_scoped.namespace == "ns2"


def test_namespaced_kind_of_takes_the_clients_calls() -> None:
    def observe(o: Any) -> ObservedObject:
        return ObservedObject.from_metadata(o, "budget")

    budgets = NamespacedApi.of(client.PolicyV1Api, "pod_disruption_budget", observe=observe)
    assert budgets.create is client.PolicyV1Api.create_namespaced_pod_disruption_budget
    assert budgets.list is client.PolicyV1Api.list_namespaced_pod_disruption_budget
    assert budgets.read is client.PolicyV1Api.read_namespaced_pod_disruption_budget
    assert budgets.delete is client.PolicyV1Api.delete_namespaced_pod_disruption_budget
    assert budgets.list_all is client.PolicyV1Api.list_pod_disruption_budget_for_all_namespaces
    assert (budgets.name, budgets.plural) == ("poddisruptionbudget", "poddisruptionbudgets")
    leases = NamespacedApi.of(
        client.CoordinationV1Api, "lease", observe=observe, name="report", watchable=False
    )
    assert leases.list_all is None and leases.name == "report"
    with pytest.raises(TypeError, match="has no method create_namespaced_gadget"):
        NamespacedApi.of(client.CoreV1Api, "gadget", observe=observe)


def test_a_client_resource_watches_with_list_all() -> None:
    def observe(o: Any) -> ObservedObject:
        return ObservedObject.from_metadata(o, "service")

    services = NamespacedApi.of(client.CoreV1Api, "service", observe=observe)
    assert Resource(kind="service", build=_build, client=services).watched is services
    assert Resource(kind="service", build=_build, client=services, watch=False).watched is None


def test_interceptors_run_around_each_call_the_first_added_outermost() -> None:
    seen: list[str] = []

    def make(name: str) -> Any:
        def around(call: str, kind: str, proceed: Any) -> Any:
            seen.append(f"{name}>{call}({kind})")
            result = proceed()
            seen.append(f"<{name}")
            return result

        return around

    reg = registry(*BUILT_IN)
    reg.ordered()  # sealed: interceptors may still be added
    reg.intercept(make("outer"))
    stop = reg.intercept(make("inner"))
    spec, context = container_spec(), build_context()
    manifest = reg["service"].manifest(spec, context)
    assert manifest.body["metadata"]["name"] == "web"
    assert seen == ["outer>build(service)", "inner>build(service)", "<inner", "<outer"]
    stop()
    seen.clear()
    reg["pod"].manifest(spec, context)
    assert seen == ["outer>build(pod)", "<outer"]


def test_every_kind_comes_after_the_namespace_even_unanchored() -> None:
    reg = registry(*BUILT_IN, ("extra", res("aaa")))
    assert reg.kinds()[0] == "namespace"
    with pytest.raises(InvalidConfiguration, match="cycle"):
        registry(*BUILT_IN, ("early", res("early", before=("namespace",)))).ordered()
