"""The Kubernetes client boundary: error translation, retries, waiting, each resource type's calls.

Plugins call the official ``kubernetes`` client inside :func:`api_errors`, which turns every
``ApiException`` (and connection failure) into the Container Maker error hierarchy, chained with
``raise ... from e``. Nothing past this module ever sees an ``ApiException``.

A plugin whose kind is a namespaced Kubernetes resource type describes the client's calls for it
once, as a :class:`NamespacedApi` (:meth:`NamespacedApi.of`), and gives it to its
:class:`~container_maker.resources.Resource`, whose default create, get and delete are
:func:`create_object`, :func:`list_objects` and :func:`delete_objects`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kubernetes.client import ApiClient, V1DeleteOptions, V1Preconditions
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from .context import KubeContext
from .errors import (
    AlreadyExists,
    ContainerMakerError,
    DeadlineExceeded,
    FailedPrecondition,
    InternalError,
    InvalidArgument,
    NamespaceTerminating,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    RetryableError,
    ServiceAccountNotReady,
    Unavailable,
)
from .identity import is_managed, label_selector
from .models import DeleteResult, Manifest, ObservedObject, Query

log = logging.getLogger(__name__)

T = TypeVar("T")
Api = TypeVar("Api")
Api_contra = TypeVar("Api_contra", contravariant=True)


def _status_body(exc: ApiException) -> dict[str, Any]:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


# The ResourceQuota admission plugin's refusal; the lists hold "name=quantity" items joined by
# "," (no spaces), so ", used: " and ", limited: " separate them unambiguously.
_EXCEEDED_QUOTA = re.compile(
    r"exceeded quota: (?P<name>[^,]+), requested: (?P<requested>.*?), "
    r"used: (?P<used>.*?), limited: (?P<limited>.*)$"
)
# The LimitRanger admission plugin's refusal ("maximum cpu usage per Container is 4, but
# limit is 8").
_LIMIT_RANGE = re.compile(r"(?:maximum|minimum) \S+ usage per (?:Container|Pod) is")


def _admission_refusal(message: str, what: str) -> ContainerMakerError | None:
    """The error for a 403 from quota or limit admission, None for any other 403."""
    quota = _EXCEEDED_QUOTA.search(message)
    if quota is not None:
        return ResourceExhausted(
            f"{what}: the namespace's ResourceQuota {quota['name']} is used up: requested "
            f"{quota['requested']}, used {quota['used']}, limited to {quota['limited']}; "
            "delete a container in that namespace or ask the operator to raise the quota"
        )
    if "status unknown for quota" in message:
        # The quota controller has not counted the namespace's usage yet (a new quota).
        return Unavailable(f"{what}: the namespace's quota is not counted yet, retry: {message}")
    if "failed quota:" in message:
        return FailedPrecondition(f"{what}: the namespace's ResourceQuota refused it: {message}")
    if _LIMIT_RANGE.search(message):
        return InvalidArgument(
            "resource_requirements", f"{what}: outside the namespace's LimitRange: {message}"
        )
    return None


def translate_api_exception(exc: ApiException, what: str) -> ContainerMakerError:
    """The Container Maker error for a Kubernetes API error met while doing ``what``."""
    status = _status_body(exc)
    message = str(status.get("message") or exc.reason or "").strip()
    reason = str(status.get("reason") or "")
    details = status.get("details") if isinstance(status.get("details"), dict) else {}
    causes = [c for c in (details or {}).get("causes", []) if isinstance(c, dict)]
    text = f"{what}: {message}" if message else what
    code = exc.status or 0

    if code == 404:
        return NotFound(text)
    if code == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(text)
        # A failed precondition (uid or resourceVersion) or a concurrent update.
        return FailedPrecondition(text)
    if code == 403:
        if any(c.get("reason") == "NamespaceTerminating" for c in causes) or (
            "being terminated" in message
        ):
            return NamespaceTerminating(text)
        if "serviceaccount" in message and "not found" in message:
            return ServiceAccountNotReady(text)
        refusal = _admission_refusal(message, what)
        if refusal is not None:
            return refusal
        return PermissionDenied(text)
    if code == 401:
        return PermissionDenied(text)
    if code in (400, 422):
        field = next((str(c["field"]) for c in causes if c.get("field")), "manifest")
        return InvalidArgument(field, text)
    if code == 429 or code >= 500 or code == 0:
        return Unavailable(text)
    return InternalError(f"{text} (HTTP {code})")


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Translate Kubernetes client failures raised inside the block.

    ``what`` describes the action for the error message ("creating pod web in ns1").
    """
    try:
        yield
    except ApiException as e:
        raise translate_api_exception(e, what) from e
    except HTTPError as e:
        raise Unavailable(f"{what}: Kubernetes API unreachable: {e}") from e


def retry(
    action: Callable[[], T],
    ctx: KubeContext,
    what: str,
    *,
    retry_on: tuple[type[RetryableError], ...],
    first_delay: float = 0.1,
    max_delay: float = 2.0,
) -> T:
    """Run ``action`` until it does not raise one of ``retry_on`` or the deadline passes.

    Only retryable error types can be retried (a permanent error is raised at once). When the
    deadline passes, the last error is raised as DeadlineExceeded chained to it.
    """
    delay = first_delay
    while True:
        try:
            return action()
        except retry_on as e:
            if ctx.remaining() <= delay:
                raise DeadlineExceeded(f"{what}: gave up at the deadline: {e.message}") from e
            log.info("retrying %s in %.2fs after: %s", what, delay, e.message)
            time.sleep(delay)
            delay = min(max_delay, delay * 2)


def wait_until(
    condition: Callable[[], bool],
    ctx: KubeContext,
    what: str,
    *,
    interval: float = 0.2,
    timeout: float | None = None,
) -> bool:
    """Poll ``condition`` until true; False if ``timeout`` (or the deadline) passes first."""
    limit = ctx.remaining() if timeout is None else min(timeout, ctx.remaining())
    end = time.monotonic() + limit
    while True:
        if condition():
            return True
        if time.monotonic() + interval > end:
            log.info("stopped waiting for %s after %.1fs", what, limit)
            return False
        time.sleep(interval)


def delete_and_wait(
    objects: tuple[ObservedObject, ...],
    ctx: KubeContext,
    *,
    kind: str,
    delete: Callable[[ObservedObject, V1DeleteOptions], object],
    read: Callable[[ObservedObject], str | None],
    grace_period_seconds: int | None = None,
    wait: bool = True,
) -> DeleteResult:
    """Delete managed ``objects`` precisely and wait (bounded) for them to disappear.

    ``delete(obj, options)`` issues the API call; ``read(obj)`` returns the uid of the object
    now named like ``obj`` (None when there is none). Unmanaged objects are skipped, never
    touched. The uid precondition makes sure a new object that took the name is left alone.
    Waiting stops at ``settings.delete_wait_timeout`` or the deadline; what remains is then left
    to Kubernetes (``gone=False``).
    """
    deleted: list[ObservedObject] = []
    skipped: list[str] = []
    details: list[str] = []
    for obj in objects:
        if not is_managed(obj.labels):
            skipped.append(obj.name)
            details.append(f"{obj.name}: not managed by container-maker")
            continue
        options = V1DeleteOptions(
            preconditions=V1Preconditions(uid=obj.uid),
            propagation_policy="Background",
            grace_period_seconds=grace_period_seconds,
        )
        try:
            with api_errors(f"deleting {kind} {obj.name} in {obj.namespace}"):
                delete(obj, options)
        except NotFound:
            pass  # already gone: the result the caller wants
        except FailedPrecondition:
            skipped.append(obj.name)
            details.append(f"{obj.name}: replaced by another object of the same name")
            continue
        deleted.append(obj)

    def all_gone() -> bool:
        remaining = []
        for obj in deleted:
            with api_errors(f"reading {kind} {obj.name} in {obj.namespace}"):
                uid = read(obj)
            if uid == obj.uid:
                remaining.append(obj)
        deleted_pending[:] = remaining
        return not remaining

    deleted_pending = list(deleted)
    if not deleted:
        gone = True
    elif wait:
        gone = wait_until(
            all_gone, ctx, f"{kind} deletion", timeout=ctx.settings.delete_wait_timeout
        )
    else:
        gone = False  # accepted, not verified
    if not gone:
        details.append("still terminating: " + ", ".join(o.name for o in deleted_pending))
    return DeleteResult(
        kind=kind,
        deleted=tuple(o.name for o in deleted),
        skipped=tuple(skipped),
        gone=gone,
        detail="; ".join(details),
    )


def read_uid(read: Callable[[], Any]) -> str | None:
    """The uid of the object ``read()`` returns, or None when it does not exist (404)."""
    try:
        obj = read()
    except ApiException as e:
        if e.status == 404:
            return None
        raise
    uid = obj.metadata.uid
    return str(uid) if uid else None


def request_body(manifest: Manifest) -> Any:
    """A manifest as a request body for the official client.

    The client serialises plain dicts as they are; its signatures name only its own model
    classes (V1Pod, ...), hence the ``Any``.
    """
    return manifest.to_body()


# The shapes of the generated client's methods for a namespaced resource type, taken unbound
# (the API object comes first), e.g. ``client.CoreV1Api.create_namespaced_pod``. Parameters are
# positional-only because the generated methods call their first one ``self``.


class CreateCall(Protocol[Api_contra]):
    """``create_namespaced_X(api, namespace, body, _request_timeout=...)``."""

    def __call__(
        self, api: Api_contra, namespace: str, body: Any, /, *, _request_timeout: float
    ) -> Any: ...


class ListCall(Protocol[Api_contra]):
    """``list_namespaced_X(api, namespace, label_selector=..., _request_timeout=...)``."""

    def __call__(
        self, api: Api_contra, namespace: str, /, *, label_selector: str, _request_timeout: float
    ) -> Any: ...


class ListAllCall(Protocol[Api_contra]):
    """``list_X_for_all_namespaces(api, label_selector=..., _request_timeout=...)``.

    The watch hub also calls it with ``watch=True`` and a ``resource_version`` (through the
    client's ``Watch``).
    """

    def __call__(
        self, api: Api_contra, /, *, label_selector: str, _request_timeout: float
    ) -> Any: ...


class ReadCall(Protocol[Api_contra]):
    """``read_namespaced_X(api, name, namespace)``."""

    def __call__(self, api: Api_contra, name: str, namespace: str, /) -> Any: ...


class DeleteCall(Protocol[Api_contra]):
    """``delete_namespaced_X(api, name, namespace, body=V1DeleteOptions)``."""

    def __call__(
        self, api: Api_contra, name: str, namespace: str, /, *, body: V1DeleteOptions
    ) -> Any: ...


@dataclass(frozen=True)
class NamespacedApi(Generic[Api]):
    """How the official client creates, lists, reads and deletes one namespaced Kubernetes
    resource type (the API of a :class:`~container_maker.resources.Resource`'s objects; "kind"
    is the Container Maker kind of a Resource, never this).

    - ``name``: what its objects are called in results and error messages ("pod").
    - ``plural``: the same for several objects ("pods").
    - ``api``: the generated API class serving the kind (``client.CoreV1Api``).
    - ``create``, ``list``, ``read``, ``delete``: that class's methods for the kind, unbound
      (``client.CoreV1Api.create_namespaced_pod``, ...); mypy checks they belong to ``api``.
    - ``observe``: summarises an object the client returned as an :class:`ObservedObject`.
    - ``list_all``: the class's list-in-all-namespaces method for the kind
      (``client.CoreV1Api.list_pod_for_all_namespaces``), which the watch hub lists and watches
      with; None when the kind cannot be watched.
    """

    name: str
    plural: str
    api: Callable[[ApiClient], Api]
    create: CreateCall[Api]
    list: ListCall[Api]
    read: ReadCall[Api]
    delete: DeleteCall[Api]
    observe: Callable[[Any], ObservedObject]
    list_all: ListAllCall[Api] | None = None

    @classmethod
    def of(
        cls,
        api: Callable[[ApiClient], Api],
        resource: str,
        *,
        observe: Callable[[Any], ObservedObject],
        name: str | None = None,
        plural: str | None = None,
        watchable: bool = True,
    ) -> NamespacedApi[Api]:
        """The calls of the generated ``api`` class for the namespaced ``resource``, by the
        client's naming (``NamespacedApi.of(client.PolicyV1Api, "pod_disruption_budget",
        observe=...)`` takes ``create_namespaced_pod_disruption_budget``, ...).

        ``name`` (default: ``resource`` without underscores) names the kind in messages,
        ``plural`` (default: ``name`` + "s") several objects; with ``watchable`` the class's
        ``list_<resource>_for_all_namespaces`` is the watch hub's ``list_all``. A call the class
        lacks is a TypeError here, at import, not a failure on first use.
        """

        def call(method: str) -> Any:
            found = getattr(api, method, None)
            if not callable(found):
                raise TypeError(f"{getattr(api, '__name__', api)!r} has no method {method}")
            return found

        label = name or resource.replace("_", "")
        return cls(
            name=label,
            plural=plural or f"{label}s",
            api=api,
            create=call(f"create_namespaced_{resource}"),
            list=call(f"list_namespaced_{resource}"),
            read=call(f"read_namespaced_{resource}"),
            delete=call(f"delete_namespaced_{resource}"),
            observe=observe,
            list_all=call(f"list_{resource}_for_all_namespaces") if watchable else None,
        )


def create_object(
    kind: NamespacedApi[Api], manifest: Manifest, context: KubeContext
) -> ObservedObject:
    """Create ``manifest`` in the namespace its metadata names (one API call); the new object.

    Errors are translated by :func:`api_errors` ("creating pod web in ns1: ...").
    """
    meta = manifest.body["metadata"]
    api = kind.api(context.api_client)
    with api_errors(f"creating {kind.name} {meta['name']} in {meta['namespace']}"):
        return kind.observe(
            kind.create(
                api,
                meta["namespace"],
                request_body(manifest),
                _request_timeout=context.request_timeout(),
            )
        )


def list_objects(
    kind: NamespacedApi[Api], query: Query, context: KubeContext
) -> tuple[ObservedObject, ...]:
    """The managed objects of ``kind`` matching ``query``: one list call with its label selector."""
    api = kind.api(context.api_client)
    with api_errors(f"listing {kind.plural} in {query.namespace}"):
        found = kind.list(
            api,
            query.namespace,
            label_selector=label_selector(query.container_id, query.container_name),
            _request_timeout=context.request_timeout(),
        )
    return tuple(kind.observe(o) for o in found.items)


def delete_objects(
    kind: NamespacedApi[Api],
    objects: tuple[ObservedObject, ...],
    context: KubeContext,
    *,
    grace_period_seconds: int | None = None,
) -> DeleteResult:
    """:func:`delete_and_wait` with the client's delete and read calls for ``kind``."""
    api = kind.api(context.api_client)
    return delete_and_wait(
        objects,
        context,
        kind=kind.name,
        delete=lambda obj, options: kind.delete(api, obj.name, obj.namespace, body=options),
        read=lambda obj: read_uid(lambda: kind.read(api, obj.name, obj.namespace)),
        grace_period_seconds=grace_period_seconds,
    )
