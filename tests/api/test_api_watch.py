"""watchContainers through a real channel on the real cluster: changes arrive, 50 watchers share
one Kubernetes watch per kind, a watch survives a frozen API server, cancelling ends the stream.

Readiness and load-balancer addresses come from KWOK's simulation (``simulated``).
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from api_support import Running, create_request, running_server
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.api.server import max_watches
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings

pytestmark = pytest.mark.simulated

SYNCED = pb.CONTAINER_EVENT_TYPE_SYNCED
ADDED = pb.CONTAINER_EVENT_TYPE_ADDED
MODIFIED = pb.CONTAINER_EVENT_TYPE_MODIFIED
DELETED = pb.CONTAINER_EVENT_TYPE_DELETED


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
        self.until(lambda e: e.type == SYNCED, timeout=30)


def is_(kind: int, container_id: str, phase: int | None = None) -> Any:
    def check(event: Any) -> bool:
        return (
            event.type == kind
            and event.container.container_id == container_id
            and (phase is None or event.container.status.phase == phase)
        )

    return check


class WatchCounter:
    """Counts the watch requests (``watch=True``) an ApiClient makes, per resource."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.watches: Counter[str] = Counter()
        original = api_client.call_api

        def counting(*args: Any, **kwargs: Any) -> Any:
            strings = [a for a in (*args, *kwargs.values()) if isinstance(a, str)]
            url = urlsplit(next(a for a in strings if "/" in a))
            if parse_qs(url.query).get("watch", [""])[0].lower() == "true":
                self.watches[url.path.rstrip("/").rsplit("/", 1)[-1]] += 1
            return original(*args, **kwargs)

        api_client.call_api = counting


@pytest.fixture
def counted_server(kube_cluster: Any) -> Iterator[tuple[Running, WatchCounter]]:
    api = kube_cluster.api_client()
    counter = WatchCounter(api)
    # Each open stream holds a server thread: room for 50 watchers and the other calls.
    with running_server(api, threads=64, settings=Settings(watch_read_timeout=3)) as running:
        yield running, counter
    api.close()


def test_changes_arrive_including_each_deletion(
    stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    watcher = Watcher(stub, namespace)
    watcher.synced()
    created = stub.createContainer(create_request(namespace, "web", "CLUSTER_EXTERNAL"), timeout=60)
    cid = created.container_id
    watcher.until(is_(ADDED, cid))
    _, ready = watcher.until(is_(MODIFIED, cid, pb.CONTAINER_PHASE_READY))
    assert ready.container.container_ip.startswith("203.0.113.")  # simulated, never connected to
    stub.deleteContainer(pb.DeleteContainerRequest(container_id=cid, network_name=namespace))
    watcher.until(is_(DELETED, cid))

    # Each pod's deletion reaches the watcher. (The delay is measured, against a raw Kubernetes
    # watch as baseline, by bench/watch_delay.py: timing is never asserted in tests.)
    core = client.CoreV1Api(admin_api)
    for i in range(20):
        made = stub.createContainer(create_request(namespace, f"d{i}"), timeout=60)
        watcher.until(is_(ADDED, made.container_id))
        core.delete_namespaced_pod(f"d{i}", namespace, grace_period_seconds=30)
        watcher.until(
            lambda e, c=made.container_id: (
                e.container.container_id == c
                and (
                    e.type == DELETED or e.container.status.phase == pb.CONTAINER_PHASE_TERMINATING
                )
            )
        )
    watcher.call.cancel()


def test_fifty_watchers_share_one_watch_per_kind(
    counted_server: tuple[Running, WatchCounter], namespace: str
) -> None:
    running, counter = counted_server
    watchers = [Watcher(running.stub, namespace) for _ in range(50)]
    for watcher in watchers:
        watcher.synced()
    created = running.stub.createContainer(create_request(namespace, "web", "EXPOSED"), timeout=60)
    cid = created.container_id
    running.stub.deleteContainer(
        pb.DeleteContainerRequest(container_id=cid, network_name=namespace)
    )
    for watcher in watchers:
        watcher.until(is_(ADDED, cid))
        watcher.until(is_(DELETED, cid))
    assert counter.watches == Counter({"pods": 1, "services": 1, "ingresses": 1}), counter.watches
    hub = running.server.hub
    assert hub.watch_requests == Counter({"pod": 1, "service": 1, "ingress": 1})
    assert hub.subscriber_count == 50
    for watcher in watchers:
        watcher.call.cancel()


def test_cancelling_ends_the_stream_and_the_subscription(
    counted_server: tuple[Running, WatchCounter], namespace: str
) -> None:
    running, _ = counted_server
    watcher = Watcher(running.stub, namespace)
    watcher.synced()
    assert running.server.hub.subscriber_count == 1
    watcher.call.cancel()
    assert watcher.ended.wait(10)
    assert watcher.error is not None and watcher.error.code() is grpc.StatusCode.CANCELLED
    deadline = time.monotonic() + 10
    while running.server.hub.subscriber_count:
        assert time.monotonic() < deadline, "the server kept the subscription"
        time.sleep(0.1)


def test_every_container_kind_has_a_watch_source() -> None:
    """cm_watch_source: the pod, service and ingress plugins say how to list all namespaces."""
    hooks = Hooks(create_plugin_manager())
    for kind, method in [
        ("pod", "list_pod_for_all_namespaces"),
        ("service", "list_service_for_all_namespaces"),
        ("ingress", "list_ingress_for_all_namespaces"),
    ]:
        source = hooks.watch_source(kind=kind)
        assert source is not None and source.list_all is not None
        assert source.list_all.__name__ == method  # type: ignore[attr-defined]
    assert hooks.watch_source(kind="namespace") is None


def test_unknown_namespace_is_not_found(stub: Any) -> None:
    watcher = Watcher(stub, "no-such-namespace-here")
    assert watcher.ended.wait(30)
    assert watcher.error is not None and watcher.error.code() is grpc.StatusCode.NOT_FOUND


def test_a_watch_survives_a_frozen_api_server(
    kube_cluster: Any, counted_server: tuple[Running, WatchCounter], namespace: str
) -> None:
    """The API server process is stopped (SIGSTOP) for longer than the hub's read timeout and
    continued: the hub takes the silent connection for dead, retries until the server answers,
    and resumes from its last resourceVersion; a change made afterwards reaches the watcher."""
    if kube_cluster.local is None:
        pytest.skip("needs the test cluster started here (its API server's process)")
    running, counter = counted_server
    watcher = Watcher(running.stub, namespace)
    watcher.synced()
    pid = kube_cluster.local.pids["kube-apiserver"]
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(8)  # well past watch_read_timeout (3 s)
    finally:
        os.kill(pid, signal.SIGCONT)
    created = running.stub.createContainer(create_request(namespace, "after"), timeout=90)
    watcher.until(is_(ADDED, created.container_id), timeout=60)
    hub = running.server.hub
    print(f"\nafter the freeze: watch requests {dict(counter.watches)}, lists {hub.list_requests}")


def test_watchers_cannot_take_every_thread(admin_api: client.ApiClient, namespace: str) -> None:
    """Each open stream holds a server thread, so streams are bounded: past the limit a new
    one gets RESOURCE_EXHAUSTED, unary calls are still answered, and a closed stream frees its
    place."""
    threads = 6
    limit = max_watches(threads)
    assert 0 < limit < threads
    with running_server(admin_api, threads=threads) as running:
        watchers = [Watcher(running.stub, namespace) for _ in range(limit)]
        for watcher in watchers:
            watcher.synced()
        refused = Watcher(running.stub, namespace)
        assert refused.ended.wait(30)
        assert refused.error is not None
        assert refused.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "--threads" in (refused.error.details() or "")

        listed = running.stub.listContainer(
            pb.ListContainerRequest(network_name=namespace), timeout=30
        )
        assert list(listed.containers) == []

        watchers[0].call.cancel()
        assert watchers[0].ended.wait(30)
        deadline = time.monotonic() + 30
        while True:  # the server frees the place once it sees the cancellation
            again = Watcher(running.stub, namespace)
            if not again.ended.wait(2):  # still open: it was accepted
                again.synced()
                break
            assert again.error is not None
            assert again.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "the cancelled stream's place never freed"
        for watcher in [*watchers[1:], again]:
            watcher.call.cancel()
