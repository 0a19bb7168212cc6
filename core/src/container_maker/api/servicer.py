"""The ``containermaker.ContainerMakerAPI`` service: convert in, call the manager, convert out.

Errors are not handled here: the manager raises the core error hierarchy and the interceptor
(:mod:`.interceptor`) turns it into gRPC status codes. The client's deadline becomes the
manager's timeout, so work stops when the client stops waiting. Every manager call names the
caller the interceptor authenticated (:func:`~.callers.current_caller`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

import grpc

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.errors import ContainerMakerError
from container_maker.manager import ContainerManager
from container_maker.validation import validate_container_id
from container_maker.watch import WatchHub

from . import conversion
from .callers import current_caller
from .interceptor import status_message

log = logging.getLogger(__name__)


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

    def _timeout(self, context: grpc.ServicerContext) -> float | None:
        """The client's remaining time, or None (the manager's own limit) when it is longer.

        Without a deadline gRPC reports a practically infinite remaining time.
        """
        remaining = context.time_remaining()
        if remaining is None or remaining >= self.manager.settings.operation_timeout:
            return None
        return remaining

    def createContainer(
        self, request: pb.CreateContainerRequest, context: grpc.ServicerContext
    ) -> pb.ContainerResponse:
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
        to a status here (the same way).
        """
        if not self._watch_slots.acquire(blocking=False):
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this server already serves {self.max_watches} watchContainers streams, its "
                "limit: close one, or start the server with more --threads (each stream holds "
                "one)",
            )
        try:
            yield from self._watch(request, context)
        finally:
            self._watch_slots.release()

    def _watch(
        self, request: pb.WatchContainersRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ContainerEvent]:
        try:
            self.manager.check_namespace(
                request.network_name, timeout=self._timeout(context), caller=current_caller()
            )
            if request.container_id:
                validate_container_id(request.container_id)
            subscription = self.hub.subscribe(request.network_name, request.container_id or None)
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
