"""The error hierarchy and the translation of Kubernetes API errors (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from container_maker import errors
from container_maker.errors import ContainerMakerError, StatusCode
from container_maker.kube import api_errors, translate_api_exception


def api_exception(status: int, reason: str, message: str, **details: Any) -> ApiException:
    """An ApiException carrying a Status body shaped like the API server's."""
    exc = ApiException(status=status, reason=reason)
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": status,
    }
    if details:
        body["details"] = details
    exc.body = json.dumps(body).encode()
    return exc


CASES = [
    ("not found", api_exception(404, "NotFound", 'pods "web" not found'), errors.NotFound),
    (
        "already exists",
        api_exception(409, "AlreadyExists", 'pods "web" already exists'),
        errors.AlreadyExists,
    ),
    (
        "uid precondition",
        api_exception(409, "Conflict", "Precondition failed: UID in precondition: x"),
        errors.FailedPrecondition,
    ),
    (
        "default service account missing",
        api_exception(
            403,
            "Forbidden",
            'pods "web" is forbidden: error looking up service account ns/default: '
            'serviceaccount "default" not found',
        ),
        errors.ServiceAccountNotReady,
    ),
    (
        "namespace terminating",
        api_exception(
            403,
            "Forbidden",
            'pods "web" is forbidden: unable to create new content in namespace ns because it '
            "is being terminated",
            causes=[{"reason": "NamespaceTerminating", "message": "namespace ns is terminating"}],
        ),
        errors.NamespaceTerminating,
    ),
    (
        "rbac",
        api_exception(403, "Forbidden", 'pods is forbidden: User "x" cannot create resource'),
        errors.PermissionDenied,
    ),
    (
        "unauthenticated",
        api_exception(401, "Unauthorized", "Unauthorized"),
        errors.PermissionDenied,
    ),
    (
        "invalid",
        api_exception(
            422,
            "Invalid",
            'Service "x" is invalid: spec.ports[0].nodePort: Invalid value: 80',
            causes=[{"field": "spec.ports[0].nodePort", "reason": "FieldValueInvalid"}],
        ),
        errors.InvalidArgument,
    ),
    ("throttled", api_exception(429, "TooManyRequests", "slow down"), errors.Unavailable),
    ("server error", api_exception(500, "InternalError", "etcd"), errors.Unavailable),
    ("unavailable", api_exception(503, "ServiceUnavailable", "starting"), errors.Unavailable),
    ("teapot", api_exception(418, "Teapot", "?"), errors.InternalError),
    (
        "quota exceeded",
        api_exception(403, "Forbidden", 'pods "c" is forbidden: ' + "exceeded quota: q1, "),
        errors.PermissionDenied,  # not the admission plugin's full sentence: not a quota refusal
    ),
    (
        "quota not counted yet",
        api_exception(
            403, "Forbidden", 'pods "c" is forbidden: status unknown for quota: q1, resources: pods'
        ),
        errors.Unavailable,
    ),
    (
        "limit range",
        api_exception(
            403,
            "Forbidden",
            'pods "c" is forbidden: maximum cpu usage per Container is 4, but limit is 8',
        ),
        errors.InvalidArgument,
    ),
]

QUOTA_REFUSAL = (
    'pods "c" is forbidden: exceeded quota: container-maker, requested: '
    "count/pods=1,limits.cpu=1400m, used: count/pods=2,limits.cpu=2800m, "
    "limited: count/pods=2,limits.cpu=32"
)


def test_exceeded_quota_is_resource_exhausted_naming_the_quota() -> None:
    translated = translate_api_exception(
        api_exception(403, "Forbidden", QUOTA_REFUSAL), "creating pod c in ns1"
    )
    assert type(translated) is errors.ResourceExhausted
    assert translated.code is StatusCode.RESOURCE_EXHAUSTED
    assert translated.message == (
        "creating pod c in ns1: the namespace's ResourceQuota container-maker is used up: "
        "requested count/pods=1,limits.cpu=1400m, used count/pods=2,limits.cpu=2800m, limited "
        "to count/pods=2,limits.cpu=32; delete a container in that namespace or ask the "
        "operator to raise the quota"
    )


@pytest.mark.parametrize(("exc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translation(exc: ApiException, expected: type[ContainerMakerError]) -> None:
    translated = translate_api_exception(exc, "doing it")
    assert type(translated) is expected
    assert str(translated).startswith(expected.code.value)
    assert "doing it" in translated.message


def test_invalid_names_the_field_from_the_causes() -> None:
    translated = translate_api_exception(CASES[7][1], "creating")
    assert isinstance(translated, errors.InvalidArgument)
    assert translated.field == "spec.ports[0].nodePort"


def test_api_errors_chains_the_original() -> None:
    original = api_exception(404, "NotFound", "gone")
    with pytest.raises(errors.NotFound) as info, api_errors("reading"):
        raise original
    assert info.value.__cause__ is original


def test_connection_failure_is_unavailable() -> None:
    with pytest.raises(errors.Unavailable), api_errors("listing"):
        raise MaxRetryError(None, "/api", reason=ConnectionRefusedError())  # type: ignore[arg-type]


RETRYABLE = {errors.Unavailable, errors.ServiceAccountNotReady, errors.NamespaceTerminating}
RETRYABLE.add(errors.DeadlineExceeded)
# Retrying a create that waited (the same spec finds the kept container) may see it ready.
RETRYABLE.add(errors.NotReadyInTime)
# A second save of one container is refused while the first runs; afterwards it may pass.
RETRYABLE.add(errors.Aborted)
# A create over its tenant's rate succeeds once the wait it names has passed.
RETRYABLE.add(errors.RateLimited)


def _all_error_classes() -> list[type[ContainerMakerError]]:
    found = []
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, ContainerMakerError):
            found.append(value)
    return found


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_carries_a_code_and_retryability_as_type(
    cls: type[ContainerMakerError],
) -> None:
    assert isinstance(cls.code, StatusCode)
    if cls in (errors.ContainerMakerError, errors.PermanentError, errors.RetryableError):
        return
    assert issubclass(cls, errors.RetryableError) == (cls in RETRYABLE)
    assert issubclass(cls, errors.PermanentError) == (cls not in RETRYABLE)
    assert cls.retryable == (cls in RETRYABLE)


def test_invalid_argument_names_the_field() -> None:
    error = errors.InvalidArgument("publish_information[0].node_port", "out of range")
    assert error.field == "publish_information[0].node_port"
    assert str(error) == "INVALID_ARGUMENT: publish_information[0].node_port: out of range"


def test_retry_retries_only_retryable_types_until_it_succeeds() -> None:
    import time as _time

    from kubernetes.client import ApiClient

    from container_maker.context import KubeContext
    from container_maker.kube import retry
    from container_maker.settings import Settings

    ctx = KubeContext(api_client=ApiClient(), settings=Settings(), deadline=_time.monotonic() + 5)
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise errors.ServiceAccountNotReady("not yet")
        return "created"

    assert retry(flaky, ctx, "x", retry_on=(errors.ServiceAccountNotReady,), first_delay=0.01) == (
        "created"
    )
    assert len(attempts) == 3

    def permanent() -> str:
        raise errors.PermissionDenied("no")

    with pytest.raises(errors.PermissionDenied):
        retry(permanent, ctx, "x", retry_on=(errors.ServiceAccountNotReady,))

    short = ctx.model_copy(update={"deadline": _time.monotonic() + 0.05})

    def never() -> str:
        raise errors.ServiceAccountNotReady("never")

    with pytest.raises(errors.DeadlineExceeded) as info:
        retry(never, short, "x", retry_on=(errors.ServiceAccountNotReady,), first_delay=0.01)
    assert isinstance(info.value.__cause__, errors.ServiceAccountNotReady)
