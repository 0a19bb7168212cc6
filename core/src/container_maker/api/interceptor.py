"""The one server interceptor: request id, a log line per call, errors -> gRPC status codes.

For every unary call it

- takes the caller's ``x-request-id`` metadata (or makes one), returns it as ``x-request-id``
  response metadata, and puts it in :data:`~container_maker.api.logs.REQUEST_ID` so that every
  log line of the call carries it;
- maps the core error hierarchy (:mod:`container_maker.errors`; each class names its status
  code) to a gRPC status with an actionable message;
- logs anything else with its traceback and answers INTERNAL (never UNKNOWN), naming the
  request id so that an operator can find the traceback;
- writes one line when the call ends: method, status code and duration.

Streaming methods (health ``Watch``, reflection) pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from container_maker.errors import (
    ContainerMakerError,
    DeadlineExceeded,
    NotReadyInTime,
    PermissionDenied,
    StatusCode,
    Unavailable,
)

from .logs import REQUEST_ID

log = logging.getLogger(__name__)

REQUEST_ID_KEY = "x-request-id"
# A caller-supplied id is echoed into logs: keep it short and printable.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes call health every few seconds: their lines would drown the rest at info level.
_QUIET_PREFIXES = ("/grpc.health.v1.Health/",)

_HINTS: dict[StatusCode, str] = {
    StatusCode.PERMISSION_DENIED: (
        " (Kubernetes refused Container Maker's own credentials: grant its ServiceAccount the "
        "RBAC in deploy/rbac.yaml; this is not about the caller's rights)"
    ),
    StatusCode.UNAVAILABLE: " (transient: retry later)",
    StatusCode.DEADLINE_EXCEEDED: (
        " (the operation was stopped and a create rolled back what it had made; retry with a "
        "longer deadline)"
    ),
}

Behavior = Callable[[Any, grpc.ServicerContext], Any]


def status_message(error: ContainerMakerError) -> str:
    """The message a client sees for ``error``: the error's own text plus what to do about it."""
    message = error.message
    if isinstance(error, Unavailable) and "unreachable" in message:
        message += (
            " (Container Maker cannot reach the Kubernetes API: check the server's kubeconfig "
            "or in-cluster configuration and the API server; retry later)"
        )
        return message
    if isinstance(error, NotReadyInTime):
        return message  # nothing was rolled back: the message says the container was kept
    if isinstance(error, PermissionDenied | DeadlineExceeded | Unavailable):
        return message + _HINTS[error.code]
    return message


def _request_id(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _VALID_REQUEST_ID.match(value):
            return value
    return uuid.uuid4().hex


class ApiInterceptor(grpc.ServerInterceptor):
    """Request ids, call logging and error mapping for every unary method (see the module)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        method: str = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method, metadata),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: Behavior, method: str, metadata: Any) -> Behavior:
        quiet = method.startswith(_QUIET_PREFIXES)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _request_id(metadata)
            token = REQUEST_ID.set(request_id)
            started = time.monotonic()
            code = grpc.StatusCode.OK
            try:
                context.send_initial_metadata(((REQUEST_ID_KEY, request_id),))
                return behavior(request, context)
            except ContainerMakerError as error:
                code = grpc.StatusCode[error.code.value]
                if code is grpc.StatusCode.INTERNAL:
                    log.error("internal error", exc_info=True, extra={"method": method})
                context.abort(code, status_message(error))
            except Exception:
                # The server's context has code() (the stubs leave it out): a status set by
                # context.abort() in the servicer is the answer, not an unexpected error.
                aborted = context.code()  # type: ignore[attr-defined]
                if aborted not in (None, grpc.StatusCode.OK):
                    code = aborted  # the servicer chose its status itself (context.abort)
                    raise
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error", extra={"method": method})
                context.abort(
                    code,
                    f"internal error in Container Maker (request id {request_id}); the server "
                    "log has the details",
                )
            finally:
                level = logging.DEBUG if quiet and code is grpc.StatusCode.OK else logging.INFO
                log.log(
                    level,
                    "rpc",
                    extra={
                        "method": method,
                        "code": code.name,
                        "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    },
                )
                REQUEST_ID.reset(token)

        return handle
