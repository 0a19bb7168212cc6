"""The Service's part of a container's status (pure): a load balancer without its address."""

from __future__ import annotations

import pytest
from kubernetes.client import (
    V1LoadBalancerIngress,
    V1LoadBalancerStatus,
    V1ObjectMeta,
    V1Service,
    V1ServicePort,
    V1ServiceSpec,
    V1ServiceStatus,
)

from container_maker_service.plugin import published_ports, service_status


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


def with_ports(svc: V1Service) -> V1Service:
    svc.spec.ports = [
        V1ServicePort(name="tcp-80", port=80, target_port=8080, protocol="TCP"),
        V1ServicePort(name="udp-53", port=53, target_port=5353, protocol="UDP"),
    ]
    return svc


@pytest.mark.parametrize(
    ("svc", "urls"),
    [
        (service("ClusterIP"), ["tcp://web-svc.ns.svc:80", "udp://web-svc.ns.svc:53"]),
        (service("LoadBalancer"), ["", ""]),  # no address yet: no URL
        (service("LoadBalancer", ip="203.0.113.9"), ["tcp://203.0.113.9:80", "udp://203.0.113.9:53"]),
        (service("LoadBalancer", ip="2001:db8::9"), ["tcp://[2001:db8::9]:80", "udp://[2001:db8::9]:53"]),
        (service("LoadBalancer", hostname="lb.example"), ["tcp://lb.example:80", "udp://lb.example:53"]),
    ],
    ids=["cluster-ip", "lb-waiting", "lb-ip", "lb-ipv6", "lb-hostname"],
)  # fmt: skip
def test_published_port_urls(svc: V1Service, urls: list[str]) -> None:
    ports = published_ports(with_ports(svc))
    assert [(p.publish_port, p.target_port, p.protocol) for p in ports] == [
        (80, 8080, "TCP"),
        (53, 5353, "UDP"),
    ]
    assert [p.url for p in ports] == urls
