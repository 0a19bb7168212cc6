"""Every RPC at every exposure level, through a real gRPC channel, on the real test cluster.

Nodes, LoadBalancer and Ingress addresses are KWOK-simulated (tests relying on an address are
marked ``simulated``); the API server, admission, RBAC and controllers are real.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import grpc
import pytest
from api_support import LEVELS, TOP_KIND, create_request, managed_objects, rpc_error
from kubernetes import client

from container_maker._proto import types_pb2 as pb


def tree_types(nodes: Any) -> list[Any]:
    """The associated-resources tree as nested (type, name, children) tuples."""
    return [(n.resource_type, n.resource_name, tree_types(n.associated_resources)) for n in nodes]


@pytest.mark.simulated
@pytest.mark.parametrize("level", list(LEVELS))
def test_create_get_list_delete_at_every_level(
    level: str, stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    created = stub.createContainer(
        create_request(namespace, "web", level, environment_variables={"A": "1"}), timeout=90
    )
    uuid.UUID(created.container_id)
    assert created.container_name == "web"
    assert created.container_network == namespace
    assert created.container_type == TOP_KIND.get(level, "ingress")
    assert created.exposure_level == LEVELS[level]
    assert [(p.container_port, p.protocol) for p in created.ports] == [(8080, "TCP")]
    # The status sidecar's report (a Lease) and the container's NetworkPolicy come with every
    # container (the status identity is the namespace's, not listed here).
    expected_kinds = {"pod", "lease", "networkpolicy"}
    expected_kinds |= {"service"} if level != "INTERNAL" else set()
    expected_kinds |= {"ingress"} if level == "EXPOSED" else set()
    assert {o.split("/")[0] for o in managed_objects(admin_api, namespace)} == expected_kinds

    # The tree nests ingress -> service -> pod -> pod containers, with the user's resources.
    top = created.associated_resources
    assert [n.resource_type for n in top] == [created.container_type]
    node = top[0]
    while node.resource_type != "pod":
        (node,) = node.associated_resources
    containers = {c.resource_name: c for c in node.associated_resources}
    assert {c.resource_type for c in containers.values()} == {"pod_container"}
    assert containers["web"].container_resources.cpu_request == "100m"
    assert containers["web"].container_resources.memory_limit == "1Gi"

    got = stub.getContainer(
        pb.GetContainerRequest(container_id=created.container_id, network_name=namespace),
        timeout=30,
    )
    assert got.container_id == created.container_id
    assert got.container_type == created.container_type
    assert tree_types(got.associated_resources) == tree_types(created.associated_resources)

    listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
    assert [c.container_id for c in listed.containers] == [created.container_id]

    deleted = stub.deleteContainer(
        pb.DeleteContainerRequest(container_id=created.container_id, network_name=namespace),
        timeout=90,
    )
    assert deleted.container_id == created.container_id
    assert deleted.status in ("Deleted", "Deleting")
    error = rpc_error(
        stub.getContainer,
        pb.GetContainerRequest(container_id=created.container_id, network_name=namespace),
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND
    if deleted.status == "Deleted":
        assert managed_objects(admin_api, namespace) == []


@pytest.mark.simulated
def test_addresses_per_level(stub: Any, namespace: str) -> None:
    """container_ip is the pod IP (INTERNAL) or the ClusterIP (CLUSTER_LOCAL); a simulated
    load-balancer address appears on get once KWOK assigned it (never connected to)."""
    internal = stub.createContainer(create_request(namespace, "a", "INTERNAL"), timeout=90)
    local = stub.createContainer(create_request(namespace, "b", "CLUSTER_LOCAL"), timeout=90)
    assert local.container_ip.startswith("10.96.")  # the Service CIDR of the test cluster
    got = stub.getContainer(
        pb.GetContainerRequest(container_id=internal.container_id, network_name=namespace)
    )
    assert got.container_ip == "" or got.container_ip.startswith("10.244.")  # simulated pods


def test_list_shows_each_container_once(stub: Any, namespace: str) -> None:
    ids = {
        stub.createContainer(create_request(namespace, name, level), timeout=90).container_id
        for name, level in (("x1", "INTERNAL"), ("x2", "CLUSTER_LOCAL"), ("x3", "EXPOSED"))
    }
    listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
    assert sorted(c.container_id for c in listed.containers) == sorted(ids)
    assert [c.container_name for c in listed.containers] == ["x1", "x2", "x3"]
    assert [c.container_type for c in listed.containers] == ["pod", "service", "ingress"]


def test_create_is_idempotent_and_a_different_spec_already_exists(
    stub: Any, namespace: str
) -> None:
    first = stub.createContainer(create_request(namespace, "same"), timeout=90)
    again = stub.createContainer(create_request(namespace, "same"), timeout=90)
    assert again.container_id == first.container_id
    error = rpc_error(
        stub.createContainer, create_request(namespace, "same", image_name="busybox:1.36")
    )
    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "same" in error.details() and first.container_id in error.details()


def test_unknown_container_and_namespace_are_not_found(stub: Any, namespace: str) -> None:
    missing = str(uuid.uuid4())
    for call, request in (
        (stub.getContainer, pb.GetContainerRequest(container_id=missing, network_name=namespace)),
        (
            stub.deleteContainer,
            pb.DeleteContainerRequest(container_id=missing, network_name=namespace),
        ),
        (stub.listContainer, pb.ListContainerRequest(network_name="no-such-namespace-x")),
        (
            stub.getContainer,
            pb.GetContainerRequest(container_id=missing, network_name="no-such-namespace-x"),
        ),
    ):
        error = rpc_error(call, request)
        assert error.code() is grpc.StatusCode.NOT_FOUND, request
        assert missing in error.details() or "no-such-namespace-x" in error.details()


def test_empty_namespace_lists_nothing(stub: Any, namespace: str) -> None:
    listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
    assert list(listed.containers) == []


def test_delete_removes_the_namespace_container_maker_created(
    stub: Any, network: str, admin_api: client.ApiClient
) -> None:
    created = stub.createContainer(create_request(network, "solo"), timeout=90)
    assert (
        client.CoreV1Api(admin_api)
        .read_namespace(network)
        .metadata.labels["app.kubernetes.io/managed-by"]
        == "container-maker"
    )
    stub.deleteContainer(
        pb.DeleteContainerRequest(container_id=created.container_id, network_name=network),
        timeout=90,
    )
    namespace = None
    try:
        namespace = client.CoreV1Api(admin_api).read_namespace(network)
    except client.ApiException as e:
        assert e.status == 404
    assert namespace is None or namespace.status.phase == "Terminating"


def test_save_without_a_registry_configured_is_failed_precondition(
    stub: Any, namespace: str
) -> None:
    """Real saves run on the real node (tests/api/test_api_save_real_node.py)."""
    error = rpc_error(
        stub.saveContainer,
        pb.SaveContainerRequest(container_id=str(uuid.uuid4()), network_name=namespace),
    )
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "--registry" in error.details()


def test_request_id_is_returned_and_logged(
    stub: Any, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _, call = stub.listContainer.with_call(
        pb.ListContainerRequest(network_name=namespace), metadata=(("x-request-id", "req-42"),)
    )
    assert dict(call.initial_metadata())["x-request-id"] == "req-42"
    _, call = stub.listContainer.with_call(pb.ListContainerRequest(network_name=namespace))
    generated = dict(call.initial_metadata())["x-request-id"]
    assert len(generated) == 32 and generated != "req-42"
    lines = [r for r in caplog.records if r.name == "container_maker.api.interceptor"]
    ours = [r for r in lines if getattr(r, "method", "").endswith("/listContainer")]
    assert {r.request_id for r in ours} >= {"req-42", generated}  # type: ignore[attr-defined]
    assert all(r.code == "OK" for r in ours)  # type: ignore[attr-defined]
