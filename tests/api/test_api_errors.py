"""Every error code of the API provoked for real, through a real gRPC channel.

Bad input gets INVALID_ARGUMENT naming the field (or RESOURCE_EXHAUSTED for an oversized
request) and the server keeps serving; Kubernetes failures (unreachable, RBAC) become
UNAVAILABLE and PERMISSION_DENIED; deadlines stop the work and leave nothing behind; a bug is
INTERNAL, logged with its traceback, never UNKNOWN.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from api_support import (
    Running,
    create_request,
    managed_objects,
    namespace_phase,
    rpc_error,
    running_server,
    service_account_token,
    token_client,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.plugins import create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import Intercepting

UUID = "0b6f3f5e-8c59-4b7e-9d6a-2f1c1c7d9a10"
PORT = pb.PublishInformation


def create(**changes: Any) -> tuple[str, pb.CreateContainerRequest]:
    return "createContainer", create_request("bad-input", "web", **changes)


BAD_INPUT: dict[str, tuple[str, tuple[str, Any]]] = {
    "empty container name": ("container_name", create(container_name="")),
    "300-character container name": ("container_name", create(container_name="a" * 300)),
    "uppercase container name": ("container_name", create(container_name="Web")),
    "empty network name": ("network_name", create(network_name="")),
    "300-character network name": ("network_name", create(network_name="n" * 300)),
    "uppercase network name": ("network_name", create(network_name="Demo")),
    "empty image": ("image_name", create(image_name="")),
    "bad image reference": ("image_name", create(image_name="Not An Image")),
    "unspecified exposure": ("exposure_level", create(exposure_level=0)),
    "unknown exposure number": ("exposure_level", create(exposure_level=7)),
    "negative exposure number": ("exposure_level", create(exposure_level=-1)),
    "port 0": (
        "publish_information[0].publish_port",
        create(publish_information=[PORT(publish_port=0, target_port=80)]),
    ),
    "port 70000": (
        "publish_information[0].target_port",
        create(publish_information=[PORT(publish_port=80, target_port=70000)]),
    ),
    "duplicate ports": (
        "publish_information[1].publish_port",
        create(
            publish_information=[
                PORT(publish_port=80, target_port=8080),
                PORT(publish_port=80, target_port=8081),
            ]
        ),
    ),
    "unknown protocol": (
        "publish_information[0].protocol",
        create(publish_information=[PORT(publish_port=80, target_port=80, protocol="HTTP")]),
    ),
    "node port below CLUSTER_EXTERNAL": (
        "publish_information[0].node_port",
        create(publish_information=[PORT(publish_port=80, target_port=80, node_port=30080)]),
    ),
    "bad quantity": (
        "resource_requirements.cpu_request",
        create(resource_requirements=pb.ResourceRequirements(cpu_request="lots")),
    ),
    "request above limit": (
        "resource_requirements.memory_request",
        create(
            resource_requirements=pb.ResourceRequirements(memory_request="2Gi", memory_limit="1Gi")
        ),
    ),
    "bad environment variable name": (
        "environment_variables",
        create(environment_variables={"1BAD": "x"}),
    ),
    "empty container id": (
        "container_id",
        ("getContainer", pb.GetContainerRequest(container_id="", network_name="default")),
    ),
    "container id not a uuid": (
        "container_id",
        ("deleteContainer", pb.DeleteContainerRequest(container_id="web", network_name="x")),
    ),
    "uppercase network on get": (
        "network_name",
        ("getContainer", pb.GetContainerRequest(container_id=UUID, network_name="Default")),
    ),
    "empty network on list": ("network_name", ("listContainer", pb.ListContainerRequest())),
}


def assert_serving(running: Running) -> None:
    health = health_pb2_grpc.HealthStub(running.channel)
    reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    # A network of nobody's: the server looks it up and answers (default is reserved now).
    error = rpc_error(
        running.stub.listContainer, pb.ListContainerRequest(network_name="probe"), timeout=30
    )
    assert error.code() is grpc.StatusCode.NOT_FOUND, error


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_invalid_argument_naming_the_field(case: str, api_server: Running) -> None:
    field, (method, request) = BAD_INPUT[case]
    error = rpc_error(getattr(api_server.stub, method), request, timeout=30)
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(field), error.details()
    assert_serving(api_server)


def test_oversized_request_is_resource_exhausted(api_server: Running) -> None:
    request = create_request("big", environment_variables={"BLOB": "x" * (2 * 1024 * 1024)})
    error = rpc_error(api_server.stub.createContainer, request, timeout=30)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_serving(api_server)


def closed_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_unreachable_kubernetes_is_unavailable() -> None:
    configuration = client.Configuration(host=f"https://127.0.0.1:{closed_loopback_port()}")
    configuration.retries = 0
    with running_server(client.ApiClient(configuration)) as running:
        for call, request in (
            (running.stub.listContainer, pb.ListContainerRequest(network_name="unreachable")),
            (running.stub.createContainer, create_request("unreachable")),
            (
                running.stub.getContainer,
                pb.GetContainerRequest(container_id=UUID, network_name="x"),
            ),
        ):
            error = rpc_error(call, request, timeout=30)
            assert error.code() is grpc.StatusCode.UNAVAILABLE
            assert "cannot reach the Kubernetes API" in error.details()


@pytest.fixture(scope="module")
def powerless_token(admin_api: client.ApiClient) -> Any:
    """A token of a ServiceAccount that RBAC grants nothing."""
    core = client.CoreV1Api(admin_api)
    name = f"powerless-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "nobody"}})
    yield service_account_token(admin_api, name, "nobody")
    core.delete_namespace(name)


def test_rbac_denial_is_permission_denied(
    admin_api: client.ApiClient, powerless_token: str, namespace: str
) -> None:
    with running_server(token_client(admin_api, powerless_token)) as running:
        for call, request in (
            (running.stub.listContainer, pb.ListContainerRequest(network_name=namespace)),
            (running.stub.createContainer, create_request(namespace)),
            (
                running.stub.deleteContainer,
                pb.DeleteContainerRequest(container_id=UUID, network_name=namespace),
            ),
        ):
            error = rpc_error(call, request, timeout=30)
            assert error.code() is grpc.StatusCode.PERMISSION_DENIED, error.details()
            assert "forbidden" in error.details()
            assert "RBAC" in error.details()
    assert managed_objects(admin_api, namespace) == []


def wait_until_clean(admin_api: client.ApiClient, network: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not managed_objects(admin_api, network) and namespace_phase(admin_api, network) in (
            None,
            "Terminating",
        ):
            return
        time.sleep(0.5)
    raise AssertionError(
        f"left behind in {network}: {managed_objects(admin_api, network)}, "
        f"namespace {namespace_phase(admin_api, network)}"
    )


def test_tiny_client_deadline_leaves_nothing(
    api_server: Running, admin_api: client.ApiClient, network: str
) -> None:
    error = rpc_error(
        api_server.stub.createContainer, create_request(network, "fast", "EXPOSED"), timeout=0.05
    )
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until_clean(admin_api, network)


class SlowAfterPod(Intercepting):
    """Makes the step after the pod slow (as a slow API server would), so that the client's
    deadline passes in the middle of a create whose pod really exists."""

    def __init__(self) -> None:
        super().__init__()
        self.pods: list[str] = []

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        result = proceed()
        if (call, kind) == ("create", "pod"):
            self.pods.append(result.name)
            time.sleep(1.0)
        return result


def test_client_deadline_mid_create_rolls_back(
    admin_api: client.ApiClient, network: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    slow = SlowAfterPod()
    plugins = create_plugin_manager(plugins=[("slow", slow)])
    with running_server(admin_api, plugin_manager=plugins) as running:
        request = create_request(network, "slow", "EXPOSED")
        error = rpc_error(running.stub.createContainer, request, timeout=0.8)
        assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        # The server stopped too (its own line for the call says so) and rolled back.
        end = time.monotonic() + 30
        codes: list[str] = []
        while not codes and time.monotonic() < end:
            time.sleep(0.2)
            codes = [
                r.code  # type: ignore[attr-defined]
                for r in caplog.records
                if getattr(r, "method", "").endswith("/createContainer")
            ]
    assert slow.pods == ["slow"]  # the pod was really created before the deadline passed
    assert codes == ["DEADLINE_EXCEEDED"]
    wait_until_clean(admin_api, network)


def test_server_side_deadline_is_deadline_exceeded(
    admin_api: client.ApiClient, network: str
) -> None:
    """The server's own operation timeout (no client deadline) stops a create as well."""
    settings = Settings(operation_timeout=0.5)
    plugins = create_plugin_manager(plugins=[("slow", SlowAfterPod())])
    with running_server(admin_api, settings=settings, plugin_manager=plugins) as running:
        error = rpc_error(
            running.stub.createContainer, create_request(network, "late", "CLUSTER_LOCAL")
        )
    assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert "deadline exceeded while" in error.details()
    assert "longer deadline" in error.details()
    wait_until_clean(admin_api, network)


def test_blocked_plugin_is_failed_precondition(admin_api: client.ApiClient, network: str) -> None:
    with running_server(admin_api, settings=Settings(blocked_plugins=("ingress",))) as running:
        error = rpc_error(running.stub.createContainer, create_request(network, "w", "EXPOSED"))
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "ingress" in error.details()
        # Lower levels still work on that server.
        running.stub.createContainer(create_request(network, "w", "CLUSTER_LOCAL"), timeout=90)


class Broken(Intercepting):
    """A plugin with a bug: describing a container raises."""

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        if call == "describe":
            raise RuntimeError("boom: a bug in a plugin")
        return proceed()


def test_unexpected_exception_is_internal_and_logged_with_traceback(
    api_server: Running,
    admin_api: client.ApiClient,
    namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api_server.stub.createContainer(create_request(namespace, "web"), timeout=90)
    broken = create_plugin_manager(plugins=[("broken", Broken())])
    caplog.set_level(logging.INFO)
    with running_server(admin_api, plugin_manager=broken) as running:
        error = None
        try:
            running.stub.listContainer.with_call(
                pb.ListContainerRequest(network_name=namespace), timeout=30
            )
        except grpc.RpcError as e:
            error = e
        assert error is not None
        assert error.code() is grpc.StatusCode.INTERNAL
        request_id = dict(error.initial_metadata())["x-request-id"]
        assert request_id in error.details()
        assert "boom" not in error.details()  # internals stay in the log
        logged = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
        assert len(logged) == 1
        assert logged[0].request_id == request_id  # type: ignore[attr-defined]
        assert_serving(running)
