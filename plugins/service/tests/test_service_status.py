"""The Service's part of a container's status (pure): a load balancer without its address."""

from __future__ import annotations

import pytest
from kubernetes.client import (
    V1LoadBalancerIngress,
    V1LoadBalancerStatus,
    V1ObjectMeta,
    V1Service,
    V1ServiceSpec,
    V1ServiceStatus,
)

from container_maker_service.plugin import service_status


def service(kind: str, ip: str | None = None, hostname: str | None = None) -> V1Service:
    ingress = [V1LoadBalancerIngress(ip=ip, hostname=hostname)] if ip or hostname else None
    return V1Service(
        metadata=V1ObjectMeta(name="web-svc", namespace="ns"),
        spec=V1ServiceSpec(type=kind, cluster_ip="10.0.0.7"),
        status=V1ServiceStatus(load_balancer=V1LoadBalancerStatus(ingress=ingress)),
    )


@pytest.mark.parametrize(
    ("svc", "ready", "reasons"),
    [
        (service("ClusterIP"), True, []),
        (service("LoadBalancer"), False, ["LoadBalancerPending"]),
        (service("LoadBalancer", ip="203.0.113.9"), True, []),
        (service("LoadBalancer", hostname="lb.example"), True, []),
    ],
    ids=["cluster-ip", "lb-waiting", "lb-ip", "lb-hostname"],
)
def test_service_status(svc: V1Service, ready: bool, reasons: list[str]) -> None:
    status = service_status(svc)
    assert status.ready is ready
    assert status.phase is None  # only the pod decides the phase
    assert [c.reason for c in status.conditions] == reasons
    for condition in status.conditions:
        assert (condition.resource_type, condition.resource_name) == ("service", "web-svc")
        assert "load-balancer address" in condition.message
