"""Hooks of the pod plugin (kind "pod", from exposure INTERNAL on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker import hookimpl
from container_maker.context import BuildContext, KubeContext
from container_maker.errors import ServiceAccountNotReady
from container_maker.identity import NAME_KEY, SNAPSHOT_VOLUME
from container_maker.kube import NamespacedKind, create_object, delete_objects, list_objects, retry
from container_maker.manifests import resources_from_kubernetes
from container_maker.models import (
    AssociatedResource,
    ContainerDetail,
    ContainerSpec,
    DeleteResult,
    ExposureLevel,
    Manifest,
    ObservedObject,
    PortInformation,
    Query,
    ResourceKind,
)

from .manifests import build_pod
from .status import pod_status

KIND = "pod"


def observe(pod: Any) -> ObservedObject:
    """Summarise a ``V1Pod``: its IP, phase, containers, the user container's ports, status."""
    meta = pod.metadata
    labels = dict(meta.labels or {})
    user_name = labels.get(NAME_KEY, meta.name)
    snapshot_limit = ""
    for volume in pod.spec.volumes or []:
        if volume.name == SNAPSHOT_VOLUME and volume.empty_dir is not None:
            snapshot_limit = str(volume.empty_dir.size_limit or "")
    details: list[ContainerDetail] = []
    user_ports: tuple[PortInformation, ...] = ()
    for c in pod.spec.containers:
        is_user = c.name == user_name
        ports = tuple(
            PortInformation(name=p.name, container_port=p.container_port, protocol=p.protocol)
            for p in c.ports or []
        )
        if is_user:
            user_ports = ports
        details.append(
            ContainerDetail(
                name=c.name,
                image=c.image,
                role="user" if is_user else "sidecar",
                resources=resources_from_kubernetes(
                    c.resources.requests if c.resources else None,
                    c.resources.limits if c.resources else None,
                    snapshot_limit if is_user else "",
                ),
                ports=ports,
            )
        )
    return ObservedObject.from_metadata(
        pod,
        KIND,
        address=(pod.status.pod_ip if pod.status else None) or "",
        phase=(pod.status.phase if pod.status else None) or "",
        ports=user_ports,
        containers=tuple(details),
        status=pod_status(pod, user_name),
    )


PODS = NamespacedKind.of(client.CoreV1Api, "pod", observe=observe)


@hookimpl
def cm_watch_source(kind: str) -> NamespacedKind[client.CoreV1Api] | None:
    """The pods are listed and watched in all namespaces by the watch hub."""
    return PODS if kind == KIND else None


@hookimpl
def cm_declare_kind() -> ResourceKind:
    return ResourceKind(kind=KIND, min_level=ExposureLevel.INTERNAL)


@hookimpl
def cm_build(kind: str, spec: ContainerSpec, context: BuildContext) -> Manifest | None:
    if kind != KIND:
        return None
    return Manifest(kind=KIND, body=build_pod(spec, context))


@hookimpl
def cm_create(kind: str, manifest: Manifest, context: KubeContext) -> ObservedObject | None:
    """Create the pod, retrying while the namespace's default ServiceAccount is missing."""
    if kind != KIND:
        return None
    meta = manifest.body["metadata"]
    return retry(
        lambda: create_object(PODS, manifest, context),
        context,
        f"creating pod {meta['name']} in {meta['namespace']}",
        retry_on=(ServiceAccountNotReady,),
    )


@hookimpl
def cm_get(kind: str, query: Query, context: KubeContext) -> tuple[ObservedObject, ...] | None:
    """Managed pods matching the query: one list call."""
    if kind != KIND:
        return None
    return list_objects(PODS, query, context)


@hookimpl
def cm_delete(
    kind: str, objects: tuple[ObservedObject, ...], context: KubeContext
) -> DeleteResult | None:
    """Delete the pods (owned Services and Ingresses follow via the garbage collector)."""
    if kind != KIND:
        return None
    return delete_objects(
        PODS, objects, context, grace_period_seconds=context.settings.pod_grace_period_seconds
    )


@hookimpl
def cm_describe_associations(
    container_id: str, objects: dict[str, tuple[ObservedObject, ...]]
) -> tuple[AssociatedResource, ...] | None:
    """Pod nodes, each with its containers as "pod_container" children."""
    pods = objects.get(KIND, ())
    if not pods:
        return None
    return tuple(
        AssociatedResource(
            resource_name=pod.name,
            resource_type="pod",
            associated_resources=tuple(
                AssociatedResource(
                    resource_name=c.name,
                    resource_type="pod_container",
                    container_resources=c.resources,
                )
                for c in pod.containers
            ),
        )
        for pod in pods
    )
