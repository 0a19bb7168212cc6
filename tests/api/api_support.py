"""Helpers for the API tests: an in-process server on the real cluster, and a client stub.

Every test talks to the server through a real gRPC channel on loopback; nothing calls the
servicer directly.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import pluggy
from kubernetes import client

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.api import ApiServer, TlsConfig, create_server
from container_maker.manager import ContainerManager
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings

# Re-exported for the API tests, which import their helpers from this module.
from container_maker.testing import managed_objects as managed_objects

LEVELS = {
    "INTERNAL": pb.EXPOSURE_LEVEL_INTERNAL,
    "CLUSTER_LOCAL": pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
    "CLUSTER_EXTERNAL": pb.EXPOSURE_LEVEL_CLUSTER_EXTERNAL,
    "EXPOSED": pb.EXPOSURE_LEVEL_EXPOSED,
}
TOP_KIND = {"INTERNAL": "pod", "CLUSTER_LOCAL": "service", "CLUSTER_EXTERNAL": "service"}


@dataclass
class Running:
    """A started in-process server and a channel to it."""

    server: ApiServer
    port: int
    channel: grpc.Channel

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def stub(self) -> Any:
        return service_pb2_grpc.ContainerMakerAPIStub(self.channel)


def served_settings(**values: Any) -> Settings:
    """Settings as ``serve --local`` makes them (the local sandbox domain), with ``values``."""
    return Settings(**{"ingress_domain": LOCAL_INGRESS_DOMAIN, **values})


@contextmanager
def running_server(
    api_client: client.ApiClient,
    *,
    settings: Settings | None = None,
    plugin_manager: pluggy.PluginManager | None = None,
    tls: TlsConfig | None = None,
    channel: grpc.Channel | None = None,
    **options: Any,
) -> Iterator[Running]:
    """Serve a manager on ``api_client`` on a free loopback port for the block's duration.

    Without ``settings``: the defaults with the sandbox domain of ``serve --local``.
    """
    settings = settings or served_settings()
    manager = ContainerManager(api_client, settings=settings, plugin_manager=plugin_manager)
    server, port = create_server("127.0.0.1:0", manager, tls=tls, **options)
    server.start()
    channel = channel or grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(server, port, channel)
    finally:
        channel.close()
        server.stop(0)


def create_request(
    network: str, name: str = "web", level: str = "INTERNAL", **changes: Any
) -> pb.CreateContainerRequest:
    values: dict[str, Any] = {
        "image_name": "nginx:1.27",
        "container_name": name,
        "network_name": network,
        "exposure_level": LEVELS[level],
        "publish_information": [pb.PublishInformation(publish_port=80, target_port=8080)],
        "environment_variables": {"MODE": "test"},
    }
    values.update(changes)
    return pb.CreateContainerRequest(**values)


def rpc_error(call: Any, request: Any, **kwargs: Any) -> grpc.RpcError:
    """The error ``call(request)`` fails with (the test fails if it succeeds)."""
    try:
        call(request, **kwargs)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"{request!r} succeeded, an error was expected")


def namespace_phase(api: client.ApiClient, name: str) -> str | None:
    """ "Active", "Terminating", or None when the namespace does not exist."""
    try:
        return str(client.CoreV1Api(api).read_namespace(name).status.phase)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def new_network_name(prefix: str = "api") -> str:
    """A namespace name that does not exist yet (Container Maker will create it)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def delete_namespace(api: client.ApiClient, name: str) -> None:
    try:
        client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
    except client.ApiException as e:
        if e.status != 404:
            raise


def token_client(admin_api: client.ApiClient, token: str) -> client.ApiClient:
    """A client for the same API server authenticating with ``token`` only (no admin
    certificate or token is carried over)."""
    admin = admin_api.configuration
    configuration = client.Configuration(host=admin.host)
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.verify_ssl = admin.verify_ssl
    configuration.api_key = {"BearerToken": token}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(configuration)


def service_account_token(
    admin_api: client.ApiClient, namespace: str, name: str, seconds: int = 3600
) -> str:
    """A fresh token of ServiceAccount ``namespace/name`` (TokenRequest API)."""
    request: Any = {"spec": {"expirationSeconds": seconds}}
    response = client.CoreV1Api(admin_api).create_namespaced_service_account_token(
        name, namespace, request
    )
    return str(response.status.token)


class Watcher:
    """A watchContainers call read by a thread into a queue of (arrival time, event)."""

    def __init__(self, stub: Any, namespace: str, container_id: str = "") -> None:
        self.call = stub.watchContainers(
            pb.WatchContainersRequest(network_name=namespace, container_id=container_id)
        )
        self.events: queue.Queue[tuple[float, Any]] = queue.Queue()
        self.ended = threading.Event()
        self.error: grpc.RpcError | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for event in self.call:
                self.events.put((time.monotonic(), event))
        except grpc.RpcError as error:
            self.error = error
        finally:
            self.ended.set()

    def until(self, predicate: Any, timeout: float = 60) -> tuple[float, Any]:
        """The first event accepted by ``predicate`` (earlier ones are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the expected event never arrived"
            try:
                arrived, event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if predicate(event):
                return arrived, event

    def synced(self) -> None:
        self.until(lambda e: e.type == pb.CONTAINER_EVENT_TYPE_SYNCED, timeout=30)

    def container(self, accept: Any, timeout: float = 60) -> Any:
        """The container of the first change (not SYNCED) whose container ``accept`` takes."""
        _, event = self.until(
            lambda e: e.type != pb.CONTAINER_EVENT_TYPE_SYNCED and accept(e.container), timeout
        )
        return event.container
