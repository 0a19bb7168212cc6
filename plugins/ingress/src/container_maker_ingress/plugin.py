"""Hooks of the ingress plugin (kind "ingress", from exposure EXPOSED on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker import hookimpl
from container_maker.context import BuildContext, KubeContext
from container_maker.identity import label_selector
from container_maker.kube import api_errors, delete_and_wait, read_uid, request_body
from container_maker.models import (
    AssociatedResource,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObservedObject,
    Query,
    ResourceKind,
)

from .manifests import build_ingress

KIND = "ingress"


def address(ing: Any) -> str:
    """The address the ingress controller published for the Ingress ("" until then)."""
    lb = ing.status.load_balancer if ing.status else None
    for entry in (lb.ingress if lb else None) or []:
        if entry.ip or entry.hostname:
            return str(entry.ip or entry.hostname)
    return ""


def observe(ing: Any) -> ObservedObject:
    """Summarise a ``V1Ingress``."""
    meta = ing.metadata
    return ObservedObject(
        kind=KIND,
        namespace=meta.namespace,
        name=meta.name,
        uid=meta.uid,
        labels=dict(meta.labels or {}),
        annotations=dict(meta.annotations or {}),
        address=address(ing),
        terminating=meta.deletion_timestamp is not None,
    )


@hookimpl
def cm_declare_kind() -> ResourceKind:
    return ResourceKind(kind=KIND, min_level=ExposureLevel.EXPOSED)


@hookimpl
def cm_build(kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
    if kind != KIND:
        return None
    return Manifest(kind=KIND, body=build_ingress(spec, context))


@hookimpl
def cm_create(kind: str, manifest: Manifest, context: KubeContext) -> ObservedObject | None:
    if kind != KIND:
        return None
    api = client.NetworkingV1Api(context.api_client)
    meta = manifest.body["metadata"]
    with api_errors(f"creating ingress {meta['name']} in {meta['namespace']}"):
        return observe(
            api.create_namespaced_ingress(
                meta["namespace"],
                request_body(manifest),
                _request_timeout=context.request_timeout(),
            )
        )


@hookimpl
def cm_get(kind: str, query: Query, context: KubeContext) -> tuple[ObservedObject, ...] | None:
    """Managed Ingresses matching the query: one list call."""
    if kind != KIND:
        return None
    api = client.NetworkingV1Api(context.api_client)
    with api_errors(f"listing ingresses in {query.namespace}"):
        found = api.list_namespaced_ingress(
            query.namespace,
            label_selector=label_selector(query.container_id, query.container_name),
            _request_timeout=context.request_timeout(),
        )
    return tuple(observe(i) for i in found.items)


@hookimpl
def cm_delete(
    kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
) -> DeleteResult | None:
    if kind != KIND:
        return None
    api = client.NetworkingV1Api(context.api_client)
    return delete_and_wait(
        objects,
        context,
        kind=KIND,
        delete=lambda obj, options: api.delete_namespaced_ingress(
            obj.name, obj.namespace, body=options
        ),
        read=lambda obj: read_uid(lambda: api.read_namespaced_ingress(obj.name, obj.namespace)),
    )


@hookimpl
def cm_describe_associations(
    container_id: str, objects: dict[str, tuple[ObservedObject, ...]]
) -> tuple[AssociatedResource, ...] | None:
    ingresses = objects.get(KIND, ())
    if not ingresses:
        return None
    return tuple(
        AssociatedResource(resource_name=i.name, resource_type="ingress") for i in ingresses
    )
