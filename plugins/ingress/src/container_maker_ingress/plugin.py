"""Hooks of the ingress plugin (kind "ingress", from exposure EXPOSED on)."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    NAME_SUFFIXES,
    ContainerSpec,
    ExposureLevel,
    FailedPrecondition,
    NamespacedApi,
    ObjectStatus,
    ObservedObject,
    PublishedPort,
    Resource,
    ResourceRegistry,
    Settings,
    StatusCondition,
    hookimpl,
)

from .manifests import NO_DOMAIN, build_ingress
from .settings import IngressSettings

KIND = "ingress"


def address(ing: Any) -> str:
    """The address the ingress controller published for the Ingress ("" until then)."""
    lb = ing.status.load_balancer if ing.status else None
    for entry in (lb.ingress if lb else None) or []:
        if entry.ip or entry.hostname:
            return str(entry.ip or entry.hostname)
    return ""


def ingress_status(ing: Any) -> ObjectStatus:
    """Not ready while the Ingress has no address (pure)."""
    if address(ing):
        return ObjectStatus()
    name = str(ing.metadata.name)
    return ObjectStatus(
        ready=False,
        conditions=(
            StatusCondition(
                reason="IngressAddressPending",
                message=f"Ingress {name} has no address yet (the ingress controller publishes "
                "it once it serves the Ingress)",
                resource_type=KIND,
                resource_name=name,
            ),
        ),
    )


def published_ports(ing: Any) -> tuple[PublishedPort, ...]:
    """The URL of each Service port the Ingress routes, read from its rules (pure).

    ``https`` when a ``tls`` entry names the rule's host. A rule without a host (an Ingress
    made before hosts per port) gives no URL: its host is whatever the controller serves.
    """
    spec = ing.spec
    if spec is None:
        return ()
    secured = {host for tls in spec.tls or [] for host in tls.hosts or []}
    found: list[PublishedPort] = []
    for rule in spec.rules or []:
        for path in (rule.http.paths if rule.http else None) or []:
            service = path.backend.service if path.backend else None
            if service is None or service.port is None or service.port.number is None:
                continue
            url = ""
            if rule.host:
                scheme = "https" if rule.host in secured else "http"
                url = f"{scheme}://{rule.host}{path.path or '/'}"
            found.append(PublishedPort(publish_port=service.port.number, url=url))
    return tuple(found)


def observe(ing: Any) -> ObservedObject:
    """Summarise a ``V1Ingress``."""
    return ObservedObject.from_metadata(
        ing,
        KIND,
        address=address(ing),
        status=ingress_status(ing),
        published_ports=published_ports(ing),
    )


INGRESSES = NamespacedApi.of(client.NetworkingV1Api, "ingress", observe=observe, plural="ingresses")


RESOURCE = Resource(
    kind=KIND,
    build=build_ingress,
    client=INGRESSES,
    min_level=ExposureLevel.EXPOSED,
    after=("pod", "service"),  # it routes to the Service and is owned by the pod
    name_suffix=NAME_SUFFIXES[KIND],
    exposes=True,
)


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)


@hookimpl
def cm_settings_model() -> type[IngressSettings]:
    return IngressSettings


@hookimpl
def cm_preflight(spec: ContainerSpec, kinds: tuple[str, ...], settings: Settings) -> None:
    """EXPOSED needs the sandbox domain its hosts are made under."""
    if KIND in kinds and not settings.of(IngressSettings).ingress_domain:
        raise FailedPrecondition(NO_DOMAIN)
