"""Hooks of the pod plugin (kind "pod", from exposure INTERNAL on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    NAME_KEY,
    NAME_SUFFIXES,
    SNAPSHOT_VOLUME,
    AssociatedResource,
    ContainerDetail,
    DeleteResult,
    KubeContext,
    Manifest,
    NamespacedApi,
    ObservedObject,
    PortInformation,
    Resource,
    ResourceRegistry,
    ServiceAccountNotReady,
    create_object,
    delete_objects,
    hookimpl,
    resources_from_kubernetes,
    retry,
)

from .manifests import build_pod
from .readiness import pod_status
from .settings import PodSettings

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


PODS = NamespacedApi.of(client.CoreV1Api, "pod", observe=observe)


def create(manifest: Manifest, context: KubeContext) -> ObservedObject:
    """Create the pod, retrying while the namespace's default ServiceAccount is missing."""
    meta = manifest.body["metadata"]
    return retry(
        lambda: create_object(PODS, manifest, context),
        context,
        f"creating pod {meta['name']} in {meta['namespace']}",
        retry_on=(ServiceAccountNotReady,),
    )


def delete(objects: tuple[ObservedObject, ...], context: KubeContext) -> DeleteResult:
    """Delete the pods (owned Services and Ingresses follow via the garbage collector)."""
    return delete_objects(
        PODS,
        objects,
        context,
        grace_period_seconds=context.settings.of(PodSettings).pod_grace_period_seconds,
    )


def describe(pods: tuple[ObservedObject, ...]) -> tuple[AssociatedResource, ...]:
    """Pod nodes, each with its containers as "pod_container" children."""
    return tuple(
        AssociatedResource(
            resource_name=pod.name,
            resource_type=KIND,
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


RESOURCE = Resource(
    kind=KIND,
    build=build_pod,
    client=PODS,
    create=create,
    delete=delete,
    parent="service",
    describe=describe,
    name_suffix=NAME_SUFFIXES[KIND],
    exposes=True,
)


@hookimpl
def cm_settings_model() -> type[PodSettings]:
    return PodSettings


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
