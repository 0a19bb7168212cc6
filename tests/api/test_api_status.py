"""Status in every container response, through a real channel on the real cluster.

Pods run on KWOK-simulated nodes: scheduling (and its failure) is real, readiness and the
load-balancer and Ingress addresses are simulated (the tests are marked ``simulated``). The
reasons needing a container that really runs (image pull errors, crash loops, OOM kills) are
unit-tested in ``plugins/pod/tests/test_pod_readiness.py`` and provoked for real on the real node
in ``test_api_status_real_node.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from api_support import create_request, managed_objects, rpc_error, running_server
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.settings import DEFAULT_MAX_RESOURCES, Settings
from container_maker.testing import eventually


@pytest.fixture(scope="module")
def unbounded_stub(admin_api: client.ApiClient) -> Iterator[Any]:
    """A server that lets a container ask for more CPU than any node has (the default
    max_resources refuse that), so that its pod stays unschedulable."""
    lifted = DEFAULT_MAX_RESOURCES.model_copy(
        update={"cpu_request": "100000", "cpu_limit": "100000"}
    )
    with running_server(admin_api, settings=Settings(max_resources=lifted)) as running:
        yield running.stub


pytestmark = pytest.mark.simulated


def get(stub: Any, created: Any) -> Any:
    return stub.getContainer(
        pb.GetContainerRequest(
            container_id=created.container_id, network_name=created.container_network
        ),
        timeout=30,
    )


def reasons(response: Any) -> list[str]:
    return [c.reason for c in response.status.conditions]


def test_an_unschedulable_request_is_pending_with_the_schedulers_reason(
    unbounded_stub: Any, namespace: str
) -> None:
    stub = unbounded_stub
    huge = pb.ResourceRequirements(cpu_request="100000", cpu_limit="100000")
    created = stub.createContainer(
        create_request(namespace, "huge", resource_requirements=huge), timeout=90
    )
    assert created.status.phase == pb.CONTAINER_PHASE_PENDING
    assert created.status.ready is False
    got = eventually(lambda: get(stub, created), lambda r: "Unschedulable" in reasons(r))
    assert got.status.phase == pb.CONTAINER_PHASE_PENDING
    (condition,) = [c for c in got.status.conditions if c.reason == "Unschedulable"]
    assert (condition.resource_type, condition.resource_name) == ("pod", "huge")
    assert "Insufficient cpu" in condition.message
    listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
    assert [reasons(c) for c in listed.containers] == [reasons(got)]


def test_a_pod_becomes_ready(stub: Any, namespace: str) -> None:
    created = stub.createContainer(create_request(namespace, "web"), timeout=90)
    assert created.status.phase in (pb.CONTAINER_PHASE_PENDING, pb.CONTAINER_PHASE_STARTING)
    got = eventually(lambda: get(stub, created), lambda r: r.status.ready)
    assert got.status.phase == pb.CONTAINER_PHASE_READY
    assert list(got.status.conditions) == []
    assert got.status.restart_count == 0
    assert not got.status.HasField("last_exit_code")


def test_a_load_balancer_waits_for_its_address_then_is_ready(stub: Any, namespace: str) -> None:
    created = stub.createContainer(create_request(namespace, "lb", "CLUSTER_EXTERNAL"), timeout=90)
    # The Service was just created: no load balancer has given it an address yet.
    assert created.container_ip == ""
    assert "LoadBalancerPending" in reasons(created)
    assert created.status.ready is False
    got = eventually(lambda: get(stub, created), lambda r: r.status.ready)
    assert got.container_ip.startswith("203.0.113.")  # simulated by KWOK; never connected to
    assert got.status.phase == pb.CONTAINER_PHASE_READY
    assert "LoadBalancerPending" not in reasons(got)


def test_an_exposed_container_is_ready_only_with_its_ingress_address(
    stub: Any, namespace: str
) -> None:
    created = stub.createContainer(create_request(namespace, "ex", "EXPOSED"), timeout=90)
    assert "IngressAddressPending" in reasons(created)
    got = eventually(lambda: get(stub, created), lambda r: r.status.ready)
    assert got.container_ip != ""
    assert reasons(got) == []


def test_a_pod_being_deleted_is_terminating(
    stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    created = stub.createContainer(create_request(namespace, "bye"), timeout=90)
    core = client.CoreV1Api(admin_api)
    # A finalizer of the test's own holds the pod in deletion so that the state can be seen.
    hold: Any = {"metadata": {"finalizers": ["container-maker.io/test-hold"]}}
    core.patch_namespaced_pod("bye", namespace, hold)
    core.delete_namespaced_pod("bye", namespace, grace_period_seconds=0)
    try:
        got = eventually(
            lambda: get(stub, created),
            lambda r: r.status.phase == pb.CONTAINER_PHASE_TERMINATING,
            timeout=30,
        )
        assert got.status.ready is False
    finally:
        release: Any = [{"op": "remove", "path": "/metadata/finalizers"}]
        try:
            core.patch_namespaced_pod("bye", namespace, release)
        except client.ApiException as e:
            if e.status != 404:
                raise


# -- createContainer(wait_until_ready) ------------------------------------------------------


def test_create_can_wait_until_ready(stub: Any, namespace: str) -> None:
    created = stub.createContainer(
        create_request(namespace, "waited", "CLUSTER_EXTERNAL", wait_until_ready=True), timeout=60
    )
    assert created.status.phase == pb.CONTAINER_PHASE_READY
    assert created.status.ready is True
    assert created.container_ip.startswith("203.0.113.")  # simulated; never connected to


def test_not_ready_before_the_deadline_keeps_the_container_and_names_it(
    unbounded_stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    stub = unbounded_stub
    huge = pb.ResourceRequirements(cpu_request="100000", cpu_limit="100000")
    request = create_request(namespace, "slow", resource_requirements=huge, wait_until_ready=True)
    error = rpc_error(stub.createContainer, request, timeout=5)
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    found = re.search(r"id ([0-9a-f-]{36})", error.details() or "")
    assert found, error.details()
    assert "kept" in (error.details() or "")
    got = stub.getContainer(
        pb.GetContainerRequest(container_id=found.group(1), network_name=namespace), timeout=30
    )
    assert got.container_name == "slow"
    assert got.status.phase == pb.CONTAINER_PHASE_PENDING
    assert [o for o in managed_objects(admin_api, namespace) if o.startswith("pod/")] == [
        "pod/slow"
    ]
