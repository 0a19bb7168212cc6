"""The ``containermaker.ContainerMakerAPI`` service: convert in, call the manager, convert out.

Errors are not handled here: the manager raises the core error hierarchy and the interceptor
(:mod:`.interceptor`) turns it into gRPC status codes. The client's deadline becomes the
manager's timeout, so work stops when the client stops waiting. The limits per caller
(:mod:`.limits`) are applied here, before the manager is asked. Every manager call names the
caller the interceptor authenticated (:func:`~.callers.current_caller`).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Iterator

import grpc

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.errors import ContainerMakerError, RateLimited
from container_maker.manager import ContainerManager
from container_maker.validation import validate_container_id
from container_maker.watch import WatchHub

from . import conversion
from .callers import current_caller
from .interceptor import status_message
from .limits import (
    PUSHBACK_KEY,
    CallerSlots,
    CreateRate,
    rate_limited_message,
    too_many_watches_message,
    watch_key,
)

log = logging.getLogger(__name__)

# Seconds a watch stream that fell behind may take to end by itself (its handler is blocked
# sending to a client that does not read); then it is cancelled, freeing its thread.
FELL_BEHIND_GRACE = 5.0


class ContainerMakerServicer(service_pb2_grpc.ContainerMakerAPIServicer):
    """The API's five methods on one :class:`~container_maker.manager.ContainerManager`."""

    def __init__(
        self, manager: ContainerManager, hub: WatchHub | None = None, *, max_watches: int = 1
    ) -> None:
        self.manager = manager
        self.hub = hub or WatchHub(manager)
        # A watch stream occupies a server thread while it is open: bound them so that watchers
        # can never take every thread and starve the unary calls.
        self.max_watches = max_watches
        self._watch_slots = threading.BoundedSemaphore(max_watches)
        settings = manager.settings
        self.creates = CreateRate(settings.max_creates_per_second, settings.max_create_burst)
        self.caller_watches = CallerSlots(settings.max_watches_per_caller)

    def _timeout(self, context: grpc.ServicerContext) -> float | None:
        """The client's remaining time, or None (the manager's own limit) when it is longer.

        Without a deadline gRPC reports a practically infinite remaining time.
        """
        remaining = context.time_remaining()
        if remaining is None or remaining >= self.manager.settings.operation_timeout:
            return None
        return remaining

    def _limit_creates(self, context: grpc.ServicerContext) -> None:
        """Take one create from the caller's tenant's bucket, or refuse the call."""
        tenant = current_caller().tenant
        wait = self.creates.take(tenant)
        if wait:
            context.set_trailing_metadata(((PUSHBACK_KEY, str(math.ceil(wait * 1000))),))
            message = rate_limited_message(tenant, self.creates.rate, self.creates.burst, wait)
            raise RateLimited(message, wait)

    def createContainer(
        self, request: pb.CreateContainerRequest, context: grpc.ServicerContext
    ) -> pb.ContainerResponse:
        self._limit_creates(context)
        spec = conversion.spec_from_request(request)
        timeout = self._timeout(context)
        if request.wait_until_ready and timeout is not None:
            # Answer a little before the client's deadline, so that it hears which container
            # was kept instead of a bare DEADLINE_EXCEEDED from its own side.
            timeout = max(0.1, timeout - min(1.0, 0.1 * timeout))
        container = self.manager.create(
            spec,
            timeout=timeout,
            wait_until_ready=request.wait_until_ready,
            caller=current_caller(),
        )
        return conversion.container_response(container)

    def getContainer(
        self, request: pb.GetContainerRequest, context: grpc.ServicerContext
    ) -> pb.ContainerResponse:
        container = self.manager.get(
            request.container_id,
            request.network_name,
            timeout=self._timeout(context),
            caller=current_caller(),
        )
        return conversion.container_response(container)

    def listContainer(
        self, request: pb.ListContainerRequest, context: grpc.ServicerContext
    ) -> pb.ListContainerResponse:
        containers = self.manager.list(
            request.network_name, timeout=self._timeout(context), caller=current_caller()
        )
        return conversion.list_response(containers)

    def deleteContainer(
        self, request: pb.DeleteContainerRequest, context: grpc.ServicerContext
    ) -> pb.DeleteContainerResponse:
        outcome = self.manager.delete(
            request.container_id,
            request.network_name,
            timeout=self._timeout(context),
            caller=current_caller(),
        )
        return conversion.delete_response(outcome)

    def watchContainers(
        self, request: pb.WatchContainersRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ContainerEvent]:
        """Stream the hub's events for the request's containers until the client goes away.

        The interceptor only wraps unary methods, so errors before the stream starts are mapped
        to a status here (the same way). Streams are limited per caller, then per server.
        """
        caller = current_caller()
        key = watch_key(caller)
        if not self.caller_watches.acquire(key):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                too_many_watches_message(caller, self.caller_watches.limit),
            )
        try:
            if not self._watch_slots.acquire(blocking=False):
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"this server already serves {self.max_watches} watchContainers streams, "
                    "its limit: close one, or start the server with more --threads (each "
                    "stream holds one)",
                )
            try:
                yield from self._watch(request, context)
            finally:
                self._watch_slots.release()
        finally:
            self.caller_watches.release(key)

    def _watch(
        self, request: pb.WatchContainersRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ContainerEvent]:
        try:
            # The hub delivers the events of this one namespace, the caller's tenant's.
            namespace = self.manager.check_namespace(
                request.network_name, timeout=self._timeout(context), caller=current_caller()
            )
            if request.container_id:
                validate_container_id(request.container_id)
            subscription = self.hub.subscribe(
                namespace,
                request.container_id or None,
                on_fell_behind=lambda: _cancel_later(context),
            )
        except ContainerMakerError as error:
            context.abort(grpc.StatusCode[error.code.value], status_message(error))
        context.add_callback(subscription.close)
        log.info(
            "watch start network=%s container_id=%s", request.network_name, request.container_id
        )
        try:
            while context.is_active():
                try:
                    event = subscription.next(timeout=1.0)
                except queue.Empty:
                    continue
                if event is None:
                    break
                yield conversion.event_message(event)
        finally:
            self.hub.unsubscribe(subscription)
            log.info("watch end network=%s", request.network_name)
        if subscription.fell_behind:
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this watch fell behind: {self.hub.queue_size} events were waiting for the "
                "client (watch_queue_size), so the server stopped it instead of keeping more; "
                "list the containers again (listContainer) and watch again",
            )

    def saveContainer(
        self, request: pb.SaveContainerRequest, context: grpc.ServicerContext
    ) -> pb.SaveContainerResponse:
        saved = self.manager.save(
            request.container_id,
            request.network_name,
            timeout=self._timeout(context),
            caller=current_caller(),
        )
        return conversion.save_response(saved)


def _cancel_later(context: grpc.ServicerContext) -> None:
    """Cancel the call in :data:`FELL_BEHIND_GRACE` seconds unless it has ended by then (a
    client that does not read holds its handler in a send that only a cancel ends)."""
    timer = threading.Timer(FELL_BEHIND_GRACE, context.cancel)
    timer.daemon = True
    timer.start()
