"""watchContainers through a real channel on the real cluster: changes arrive, 50 watchers share
one Kubernetes watch per kind, a watch survives a frozen and a restarted API server, a watch
that expired (410 Gone) lists again and reports what it missed, cancelling ends the stream.

Readiness and load-balancer addresses come from KWOK's simulation (``simulated``). The restart
tests restart the API server of a cluster of their own (``own_cluster``), never the session's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from api_support import (
    Running,
    Watcher,
    create_request,
    new_network_name,
    running_server,
    served_settings,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.api.server import max_watches
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.pytest_plugin import KUBECONFIG_ENV

pytestmark = pytest.mark.simulated

SYNCED = pb.CONTAINER_EVENT_TYPE_SYNCED
ADDED = pb.CONTAINER_EVENT_TYPE_ADDED
MODIFIED = pb.CONTAINER_EVENT_TYPE_MODIFIED
DELETED = pb.CONTAINER_EVENT_TYPE_DELETED


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
    # Each open stream holds a server thread: room for 50 watchers and the other calls (all of
    # them the same caller).
    settings = served_settings(watch_read_timeout=3, max_watches_per_caller=50)
    with running_server(api, threads=64, settings=settings) as running:
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
    assert counter.watches == Counter({"leases": 1, "pods": 1, "services": 1, "ingresses": 1}), (
        counter.watches
    )
    hub = running.server.hub
    assert hub.watch_requests == Counter({"status": 1, "pod": 1, "service": 1, "ingress": 1})
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


def test_every_kind_of_the_view_is_watched_in_all_namespaces() -> None:
    """The status Lease, pod, service and ingress resources say how to list all namespaces;
    the namespace and the policies, not part of a container's view, are not watched."""
    registry = Hooks(create_plugin_manager()).resources()
    watched = {r.kind: r.watched for r in registry.view() if r.watched is not None}
    assert {kind: source.list_all.__name__ for kind, source in watched.items()} == {  # type: ignore[union-attr]
        "status": "list_lease_for_all_namespaces",
        "pod": "list_pod_for_all_namespaces",
        "service": "list_service_for_all_namespaces",
        "ingress": "list_ingress_for_all_namespaces",
    }
    assert registry["namespace"].watched is None


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


# -- a restarted API server, and a watch that expired --------------------------------------------


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster of these tests' own, whose API server they restart (the session's other
    tests keep an undisturbed cluster)."""
    if os.environ.get(KUBECONFIG_ENV):
        pytest.skip(f"{KUBECONFIG_ENV} is set: this run must not start clusters of its own")
    with LocalCluster(nodes=1) as local:
        yield local


class CuttableProxy:
    """A TCP forwarder on loopback to the API server that the test can cut: :meth:`cut` closes
    every forwarded connection and refuses new ones until :meth:`restore`. A server whose
    client goes through it loses the API server while other clients still reach it."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self._cut = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:  # closed
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                if self._cut:
                    downstream.close()
                    upstream.close()
                    continue
                self._open |= {downstream, upstream}
            for source, target in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):  # wakes the other direction's pump too
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(source)
            source.close()

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_a_watch_survives_an_api_server_restart(own_cluster: LocalCluster, hard: bool) -> None:
    """The API server is stopped (gracefully, or killed) and started again: the hub watches
    again by itself, and changes made afterwards, to a container made before the restart and to
    one made after it, reach the watcher that subscribed before."""
    api: Any = own_cluster.api_client()
    network = new_network_name("restart")
    with running_server(api, settings=served_settings(watch_read_timeout=3)) as running:
        hub = running.server.hub
        before = running.stub.createContainer(create_request(network, "before"), timeout=60)
        watcher = Watcher(running.stub, network)
        watcher.until(is_(ADDED, before.container_id), timeout=30)
        watcher.synced()
        watches = hub.watch_requests.copy()
        lists = hub.list_requests.copy()

        own_cluster.restart_apiserver(hard=hard)

        after = running.stub.createContainer(create_request(network, "after"), timeout=90)
        watcher.until(is_(ADDED, after.container_id))
        for made in (before, after):
            running.stub.deleteContainer(
                pb.DeleteContainerRequest(container_id=made.container_id, network_name=network),
                timeout=60,
            )
            watcher.until(is_(DELETED, made.container_id))
        # Each kind was watched again (not only the one that carried the events).
        assert all(hub.watch_requests[kind] > watches[kind] for kind in watches), (
            hub.watch_requests,
            watches,
        )
        print(
            f"\nrestart ({'SIGKILL' if hard else 'SIGTERM'}): watch requests {dict(watches)} -> "
            f"{dict(hub.watch_requests)}, lists {dict(lists)} -> {dict(hub.list_requests)}"
        )
        watcher.call.cancel()
    api.close()


def test_an_expired_watch_lists_again_and_reports_what_it_missed(
    own_cluster: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """The hub's server loses the API server (a proxy between them is cut) while containers
    are deleted and created through another server; then the API server restarts, so its watch
    cache begins after the hub's resourceVersion. Reconnected, the hub's resume really gets 410
    Gone ("too old resource version"), it lists again, and the list is what tells the watcher
    of the deletion and the creation it missed."""
    caplog.set_level(logging.INFO, logger="container_maker.watch")
    proxy = CuttableProxy(own_cluster.ports.apiserver)
    behind_proxy: Any = own_cluster.api_client()
    behind_proxy.configuration.host = f"https://127.0.0.1:{proxy.port}"
    direct: Any = own_cluster.api_client()
    network = new_network_name("expired")
    settings = served_settings(watch_read_timeout=3)
    with (
        running_server(behind_proxy, settings=settings) as watched,
        running_server(direct, settings=settings) as other,
    ):
        hub = watched.server.hub
        gone = watched.stub.createContainer(create_request(network, "gone"), timeout=60)
        kept = watched.stub.createContainer(create_request(network, "kept"), timeout=60)
        watcher = Watcher(watched.stub, network)
        watcher.synced()
        lists = hub.list_requests.copy()

        proxy.cut()
        other.stub.deleteContainer(
            pb.DeleteContainerRequest(container_id=gone.container_id, network_name=network),
            timeout=60,
        )
        born = other.stub.createContainer(create_request(network, "born"), timeout=60)
        own_cluster.restart_apiserver()
        proxy.restore()

        # One list reports both, in either order.
        pending = [is_(DELETED, gone.container_id), is_(ADDED, born.container_id)]
        while pending:
            _, event = watcher.until(lambda e, waited=pending: any(p(e) for p in waited))
            pending = [p for p in pending if not p(event)]
        expired = [r.getMessage() for r in caplog.records if "410 Gone" in r.getMessage()]
        print(
            f"\nhub log: {expired}\nexpired {dict(hub.expired)}, "
            f"lists {dict(lists)} -> {dict(hub.list_requests)}"
        )
        # The API server itself said so (the reason is its message), and the hub listed again.
        assert hub.expired["pod"] >= 1
        assert any("watch of pod" in m and "too old resource version" in m for m in expired)
        assert hub.list_requests["pod"] > lists["pod"]
        # The kept container is still known: a list that replaced the cache kept it.
        listed = watched.stub.listContainer(pb.ListContainerRequest(network_name=network))
        assert {c.container_id for c in listed.containers} == {
            kept.container_id,
            born.container_id,
        }
        watcher.call.cancel()
    proxy.close()
    behind_proxy.close()
    direct.close()


def test_a_renewed_watch_resumes_where_it_was_and_repeats_nothing(
    counted_server: tuple[Running, WatchCounter], namespace: str
) -> None:
    """A quiet watch is renewed after the read timeout (3 s here) from the last resourceVersion
    it saw, not from where it began: nothing already reported comes again (a replay would bring
    a deleted container back as ADDED, then delete it again)."""
    running, _ = counted_server
    hub = running.server.hub
    watcher = Watcher(running.stub, namespace)
    watcher.synced()
    created = running.stub.createContainer(create_request(namespace, "settled"), timeout=60)
    cid = created.container_id
    watcher.until(is_(ADDED, cid))
    running.stub.deleteContainer(
        pb.DeleteContainerRequest(container_id=cid, network_name=namespace), timeout=60
    )
    watcher.until(is_(DELETED, cid))
    renewed = hub.watch_requests["pod"] + 2
    deadline = time.monotonic() + 60
    while hub.watch_requests["pod"] < renewed:  # two renewals of the pods' watch
        assert time.monotonic() < deadline, "the quiet watch was never renewed"
        time.sleep(0.2)
    marker = running.stub.createContainer(create_request(namespace, "marker"), timeout=60)
    between: list[Any] = []
    watcher.until(lambda e: between.append(e) or is_(ADDED, marker.container_id)(e))
    repeated = [e for e in between if e.HasField("container") and e.container.container_id == cid]
    assert repeated == [], [(e.type, e.container.status.phase) for e in repeated]
    watcher.call.cancel()
