"""The container manager with the real plugins against the real cluster.

Nodes, LoadBalancer addresses and Ingress addresses are simulated by KWOK (tests relying on them
are marked ``simulated``); everything else is a real Kubernetes control plane.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pluggy
import pytest
from kubernetes import client

from container_maker.auth import LOCAL_IDENTITY
from container_maker.errors import AlreadyExists, NotFound, Unavailable
from container_maker.manager import ContainerManager
from container_maker.models import (
    Container,
    ContainerPhase,
    ContainerSpec,
    ExposureLevel,
    PublishInformation,
)
from container_maker.plugins import create_plugin_manager
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings
from container_maker.tenancy import assign_namespace
from container_maker.testing import (
    HookCall,
    Intercepting,
    ManagerFactory,
    eventually,
    foreign_pod,
    managed_objects,
)

MANAGED = "app.kubernetes.io/managed-by=container-maker"
SIMULATED_RANGE = ipaddress.ip_network("203.0.113.0/24")
LEVELS = [
    ExposureLevel.INTERNAL,
    ExposureLevel.CLUSTER_LOCAL,
    ExposureLevel.CLUSTER_EXTERNAL,
    ExposureLevel.EXPOSED,
]


def make_spec(
    namespace: str, name: str = "web", level: ExposureLevel = ExposureLevel.INTERNAL, **kw: Any
) -> ContainerSpec:
    values: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": name,
        "network_name": namespace,
        "exposure_level": int(level),
        "publish_information": (PublishInformation(publish_port=80, target_port=8080),),
        "environment_variables": {"MODE": "test"},
    }
    values.update(kw)
    return ContainerSpec(**values)


def namespace_state(api: client.ApiClient, name: str) -> str:
    """ "Active", "Terminating" or "gone"."""
    try:
        ns = client.CoreV1Api(api).read_namespace(name)
    except client.ApiException as e:
        if e.status == 404:
            return "gone"
        raise
    return "Terminating" if ns.metadata.deletion_timestamp else str(ns.status.phase)


# -- create, get, list, delete at every level ---------------------------------------------


@pytest.mark.simulated
@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.name)
def test_lifecycle_at_every_level(
    level: ExposureLevel,
    container_manager: ContainerManager,
    namespace: str,
    kube_api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(kube_api_client)
    created = container_manager.create(make_spec(namespace, level=level))
    expected_type = {1: "pod", 2: "service", 3: "service", 4: "ingress"}[int(level)]
    assert created.container_type == expected_type
    assert created.exposure_level == level
    assert created.container_network == namespace
    expected_objects = sorted(
        {
            ExposureLevel.INTERNAL: ["pod/web"],
            ExposureLevel.CLUSTER_LOCAL: ["pod/web", "service/web-svc"],
            ExposureLevel.CLUSTER_EXTERNAL: ["pod/web", "service/web-svc"],
            ExposureLevel.EXPOSED: ["ingress/web-ing", "pod/web", "service/web-svc"],
        }[level]
        + STATUS_OBJECTS
    )
    by_id = f"{MANAGED},container-maker.io/id={created.container_id}"
    assert managed_objects(kube_api_client, namespace, by_id) == expected_objects

    got = eventually(
        lambda: container_manager.get(created.container_id, namespace),
        lambda c: bool(c.container_ip),
    )
    assert got.container_id == created.container_id
    assert got.container_name == "web"
    assert [(p.container_port, p.protocol) for p in got.ports] == [(8080, "TCP")]
    if level == ExposureLevel.INTERNAL:
        assert got.container_ip == core.read_namespaced_pod("web", namespace).status.pod_ip
    elif level == ExposureLevel.CLUSTER_LOCAL:
        assert (
            got.container_ip == core.read_namespaced_service("web-svc", namespace).spec.cluster_ip
        )
    elif level == ExposureLevel.CLUSTER_EXTERNAL:
        lb = core.read_namespaced_service("web-svc", namespace).status.load_balancer.ingress[0]
        assert got.container_ip == lb.ip
        assert ipaddress.ip_address(got.container_ip) in SIMULATED_RANGE
    else:
        assert got.container_ip == "203.0.113.254"

    # Each published port's URL at the container's level (load balancer and Ingress addresses
    # are simulated; the EXPOSED host is the Ingress rule's own).
    urls = [(p.publish_port, p.target_port, p.protocol, p.url) for p in got.published_ports]
    if level == ExposureLevel.INTERNAL:
        assert urls == []
    elif level == ExposureLevel.CLUSTER_LOCAL:
        assert urls == [(80, 8080, "TCP", f"tcp://web-svc.{namespace}.svc:80")]
    elif level == ExposureLevel.CLUSTER_EXTERNAL:
        assert urls == [(80, 8080, "TCP", f"tcp://{got.container_ip}:80")]
    else:
        ingress = client.NetworkingV1Api(kube_api_client).read_namespaced_ingress(
            "web-ing", namespace
        )
        (rule,) = ingress.spec.rules
        assert rule.host.endswith(".containers.localhost")
        assert urls == [(80, 8080, "TCP", f"http://{rule.host}/")]

    # The nested tree: top object, then down to the pod's containers.
    node = got.associated_resources[0]
    path = [node.resource_type]
    while node.associated_resources and node.resource_type != "pod":
        node = node.associated_resources[0]
        path.append(node.resource_type)
    assert path == {1: ["pod"], 2: ["service", "pod"], 3: ["service", "pod"]}.get(
        int(level), ["ingress", "service", "pod"]
    )
    containers = node.associated_resources
    assert [c.resource_type for c in containers] == ["pod_container"] * 3
    user = containers[0]
    assert user.container_resources is not None
    assert user.container_resources.memory_limit == "1Gi"
    assert user.container_resources.snapshot_size_limit == "2Gi"

    listed = container_manager.list(namespace)
    assert [c.container_id for c in listed] == [created.container_id]

    outcome = container_manager.delete(created.container_id, namespace)
    assert outcome.status == "Deleted"
    assert managed_objects(kube_api_client, namespace) == []
    assert container_manager.list(namespace) == ()
    assert namespace_state(kube_api_client, namespace) == "Active"  # not ours: kept
    with pytest.raises(NotFound):
        container_manager.get(created.container_id, namespace)
    with pytest.raises(NotFound):
        container_manager.delete(created.container_id, namespace)


def test_objects_are_labelled_owned_and_unprivileged(
    container_manager: ContainerManager, namespace: str, kube_api_client: client.ApiClient
) -> None:
    created = container_manager.create(make_spec(namespace, level=ExposureLevel.EXPOSED))
    core = client.CoreV1Api(kube_api_client)
    pod = core.read_namespaced_pod("web", namespace)
    service = core.read_namespaced_service("web-svc", namespace)
    ingress = client.NetworkingV1Api(kube_api_client).read_namespaced_ingress("web-ing", namespace)
    for obj in (pod, service, ingress):
        assert obj.metadata.labels["app.kubernetes.io/managed-by"] == "container-maker"
        assert obj.metadata.labels["container-maker.io/id"] == created.container_id
    for obj in (service, ingress):
        (owner,) = obj.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid) == ("Pod", "web", pod.metadata.uid)
    assert pod.spec.automount_service_account_token is False
    for container in pod.spec.containers:
        assert container.security_context.privileged is False
        assert container.security_context.allow_privilege_escalation is False
    user = pod.spec.containers[0]
    assert user.security_context.capabilities.drop == ["NET_RAW", "MKNOD"]


# -- the exact hook sequence, with the real plugins -----------------------------------------


@pytest.mark.parametrize("level", LEVELS, ids=lambda level: level.name)
def test_hook_sequence_with_real_plugins(
    level: ExposureLevel,
    container_manager: ContainerManager,
    cm_hook_calls: list[HookCall],
    fresh_namespace_name: str,
) -> None:
    created = container_manager.create(make_spec(fresh_namespace_name, level=level))
    order = [
        "namespace", "default-deny", "limit-range", "networkpolicy", "resource-quota",
        "status", "pod", "service", "ingress",
    ]  # fmt: skip
    made = order[: {1: 7, 2: 8, 3: 8, 4: 9}[int(level)]]
    # The namespace does not exist yet: no container lookup.
    expected_create = [HookCall("cm_preflight"), HookCall("get", "namespace")]
    for kind in made:
        if kind == "pod":
            expected_create.append(HookCall("cm_pod_extras"))
        expected_create += [HookCall("build", kind), HookCall("create", kind)]
    assert cm_hook_calls == expected_create

    cm_hook_calls.clear()
    container_manager.delete(created.container_id, fresh_namespace_name)
    view = [HookCall("get", k) for k in ("status", "pod", "service", "ingress")]
    lookups = [HookCall("get", "namespace"), HookCall("get", "networkpolicy"), *view]
    # The default-deny, LimitRange and quota are the namespace's: they go with the namespace,
    # not with a container.
    namespace_kinds = ("namespace", "default-deny", "limit-range", "resource-quota")
    per_container = [k for k in reversed(made) if k not in namespace_kinds]
    deletes = [HookCall("delete", k) for k in per_container]
    cleanup = [HookCall("get", "namespace"), *view, HookCall("delete", "namespace")]
    assert cm_hook_calls == [*lookups, *deletes, *cleanup]


# -- failures roll back ---------------------------------------------------------------------


class FailBefore(Intercepting):
    """Fails the create of one kind before the owning plugin's create runs."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        if call == "create" and kind == self.kind:
            raise Unavailable(f"injected failure before creating the {kind}")
        return proceed()


class FailAfter(FailBefore):
    """Lets the owning plugin create the object, then fails as if the response were lost."""

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        result = proceed()
        if call == "create" and kind == self.kind:
            raise Unavailable(f"injected failure after creating the {kind}")
        return result


@pytest.mark.parametrize(
    "kind", ["namespace", "networkpolicy", "status", "pod", "service", "ingress"]
)
@pytest.mark.parametrize("fault", [FailBefore, FailAfter], ids=["before", "after"])
def test_failure_at_each_step_leaves_nothing_behind(
    kind: str,
    fault: type[FailBefore] | type[FailAfter],
    cm_manager: ManagerFactory,
    fresh_namespace_name: str,
    kube_api_client: client.ApiClient,
) -> None:
    container_manager = cm_manager((f"fault-{kind}", fault(kind)))
    with pytest.raises(Unavailable, match="injected"):
        container_manager.create(make_spec(fresh_namespace_name, level=ExposureLevel.EXPOSED))
    # The namespace was created by this create: it goes too (terminating counts as going).
    assert namespace_state(kube_api_client, fresh_namespace_name) in ("gone", "Terminating")
    # Rollback waits for the objects to disappear before it lets the namespace go.
    assert managed_objects(kube_api_client, fresh_namespace_name) == []


@pytest.mark.parametrize("kind", ["networkpolicy", "status", "pod", "service", "ingress"])
def test_failure_in_a_shared_namespace_keeps_the_namespace_and_the_neighbours(
    kind: str,
    container_manager: ContainerManager,
    cm_manager: ManagerFactory,
    namespace: str,
    kube_api_client: client.ApiClient,
) -> None:
    neighbour = container_manager.create(make_spec(namespace, "neighbour"))
    with pytest.raises(Unavailable, match="injected"):
        cm_manager(("fault", FailAfter(kind))).create(
            make_spec(namespace, level=ExposureLevel.EXPOSED)
        )
    assert managed_objects(kube_api_client, namespace) == sorted(
        ["pod/neighbour", *status_objects("neighbour")]
    )
    assert namespace_state(kube_api_client, namespace) == "Active"
    assert container_manager.get(neighbour.container_id, namespace).container_name == "neighbour"


# -- ownership: others' objects and namespaces ----------------------------------------------


def test_others_objects_are_neither_listed_nor_deleted(
    container_manager: ContainerManager, namespace: str, kube_api_client: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_api_client)
    foreign_pod(kube_api_client, namespace, "theirs", {"app": "theirs"})
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "theirs"},
            "spec": {"selector": {"app": "theirs"}, "ports": [{"port": 80}]},
        },
    )
    ours = container_manager.create(make_spec(namespace, level=ExposureLevel.CLUSTER_LOCAL))
    listed = container_manager.list(namespace)
    assert [c.container_id for c in listed] == [ours.container_id]
    container_manager.delete(ours.container_id, namespace)
    assert core.read_namespaced_pod("theirs", namespace).metadata.deletion_timestamp is None
    assert core.read_namespaced_service("theirs", namespace).metadata.deletion_timestamp is None


def test_a_namespace_we_did_not_create_is_never_deleted(
    container_manager: ContainerManager, namespace: str, kube_api_client: client.ApiClient
) -> None:
    first = container_manager.create(make_spec(namespace, "one"))
    second = container_manager.create(make_spec(namespace, "two"))
    container_manager.delete(first.container_id, namespace)
    container_manager.delete(second.container_id, namespace)
    assert namespace_state(kube_api_client, namespace) == "Active"


def test_our_namespace_lives_until_its_last_container_goes(
    container_manager: ContainerManager,
    fresh_namespace_name: str,
    kube_api_client: client.ApiClient,
) -> None:
    ns = fresh_namespace_name
    first = container_manager.create(make_spec(ns, "one"))
    second = container_manager.create(make_spec(ns, "two", level=ExposureLevel.CLUSTER_LOCAL))
    labels = client.CoreV1Api(kube_api_client).read_namespace(ns).metadata.labels
    assert labels["app.kubernetes.io/managed-by"] == "container-maker"
    container_manager.delete(first.container_id, ns)
    assert namespace_state(kube_api_client, ns) == "Active"
    assert [c.container_name for c in container_manager.list(ns)] == ["two"]
    container_manager.delete(second.container_id, ns)
    assert namespace_state(kube_api_client, ns) in ("Terminating", "gone")


def test_our_namespace_goes_when_only_foreign_objects_are_left(
    container_manager: ContainerManager,
    fresh_namespace_name: str,
    kube_api_client: client.ApiClient,
) -> None:
    """design.md section 4: a namespace Container Maker created is deleted once no *managed*
    container is left in it. A pod someone else put there is never deleted by Container Maker
    itself and does not hold the namespace (Kubernetes removes it with the namespace)."""
    ns = fresh_namespace_name
    created = container_manager.create(make_spec(ns))
    foreign_pod(kube_api_client, ns, "theirs")
    container_manager.delete(created.container_id, ns)
    assert namespace_state(kube_api_client, ns) in ("Terminating", "gone")


# -- idempotency, not found -----------------------------------------------------------------


def test_same_spec_is_idempotent_different_spec_already_exists(
    container_manager: ContainerManager, namespace: str, kube_api_client: client.ApiClient
) -> None:
    spec = make_spec(namespace, level=ExposureLevel.CLUSTER_LOCAL)
    first = container_manager.create(spec)
    again = container_manager.create(spec)
    assert again.container_id == first.container_id
    with pytest.raises(AlreadyExists):
        container_manager.create(make_spec(namespace, environment_variables={"MODE": "other"}))
    assert managed_objects(kube_api_client, namespace) == sorted(
        ["pod/web", "service/web-svc", *STATUS_OBJECTS]
    )


def test_name_taken_by_a_foreign_pod_is_already_exists(
    container_manager: ContainerManager, namespace: str, kube_api_client: client.ApiClient
) -> None:
    foreign_pod(kube_api_client, namespace, "web")
    with pytest.raises(AlreadyExists):
        container_manager.create(make_spec(namespace))
    assert managed_objects(kube_api_client, namespace) == []


def test_unknown_namespace_and_container_are_not_found(
    container_manager: ContainerManager, fresh_namespace_name: str, namespace: str
) -> None:
    unknown = "7d444840-9dc0-11d1-b245-5ffdce74fad2"
    with pytest.raises(NotFound):
        container_manager.list(fresh_namespace_name)
    with pytest.raises(NotFound):
        container_manager.get(unknown, fresh_namespace_name)
    with pytest.raises(NotFound):
        container_manager.delete(unknown, namespace)


def test_create_waits_for_a_terminating_namespace(
    container_manager: ContainerManager,
    fresh_namespace_name: str,
    kube_api_client: client.ApiClient,
) -> None:
    ns = fresh_namespace_name
    core = client.CoreV1Api(kube_api_client)
    first = container_manager.create(make_spec(ns))
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "hold", "finalizers": ["container-maker.io/test-hold"]}}
    )
    container_manager.delete(first.container_id, ns)  # last container: the namespace goes
    assert namespace_state(kube_api_client, ns) == "Terminating"

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(container_manager.create, make_spec(ns))
        time.sleep(2)
        assert not future.done(), "create did not wait for the terminating namespace"
        core.patch_namespaced_config_map("hold", ns, {"metadata": {"finalizers": None}})
        second = future.result(timeout=120)
    assert second.container_id != first.container_id
    assert namespace_state(kube_api_client, ns) == "Active"
    assert [c.container_id for c in container_manager.list(ns)] == [second.container_id]


def test_create_in_a_brand_new_namespace_waits_for_the_default_service_account(
    kube_cluster: Any, fresh_namespace_name: str
) -> None:
    """The real rejection, provoked: with the controller manager held still (SIGSTOP), the new
    namespace gets no ``default`` ServiceAccount and the API server refuses the pod (403); once
    the controller manager goes on, create succeeds without the caller noticing.

    Only a pod running as ``default`` meets this: with the status plugin the pod runs as the
    namespace's status ServiceAccount, made just before it, so the plugin is blocked here. And
    only in a namespace Container Maker did not make: in its own it waits for the quota
    controller (the same controller manager) to count the new ResourceQuota, by which time the
    ServiceAccount usually exists; so the namespace is made here, by "someone else", while the
    controller manager is held.
    """
    cm_plugin_manager = create_plugin_manager(blocked=("status",))
    local = kube_cluster.local
    if local is None:
        pytest.skip("needs to pause the controller manager of a cluster the tests started")
    api_client = kube_cluster.api_client()
    rejections: list[str] = []
    original = api_client.call_api

    def recording(*args: Any, **kwargs: Any) -> Any:
        # call_api returns the raw response; the error is raised later, when deserialising.
        response = original(*args, **kwargs)
        if getattr(response, "status", None) == 403:
            body = response.read()
            text = body.decode() if isinstance(body, bytes) else str(body)
            rejections.append(str(json.loads(text).get("message", text)))
        return response

    api_client.call_api = recording
    manager = ContainerManager(api_client, plugin_manager=cm_plugin_manager)
    controller_manager = local.pids["kube-controller-manager"]
    pool = ThreadPoolExecutor(1)
    os.kill(controller_manager, signal.SIGSTOP)
    try:
        body: Any = {"metadata": {"name": fresh_namespace_name}}
        client.CoreV1Api(api_client).create_namespace(body)
        assign_namespace(api_client, fresh_namespace_name, LOCAL_IDENTITY.tenant)
        future = pool.submit(manager.create, make_spec(fresh_namespace_name))
        deadline = time.monotonic() + 30
        while not rejections and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not future.done(), future.exception() if future.done() else None
    finally:
        os.kill(controller_manager, signal.SIGCONT)
    created = future.result(timeout=120)
    pool.shutdown()
    api_client.close()
    assert created.container_type == "pod"
    assert rejections, "the API server never refused the pod"
    print(f"pod refused {len(rejections)} time(s) for the missing ServiceAccount, then created")
    assert all('serviceaccount "default" not found' in r for r in rejections), rejections


# -- concurrency ------------------------------------------------------------------------------


# The races are the point here, not the quota: up to 30 containers (7 of them load balancers)
# exist at once, past the default quota of 20 pods and 5 load balancers.
@pytest.mark.parametrize(
    "cm_settings", [Settings(namespace_quota={}, ingress_domain=LOCAL_INGRESS_DOMAIN)]
)
def test_concurrent_creates_and_deletes_lose_nothing(
    container_manager: ContainerManager,
    fresh_namespace_name: str,
    kube_api_client: client.ApiClient,
) -> None:
    """20 creates racing (also to create the namespace), then 10 deletes racing 10 creates,
    then 20 deletes racing: every container is accounted for, nothing is left behind."""
    ns = fresh_namespace_name
    levels = [ExposureLevel.INTERNAL, ExposureLevel.CLUSTER_LOCAL, ExposureLevel.EXPOSED]

    def create(i: int) -> Container:
        return container_manager.create(make_spec(ns, f"c{i:02d}", level=levels[i % 3]))

    with ThreadPoolExecutor(20) as pool:
        first = list(pool.map(create, range(20)))
    assert sorted(c.container_name for c in container_manager.list(ns)) == [
        f"c{i:02d}" for i in range(20)
    ]

    with ThreadPoolExecutor(20) as pool:
        deletions = [pool.submit(container_manager.delete, c.container_id, ns) for c in first[:10]]
        creations = [pool.submit(create, i) for i in range(20, 30)]
        assert all(d.result().status == "Deleted" for d in deletions)
        second = [c.result() for c in creations]
    remaining = {c.container_id for c in container_manager.list(ns)}
    assert remaining == {c.container_id for c in first[10:] + second}
    assert namespace_state(kube_api_client, ns) == "Active"

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(
            pool.map(lambda c: container_manager.delete(c.container_id, ns), first[10:] + second)
        )
    assert Counter(o.status for o in outcomes) == Counter({"Deleted": 20})
    assert namespace_state(kube_api_client, ns) in ("Terminating", "gone")
    assert managed_objects(kube_api_client, ns) == []


# -- API calls per operation ----------------------------------------------------------------


METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def status_objects(name: str) -> list[str]:
    """The objects of container ``name`` besides its pod, Service and Ingress: the status
    kind's report Lease and its NetworkPolicy (the status identity is the namespace's)."""
    return [f"networkpolicy/{name}-net", f"lease/{name}-status"]


STATUS_OBJECTS = status_objects("web")

RESOURCES = {
    "namespaces",
    "pods",
    "services",
    "ingresses",
    "leases",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "networkpolicies",
    "endpointslices",
}


class CallCounter:
    """Counts the Kubernetes API requests an ApiClient makes, as "METHOD resource".

    It wraps ``ApiClient.call_api``, which every request of the generated API classes goes
    through (its signature differs between client releases, hence the argument sniffing).
    """

    def __init__(self, api_client: client.ApiClient) -> None:
        self.calls: Counter[str] = Counter()
        original = api_client.call_api

        def counting(*args: Any, **kwargs: Any) -> Any:
            strings = [a for a in (*args, *kwargs.values()) if isinstance(a, str)]
            method = next(a for a in strings if a in METHODS)
            url = next(a for a in strings if "/" in a)
            segments = urlsplit(url).path.strip("/").split("/")
            resource = next((seg for seg in reversed(segments) if seg in RESOURCES), url)
            self.calls[f"{method} {resource}"] += 1
            return original(*args, **kwargs)

        api_client.call_api = counting

    def take(self) -> Counter[str]:
        taken = Counter(self.calls)
        self.calls.clear()
        return taken


@pytest.fixture
def counted(
    kube_cluster: Any, cm_plugin_manager: pluggy.PluginManager, cm_settings: Settings
) -> Iterator[tuple[ContainerManager, CallCounter]]:
    api_client = kube_cluster.api_client()
    counter = CallCounter(api_client)
    yield (
        ContainerManager(api_client, settings=cm_settings, plugin_manager=cm_plugin_manager),
        counter,
    )
    api_client.close()


@pytest.fixture
def pods_terminating_after(kube_api_client: client.ApiClient, namespace: str) -> Iterator[str]:
    """``namespace``, whose pods are deleted at once after the test: its 100 containers must
    not count against tenant local's containers-per-tenant limit while the namespace
    controller deletes the namespace in the background."""
    yield namespace
    client.CoreV1Api(kube_api_client).delete_collection_namespaced_pod(
        namespace, label_selector=MANAGED
    )


# 100 containers of tenant local at once, besides what other tests of the session left.
@pytest.mark.parametrize(
    "cm_settings", [Settings(ingress_domain=LOCAL_INGRESS_DOMAIN, max_containers_per_tenant=1000)]
)
def test_api_calls_per_operation(
    counted: tuple[ContainerManager, CallCounter],
    container_manager: ContainerManager,
    pods_terminating_after: str,
) -> None:
    """List makes one call per kind whatever the number of containers; get at most one."""
    namespace = pods_terminating_after
    manager, counter = counted
    levels = [ExposureLevel.INTERNAL, ExposureLevel.CLUSTER_LOCAL, ExposureLevel.EXPOSED]
    report: list[str] = []
    made: list[Container] = []

    for target in (1, 10, 100):
        fresh = [
            make_spec(namespace, f"c{i:03d}", level=levels[i % 3]) for i in range(len(made), target)
        ]
        # The bulk is created through another client; only the measured calls are counted.
        with ThreadPoolExecutor(10) as pool:
            made += list(pool.map(container_manager.create, fresh))
        counter.take()
        listed = manager.list(namespace)
        calls = counter.take()
        assert len(listed) == target
        # Every container's status comes from the same list calls, with no call of its own.
        for container in listed:
            assert container.status.phase in set(ContainerPhase), container.status
            assert container.status.ready == (container.status.phase is ContainerPhase.READY)
            if container.status.ready:
                assert container.container_ip, container
        assert calls == Counter(
            {
                "GET namespaces": 1,
                "GET leases": 1,
                "GET pods": 1,
                "GET services": 1,
                "GET ingresses": 1,
            }
        ), calls
        report.append(
            f"list with {target:3d} containers: {sum(calls.values())} calls {dict(calls)}"
        )

    for level in levels:
        container = next(c for c in made if c.exposure_level == level)
        counter.take()
        got = manager.get(container.container_id, namespace)
        calls = counter.take()
        assert got.status.phase in set(ContainerPhase)
        # The namespace (whose tenant it is), the pod, its report, service, ingress.
        kinds = {1: 3, 2: 4, 4: 5}[int(level)]
        assert sum(calls.values()) == kinds, calls
        report.append(f"get {level.name}: {sum(calls.values())} calls {dict(calls)}")

    for level in levels:
        counter.take()
        created = manager.create(make_spec(namespace, f"m-{int(level)}", level=level))
        calls = counter.take()
        report.append(f"create {level.name}: {sum(calls.values())} calls {dict(calls)}")
        manager.delete(created.container_id, namespace)
        calls = counter.take()
        report.append(f"delete {level.name}: {sum(calls.values())} calls {dict(calls)}")
    print("\nKubernetes API calls per operation:\n  " + "\n  ".join(report))
