"""Tenancy through a real channel: with a namespace prefix the caller sees only its own
network names (in create, get, list and the watch's events) while the namespace is prefixed;
the name-length limit counts the prefix; reserved and unlabelled namespaces are refused.

The anonymous in-process server's callers are tenant ``local``. Readiness is KWOK's
(``simulated``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from api_support import (
    Running,
    Watcher,
    create_request,
    delete_namespace,
    new_network_name,
    running_server,
    served_settings,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.identity import TENANT_KEY

pytestmark = pytest.mark.simulated

PREFIX = "cmt-"


@pytest.fixture(scope="module")
def prefixed(admin_api: client.ApiClient) -> Iterator[Running]:
    """A server mapping each network to namespace ``cmt-<network>``."""
    with running_server(admin_api, settings=served_settings(namespace_prefix=PREFIX)) as running:
        yield running


def test_the_caller_sees_its_network_name_and_the_namespace_is_prefixed(
    prefixed: Running, admin_api: client.ApiClient
) -> None:
    stub = prefixed.stub
    network = new_network_name("pfx")
    namespace = PREFIX + network
    try:
        created = stub.createContainer(create_request(network, level="CLUSTER_LOCAL"))
        assert created.container_network == network
        watcher = Watcher(stub, network)  # the network exists now (a missing one: NOT_FOUND)
        core = client.CoreV1Api(admin_api)
        pod = core.read_namespaced_pod("web", namespace)
        assert pod.metadata.labels[TENANT_KEY] == "local"
        assert core.read_namespace(namespace).metadata.labels[TENANT_KEY] == "local"
        with pytest.raises(client.ApiException):
            core.read_namespace(network)  # nothing under the unprefixed name
        got = stub.getContainer(
            pb.GetContainerRequest(container_id=created.container_id, network_name=network)
        )
        assert got.container_network == network
        listed = stub.listContainer(pb.ListContainerRequest(network_name=network))
        assert [c.container_network for c in listed.containers] == [network]
        event = watcher.container(lambda c: c.container_id == created.container_id)
        assert event.container_network == network
        watcher.call.cancel()
        deleted = stub.deleteContainer(
            pb.DeleteContainerRequest(container_id=created.container_id, network_name=network)
        )
        assert deleted.container_id == created.container_id
    finally:
        delete_namespace(admin_api, namespace)


def test_the_length_limit_counts_the_prefix(prefixed: Running) -> None:
    longest = "n" * (63 - len(PREFIX))
    for call, request in (
        (prefixed.stub.createContainer, create_request(longest + "x")),
        (prefixed.stub.listContainer, pb.ListContainerRequest(network_name=longest + "x")),
    ):
        with pytest.raises(grpc.RpcError) as error:
            call(request)
        assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "network_name" in error.value.details()
        assert f"at most {63 - len(PREFIX)} characters" in error.value.details()
    # One character less fits: not found (nothing was made), not invalid.
    with pytest.raises(grpc.RpcError) as error:
        prefixed.stub.listContainer(pb.ListContainerRequest(network_name=longest))
    assert error.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "network",
    ["kube-system", "kube-public", "kube-node-lease", "default", "container-maker-system"],
)
def test_reserved_namespaces_are_permission_denied(stub: Any, network: str) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.createContainer(create_request(network))
    assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert f"network {network} is not available to tenant local" in error.value.details()
    with pytest.raises(grpc.RpcError) as listed:
        stub.listContainer(pb.ListContainerRequest(network_name=network))
    assert listed.value.code() is grpc.StatusCode.NOT_FOUND


def test_an_unlabelled_namespace_answers_like_a_missing_one(
    stub: Any, admin_api: client.ApiClient
) -> None:
    core = client.CoreV1Api(admin_api)
    unlabelled, missing = new_network_name("plain"), new_network_name("plain")
    core.create_namespace({"metadata": {"name": unlabelled}})
    try:
        with pytest.raises(grpc.RpcError) as error:
            stub.createContainer(create_request(unlabelled))
        assert error.value.code() is grpc.StatusCode.PERMISSION_DENIED
        answers = []
        for network in (unlabelled, missing):
            for call, request in (
                (stub.listContainer, pb.ListContainerRequest(network_name=network)),
                (stub.watchContainers, pb.WatchContainersRequest(network_name=network)),
            ):
                with pytest.raises(grpc.RpcError) as refused:
                    next(iter(call(request)))  # a unary answer is not iterable: it raises
                answers.append(
                    (refused.value.code(), refused.value.details().replace(network, "N"))
                )
        assert answers[:2] == answers[2:]
        assert {code for code, _ in answers} == {grpc.StatusCode.NOT_FOUND}
        assert client.CoreV1Api(admin_api).list_namespaced_pod(unlabelled).items == []
    finally:
        delete_namespace(admin_api, unlabelled)
