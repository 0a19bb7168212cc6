"""Hooks of the namespace plugin (kind "namespace", from exposure INTERNAL on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    TENANT_KEY,
    AlreadyExists,
    BuildContext,
    ContainerSpec,
    DeadlineExceeded,
    DeleteResult,
    KubeContext,
    Manifest,
    NotFound,
    ObservedObject,
    Query,
    Resource,
    ResourceRegistry,
    api_errors,
    belongs_to,
    delete_and_wait,
    hookimpl,
    read_uid,
    refused_namespace,
    request_body,
    wait_until,
)

from .access import ensure_access
from .manifests import build_namespace
from .quota import LIMIT_RANGE, QUOTA
from .settings import NamespaceSettings

KIND = "namespace"


def observe(ns: Any) -> ObservedObject:
    """Summarise a ``V1Namespace``."""
    phase = (ns.status.phase if ns.status else None) or ""
    terminating = ns.metadata.deletion_timestamp is not None or phase == "Terminating"
    # A namespace is its own namespace (from_metadata takes its name for a cluster object).
    return ObservedObject.from_metadata(ns, KIND, phase=phase, terminating=terminating)


def _read(core: client.CoreV1Api, name: str) -> ObservedObject | None:
    try:
        with api_errors(f"reading namespace {name}"):
            return observe(core.read_namespace(name))
    except NotFound:
        return None


def build(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    return build_namespace(
        spec.network_name, context.settings.of(NamespaceSettings).pod_security_level, context.tenant
    )


def create(manifest: Manifest, context: KubeContext) -> ObservedObject:
    """Create the namespace, or use it when it exists for the same tenant; wait while it is
    terminating.

    An existing namespace is used only when it carries the tenant label of the manifest (made
    by Container Maker for that tenant, or assigned to it by an operator); any other is never
    adopted: Forbidden (PERMISSION_DENIED), whoever made it. The core checks this before the
    create too; this check closes the race with a namespace made meanwhile.

    A namespace Container Maker made then gets its ResourceQuota and LimitRange, kinds of this
    plugin that belong to the namespace (see :mod:`.quota`); so does one made by an older
    server without them, on the next create in it. A namespace an operator assigned is used as
    it is.
    """
    namespace = _create_namespace(manifest, context)
    ensure_access(namespace.name, context)  # the server's own RoleBinding there (access.py)
    return namespace


def _create_namespace(manifest: Manifest, context: KubeContext) -> ObservedObject:
    core = client.CoreV1Api(context.api_client)
    name = manifest.body["metadata"]["name"]
    while True:
        context.check_deadline(f"creating namespace {name}")
        try:
            with api_errors(f"creating namespace {name}"):
                return observe(
                    core.create_namespace(
                        request_body(manifest), _request_timeout=context.request_timeout()
                    )
                )
        except AlreadyExists:
            pass
        existing = _read(core, name)
        if existing is None:
            continue  # it vanished between our two calls: create it now
        if not existing.terminating:
            tenant = manifest.body["metadata"]["labels"][TENANT_KEY]
            if not belongs_to(existing.labels, tenant):
                raise refused_namespace(name, tenant, context.settings)
            return existing
        # A namespace being deleted accepts nothing new (whoever's it was): wait until it is
        # gone, then create our own.
        if not wait_until(
            lambda: _read(core, name) is None, context, f"namespace {name} to go", interval=0.5
        ):
            raise DeadlineExceeded(f"namespace {name} was still terminating at the deadline")


def get(query: Query, context: KubeContext) -> tuple[ObservedObject, ...]:
    """The namespace named by the query (whoever made it, whichever tenant it is labelled
    for: the core decides whether the caller may use it), or nothing."""
    found = _read(client.CoreV1Api(context.api_client), query.namespace)
    return () if found is None else (found,)


def delete(objects: tuple[ObservedObject, ...], context: KubeContext) -> DeleteResult:
    """Delete namespaces made by Container Maker (others are skipped); do not wait."""
    core = client.CoreV1Api(context.api_client)
    return delete_and_wait(
        objects,
        context,
        kind=KIND,
        delete=lambda obj, options: core.delete_namespace(obj.name, body=options),
        read=lambda obj: read_uid(lambda: core.read_namespace(obj.name)),
        # Namespace finalization takes a while; a later create waits for it if needed.
        wait=False,
    )


# The namespace is not a container's view and has no tree node: it is the container's network.
RESOURCE = Resource(
    kind=KIND, build=build, create=create, get=get, delete=delete, view=False, tree=False
)


@hookimpl
def cm_settings_model() -> type[NamespaceSettings]:
    return NamespaceSettings


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
    registry.add(QUOTA)
    registry.add(LIMIT_RANGE)
