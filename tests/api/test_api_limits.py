"""The API's limits through real channels on the real cluster: creates per second per tenant,
watch streams per caller, a watch client that stops reading is cut off, the health port answers
while 100 slow calls fill the API's threads, and the server's bound on calls at once.

Distinct callers come from a test-only interceptor placed after the API's own (so after the
authenticating one too): it sets :data:`container_maker.api.callers.CALLER` from an
``x-test-caller`` metadata entry, as an authenticator would from credentials. Calls without it
are the anonymous local caller.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from api_support import (
    Running,
    Watcher,
    create_request,
    rpc_error,
    running_server,
    served_settings,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.api.callers import CALLER
from container_maker.api.limits import PUSHBACK_KEY
from container_maker.api.server import CALLS_PER_THREAD, DEFAULT_THREADS
from container_maker.auth import LOCAL_IDENTITY
from container_maker.errors import InvalidConfiguration
from container_maker.plugins import create_plugin_manager
from container_maker.testing import Intercepting, eventually

pytestmark = pytest.mark.simulated

CALLER_KEY = "x-test-caller"
SERVING = health_pb2.HealthCheckResponse.SERVING


class AsCaller(grpc.ServerInterceptor):
    """Calls with ``x-test-caller: <user>[/<tenant>]`` run as that user of that tenant (of
    the local tenant by default, so that they may use the local caller's namespaces), with
    the local caller's verbs."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(details)
        named = dict(details.invocation_metadata or ()).get(CALLER_KEY)
        if handler is None or not isinstance(named, str):
            return handler
        user, _, tenant = named.partition("/")
        identity = LOCAL_IDENTITY.model_copy(
            update={"user": user, "tenant": tenant or LOCAL_IDENTITY.tenant, "method": "test"}
        )
        if handler.unary_unary is not None:
            unary = handler.unary_unary

            def call(request: Any, context: grpc.ServicerContext) -> Any:
                token = CALLER.set(identity)
                try:
                    return unary(request, context)
                finally:
                    CALLER.reset(token)

            return grpc.unary_unary_rpc_method_handler(
                call, handler.request_deserializer, handler.response_serializer
            )
        assert handler.unary_stream is not None
        stream = handler.unary_stream

        def streamed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            CALLER.set(identity)  # the handler's thread serves this stream alone
            yield from stream(request, context)

        return grpc.unary_stream_rpc_method_handler(
            streamed, handler.request_deserializer, handler.response_serializer
        )


def as_caller(name: str) -> tuple[tuple[str, str], ...]:
    return ((CALLER_KEY, name),)


# -- creates per second per tenant ---------------------------------------------------------


def test_creates_per_second_are_limited_per_tenant(
    admin_api: client.ApiClient, namespace: str
) -> None:
    """Tenant team-a uses its burst of 2 (requests refused for their own reasons count too),
    then gets RESOURCE_EXHAUSTED naming the limit, the tenant and the wait, with the wait as
    retry pushback; the local tenant still creates a container for real."""
    settings_values = {"max_creates_per_second": 0.01, "max_create_burst": 2}
    with running_server(
        admin_api, settings=served_settings(**settings_values), interceptors=[AsCaller()]
    ) as running:
        stub = running.stub
        team_a = as_caller("alice/team-a")
        bad = create_request(namespace, "Not_A_Name")
        for _ in range(2):
            spent = rpc_error(stub.createContainer, bad, metadata=team_a, timeout=30)
            assert spent.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED, spent.details()
        started = time.monotonic()
        limited = rpc_error(stub.createContainer, bad, metadata=team_a, timeout=30)
        assert limited.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = limited.details() or ""
        assert "max_creates_per_second" in details and "'team-a'" in details, details
        assert "retry in" in details
        pushback = dict(limited.trailing_metadata() or ())[PUSHBACK_KEY]  # type: ignore[attr-defined]
        # One create per 100 s: the wait is what is left of those 100 s.
        assert 90_000 <= int(pushback) <= 100_000 + (time.monotonic() - started) * 1000

        created = stub.createContainer(create_request(namespace, "web"), timeout=90)
        assert created.container_name == "web"  # the local tenant is not team-a


# -- watch streams per caller --------------------------------------------------------------


def test_watch_streams_are_limited_per_caller(admin_api: client.ApiClient, namespace: str) -> None:
    """alice at her limit of 2 streams is refused a third, naming the limit; bob (of the
    same tenant) still opens one; once alice closes one she may open another."""
    with running_server(
        admin_api, settings=served_settings(max_watches_per_caller=2), interceptors=[AsCaller()]
    ) as running:
        stub = running.stub
        alice = [Watcher(stub, namespace, metadata=as_caller("alice")) for _ in range(2)]
        for watcher in alice:
            watcher.synced()
        refused = Watcher(stub, namespace, metadata=as_caller("alice"))
        assert refused.ended.wait(30)
        assert refused.error is not None
        assert refused.error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = refused.error.details() or ""
        assert "alice" in details and "max_watches_per_caller" in details, details

        bob = Watcher(stub, namespace, metadata=as_caller("bob"))
        bob.synced()
        local = Watcher(stub, namespace)  # the anonymous local caller is another one again
        local.synced()

        alice[0].call.cancel()
        assert alice[0].ended.wait(30)
        again = eventually(
            lambda: Watcher(stub, namespace, metadata=as_caller("alice")),
            lambda w: not w.ended.wait(2),  # still open: it was accepted
            timeout=30,
        )
        again.synced()
        for watcher in (alice[1], bob, local, again):
            watcher.call.cancel()


# -- a watch client that stops reading -----------------------------------------------------


def report_patch(at: datetime) -> dict[str, Any]:
    """A status report as the status sidecar writes it, observed ``at``."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    report = {"version": 1, "observedAt": stamp, "ports": [], "lastActivity": None}
    return {
        "metadata": {"annotations": {"container-maker.io/status-report": json.dumps(report)}},
        "spec": {"holderIdentity": "agent", "renewTime": stamp, "leaseDurationSeconds": 30},
    }


def test_a_watch_client_that_stops_reading_is_cut_off(
    admin_api: client.ApiClient, namespace: str
) -> None:
    """Two clients stop reading while a container's status report changes again and again
    (each report is an event). HTTP/2 flow control stops the server's sends to them, so their
    events pile up in the hub's queues, which are bounded: both are cut off. The one that then
    reads gets what was already on its way, then RESOURCE_EXHAUSTED saying to list and watch
    again; the one that never reads is cancelled by the server, whose thread it held. A client
    that kept reading saw every report and keeps its stream."""
    settings = served_settings(watch_queue_size=20)
    with running_server(admin_api, settings=settings) as running:
        stub = running.stub
        hub = running.server.hub
        created = stub.createContainer(create_request(namespace, "web"), timeout=90)
        reader = Watcher(stub, namespace)
        reader.synced()
        request = pb.WatchContainersRequest(network_name=namespace)
        # Connections of their own whose HTTP/2 windows stay at their initial 64 KiB: with
        # bandwidth probing on (the default), gRPC's C core lets a window grow to megabytes,
        # and thousands of events would fit in the connection before the hub's queue fills.
        channels = [
            grpc.insecure_channel(running.address, options=[("grpc.http2.bdp_probe", 0)])
            for _ in range(2)
        ]
        stalled, never = (
            Running(running.server, running.port, channel).stub.watchContainers(request)
            for channel in channels
        )
        eventually(lambda: hub.subscriber_count, lambda n: n == 3, timeout=30)

        leases = client.CoordinationV1Api(admin_api)
        at = datetime.now(UTC)
        patches = 0
        while hub.fell_behind < 2:
            assert patches < 3000, "the stalled watchers were never cut off"
            at += timedelta(milliseconds=1)
            leases.patch_namespaced_lease("web-status", namespace, report_patch(at))
            patches += 1
        print(f"\ncut off after {patches} reports")
        assert hub.subscriber_count == 1  # the reader's

        received = 0
        with pytest.raises(grpc.RpcError) as ended:
            for _ in stalled:
                received += 1
        assert ended.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = ended.value.details() or ""
        assert "fell behind" in details and "watch again" in details, details
        assert "watch_queue_size" in details
        assert received < patches  # the rest were dropped, not kept for it
        print(f"the stalled watcher read {received} events before its end")

        # The reader saw the last report, and its stream goes on.
        reader.container(
            lambda c: (
                c.container_id == created.container_id
                and c.status.report_time.ToDatetime(tzinfo=UTC) == at
            ),
            timeout=30,
        )
        assert not reader.ended.is_set()

        # The server let go of the stream that never read (its handler was stuck sending).
        eventually(lambda: running.server.handlers_running, lambda n: n == 1, timeout=30)
        with pytest.raises(grpc.RpcError) as cancelled:
            for _ in never:
                pass
        assert cancelled.value.code() is grpc.StatusCode.CANCELLED
        reader.call.cancel()
        for channel in channels:
            channel.close()


# -- health on its own port and threads ----------------------------------------------------


class Hold(Intercepting):
    """Holds every lookup (so every get, list and watch start) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    def around(self, call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        if call == "get":
            self.released.wait(120)
        return proceed()


@pytest.fixture
def held() -> Iterator[Hold]:
    hold = Hold()
    yield hold
    hold.released.set()


def health_check(channel: grpc.Channel, timeout: float) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout).status)


def fill(running: Running, namespace: str, calls: int, threads: int) -> list[grpc.Future]:
    """``calls`` listContainer calls, held: ``threads`` run, the rest wait for a thread."""
    request = pb.ListContainerRequest(network_name=namespace)
    futures = [running.stub.listContainer.future(request, timeout=180) for _ in range(calls)]
    pool = running.server.pool
    assert pool is not None
    eventually(
        lambda: (pool.busy, pool.waiting),
        lambda seen: seen == (threads, calls - threads),
        timeout=60,
    )
    return futures


def test_health_answers_on_its_port_while_100_slow_calls_fill_the_server(
    admin_api: client.ApiClient, namespace: str, held: Hold
) -> None:
    """100 listContainer calls held in a plugin: all of the API's threads are taken and the
    rest wait. A health Check on the health port answers SERVING within 1 s every time; the
    same Check on the API's port waits behind the calls and misses its deadline."""
    plugins = create_plugin_manager(plugins=[("hold", held)])
    with running_server(admin_api, plugin_manager=plugins) as running:
        health = grpc.insecure_channel(f"127.0.0.1:{running.server.health_port}")
        assert running.server.health_port != running.port
        assert health_check(health, 1) == SERVING
        futures = fill(running, namespace, 100, DEFAULT_THREADS)
        window = time.monotonic() + 3
        slowest = 0.0
        checks = 0
        while time.monotonic() < window:
            started = time.monotonic()
            assert health_check(health, timeout=1) == SERVING
            slowest = max(slowest, time.monotonic() - started)
            checks += 1
            time.sleep(0.05)
        print(f"\n{checks} health checks, the slowest in {slowest * 1000:.1f} ms")

        queued = rpc_error(
            health_pb2_grpc.HealthStub(running.channel).Check,
            health_pb2.HealthCheckRequest(service=""),
            timeout=1,
        )
        assert queued.code() is grpc.StatusCode.DEADLINE_EXCEEDED

        held.released.set()
        for future in futures:
            assert list(future.result().containers) == []
        health.close()


def test_calls_past_the_servers_bound_are_refused_at_once(
    admin_api: client.ApiClient, namespace: str, held: Hold
) -> None:
    """With 2 threads the server accepts CALLS_PER_THREAD * 2 calls at once (running or
    waiting); one more is refused with RESOURCE_EXHAUSTED without waiting, and health still
    answers on its port."""
    threads = 2
    plugins = create_plugin_manager(plugins=[("hold", held)])
    with running_server(admin_api, plugin_manager=plugins, threads=threads) as running:
        futures = fill(running, namespace, CALLS_PER_THREAD * threads, threads)
        started = time.monotonic()
        refused = rpc_error(
            running.stub.listContainer, pb.ListContainerRequest(network_name=namespace), timeout=30
        )
        assert refused.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 5
        health = grpc.insecure_channel(f"127.0.0.1:{running.server.health_port}")
        assert health_check(health, timeout=1) == SERVING
        held.released.set()
        for future in futures:
            future.result()
        health.close()


def test_a_busy_health_port_is_a_clear_error(admin_api: client.ApiClient) -> None:
    with running_server(admin_api) as running:
        taken = running.port
        with (
            pytest.raises(InvalidConfiguration) as busy,
            running_server(admin_api, health_port=taken),
        ):
            pass
    assert "--health-port" in busy.value.message and str(taken) in busy.value.message
