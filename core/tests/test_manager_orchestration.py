"""The container manager's orchestration, with in-memory resource plugins (no cluster).

The plugins here keep objects in a dict instead of a cluster. They stand in for plugins, not for
the Kubernetes API server: what is tested is the core's side of the hook contract (the exact
sequence of hook calls per exposure level, rollback, idempotency, the nested tree). The same
behaviours are tested with the real plugins on the real cluster in ``tests/``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pluggy
import pytest
from kubernetes.client import ApiClient

from container_maker import hookimpl
from container_maker.auth import VERBS, Access, Decision, Identity
from container_maker.context import BuildContext, KubeContext
from container_maker.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Forbidden,
    InternalError,
    InvalidArgument,
    InvalidConfiguration,
    NotFound,
    NotReady,
    NotReadyInTime,
    Unavailable,
)
from container_maker.identity import (
    ID_KEY,
    NAME_KEY,
    TENANT_KEY,
)
from container_maker.manager import ContainerManager
from container_maker.memory import MemoryKind, Store
from container_maker.models import (
    ContainerPhase,
    ContainerSpec,
    ExposureLevel,
    Manifest,
    ObjectStatus,
    ObservedObject,
    PodExtras,
    PortState,
    PortStatus,
    PublishedPort,
    PublishInformation,
    StatusCondition,
)
from container_maker.plugins import create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import CallRecorder, HookCall


class Sidecar:
    @hookimpl
    def cm_pod_extras(self, spec: ContainerSpec, context: BuildContext) -> PodExtras:
        return PodExtras(plugin="memory-sidecar", containers=({"name": "side", "image": "s"},))


LEVELS = {
    "namespace": ExposureLevel.INTERNAL,
    "pod": ExposureLevel.INTERNAL,
    "service": ExposureLevel.CLUSTER_LOCAL,
    "ingress": ExposureLevel.EXPOSED,
}

# Declared as the real plugins declare them (where each goes, its level, its tree parent).
DECLARATIONS: dict[str, dict[str, Any]] = {
    "namespace": {},
    "pod": {"parent": "service"},
    "service": {
        "min_level": ExposureLevel.CLUSTER_LOCAL,
        "after": ("pod",),
        "parent": "ingress",
        "exposes": True,
    },
    "ingress": {"min_level": ExposureLevel.EXPOSED, "after": ("pod", "service"), "exposes": True},
}


@pytest.fixture
def store() -> Store:
    return {}


@pytest.fixture
def kinds(store: Store) -> dict[str, MemoryKind]:
    return {kind: MemoryKind(kind, store, **DECLARATIONS[kind]) for kind in LEVELS}


@pytest.fixture
def recorder() -> CallRecorder:
    return CallRecorder()


@pytest.fixture
def pm(kinds: dict[str, MemoryKind], recorder: CallRecorder) -> pluggy.PluginManager:
    # Registered in an order unlike the creation order: the declarations, not registration,
    # must decide.
    order = ["ingress", "pod", "namespace", "service"]
    plugins = [(name, kinds[name]) for name in order] + [("sidecar", Sidecar())]
    pm = create_plugin_manager(load_entrypoints=False, plugins=plugins)
    recorder.attach(pm)
    return pm


@pytest.fixture
def calls(recorder: CallRecorder) -> list[HookCall]:
    """Hook and resource calls from the start of the test (managers built earlier too)."""
    recorder.calls.clear()
    return recorder.calls


@pytest.fixture
def manager(pm: pluggy.PluginManager) -> ContainerManager:
    # The API client is never used: these plugins keep objects in memory.
    return ContainerManager(ApiClient(), plugin_manager=pm)


def spec(level: ExposureLevel, name: str = "web", **changes: Any) -> ContainerSpec:
    values: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": name,
        "network_name": "net",
        "exposure_level": int(level),
        "publish_information": (PublishInformation(publish_port=80, target_port=8080),),
    }
    values.update(changes)
    return ContainerSpec(**values)


def seq(calls: list[HookCall]) -> list[str]:
    return [f"{c.hook}({c.kind})" if c.kind else c.hook for c in calls]


CREATE_SEQUENCES = {
    ExposureLevel.INTERNAL: [
        "cm_preflight", "get(namespace)",
        "build(namespace)", "create(namespace)",
        "cm_pod_extras", "build(pod)", "create(pod)",
    ],
    ExposureLevel.CLUSTER_LOCAL: [
        "cm_preflight", "get(namespace)",
        "build(namespace)", "create(namespace)",
        "cm_pod_extras", "build(pod)", "create(pod)",
        "build(service)", "create(service)",
    ],
    ExposureLevel.CLUSTER_EXTERNAL: [
        "cm_preflight", "get(namespace)",
        "build(namespace)", "create(namespace)",
        "cm_pod_extras", "build(pod)", "create(pod)",
        "build(service)", "create(service)",
    ],
    ExposureLevel.EXPOSED: [
        "cm_preflight", "get(namespace)",
        "build(namespace)", "create(namespace)",
        "cm_pod_extras", "build(pod)", "create(pod)",
        "build(service)", "create(service)",
        "build(ingress)", "create(ingress)",
    ],
}  # fmt: skip

DELETE_LOOKUPS = ["get(namespace)", "get(pod)", "get(service)", "get(ingress)"]
NAMESPACE_CLEANUP = [
    "get(namespace)",
    "get(pod)", "get(service)", "get(ingress)",
    "delete(namespace)",
]  # fmt: skip
DELETE_SEQUENCES = {
    ExposureLevel.INTERNAL: [*DELETE_LOOKUPS, "delete(pod)", *NAMESPACE_CLEANUP],
    ExposureLevel.CLUSTER_LOCAL: [
        *DELETE_LOOKUPS, "delete(service)", "delete(pod)", *NAMESPACE_CLEANUP
    ],
    ExposureLevel.CLUSTER_EXTERNAL: [
        *DELETE_LOOKUPS, "delete(service)", "delete(pod)", *NAMESPACE_CLEANUP
    ],
    ExposureLevel.EXPOSED: [
        *DELETE_LOOKUPS,
        "delete(ingress)", "delete(service)", "delete(pod)",
        *NAMESPACE_CLEANUP,
    ],
}  # fmt: skip


@pytest.mark.parametrize("level", list(CREATE_SEQUENCES), ids=lambda level: level.name)
def test_create_hook_sequence(
    level: ExposureLevel, manager: ContainerManager, calls: list[HookCall], store: Store
) -> None:
    container = manager.create(spec(level))
    assert seq(calls) == CREATE_SEQUENCES[level]
    expected_kinds = {k for k, lvl in LEVELS.items() if lvl <= level}
    assert {k for k, _, _ in store} == expected_kinds
    assert container.container_type == max(
        expected_kinds - {"namespace"}, key=["pod", "service", "ingress"].index
    )


@pytest.mark.parametrize("level", list(DELETE_SEQUENCES), ids=lambda level: level.name)
def test_delete_hook_sequence(
    level: ExposureLevel, manager: ContainerManager, calls: list[HookCall], store: Store
) -> None:
    container = manager.create(spec(level))
    calls.clear()
    outcome = manager.delete(container.container_id, "net")
    assert seq(calls) == DELETE_SEQUENCES[level]
    assert outcome.status == "Deleted"
    assert store == {}  # the namespace was ours and is now empty: deleted too


def test_pod_build_receives_sidecar_extras(manager: ContainerManager, store: Store) -> None:
    manager.create(spec(ExposureLevel.INTERNAL))
    # MemoryKind records the number of extras in its manifest; the pod got the sidecar's.
    pods = [o for (k, _, _), o in store.items() if k == "pod"]
    assert len(pods) == 1


@pytest.mark.parametrize("step", ["namespace", "pod", "service", "ingress"])
@pytest.mark.parametrize("when", ["build", "create"])
def test_failure_at_each_step_rolls_back(
    step: str, when: str, manager: ContainerManager, kinds: dict[str, MemoryKind], store: Store
) -> None:
    kinds[step].fail_on = when
    with pytest.raises((InvalidArgument, Unavailable)):
        manager.create(spec(ExposureLevel.EXPOSED))
    assert store == {}


def test_rollback_keeps_a_namespace_with_other_containers(
    manager: ContainerManager, kinds: dict[str, MemoryKind], store: Store
) -> None:
    first = manager.create(spec(ExposureLevel.INTERNAL, "first"))
    kinds["service"].fail_on = "create"
    with pytest.raises(Unavailable):
        manager.create(spec(ExposureLevel.CLUSTER_LOCAL, "second"))
    assert sorted(name for _, _, name in store) == ["first-pod", "net"]
    assert manager.get(first.container_id, "net").container_name == "first"


def test_unmanaged_namespace_is_never_deleted(
    manager: ContainerManager, kinds: dict[str, MemoryKind], store: Store
) -> None:
    store[("namespace", "net", "net")] = ObservedObject(
        kind="namespace", namespace="net", name="net", uid="theirs"
    )
    # Never used either, unless an operator assigns it to the tenant (without managed-by).
    with pytest.raises(Forbidden):
        manager.create(spec(ExposureLevel.INTERNAL))
    assert list(store) == [("namespace", "net", "net")]
    store[("namespace", "net", "net")] = ObservedObject(
        kind="namespace", namespace="net", name="net", uid="theirs", labels={TENANT_KEY: "local"}
    )
    container = manager.create(spec(ExposureLevel.INTERNAL))
    manager.delete(container.container_id, "net")
    assert list(store) == [("namespace", "net", "net")]


def test_another_tenants_managed_namespace_is_refused_and_kept(
    manager: ContainerManager, store: Store
) -> None:
    theirs = Identity(user="b", tenant="tenant-b", method="test", verbs=frozenset(VERBS))
    made = manager.create(spec(ExposureLevel.INTERNAL, name="b"), caller=theirs)
    before = dict(store)
    with pytest.raises(Forbidden):
        manager.create(spec(ExposureLevel.INTERNAL))
    with pytest.raises(NotFound) as missing:
        manager.list("elsewhere")
    with pytest.raises(NotFound) as foreign:
        manager.list("net")
    assert foreign.value.message == missing.value.message.replace("elsewhere", "net")
    assert store == before
    assert manager.list("net", caller=theirs)[0].container_id == made.container_id


def test_same_spec_is_idempotent_and_different_spec_already_exists(
    manager: ContainerManager, store: Store
) -> None:
    first = manager.create(spec(ExposureLevel.CLUSTER_LOCAL))
    again = manager.create(spec(ExposureLevel.CLUSTER_LOCAL))
    assert again.container_id == first.container_id
    with pytest.raises(AlreadyExists):
        manager.create(spec(ExposureLevel.CLUSTER_LOCAL, image_name="nginx:1.28"))
    assert len([k for k in store if k[0] == "pod"]) == 1


def test_list_groups_each_container_once_with_a_nested_tree(manager: ContainerManager) -> None:
    manager.create(spec(ExposureLevel.EXPOSED, "b"))
    manager.create(spec(ExposureLevel.INTERNAL, "a"))
    listed = manager.list("net")
    assert [c.container_name for c in listed] == ["a", "b"]
    assert listed[0].container_type == "pod"
    exposed = listed[1]
    assert exposed.container_type == "ingress"
    assert exposed.container_ip == "ingress-address"
    (ingress,) = exposed.associated_resources
    assert ingress.resource_type == "ingress"
    (service,) = ingress.associated_resources
    assert service.resource_type == "service"
    (pod,) = service.associated_resources
    assert (pod.resource_type, pod.resource_name) == ("pod", "b-pod")


def test_unknown_container_and_namespace_are_not_found(manager: ContainerManager) -> None:
    missing = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
    with pytest.raises(NotFound):
        manager.get(missing, "net")
    with pytest.raises(NotFound):
        manager.delete(missing, "net")
    with pytest.raises(NotFound):
        manager.list("net")


def test_blocked_service_plugin_refuses_service_levels(store: Store) -> None:
    plugins = [
        (k, MemoryKind(k, store, **DECLARATIONS[k])) for k in ("namespace", "pod", "ingress")
    ]
    pm = create_plugin_manager(blocked=["service"], load_entrypoints=False, plugins=plugins)
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    with pytest.raises(FailedPrecondition, match="service"):
        manager.create(spec(ExposureLevel.CLUSTER_LOCAL))
    assert store == {}
    assert manager.create(spec(ExposureLevel.INTERNAL)).container_type == "pod"


def test_a_missing_anchor_that_no_blocked_plugin_explains_is_a_startup_error(
    store: Store,
) -> None:
    plugins = [
        (k, MemoryKind(k, store, **DECLARATIONS[k])) for k in ("namespace", "pod", "ingress")
    ]
    pm = create_plugin_manager(load_entrypoints=False, plugins=plugins)
    with pytest.raises(InvalidConfiguration, match="plugin 'ingress' anchors kind 'ingress'"):
        ContainerManager(ApiClient(), plugin_manager=pm)


def test_a_missing_essential_kind_is_a_startup_error(store: Store) -> None:
    pm = create_plugin_manager(
        load_entrypoints=False, plugins=[("namespace", MemoryKind("namespace", store))]
    )
    with pytest.raises(InvalidConfiguration, match=r"essential kinds \['pod'\]"):
        ContainerManager(ApiClient(), plugin_manager=pm)


def test_plugin_breaking_the_contract_is_internal(
    kinds: dict[str, MemoryKind], store: Store
) -> None:
    class Broken(MemoryKind):
        def create(self, manifest: Manifest, context: KubeContext) -> Any:
            return {"not": "an ObservedObject"}

    plugins = [(k, kinds[k]) for k in ("namespace", "service")]
    plugins.append(("broken-pod", Broken("pod", store)))
    manager = ContainerManager(
        ApiClient(), plugin_manager=create_plugin_manager(load_entrypoints=False, plugins=plugins)
    )
    with pytest.raises(InternalError, match="plugin broken-pod's create for pod returned dict"):
        manager.create(spec(ExposureLevel.INTERNAL))
    assert store == {}


def test_deadline_stops_create_and_leaves_nothing(manager: ContainerManager, store: Store) -> None:
    with pytest.raises(DeadlineExceeded):
        manager.create(spec(ExposureLevel.EXPOSED), timeout=0.0)
    assert store == {}


def test_create_finishing_after_its_deadline_is_rolled_back(
    pm: pluggy.PluginManager, kinds: dict[str, MemoryKind], store: Store
) -> None:
    """Every step started in time, but the last one ended after the deadline: the caller has
    given up, so the container is removed instead of being left behind unknown."""

    pod = kinds["pod"]
    create = pod.create

    def slow(manifest: Manifest, context: KubeContext) -> ObservedObject:
        made = create(manifest, context)
        time.sleep(0.3)
        return made

    pod.create = slow  # type: ignore[method-assign]  # before the manager registers it
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    with pytest.raises(DeadlineExceeded):
        manager.create(spec(ExposureLevel.INTERNAL), timeout=0.2)
    assert store == {}


# -- waiting until ready ------------------------------------------------------------------


def set_pod_status(store: Store, status: ObjectStatus) -> None:
    for key, obj in list(store.items()):
        if key[0] == "pod":
            store[key] = obj.model_copy(update={"status": status})


def test_create_waits_until_ready(manager: ContainerManager, store: Store) -> None:
    ready = ObjectStatus(phase=ContainerPhase.READY, ready=True)
    timer = threading.Timer(0.6, set_pod_status, (store, ready))
    timer.start()
    started = time.monotonic()
    container = manager.create(spec(ExposureLevel.INTERNAL), timeout=10, wait_until_ready=True)
    assert time.monotonic() - started >= 0.6
    assert (container.status.phase, container.status.ready) == (ContainerPhase.READY, True)
    timer.join()


def test_create_without_waiting_answers_at_once(manager: ContainerManager) -> None:
    container = manager.create(spec(ExposureLevel.INTERNAL), timeout=10)
    assert container.status.ready is False


def test_not_ready_in_time_keeps_the_container_and_names_it(
    manager: ContainerManager, store: Store
) -> None:
    started = time.monotonic()
    with pytest.raises(NotReadyInTime) as raised:
        manager.create(spec(ExposureLevel.CLUSTER_LOCAL), timeout=1.5, wait_until_ready=True)
    assert time.monotonic() - started < 2.0
    (pod,) = [o for k, o in store.items() if k[0] == "pod"]
    assert pod.labels[ID_KEY] in raised.value.message
    assert "kept" in raised.value.message
    assert sorted(k[0] for k in store) == ["namespace", "pod", "service"]


def test_a_failed_container_ends_the_wait_at_once(manager: ContainerManager, store: Store) -> None:
    pulling = ObjectStatus(
        phase=ContainerPhase.FAILED,
        ready=False,
        conditions=(
            StatusCondition(
                reason="ImagePullBackOff",
                message="container web: the image cannot be pulled",
                resource_type="pod_container",
                resource_name="web",
            ),
        ),
    )
    timer = threading.Timer(0.3, set_pod_status, (store, pulling))
    timer.start()
    started = time.monotonic()
    with pytest.raises(NotReady) as raised:
        manager.create(spec(ExposureLevel.INTERNAL), timeout=30, wait_until_ready=True)
    assert time.monotonic() - started < 5
    assert "ImagePullBackOff" in raised.value.message
    (pod,) = [o for k, o in store.items() if k[0] == "pod"]
    assert pod.labels[ID_KEY] in raised.value.message
    timer.join()


# -- preflight and published ports ----------------------------------------------------------


class Refuses:
    """Refuses every create that makes a service, and records what it was shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    @hookimpl
    def cm_preflight(self, spec: ContainerSpec, kinds: tuple[str, ...], settings: Any) -> None:
        self.seen.append(kinds)
        if "service" in kinds:
            raise FailedPrecondition("the service cannot be made here")


def test_a_preflight_refusal_comes_before_any_cluster_call(
    pm: pluggy.PluginManager, calls: list[HookCall], store: Store
) -> None:
    refuses = Refuses()
    pm.register(refuses, name="refuses")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    calls.clear()
    with pytest.raises(FailedPrecondition, match="cannot be made here"):
        manager.create(spec(ExposureLevel.EXPOSED))
    assert seq(calls) == ["cm_preflight"]
    assert store == {}
    assert refuses.seen == [("namespace", "pod", "service", "ingress")]
    manager.create(spec(ExposureLevel.INTERNAL))
    assert refuses.seen[-1] == ("namespace", "pod")


def test_published_ports_take_the_highest_kind_that_gives_a_url(
    manager: ContainerManager,
) -> None:
    def obj(kind: str, *ports: PublishedPort, **values: Any) -> ObservedObject:
        return ObservedObject(
            kind=kind, namespace="net", name=f"web-{kind}", uid=kind, published_ports=ports,
            **values,
        )  # fmt: skip

    objects = {
        "pod": (obj("pod", labels={"container-maker.io/exposure-level": "exposed"}),),
        "service": (
            obj(
                "service",
                PublishedPort(publish_port=80, target_port=8080, url="tcp://192.0.2.1:80"),
                PublishedPort(publish_port=53, target_port=5353, protocol="UDP", url="udp://x:53"),
                PublishedPort(publish_port=81, target_port=8081, url="tcp://192.0.2.1:81"),
            ),
        ),
        "ingress": (
            obj(
                "ingress",
                PublishedPort(publish_port=80, url="https://80-web.example/"),
                PublishedPort(publish_port=81),  # a rule without a host: no URL of its own
            ),
        ),
    }
    container = manager.assemble("id", "net", objects)
    ports = container.published_ports
    assert [(p.publish_port, p.target_port, p.protocol, p.url) for p in ports] == [
        (80, 8080, "TCP", "https://80-web.example/"),
        (53, 5353, "UDP", "udp://x:53"),
        (81, 8081, "TCP", "tcp://192.0.2.1:81"),
    ]  # fmt: skip


def test_an_object_named_for_another_container_never_counts_for_this_one(
    pm: pluggy.PluginManager, store: Store
) -> None:
    """A stolen status token can relabel its own Lease with a victim's id; the Lease's name
    (``named_for``) still says whose it is, and the victim's status ignores it."""
    pm.register(MemoryKind("status", store, before=("pod",), tree=False), name="status")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)

    def lease(named_for: str, container_id: str, state: PortState, year: int) -> ObservedObject:
        return ObservedObject(
            kind="status",
            namespace="net",
            name=f"{named_for}-status",
            uid=f"lease-{named_for}-{container_id}-{year}",
            labels={ID_KEY: container_id, NAME_KEY: "victim"},
            named_for=named_for,
            status=ObjectStatus(
                ready=state is PortState.LISTENING,
                ports=(PortStatus(port=8080, protocol="TCP", state=state),),
                last_activity=datetime(year, 1, 1, tzinfo=UTC),
                reported_at=datetime(year, 1, 1, tzinfo=UTC),
            ),
        )

    pod = ObservedObject(
        kind="pod",
        namespace="net",
        name="victim",
        uid="pod-victim",
        labels={ID_KEY: "id-victim", NAME_KEY: "victim"},
        status=ObjectStatus(phase=ContainerPhase.READY, ready=True),
    )
    own = lease("victim", "id-victim", PortState.NOT_LISTENING, 2026)
    alone = manager.assemble("id-victim", "net", {"pod": (pod,), "status": (own,)})
    claims = (
        lease("liar", "id-victim", PortState.LISTENING, 2999),  # relabelled: id only
        lease("", "id-victim", PortState.LISTENING, 2999),  # a name that is no report's
    )
    crowded = manager.assemble("id-victim", "net", {"pod": (pod,), "status": (*claims, own)})
    assert crowded == alone
    assert alone.status.last_activity == datetime(2026, 1, 1, tzinfo=UTC)
    assert [p.state for p in alone.status.ports] == [PortState.NOT_LISTENING]
    # Its own name under another id (a Lease whose id label was changed) vouches for nothing.
    stray = lease("victim", "id-other", PortState.LISTENING, 2999)
    without = manager.assemble("id-victim", "net", {"pod": (pod,), "status": (stray,)})
    assert without.status.ports == () and without.status.last_activity is None


class Authorizer:
    """Grants what ``allowed`` lists, as (verb, namespace) pairs; records every access."""

    def __init__(self, allowed: set[tuple[str, str]]) -> None:
        self.allowed = allowed
        self.seen: list[Access] = []

    @hookimpl
    def cm_authorize(self, identity: Identity, access: Access, context: KubeContext) -> Decision:
        self.seen.append(access)
        ok = (access.verb, access.namespace) in self.allowed
        return Decision(allowed=ok, reason="" if ok else "not granted here")


def test_cm_authorize_is_asked_before_any_cluster_call(
    pm: pluggy.PluginManager, calls: list[HookCall], store: Store
) -> None:
    authorizer = Authorizer({("create", "cm-net"), ("get", "cm-net")})
    pm.register(authorizer, name="authorizer")
    manager = ContainerManager(
        ApiClient(), plugin_manager=pm, settings=Settings(namespace_prefix="cm-")
    )
    user = Identity(user="u", tenant="local", method="test")
    made = manager.create(spec(ExposureLevel.INTERNAL), caller=user)
    assert made.container_network == "net"  # the caller's name, without the prefix
    assert ("namespace", "cm-net", "cm-net") in store
    got = manager.get(made.container_id, "net", caller=user)
    assert got.container_network == "net"
    assert [(a.verb, a.network_name, a.namespace) for a in authorizer.seen] == [
        ("create", "net", "cm-net"),
        ("get", "net", "cm-net"),
    ]
    assert authorizer.seen[1].container_id == made.container_id
    calls.clear()
    with pytest.raises(Forbidden, match="not granted here"):
        manager.delete(made.container_id, "net", caller=user)
    assert seq(calls) == ["cm_authorize"]
    pm.unregister(authorizer)


@pytest.mark.parametrize(
    "network", ["kube-system", "kube-public", "default", "container-maker-system"]
)
def test_reserved_namespaces_are_refused_before_any_lookup(
    network: str, manager: ContainerManager, calls: list[HookCall], store: Store
) -> None:
    with pytest.raises(Forbidden, match="not available to tenant local"):
        manager.create(spec(ExposureLevel.INTERNAL, network_name=network))
    with pytest.raises(NotFound) as reserved:
        manager.list(network)
    assert reserved.value.message == f"tenant local has no network {network}"
    assert seq(calls) == ["cm_preflight"]
    assert store == {}


# -- third-party kinds: their declared place -------------------------------------------------


def test_a_third_party_kind_goes_where_it_declares_and_hangs_under_its_parent(
    pm: pluggy.PluginManager, store: Store, calls: list[HookCall]
) -> None:
    """A kind before the pod ("guard") and one after it hanging under the service ("budget"):
    made in their places, shown in the tree, deleted with the container, newest first."""
    pm.register(MemoryKind("guard", store, before=("pod",), tree=False, view=False), name="guard")
    pm.register(MemoryKind("budget", store, after=("pod",), parent="service"), name="budget")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    assert manager.resources.kinds() == (
        "namespace",
        "guard",
        "pod",
        "budget",
        "service",
        "ingress",
    )
    made = manager.create(spec(ExposureLevel.CLUSTER_LOCAL))
    assert [c for c in seq(calls) if c.startswith("create(")] == [
        "create(namespace)", "create(guard)", "create(pod)", "create(budget)", "create(service)"
    ]  # fmt: skip
    assert made.container_type == "service"  # "budget" does not say how it is reached
    (service,) = made.associated_resources
    assert [(n.resource_type, n.resource_name) for n in service.associated_resources] == [
        ("pod", "web-pod"),
        ("budget", "web-budget"),
    ]
    assert manager.get(made.container_id, "net") == made
    calls.clear()
    manager.delete(made.container_id, "net")
    assert [c for c in seq(calls) if c.startswith("delete(")] == [
        "delete(service)", "delete(budget)", "delete(pod)", "delete(guard)", "delete(namespace)"
    ]  # fmt: skip
    assert store == {}


def test_a_kind_under_a_parent_the_container_lacks_hangs_under_the_next_one_up(
    pm: pluggy.PluginManager, store: Store
) -> None:
    pm.register(MemoryKind("budget", store, after=("pod",), parent="service"), name="budget")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    exposed = manager.create(spec(ExposureLevel.EXPOSED, "e"))
    (ingress,) = exposed.associated_resources
    (service,) = ingress.associated_resources
    assert [n.resource_type for n in service.associated_resources] == ["pod", "budget"]
    internal = manager.create(spec(ExposureLevel.INTERNAL, "i"))
    # No service, and the service's parent (the ingress) is missing too: both are roots.
    assert [n.resource_type for n in internal.associated_resources] == ["budget", "pod"]


def test_a_namespace_scoped_kind_is_made_once_in_our_namespace_and_goes_with_it(
    pm: pluggy.PluginManager, store: Store, calls: list[HookCall]
) -> None:
    quota = MemoryKind("quota", store, scope="namespace", before=("pod",), view=False)
    pm.register(quota, name="quota")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    first = manager.create(spec(ExposureLevel.INTERNAL, "first"))
    second = manager.create(spec(ExposureLevel.INTERNAL, "second"))  # it exists: kept as is
    assert [k for k in store if k[0] == "quota"] == [("quota", "net", "net-quota")]
    calls.clear()
    manager.delete(second.container_id, "net")
    manager.delete(first.container_id, "net")
    assert not any(c.kind == "quota" for c in calls)  # never looked up or deleted per container
    # In a namespace an operator assigned (not managed by us), none is made.
    store.clear()
    store[("namespace", "net", "net")] = ObservedObject(
        kind="namespace", namespace="net", name="net", uid="theirs", labels={TENANT_KEY: "local"}
    )
    manager.create(spec(ExposureLevel.INTERNAL))
    assert not any(k[0] == "quota" for k in store)
