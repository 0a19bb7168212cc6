"""The one error hierarchy of Container Maker.

Every error carries the gRPC status code name it should become (``code``), so the API layer maps
errors to statuses in one place without guessing. Whether retrying can help is a *type*:
subclasses of :class:`RetryableError` are transient (the Kubernetes API was unreachable, a new
namespace's default ServiceAccount does not exist yet, ...), subclasses of
:class:`PermanentError` are not.

Kubernetes ``ApiException``s never travel past the client boundary (:mod:`container_maker.kube`);
they are translated into these classes there, chained with ``raise ... from e``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class StatusCode(StrEnum):
    """gRPC status code names (the API layer maps these onto ``grpc.StatusCode``)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    ABORTED = "ABORTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INTERNAL = "INTERNAL"


class ContainerMakerError(Exception):
    """Base class: an error with a status code and a message meant for the API caller."""

    code: ClassVar[StatusCode] = StatusCode.INTERNAL
    retryable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code.value}: {self.message}"


class PermanentError(ContainerMakerError):
    """Retrying the same request will fail the same way."""

    retryable = False


class RetryableError(ContainerMakerError):
    """A transient condition: the same request may succeed later."""

    retryable = True


class InvalidArgument(PermanentError):
    """The request is malformed; ``field`` names the offending request field."""

    code = StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(PermanentError):
    """The container, namespace or object named in the request does not exist."""

    code = StatusCode.NOT_FOUND


class AlreadyExists(PermanentError):
    """An object of that name exists already (and, for containers, with a different spec)."""

    code = StatusCode.ALREADY_EXISTS


class PermissionDenied(PermanentError):
    """The Kubernetes API refused the service's credentials (RBAC or authentication)."""

    code = StatusCode.PERMISSION_DENIED


class Unauthenticated(PermanentError):
    """The caller presented no credentials the server accepts, or bad, expired or
    wrong-audience ones. The message says which kinds of credentials are accepted and nothing
    else about the server."""

    code = StatusCode.UNAUTHENTICATED


class Forbidden(PermanentError):
    """The authenticated caller may not do this (an authorizer said no, or the namespace is not
    the caller's tenant's). Unlike :class:`PermissionDenied` it is about the caller's rights,
    not the server's own."""

    code = StatusCode.PERMISSION_DENIED


class FailedPrecondition(PermanentError):
    """The system is not in a state that allows the operation (e.g. a conflicting object)."""

    code = StatusCode.FAILED_PRECONDITION


class InvalidConfiguration(FailedPrecondition):
    """The service's own configuration is unusable (e.g. an essential plugin blocked)."""


class InternalError(PermanentError):
    """A bug: a plugin broke its contract, or something unexpected happened."""

    code = StatusCode.INTERNAL


class Unavailable(RetryableError):
    """The Kubernetes API (or a component behind it) cannot serve the request right now."""

    code = StatusCode.UNAVAILABLE


class ServiceAccountNotReady(Unavailable):
    """A pod was refused because its namespace's ``default`` ServiceAccount does not exist yet.

    Happens right after a namespace is created, until the serviceaccount controller catches up.
    """


class NamespaceTerminating(Unavailable):
    """The namespace is being deleted; nothing new can be created in it until it is gone."""


class ResourceExhausted(PermanentError):
    """The request needs more than a configured limit allows (e.g. a snapshot over its size
    limit); it was refused before the limit was reached."""

    code = StatusCode.RESOURCE_EXHAUSTED


class Aborted(RetryableError):
    """The operation conflicts with another one in progress (e.g. a second save of the same
    container); retry once that one has finished."""

    code = StatusCode.ABORTED


class DeadlineExceeded(RetryableError):
    """The operation did not finish before its deadline; it was stopped (and rolled back)."""

    code = StatusCode.DEADLINE_EXCEEDED


class NotReadyInTime(DeadlineExceeded):
    """A container was created but did not become ready before the deadline; it is kept (the
    message names its id) so that the caller can wait more, get it or delete it."""


class NotReady(FailedPrecondition):
    """A container was created but cannot become ready as it is (an image that cannot be
    pulled, a crash loop); it is kept, and the message names its id and the reasons."""


class RateLimited(RetryableError):
    """The caller is over a rate limit (creates per second of its tenant): the same request
    succeeds once ``retry_after`` seconds have passed. The API layer also sends the wait as
    ``grpc-retry-pushback-ms`` trailing metadata, which gRPC clients with a retry policy
    honour."""

    code = StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


__all__ = [
    "Aborted",
    "AlreadyExists",
    "ContainerMakerError",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InternalError",
    "InvalidArgument",
    "InvalidConfiguration",
    "NamespaceTerminating",
    "NotFound",
    "NotReady",
    "NotReadyInTime",
    "PermanentError",
    "PermissionDenied",
    "RateLimited",
    "ResourceExhausted",
    "RetryableError",
    "ServiceAccountNotReady",
    "StatusCode",
    "Unavailable",
]
