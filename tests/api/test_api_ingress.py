"""EXPOSED through the gRPC API: one host per container and port, each routed to its own
Service, the URL of every published port in create, get, list and watch, and EXPOSED refused
without a sandbox domain.

The cluster's Ingress and load-balancer addresses are simulated (KWOK stages, 203.0.113.0/24,
never connected to); no ingress controller routes by Host header here, so what is checked is
what the real API server accepted and stores: the Ingress rules a controller would follow.
"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from api_support import (
    Watcher,
    create_request,
    managed_objects,
    namespace_phase,
    rpc_error,
    running_server,
)
from kubernetes import client

from container_maker._proto import types_pb2 as pb
from container_maker.settings import LOCAL_INGRESS_DOMAIN, Settings

pytestmark = pytest.mark.simulated

PORTS = [
    pb.PublishInformation(publish_port=80, target_port=8080),
    pb.PublishInformation(publish_port=8443, target_port=8443),
    pb.PublishInformation(publish_port=53, target_port=5353, protocol="UDP"),
]


def urls(container: Any) -> list[tuple[int, int, str, str]]:
    return [(p.publish_port, p.target_port, p.protocol, p.url) for p in container.published_ports]


def rules(admin_api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str, int]]:
    """(host, Service, port) of every path of the Ingress ``name``; every path is "/" Prefix."""
    ingress = client.NetworkingV1Api(admin_api).read_namespaced_ingress(name, namespace)
    found = []
    for rule in ingress.spec.rules:
        for path in rule.http.paths:
            assert (path.path, path.path_type) == ("/", "Prefix")
            found.append((rule.host, path.backend.service.name, path.backend.service.port.number))
    return found


def get(stub: Any, namespace: str, container_id: str) -> Any:
    return stub.getContainer(
        pb.GetContainerRequest(container_id=container_id, network_name=namespace), timeout=30
    )


def test_two_exposed_containers_get_their_own_hosts_and_urls(
    stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    made = {
        name: stub.createContainer(
            create_request(namespace, name, "EXPOSED", publish_information=PORTS), timeout=90
        )
        for name in ("alpha", "beta")
    }
    hosts: dict[str, list[str]] = {}
    for name, created in made.items():
        routed = rules(admin_api, namespace, f"{name}-ing")
        # Each Ingress routes its two TCP ports, each on its own host, to its own Service only.
        assert [(service, port) for _, service, port in routed] == [
            (f"{name}-svc", 80),
            (f"{name}-svc", 8443),
        ]
        hosts[name] = [host for host, _, _ in routed]
        assert len(set(hosts[name])) == 2
        assert all(host.endswith(f".{LOCAL_INGRESS_DOMAIN}") for host in hosts[name])
        # The response tells each TCP port's URL: the host the Ingress routes for it.
        assert urls(created)[:2] == [
            (80, 8080, "TCP", f"http://{hosts[name][0]}/"),
            (8443, 8443, "TCP", f"http://{hosts[name][1]}/"),
        ]
        assert urls(created)[2][:3] == (53, 5353, "UDP")
    assert not set(hosts["alpha"]) & set(hosts["beta"])

    # The UDP port is not routed by the Ingress: it is reached at the (simulated) load
    # balancer, whose address get shows once KWOK assigned it.
    for name, created in made.items():
        watcher = Watcher(stub, namespace, created.container_id)
        container = watcher.container(lambda c: all(p.url for p in c.published_ports))
        watcher.call.cancel()
        service = client.CoreV1Api(admin_api).read_namespaced_service(f"{name}-svc", namespace)
        lb = service.status.load_balancer.ingress[0].ip
        assert lb.startswith("203.0.113.")
        expected = [*urls(created)[:2], (53, 5353, "UDP", f"udp://{lb}:53")]
        assert urls(container) == expected  # watch
        assert urls(get(stub, namespace, created.container_id)) == expected  # get
        listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
        (same,) = [c for c in listed.containers if c.container_id == created.container_id]
        assert urls(same) == expected  # list


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("INTERNAL", None),
        ("CLUSTER_LOCAL", "tcp://web-svc.{namespace}.svc:80"),
        ("CLUSTER_EXTERNAL", "tcp://{lb}:80"),
    ],
)
def test_urls_below_exposed(
    level: str, expected: str | None, stub: Any, namespace: str, admin_api: client.ApiClient
) -> None:
    created = stub.createContainer(create_request(namespace, "web", level), timeout=90)
    if expected is None:
        assert list(created.published_ports) == []  # INTERNAL publishes nothing
        return
    watcher = Watcher(stub, namespace, created.container_id)
    container = watcher.container(lambda c: all(p.url for p in c.published_ports))
    watcher.call.cancel()
    lb = ""
    if level == "CLUSTER_EXTERNAL":
        service = client.CoreV1Api(admin_api).read_namespaced_service("web-svc", namespace)
        lb = service.status.load_balancer.ingress[0].ip
    url = expected.format(namespace=namespace, lb=lb)
    assert urls(container) == [(80, 8080, "TCP", url)]
    assert urls(get(stub, namespace, created.container_id)) == [(80, 8080, "TCP", url)]


def test_exposed_without_a_domain_is_failed_precondition_and_leaves_nothing(
    admin_api: client.ApiClient, network: str
) -> None:
    with running_server(admin_api, settings=Settings()) as running:
        error = rpc_error(
            running.stub.createContainer, create_request(network, "web", "EXPOSED"), timeout=30
        )
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "--ingress-domain" in error.details()
        assert "CONTAINER_MAKER_INGRESS_DOMAIN" in error.details()
        # The namespace was never created, so nothing can be left in it.
        assert namespace_phase(admin_api, network) is None
        assert managed_objects(admin_api, network) == []
        # Below EXPOSED the same server works: only EXPOSED needs the domain.
        local = running.stub.createContainer(
            create_request(network, "web", "CLUSTER_LOCAL"), timeout=90
        )
        assert local.container_type == "service"
