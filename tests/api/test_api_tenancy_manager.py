"""Tenancy on the real cluster: two tenants, reserved and foreign namespaces, operator-assigned
namespaces and the containers-per-tenant limit, at the manager (callers as Identity values).

The nodes are simulated by KWOK (``simulated``): the containers need not run for any of this.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from api_support import delete_namespace, managed_outside, tenants_namespaces, versions
from kubernetes import client

from container_maker.auth import VERBS, Identity
from container_maker.errors import ContainerMakerError, Forbidden, NotFound, ResourceExhausted
from container_maker.identity import MANAGED_BY_KEY, TENANT_KEY, label_selector
from container_maker.manager import ContainerManager
from container_maker.models import Container, ContainerSpec, ExposureLevel, PublishInformation
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings
from container_maker.tenancy import assign_namespace

pytestmark = pytest.mark.simulated

A = Identity(user="alice", tenant="tenant-a", method="test", verbs=frozenset(VERBS))
B = Identity(user="bob", tenant="tenant-b", method="test", verbs=frozenset(VERBS))
SETTINGS = Settings(ingress_domain=LOCAL_INGRESS_DOMAIN, registry="registry.example.com/saved")


def spec(network: str, name: str = "web") -> ContainerSpec:
    return ContainerSpec(
        image_name="nginx:1.27",
        container_name=name,
        network_name=network,
        exposure_level=int(ExposureLevel.CLUSTER_LOCAL),
        publish_information=(PublishInformation(publish_port=80, target_port=8080),),
    )


def new_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class World:
    admin: client.ApiClient
    manager: ContainerManager
    b_network: str
    b_container: Container


@pytest.fixture(scope="module")
def world(kube_cluster: Any) -> Iterator[World]:
    """A module-wide manager and tenant B's container in a namespace Container Maker made."""
    admin = kube_cluster.api_client()
    manager = ContainerManager(admin, settings=SETTINGS)
    b_network = new_name("tenant-b")
    try:
        b_container = manager.create(spec(b_network), caller=B)
        yield World(admin, manager, b_network, b_container)
    finally:
        delete_namespace(admin, b_network)
        admin.close()


def refusal(call: Callable[..., object], *args: Any, **kwargs: Any) -> ContainerMakerError:
    with pytest.raises(ContainerMakerError) as error:
        call(*args, **kwargs)
    return error.value


def test_another_tenants_containers_are_the_same_not_found_as_missing_ones(world: World) -> None:
    m, net, cid = world.manager, world.b_network, world.b_container.container_id
    missing_net, missing_id = new_name("tenant-b"), str(uuid.uuid4())
    before = versions(world.admin, net)
    one_container: dict[str, Callable[[str, str], object]] = {
        "get": lambda i, n: m.get(i, n, caller=A),
        "delete": lambda i, n: m.delete(i, n, caller=A),
        "save": lambda i, n: m.save(i, n, caller=A),
    }
    for verb, call in one_container.items():
        foreign = refusal(call, cid, net)
        absent = refusal(call, missing_id, missing_net)
        assert isinstance(foreign, NotFound), (verb, foreign)
        assert isinstance(absent, NotFound), (verb, absent)
        assert foreign.message == absent.message.replace(missing_id, cid).replace(
            missing_net, net
        ), verb
        assert net not in absent.message and cid not in absent.message
    whole_network: dict[str, Callable[[str], object]] = {
        "list": lambda n: m.list(n, caller=A),
        "watch": lambda n: m.check_namespace(n, caller=A),
    }
    for verb, network_call in whole_network.items():
        foreign = refusal(network_call, net)
        absent = refusal(network_call, missing_net)
        assert isinstance(foreign, NotFound), (verb, foreign)
        assert foreign.message == absent.message.replace(missing_net, net), verb
    # A create with B's very spec (idempotent for B) neither finds B's container nor adds one.
    created = refusal(lambda: m.create(spec(net), caller=A))
    assert isinstance(created, Forbidden)
    assert "not available to tenant tenant-a" in created.message
    assert versions(world.admin, net) == before
    # B still sees everything.
    assert [c.container_id for c in m.list(net, caller=B)] == [cid]
    assert m.get(cid, net, caller=B).container_network == net


def test_every_object_of_a_container_carries_the_tenant(world: World) -> None:
    core = client.CoreV1Api(world.admin)
    namespace = core.read_namespace(world.b_network)
    assert namespace.metadata.labels[TENANT_KEY] == "tenant-b"
    assert namespace.metadata.labels[MANAGED_BY_KEY] == "container-maker"
    assert namespace.metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
    selector = label_selector(world.b_container.container_id)
    pods = core.list_namespaced_pod(world.b_network, label_selector=selector).items
    services = core.list_namespaced_service(world.b_network, label_selector=selector).items
    assert pods and services
    assert {o.metadata.labels[TENANT_KEY] for o in [*pods, *services]} == {"tenant-b"}


RESERVED = ["kube-system", "kube-public", "default", "container-maker-system"]


def test_reserved_and_unlabelled_namespaces_are_refused_and_left_alone(world: World) -> None:
    core = client.CoreV1Api(world.admin)
    unlabelled = new_name("admin-made")
    core.create_namespace({"metadata": {"name": unlabelled}})
    try:
        for network in [*RESERVED, unlabelled]:
            error = refusal(world.manager.create, spec(network), caller=A)
            assert isinstance(error, Forbidden), (network, error)
            assert f"network {network} is not available to tenant tenant-a" in error.message
        # Nothing of ours anywhere outside namespaces labelled for a tenant.
        outside = managed_outside(world.admin, tenants_namespaces(world.admin))
        assert outside == []
        assert TENANT_KEY not in (core.read_namespace(unlabelled).metadata.labels or {})
    finally:
        delete_namespace(world.admin, unlabelled)


def test_an_operator_assigned_namespace_is_used_and_survives_the_last_delete(
    world: World,
) -> None:
    core = client.CoreV1Api(world.admin)
    name = new_name("assigned")
    core.create_namespace({"metadata": {"name": name}})
    try:
        assign_namespace(world.admin, name, A.tenant)
        made = world.manager.create(spec(name), caller=A)
        assert made.container_network == name
        # Assigned to A: B gets the same answers as for any namespace not B's.
        assert isinstance(refusal(lambda: world.manager.list(name, caller=B)), NotFound)
        assert isinstance(refusal(lambda: world.manager.create(spec(name), caller=B)), Forbidden)
        world.manager.delete(made.container_id, name, caller=A)
        survivor = core.read_namespace(name)
        assert survivor.metadata.deletion_timestamp is None
        assert survivor.metadata.labels[TENANT_KEY] == A.tenant
        assert world.manager.list(name, caller=A) == ()
    finally:
        delete_namespace(world.admin, name)


def test_assigning_refuses_reserved_and_another_tenants_namespaces(world: World) -> None:
    for name in RESERVED:
        with pytest.raises(ContainerMakerError, match="reserved"):
            assign_namespace(world.admin, name, A.tenant)
    with pytest.raises(ContainerMakerError, match="another tenant"):
        assign_namespace(world.admin, world.b_network, A.tenant)
    assert (
        client.CoreV1Api(world.admin).read_namespace(world.b_network).metadata.labels[TENANT_KEY]
        == B.tenant
    )


def test_containers_per_tenant_limit(kube_cluster: Any) -> None:
    """The limit counts the tenant's containers across its namespaces (one pod list)."""
    admin = kube_cluster.api_client()
    manager = ContainerManager(
        admin, settings=SETTINGS.model_copy(update={"max_containers_per_tenant": 2})
    )
    tenant = Identity(user="carol", tenant=new_name("tenant-c"), method="test")
    tenant = tenant.model_copy(update={"verbs": frozenset(VERBS)})
    one, two = new_name("limit"), new_name("limit")
    try:
        first = manager.create(spec(one), caller=tenant)
        manager.create(spec(two), caller=tenant)
        # The same spec again is the existing container, not a third one.
        assert manager.create(spec(one), caller=tenant).container_id == first.container_id
        with pytest.raises(ResourceExhausted) as error:
            manager.create(spec(one, "third"), caller=tenant)
        assert "max_containers_per_tenant" in error.value.message
        assert "is 2" in error.value.message
        # Another tenant is not counted against it.
        other = new_name("limit")
        try:
            manager.create(spec(other), caller=A)
        finally:
            delete_namespace(admin, other)
        manager.delete(first.container_id, one, caller=tenant)
        manager.create(spec(two, "third"), caller=tenant)
    finally:
        for name in (one, two):
            delete_namespace(admin, name)
        admin.close()


def test_the_namespace_assign_command(kube_cluster: Any, world: World) -> None:
    from typer.testing import CliRunner

    from container_maker.cli import app

    core = client.CoreV1Api(world.admin)
    name = new_name("cli")
    core.create_namespace({"metadata": {"name": name}})
    kubeconfig = f"--kubeconfig={kube_cluster.kubeconfig}"
    runner = CliRunner()
    try:
        done = runner.invoke(app, ["namespace", "assign", name, "--tenant", "team-a", kubeconfig])
        assert done.exit_code == 0, done.output
        assert core.read_namespace(name).metadata.labels[TENANT_KEY] == "team-a"
        moved = runner.invoke(app, ["namespace", "assign", name, "--tenant", "team-b", kubeconfig])
        assert moved.exit_code == 2 and "--reassign" in moved.output
        for reserved in ("kube-system", "default"):
            refused = runner.invoke(
                app, ["namespace", "assign", reserved, "--tenant", "team-a", kubeconfig]
            )
            assert refused.exit_code == 2 and "reserved" in refused.output
        assert TENANT_KEY not in (core.read_namespace("kube-system").metadata.labels or {})
    finally:
        delete_namespace(world.admin, name)
