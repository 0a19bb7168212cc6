"""Hooks of the service plugin (kind "service", from exposure CLUSTER_LOCAL on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    NAME_SUFFIXES,
    ExposureLevel,
    NamespacedApi,
    ObjectStatus,
    ObservedObject,
    PortInformation,
    PublishedPort,
    Resource,
    ResourceRegistry,
    StatusCondition,
    hookimpl,
)

from .manifests import build_service

KIND = "service"


def address(svc: Any) -> str:
    """The Service's address: the load balancer's (once assigned) or the ClusterIP."""
    if svc.spec.type == "LoadBalancer":
        lb = svc.status.load_balancer if svc.status else None
        for ingress in (lb.ingress if lb else None) or []:
            if ingress.ip or ingress.hostname:
                return str(ingress.ip or ingress.hostname)
        return ""
    cluster_ip = svc.spec.cluster_ip
    return "" if cluster_ip in (None, "None") else str(cluster_ip)


def service_status(svc: Any) -> ObjectStatus:
    """Not ready while a LoadBalancer Service waits for its address (pure)."""
    if svc.spec.type != "LoadBalancer" or address(svc):
        return ObjectStatus()
    name = str(svc.metadata.name)
    return ObjectStatus(
        ready=False,
        conditions=(
            StatusCondition(
                reason="LoadBalancerPending",
                message=f"Service {name} waits for the cluster to assign its load-balancer address",
                resource_type=KIND,
                resource_name=name,
            ),
        ),
    )


def published_ports(svc: Any) -> tuple[PublishedPort, ...]:
    """Each Service port and its URL (pure): ``<protocol>://<where>:<port>``.

    A ClusterIP Service is reached in the cluster by its DNS name ``<name>.<namespace>.svc``
    (known at once, and stable, unlike the ClusterIP); a LoadBalancer Service at its
    load-balancer address, "" until the cluster assigned one.
    """
    if svc.spec.type == "LoadBalancer":
        where = address(svc)
        if ":" in where:
            where = f"[{where}]"  # an IPv6 address in a URL
    else:
        where = f"{svc.metadata.name}.{svc.metadata.namespace}.svc"
    found = []
    for p in svc.spec.ports or []:
        protocol = p.protocol or "TCP"
        target = p.target_port if isinstance(p.target_port, int) else 0
        url = f"{protocol.lower()}://{where}:{p.port}" if where else ""
        found.append(
            PublishedPort(publish_port=p.port, target_port=target, protocol=protocol, url=url)
        )
    return tuple(found)


def observe(svc: Any) -> ObservedObject:
    """Summarise a ``V1Service``."""
    return ObservedObject.from_metadata(
        svc,
        KIND,
        address=address(svc),
        phase=svc.spec.type or "",
        ports=tuple(
            PortInformation(name=p.name, container_port=p.port, protocol=p.protocol)
            for p in svc.spec.ports or []
        ),
        status=service_status(svc),
        published_ports=published_ports(svc),
    )


SERVICES = NamespacedApi.of(client.CoreV1Api, "service", observe=observe)

RESOURCE = Resource(
    kind=KIND,
    build=build_service,
    client=SERVICES,
    min_level=ExposureLevel.CLUSTER_LOCAL,
    after=("pod",),  # it selects the pod, which owns it
    parent="ingress",
    name_suffix=NAME_SUFFIXES[KIND],
    exposes=True,
)


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
