"""The container manager's orchestration, with in-memory resource plugins (no cluster).

The plugins here keep objects in a dict instead of a cluster. They stand in for plugins, not for
the Kubernetes API server: what is tested is the core's side of the hook contract (the exact
sequence of hook calls per exposure level, rollback, idempotency, the nested tree). The same
behaviours are tested with the real plugins on the real cluster in ``tests/``.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime
from types import SimpleNamespace
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
    NotFound,
    NotReady,
    NotReadyInTime,
    Unavailable,
)
from container_maker.identity import (
    ID_KEY,
    NAME_KEY,
    TENANT_KEY,
    container_annotations,
    container_labels,
    is_managed,
    managed_labels,
)
from container_maker.kube import NamespacedKind
from container_maker.manager import ContainerManager
from container_maker.models import (
    AssociatedResource,
    ContainerPhase,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObjectStatus,
    ObservedObject,
    PodExtras,
    PortState,
    PortStatus,
    PublishedPort,
    PublishInformation,
    Query,
    ResourceKind,
    StatusCondition,
)
from container_maker.plugins import create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import HookCall

Store = dict[tuple[str, str, str], ObservedObject]
_uids = itertools.count(1)


class MemoryKind:
    """A resource plugin for one kind that keeps its objects in ``store``."""

    def __init__(self, kind: str, min_level: ExposureLevel, store: Store) -> None:
        self.kind = kind
        self.min_level = min_level
        self.store = store
        self.fail_on: str | None = None  # "build" or "create" to inject a failure

    @hookimpl
    def cm_declare_kind(self) -> ResourceKind:
        return ResourceKind(kind=self.kind, min_level=self.min_level)

    @hookimpl
    def cm_build(self, kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
        if kind != self.kind:
            return None
        if self.fail_on == "build":
            raise InvalidArgument("container_name", f"injected failure building {kind}")
        if kind == "namespace":
            meta = {
                "name": spec.network_name,
                "labels": {**managed_labels(), TENANT_KEY: context.tenant},
            }
        else:
            meta = {
                "name": f"{spec.container_name}-{kind}",
                "namespace": spec.network_name,
                "labels": container_labels(context.container_id, spec, context.tenant),
                "annotations": container_annotations(spec),
            }
        return Manifest(kind=kind, body={"metadata": meta, "extras": len(context.pod_extras)})

    @hookimpl
    def cm_create(self, kind: str, manifest: Manifest, context: KubeContext) -> Any:
        if kind != self.kind:
            return None
        meta = manifest.body["metadata"]
        namespace = meta.get("namespace", meta["name"])
        key = (kind, namespace, meta["name"])
        if key in self.store:
            if kind == "namespace":
                return self.store[key]
            raise AlreadyExists(f"{kind} {meta['name']} exists")
        obj = ObservedObject(
            kind=kind,
            namespace=namespace,
            name=meta["name"],
            uid=f"uid-{next(_uids)}",
            labels=meta["labels"],
            annotations=meta.get("annotations", {}),
            address=f"{kind}-address",
        )
        self.store[key] = obj
        if self.fail_on == "create":
            raise Unavailable(f"injected failure after creating {kind}")
        return obj

    @hookimpl
    def cm_get(self, kind: str, query: Query, context: KubeContext) -> Any:
        if kind != self.kind:
            return None
        if kind == "namespace":
            found = self.store.get((kind, query.namespace, query.namespace))
            return () if found is None else (found,)
        return tuple(
            o
            for (k, ns, _), o in sorted(self.store.items())
            if k == kind
            and ns == query.namespace
            and is_managed(o.labels)
            and query.container_id in (None, o.labels.get(ID_KEY))
            and query.container_name in (None, o.labels.get("container-maker.io/name"))
        )

    @hookimpl
    def cm_watch_source(self, kind: str) -> NamespacedKind[Any] | None:
        """Pods in all namespaces by label selector (what the containers-per-tenant count
        lists); nothing else of the source is used here."""
        if kind != self.kind or kind != "pod":
            return None

        def list_all(api: Any, label_selector: str, **_: Any) -> Any:
            terms = dict(term.split("=", 1) for term in label_selector.split(","))
            return SimpleNamespace(
                items=[
                    o
                    for (k, _, _), o in sorted(self.store.items())
                    if k == kind and all(o.labels.get(key) == v for key, v in terms.items())
                ]
            )

        def unused(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("not used by the manager")

        return NamespacedKind(
            name="pod",
            plural="pods",
            api=lambda api_client: None,
            create=unused,
            list=unused,
            read=unused,
            delete=unused,
            observe=lambda o: o,
            list_all=list_all,
        )

    @hookimpl
    def cm_delete(
        self, kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
    ) -> DeleteResult | None:
        if kind != self.kind:
            return None
        deleted = []
        for obj in objects:
            if self.store.pop((kind, obj.namespace, obj.name), None) is not None:
                deleted.append(obj.name)
        return DeleteResult(kind=kind, deleted=tuple(deleted))

    @hookimpl
    def cm_describe_associations(
        self, container_id: str, objects: dict[str, tuple[ObservedObject, ...]]
    ) -> tuple[AssociatedResource, ...] | None:
        if self.kind == "namespace" or not objects.get(self.kind):
            return None
        return tuple(
            AssociatedResource(resource_name=o.name, resource_type=self.kind)
            for o in objects[self.kind]
        )


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


@pytest.fixture
def store() -> Store:
    return {}


@pytest.fixture
def kinds(store: Store) -> dict[str, MemoryKind]:
    return {kind: MemoryKind(kind, level, store) for kind, level in LEVELS.items()}


@pytest.fixture
def pm(kinds: dict[str, MemoryKind]) -> pluggy.PluginManager:
    # Registered in an order unlike the chain: the chain, not registration, must decide.
    order = ["ingress", "pod", "namespace", "service"]
    plugins = [(name, kinds[name]) for name in order] + [("sidecar", Sidecar())]
    return create_plugin_manager(load_entrypoints=False, plugins=plugins)


@pytest.fixture
def calls(pm: pluggy.PluginManager) -> list[HookCall]:
    recorded: list[HookCall] = []

    def before(hook_name: str, hook_impls: Any, kwargs: Any) -> None:
        recorded.append(HookCall(hook_name, kwargs.get("kind")))

    pm.add_hookcall_monitoring(before, lambda *args: None)
    return recorded


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
        "cm_preflight", "cm_get(namespace)", "cm_watch_source(pod)",
        "cm_build(namespace)", "cm_create(namespace)",
        "cm_pod_extras", "cm_build(pod)", "cm_create(pod)",
        "cm_describe_associations",
    ],
    ExposureLevel.CLUSTER_LOCAL: [
        "cm_preflight", "cm_get(namespace)", "cm_watch_source(pod)",
        "cm_build(namespace)", "cm_create(namespace)",
        "cm_pod_extras", "cm_build(pod)", "cm_create(pod)",
        "cm_build(service)", "cm_create(service)",
        "cm_describe_associations",
    ],
    ExposureLevel.CLUSTER_EXTERNAL: [
        "cm_preflight", "cm_get(namespace)", "cm_watch_source(pod)",
        "cm_build(namespace)", "cm_create(namespace)",
        "cm_pod_extras", "cm_build(pod)", "cm_create(pod)",
        "cm_build(service)", "cm_create(service)",
        "cm_describe_associations",
    ],
    ExposureLevel.EXPOSED: [
        "cm_preflight", "cm_get(namespace)", "cm_watch_source(pod)",
        "cm_build(namespace)", "cm_create(namespace)",
        "cm_pod_extras", "cm_build(pod)", "cm_create(pod)",
        "cm_build(service)", "cm_create(service)",
        "cm_build(ingress)", "cm_create(ingress)",
        "cm_describe_associations",
    ],
}  # fmt: skip

DELETE_LOOKUPS = ["cm_get(namespace)", "cm_get(pod)", "cm_get(service)", "cm_get(ingress)"]
NAMESPACE_CLEANUP = [
    "cm_get(namespace)",
    "cm_get(pod)", "cm_get(service)", "cm_get(ingress)",
    "cm_delete(namespace)",
]  # fmt: skip
DELETE_SEQUENCES = {
    ExposureLevel.INTERNAL: [*DELETE_LOOKUPS, "cm_delete(pod)", *NAMESPACE_CLEANUP],
    ExposureLevel.CLUSTER_LOCAL: [
        *DELETE_LOOKUPS, "cm_delete(service)", "cm_delete(pod)", *NAMESPACE_CLEANUP
    ],
    ExposureLevel.CLUSTER_EXTERNAL: [
        *DELETE_LOOKUPS, "cm_delete(service)", "cm_delete(pod)", *NAMESPACE_CLEANUP
    ],
    ExposureLevel.EXPOSED: [
        *DELETE_LOOKUPS,
        "cm_delete(ingress)", "cm_delete(service)", "cm_delete(pod)",
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
    plugins = [(k, MemoryKind(k, LEVELS[k], store)) for k in ("namespace", "pod", "ingress")]
    manager = ContainerManager(
        ApiClient(), plugin_manager=create_plugin_manager(load_entrypoints=False, plugins=plugins)
    )
    with pytest.raises(FailedPrecondition, match="service"):
        manager.create(spec(ExposureLevel.CLUSTER_LOCAL))
    assert store == {}
    assert manager.create(spec(ExposureLevel.INTERNAL)).container_type == "pod"


def test_plugin_breaking_the_contract_is_internal(store: Store) -> None:
    class Broken(MemoryKind):
        @hookimpl(tryfirst=True)
        def cm_create(self, kind: str, manifest: Manifest, context: KubeContext) -> Any:
            return {"not": "an ObservedObject"} if kind == "pod" else None

    plugins = [(k, MemoryKind(k, LEVELS[k], store)) for k in ("namespace", "pod")]
    plugins.append(("broken", Broken("other", ExposureLevel.INTERNAL, store)))
    pm = create_plugin_manager(load_entrypoints=False, plugins=plugins)
    with pytest.raises(FailedPrecondition):  # "other" is not a kind of the chain
        ContainerManager(ApiClient(), plugin_manager=pm)
    pm.unregister(name="broken")

    class BrokenCreate:
        @hookimpl(tryfirst=True)
        def cm_create(self, kind: str, manifest: Manifest, context: KubeContext) -> Any:
            return {"not": "an ObservedObject"} if kind == "pod" else None

    pm.register(BrokenCreate(), name="broken-create")
    manager = ContainerManager(ApiClient(), plugin_manager=pm)
    with pytest.raises(InternalError, match="cm_create"):
        manager.create(spec(ExposureLevel.INTERNAL))
    assert store == {}


def test_deadline_stops_create_and_leaves_nothing(manager: ContainerManager, store: Store) -> None:
    with pytest.raises(DeadlineExceeded):
        manager.create(spec(ExposureLevel.EXPOSED), timeout=0.0)
    assert store == {}


def test_create_finishing_after_its_deadline_is_rolled_back(
    pm: pluggy.PluginManager, store: Store
) -> None:
    """Every step started in time, but the last one ended after the deadline: the caller has
    given up, so the container is removed instead of being left behind unknown."""

    class SlowPod:
        @hookimpl(wrapper=True)
        def cm_create(self, kind: str, manifest: Manifest, context: KubeContext) -> Any:
            result = yield
            if kind == "pod":
                time.sleep(0.3)
            return result

    pm.register(SlowPod(), name="slow-pod")
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
    manager: ContainerManager,
) -> None:
    """A stolen status token can relabel its own Lease with a victim's id; the Lease's name
    (``named_for``) still says whose it is, and the victim's status ignores it."""

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
