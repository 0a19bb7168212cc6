"""The watch hub: one Kubernetes watch per kind per server, fanned out to every subscriber.

``watchContainers`` clients subscribe here; they never cause a watch of their own. On the first
subscription the hub starts one thread per watchable kind of a container's view (each registered
:class:`~container_maker.resources.Resource` whose client can list all namespaces: the status Lease,
pod, service, ingress and any a plugin adds) that lists the kind's managed objects in all namespaces
and then watches them from the list's resourceVersion. Each thread keeps the objects it saw in a
cache; after each change the hub assembles the affected container from the cache (no API call, the
same code as get and list) and, if the container's description changed, queues a
:class:`ContainerEvent` for every subscriber whose filter matches.

Reports expire: the status sidecar's report is valid until a time it states, and no watch event
comes when that time passes. Each validity seen goes into a heap, and a timer thread (once a
second) re-assembles the containers whose time has come, so subscribers learn that one stopped
being ready; nothing is scanned.

Slow subscribers: each subscription's queue holds at most ``settings.watch_queue_size`` events
beyond the state it starts with. The hub never waits for a subscriber: one whose queue is full
is cut off at once (removed, its queue emptied, :attr:`Subscription.fell_behind` set), so a
client that stops reading costs the server a bounded amount of memory, and the others are not
slowed down. Its stream then ends with RESOURCE_EXHAUSTED, and the client lists and watches
again.

Resuming: a watch that ends normally (the server's ``timeoutSeconds``) or whose connection goes
quiet for ``settings.watch_read_timeout`` (a frozen or restarted API server) is started again
from the last resourceVersion seen; a resourceVersion too old for the API server (410 Gone)
makes the hub list again and report what changed meanwhile; any other failure is retried with
a growing delay (up to 5 s), so a watch survives an API server restart.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from .identity import ID_KEY, label_selector
from .kube import NamespacedApi
from .manager import ContainerManager
from .models import Container, ObservedObject

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, container id)
_MANAGED = label_selector()
FIRST_BACKOFF = 0.2
MAX_BACKOFF = 5.0
EXPIRY_CHECK = 1.0  # seconds between two looks for reports that expired
_TICK = timedelta(microseconds=1)


class EventType(StrEnum):
    """What happened to a container (SYNCED: the current state has been sent)."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    SYNCED = "SYNCED"


@dataclass(frozen=True)
class ContainerEvent:
    """One message for a subscriber; ``container`` is None only for SYNCED."""

    type: EventType
    container: Container | None = None


def _matches(namespace: str, container_id: str | None, key: Key) -> bool:
    return key[0] == namespace and container_id in (None, key[1])


@dataclass(eq=False)
class Subscription:
    """A subscriber's filter and queue. :meth:`next` returns None once the subscription is
    closed (by the subscriber going away, the hub stopping, or the subscriber falling behind:
    then :attr:`fell_behind` is set and ``on_fell_behind`` was called)."""

    namespace: str
    container_id: str | None
    events: queue.Queue[ContainerEvent | None] = field(default_factory=queue.Queue)
    closed: threading.Event = field(default_factory=threading.Event)
    fell_behind: bool = False
    on_fell_behind: Callable[[], None] | None = None

    def matches(self, key: Key) -> bool:
        return _matches(self.namespace, self.container_id, key)

    def next(self, timeout: float) -> ContainerEvent | None:
        """The next event; None when closed; raises queue.Empty after ``timeout`` seconds."""
        if self.closed.is_set():
            return None
        return self.events.get(timeout=timeout)

    def close(self) -> None:
        self.closed.set()
        # Wakes a reader waiting for an event; a full queue has no reader waiting, and next()
        # sees that the subscription is closed.
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(None)

    def cut_off(self) -> None:
        """Close because the subscriber fell behind; what it had not read yet is dropped."""
        self.fell_behind = True
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                break
        self.close()
        if self.on_fell_behind is not None:
            self.on_fell_behind()


class WatchHub:
    """One list-and-watch thread per kind, shared by every subscriber (see the module)."""

    def __init__(self, manager: ContainerManager) -> None:
        self.manager = manager
        self.settings = manager.settings
        self.queue_size = manager.settings.watch_queue_size
        self.sources: dict[str, NamespacedApi[Any]] = {
            r.kind: r.watched for r in manager.resources.view() if r.watched is not None
        }
        self._lock = threading.Lock()
        self._objects: dict[Key, dict[str, dict[str, ObservedObject]]] = {}
        self._containers: dict[Key, Container] = {}
        # When reports expire: a heap of (time, key), and the latest time pushed per key.
        self._expiries: list[tuple[datetime, Key]] = []
        self._latest_expiry: dict[Key, datetime] = {}
        self._subscribers: set[Subscription] = set()
        self._synced = {kind: threading.Event() for kind in self.sources}
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        # Requests made, per kind: what tests and operators check "one watch per kind" with.
        self.list_requests: Counter[str] = Counter()
        self.watch_requests: Counter[str] = Counter()
        # Watches the API server answered 410 Gone (resourceVersion too old), per kind.
        self.expired: Counter[str] = Counter()
        # Subscribers cut off because their queue was full.
        self.fell_behind = 0
        # The last resourceVersion each kind's watch saw, kept when a watch breaks off (an
        # exception loses _watch's return value): resuming from an earlier one replays events.
        self._seen: dict[str, str] = {}

    # -- subscribers --------------------------------------------------------------------------

    def subscribe(
        self,
        namespace: str,
        container_id: str | None = None,
        *,
        timeout: float = 30.0,
        on_fell_behind: Callable[[], None] | None = None,
    ) -> Subscription:
        """A new subscription; its queue starts with the current matching containers (ADDED)
        and a SYNCED event, then receives every change, up to :attr:`queue_size` of them
        waiting at once (past that the subscription is cut off, and ``on_fell_behind`` is
        called with the hub's lock held: it must be quick).

        ``namespace`` is the Kubernetes namespace (the servicer passes the one
        :meth:`~container_maker.manager.ContainerManager.check_namespace` found to be the
        caller's tenant's); only its containers are delivered, and each event names the
        caller's network (``container_network``, the namespace prefix removed).
        """
        self._start()
        deadline = time.monotonic() + timeout
        for event in self._synced.values():
            event.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            current = [
                ContainerEvent(EventType.ADDED, container)
                for key, container in sorted(self._containers.items())
                if _matches(namespace, container_id, key)
            ]
            # The current state always fits, however large; the bound is on what follows.
            size = len(current) + 1 + self.queue_size
            subscription = Subscription(
                namespace, container_id, queue.Queue(size), on_fell_behind=on_fell_behind
            )
            for initial in [*current, ContainerEvent(EventType.SYNCED)]:
                subscription.events.put_nowait(initial)
            self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)
        subscription.close()

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    # -- lifecycle ----------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._threads or self._stopping.is_set():
                return
            for kind, source in self.sources.items():
                thread = threading.Thread(
                    target=self._run, args=(kind, source), name=f"watch-{kind}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            expiry = threading.Thread(target=self._expire, name="watch-expiry", daemon=True)
            self._threads.append(expiry)
            expiry.start()

    def stop(self) -> None:
        """Close every subscription and stop the watch threads (they end at their next read)."""
        self._stopping.set()
        with self._lock:
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscription in subscribers:
            subscription.close()

    def _expire(self) -> None:
        """Re-assemble each container when a validity among its objects ends (the heap of
        :meth:`_changed`); entries made stale by a newer report just find nothing changed."""
        while not self._stopping.wait(EXPIRY_CHECK):
            now = datetime.now(UTC)
            with self._lock:
                due: set[Key] = set()
                while self._expiries and self._expiries[0][0] <= now:
                    due.add(heapq.heappop(self._expiries)[1])
                for key in due:
                    if key in self._objects:
                        self._changed(key)

    # -- the watch of one kind ----------------------------------------------------------------

    def _run(self, kind: str, source: NamespacedApi[Any]) -> None:
        assert source.list_all is not None  # checked by the hooks facade
        api = source.api(self.manager.api_client)
        # A bound method: the client's Watch reads the item type from its docstring.
        list_all: Callable[..., Any] = source.list_all.__get__(api)  # type: ignore[attr-defined]
        resource_version: str | None = None
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            try:
                if resource_version is None:
                    resource_version = self._seen[kind] = self._relist(kind, source, list_all)
                resource_version = self._watch(kind, source, list_all, resource_version)
                backoff = FIRST_BACKOFF
            except ApiException as e:
                if e.status == 410:
                    self.expired[kind] += 1
                    log.info("watch of %s expired (410 Gone: %s): listing again", kind, e.reason)
                    resource_version = None
                    continue
                log.warning(
                    "watch of %s failed (HTTP %s); retrying in %.1fs", kind, e.status, backoff
                )
                backoff = self._pause(backoff)
            except Exception as e:
                # Connection refused or reset, a read timeout on a silent connection, ...
                log.info("watch of %s interrupted (%s); retrying in %.1fs", kind, e, backoff)
                backoff = self._pause(backoff)
            if resource_version is not None:
                resource_version = self._seen[kind]

    def _pause(self, backoff: float) -> float:
        self._stopping.wait(backoff)
        return min(MAX_BACKOFF, backoff * 2)

    def _relist(self, kind: str, source: NamespacedApi[Any], list_all: Callable[..., Any]) -> str:
        self.list_requests[kind] += 1
        listed = list_all(
            label_selector=_MANAGED, _request_timeout=self.settings.watch_read_timeout
        )
        fresh = [source.observe(item) for item in listed.items]
        with self._lock:
            touched = {key for key, kinds in self._objects.items() if kinds.get(kind)}
            for kinds in self._objects.values():
                kinds.pop(kind, None)
            for obj in fresh:
                key = self._key(obj)
                if key is not None:
                    self._objects.setdefault(key, {}).setdefault(kind, {})[obj.uid] = obj
                    touched.add(key)
            for key in touched:
                self._changed(key)
        self._synced[kind].set()
        return str(listed.metadata.resource_version)

    def _watch(
        self,
        kind: str,
        source: NamespacedApi[Any],
        list_all: Callable[..., Any],
        resource_version: str,
    ) -> str:
        """Watch from ``resource_version`` until the request ends; the last version seen."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        self.watch_requests[kind] += 1
        for event in stream.stream(  # type: ignore[no-untyped-call]  # the client is untyped
            list_all,
            label_selector=_MANAGED,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.settings.watch_server_timeout,
            _request_timeout=self.settings.watch_read_timeout,
        ):
            if self._stopping.is_set():
                stream.stop()  # type: ignore[no-untyped-call]
                break
            raw = event["raw_object"]
            resource_version = self._seen[kind] = str(raw["metadata"]["resourceVersion"])
            if event["type"] == "BOOKMARK":
                continue
            obj = source.observe(event["object"])
            key = self._key(obj)
            if key is None:
                continue
            with self._lock:
                kinds = self._objects.setdefault(key, {}).setdefault(kind, {})
                if event["type"] == "DELETED":
                    kinds.pop(obj.uid, None)
                else:
                    kinds[obj.uid] = obj
                self._changed(key)
        return resource_version

    @staticmethod
    def _key(obj: ObservedObject) -> Key | None:
        container_id = obj.labels.get(ID_KEY)
        return None if not container_id else (obj.namespace, container_id)

    def _changed(self, key: Key) -> None:
        """Assemble the container of ``key`` from the cache and tell subscribers if it changed.

        Called with the lock held.
        """
        kinds = self._objects.get(key, {})
        for found in kinds.values():
            for obj in found.values():
                until = obj.status.valid_until
                if until is not None and until > self._latest_expiry.get(key, until - _TICK):
                    heapq.heappush(self._expiries, (until, key))
                    self._latest_expiry[key] = until
        objects = {
            kind: tuple(sorted(found.values(), key=lambda o: o.name))
            for kind, found in kinds.items()
            if found
        }
        before = self._containers.get(key)
        if not objects.get("pod"):
            if not objects:
                self._objects.pop(key, None)
                self._latest_expiry.pop(key, None)
            if before is None:
                return
            del self._containers[key]
            event = ContainerEvent(EventType.DELETED, before)
        else:
            try:
                container = self.manager.assemble(key[1], key[0], objects)
            except Exception:
                log.exception("cannot describe container %s in %s", key[1], key[0])
                return
            if container == before:
                return
            self._containers[key] = container
            event = ContainerEvent(
                EventType.ADDED if before is None else EventType.MODIFIED, container
            )
        behind = []
        for subscription in self._subscribers:
            if subscription.matches(key):
                try:
                    subscription.events.put_nowait(event)
                except queue.Full:
                    behind.append(subscription)
        for subscription in behind:
            self._subscribers.discard(subscription)
            self.fell_behind += 1
            log.warning(
                "a watch subscriber of %s fell %d events behind: cut off",
                subscription.namespace,
                self.queue_size,
            )
            subscription.cut_off()
