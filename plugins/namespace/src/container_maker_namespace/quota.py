"""The ResourceQuota and LimitRange of every namespace Container Maker creates.

The builders are pure and read only the settings: the quota's ``hard`` is
:meth:`~container_maker.settings.Settings.quota_hard`; the LimitRange gives containers that
name no resources the default ones, and bounds every container between the least and the most
that either a user container (``min_resources``/``max_resources``) or a sidecar
(``sidecar_resources``) may have, so our own pods always fit.

Both are namespace-scoped kinds of the namespace plugin (:data:`QUOTA`, :data:`LIMIT_RANGE`),
made before the pod. The quota's create (:func:`create_quota`) then waits until the quota
controller has counted the namespace: until it has, the API server admits everything without
counting (admission enforces only what ``status.hard`` lists), so returning earlier would let
the first creates in a new namespace slip past the quota.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from kubernetes import client

from container_maker.sdk import (
    QUOTA_NAME,
    AlreadyExists,
    ContainerResources,
    KubeContext,
    Manifest,
    NamespacedApi,
    NotFound,
    ObservedObject,
    Resource,
    Settings,
    Unavailable,
    api_errors,
    managed_labels,
    parse_quantity,
    request_body,
    wait_until,
)

# Kubernetes resource name -> (request field, limit field) of ContainerResources.
_RESOURCES: dict[str, tuple[str, str]] = {
    "cpu": ("cpu_request", "cpu_limit"),
    "memory": ("memory_request", "memory_limit"),
    "ephemeral-storage": ("ephemeral_request", "ephemeral_limit"),
}

QUOTA_KIND = "resource-quota"
LIMIT_RANGE_KIND = "limit-range"

QUOTA_COUNT_TIMEOUT = 30.0
"""Seconds to wait for the quota controller to count a namespace (it takes well under one on
a healthy cluster; longer means the controller is not running)."""


def build_resource_quota(namespace: str, settings: Settings) -> dict[str, Any]:
    """The namespace's ResourceQuota, labelled as Container Maker's."""
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": managed_labels()},
        "spec": {"hard": settings.quota_hard()},
    }


def _pick(values: list[str], choose: Callable[[list[Decimal]], Decimal]) -> str | None:
    """The quantity among ``values`` (empty ones ignored) that ``choose`` (min or max) picks."""
    given = [v for v in values if v]
    if not given:
        return None
    parsed = [parse_quantity(v) for v in given]
    return given[parsed.index(choose(parsed))]


def limit_range_limits(settings: Settings) -> dict[str, dict[str, str]]:
    """The ``Container`` item of the LimitRange: ``default``, ``defaultRequest``, ``max``,
    ``min`` by Kubernetes resource name. A bound the settings leave open ("") is left out,
    and so is a minimum when the user container has none."""
    defaults: ContainerResources = settings.default_resources
    sidecar: ContainerResources = settings.sidecar_resources
    high, low = settings.max_resources, settings.min_resources
    item: dict[str, dict[str, str]] = {"default": {}, "defaultRequest": {}, "max": {}, "min": {}}
    for name, (request, limit) in _RESOURCES.items():
        if getattr(defaults, limit):
            item["default"][name] = getattr(defaults, limit)
        if getattr(defaults, request):
            item["defaultRequest"][name] = getattr(defaults, request)
        user_max = [getattr(high, request), getattr(high, limit)]
        if all(user_max):
            # max applies to requests and limits alike: the larger bound, or a sidecar's limit.
            most = _pick([*user_max, getattr(sidecar, limit)], max)
            if most is not None:
                item["max"][name] = most
        if getattr(low, request):
            least = _pick([getattr(low, request), getattr(sidecar, request)], min)
            if least is not None:
                item["min"][name] = least
    return {key: values for key, values in item.items() if values}


def build_limit_range(namespace: str, settings: Settings) -> dict[str, Any]:
    """The namespace's LimitRange (one ``Container`` item), labelled as Container Maker's."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": QUOTA_NAME, "namespace": namespace, "labels": managed_labels()},
        "spec": {"limits": [{"type": "Container", **limit_range_limits(settings)}]},
    }


def _counted(quota: Any) -> bool:
    """Whether the quota controller has counted every resource the quota limits."""
    hard = dict(quota.spec.hard or {}) if quota.spec else {}
    status = quota.status
    counted_hard = dict(status.hard or {}) if status else {}
    used = dict(status.used or {}) if status else {}
    return all(name in counted_hard and name in used for name in hard)


QUOTAS = NamespacedApi.of(
    client.CoreV1Api,
    "resource_quota",
    observe=lambda quota: ObservedObject.from_metadata(quota, QUOTA_KIND),
    watchable=False,
)
LIMIT_RANGES = NamespacedApi.of(
    client.CoreV1Api,
    "limit_range",
    observe=lambda limits: ObservedObject.from_metadata(limits, LIMIT_RANGE_KIND),
    watchable=False,
)


def create_quota(manifest: Manifest, context: KubeContext) -> ObservedObject:
    """Create the namespace's ResourceQuota unless it exists (an existing one is left as it
    is), then wait until the quota controller has counted it.

    Raises Unavailable when the quota is not counted within :data:`QUOTA_COUNT_TIMEOUT`.
    """
    core = client.CoreV1Api(context.api_client)
    namespace = manifest.body["metadata"]["namespace"]

    def read_quota() -> Any:
        with api_errors(f"reading resourcequota {QUOTA_NAME} in {namespace}"):
            return core.read_namespaced_resource_quota(
                QUOTA_NAME, namespace, _request_timeout=context.request_timeout()
            )

    try:
        quota = read_quota()
    except NotFound:
        try:
            with api_errors(f"creating resourcequota {QUOTA_NAME} in {namespace}"):
                quota = core.create_namespaced_resource_quota(
                    namespace, request_body(manifest), _request_timeout=context.request_timeout()
                )
        except AlreadyExists:  # a concurrent create in the same namespace made it
            quota = read_quota()
    if not _counted(quota) and not wait_until(
        lambda: _counted(read_quota()),
        context,
        f"resourcequota {QUOTA_NAME} in {namespace} to be counted",
        interval=0.1,
        timeout=QUOTA_COUNT_TIMEOUT,
    ):
        raise Unavailable(
            f"the ResourceQuota {QUOTA_NAME} of namespace {namespace} was not counted by the "
            f"quota controller within {QUOTA_COUNT_TIMEOUT:g}s (is kube-controller-manager's "
            "resourcequota controller running?); retry"
        )
    return ObservedObject.from_metadata(quota, QUOTA_KIND)


# Both belong to the namespace (made in a namespace Container Maker manages, once; they go with
# it) and must be there before the pod: the LimitRange fills in a container's resources, and a
# quota not counted yet admits everything.
QUOTA = Resource(
    kind=QUOTA_KIND,
    build=lambda spec, context: build_resource_quota(spec.network_name, context.settings),
    client=QUOTAS,
    create=create_quota,
    before=("pod",),
    scope="namespace",
    view=False,
    tree=False,
)
LIMIT_RANGE = Resource(
    kind=LIMIT_RANGE_KIND,
    build=lambda spec, context: build_limit_range(spec.network_name, context.settings),
    client=LIMIT_RANGES,
    before=("pod",),
    scope="namespace",
    view=False,
    tree=False,
)
