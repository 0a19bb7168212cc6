"""The one server interceptor: the caller, request id, a log line per call, errors -> status.

For every call of the ContainerMakerAPI service, unary or the ``watchContainers`` stream, it

- takes the caller's ``x-request-id`` metadata (or makes one), returns it as ``x-request-id``
  response metadata, and puts it in :data:`~container_maker.api.logs.REQUEST_ID` so that every
  log line of the call carries it;
- authenticates the call before the servicer runs (:mod:`.authentication`) and puts the
  identity in :data:`~container_maker.api.callers.CALLER` while the handler runs (for the
  stream: around each step of its iteration), reset afterwards;
- maps the core error hierarchy (:mod:`container_maker.errors`; each class names its status
  code) to a gRPC status with an actionable message;
- logs anything else with its traceback and answers INTERNAL (never UNKNOWN), naming the
  request id so that an operator can find the traceback;
- writes one line when the call ends: method, status code, duration and the caller (user,
  tenant, authenticator; never its credentials).

Health is handled the same way without authentication; other streaming methods (health
``Watch``, reflection) pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc

from container_maker.auth import LOCAL_IDENTITY, Identity
from container_maker.errors import (
    ContainerMakerError,
    DeadlineExceeded,
    NotReadyInTime,
    PermissionDenied,
    StatusCode,
    Unavailable,
)

from .authentication import API_METHOD_PREFIX, CallAuthenticator
from .callers import CALLER
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


def _caller_fields(caller: Identity | None) -> dict[str, str]:
    if caller is None:
        return {}
    return {"user": caller.user, "tenant": caller.tenant, "auth": caller.method}


class ApiInterceptor(grpc.ServerInterceptor):
    """The caller, request ids, call logging and error mapping (see the module).

    Without an ``authenticator`` every call is the anonymous local identity.
    """

    def __init__(self, authenticator: CallAuthenticator | None = None) -> None:
        self.authenticator = authenticator

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        metadata = handler_call_details.invocation_metadata
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap(handler.unary_unary, method, metadata),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None and method.startswith(API_METHOD_PREFIX):
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, metadata),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _identify(self, method: str, metadata: Any, context: grpc.ServicerContext) -> Identity:
        if self.authenticator is None or not method.startswith(API_METHOD_PREFIX):
            return LOCAL_IDENTITY
        return self.authenticator.identify(method, metadata, context)

    def _wrap(self, behavior: Behavior, method: str, metadata: Any) -> Behavior:
        quiet = method.startswith(_QUIET_PREFIXES)
        api = method.startswith(API_METHOD_PREFIX)

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            call = _Call(method, _request_id(metadata))
            token = REQUEST_ID.set(call.request_id)
            try:
                context.send_initial_metadata(((REQUEST_ID_KEY, call.request_id),))
                if not api:
                    return behavior(request, context)
                call.caller = self._identify(method, metadata, context)
                caller_token = CALLER.set(call.caller)
                try:
                    return behavior(request, context)
                finally:
                    CALLER.reset(caller_token)
            except Exception as error:
                call.fail(error, context)
            finally:
                call.log(quiet)
                REQUEST_ID.reset(token)

        return handle

    def _wrap_stream(
        self,
        behavior: Callable[[Any, grpc.ServicerContext], Iterator[Any]],
        method: str,
        metadata: Any,
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _Call(method, _request_id(metadata))
            try:
                token = REQUEST_ID.set(call.request_id)
                try:
                    context.send_initial_metadata(((REQUEST_ID_KEY, call.request_id),))
                    caller = call.caller = self._identify(method, metadata, context)
                    responses = behavior(request, context)
                except Exception as error:
                    call.fail(error, context)
                finally:
                    REQUEST_ID.reset(token)
                while True:
                    # Set around each step only: between steps the thread may be gRPC's.
                    tokens = (REQUEST_ID.set(call.request_id), CALLER.set(caller))
                    try:
                        response = next(responses)
                    except StopIteration:
                        return
                    except Exception as error:
                        call.fail(error, context)
                    finally:
                        CALLER.reset(tokens[1])
                        REQUEST_ID.reset(tokens[0])
                    yield response
            finally:
                call.log(quiet=False)

        return handle


@dataclass
class _Call:
    """One call being handled: what its log line says when it ends."""

    method: str
    request_id: str
    started: float = field(default_factory=time.monotonic)
    code: grpc.StatusCode = grpc.StatusCode.OK
    caller: Identity | None = None

    def fail(self, error: Exception, context: grpc.ServicerContext) -> NoReturn:
        """Answer ``error`` with its status (or re-raise it when the servicer chose one)."""
        self.code, message = _status_for(error, context, self.method, self.request_id)
        if message is None:
            raise error
        context.abort(self.code, message)

    def log(self, quiet: bool) -> None:
        level = logging.DEBUG if quiet and self.code is grpc.StatusCode.OK else logging.INFO
        log.log(
            level,
            "rpc",
            extra={
                "method": self.method,
                "code": self.code.name,
                "duration_ms": round((time.monotonic() - self.started) * 1000, 1),
                **_caller_fields(self.caller),
            },
        )


def _status_for(
    error: Exception, context: grpc.ServicerContext, method: str, request_id: str
) -> tuple[grpc.StatusCode, str | None]:
    """The status to answer ``error`` with, and its message; no message when the servicer had
    chosen the status itself (``context.abort``: the error is then re-raised as it is)."""
    if isinstance(error, ContainerMakerError):
        code = grpc.StatusCode[error.code.value]
        if code is grpc.StatusCode.INTERNAL:
            log.error("internal error", exc_info=error, extra={"method": method})
        return code, status_message(error)
    # The server's context has code() (the stubs leave it out): a status set by
    # context.abort() in the servicer is the answer, not an unexpected error.
    aborted = context.code()  # type: ignore[attr-defined]
    if aborted not in (None, grpc.StatusCode.OK):
        return aborted, None
    log.error("unexpected error", exc_info=error, extra={"method": method})
    return grpc.StatusCode.INTERNAL, (
        f"internal error in Container Maker (request id {request_id}); the server log has the "
        "details"
    )
