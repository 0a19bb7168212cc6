"""The Ingress's part of a container's status (pure): an Ingress without an address."""

from __future__ import annotations

from kubernetes.client import (
    V1Ingress,
    V1IngressLoadBalancerIngress,
    V1IngressLoadBalancerStatus,
    V1IngressStatus,
    V1ObjectMeta,
)

from container_maker_ingress.plugin import ingress_status


def ingress(ip: str | None = None) -> V1Ingress:
    entries = [V1IngressLoadBalancerIngress(ip=ip)] if ip else None
    return V1Ingress(
        metadata=V1ObjectMeta(name="web-ing", namespace="ns"),
        status=V1IngressStatus(load_balancer=V1IngressLoadBalancerStatus(ingress=entries)),
    )


def test_an_ingress_without_address_is_not_ready() -> None:
    status = ingress_status(ingress())
    assert status.ready is False
    ((reason, kind, name),) = [
        (c.reason, c.resource_type, c.resource_name) for c in status.conditions
    ]
    assert (reason, kind, name) == ("IngressAddressPending", "ingress", "web-ing")


def test_an_ingress_with_an_address_is_ready() -> None:
    status = ingress_status(ingress("203.0.113.20"))
    assert (status.ready, status.conditions, status.phase) == (True, (), None)


def test_an_ingress_without_any_status_is_not_ready() -> None:
    bare = V1Ingress(metadata=V1ObjectMeta(name="web-ing"))
    assert ingress_status(bare).ready is False
