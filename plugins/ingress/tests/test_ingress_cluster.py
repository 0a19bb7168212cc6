"""The ingress plugin against the real cluster: hosts per container and port, accepted by the
real API server's Ingress validation; the Ingress address is simulated (a KWOK stage), no
ingress controller routes anything here."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.errors import FailedPrecondition
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec, PublishInformation, Query
from container_maker.settings import Settings
from container_maker.testing import managed_objects
from container_maker_ingress import plugin
from container_maker_ingress.hosts import ingress_host

SIMULATED_INGRESS_ADDRESS = "203.0.113.254"
DOMAIN = "sandbox.container-maker.test"


@pytest.fixture
def cm_settings() -> Settings:
    return Settings(ingress_domain=DOMAIN, ingress_class="simulated")


def spec(namespace: str, name: str = "web") -> ContainerSpec:
    return ContainerSpec(
        image_name="nginx:1.27",
        container_name=name,
        network_name=namespace,
        exposure_level=4,
        publish_information=(
            PublishInformation(publish_port=80, target_port=8080),
            PublishInformation(publish_port=8443, target_port=8443),
            PublishInformation(publish_port=53, target_port=5353, protocol="UDP"),
        ),
    )


def routes(networking: client.NetworkingV1Api, name: str, namespace: str) -> list[object]:
    """(host, path, path type, Service, port) of every path of the Ingress ``name``."""
    ingress = networking.read_namespaced_ingress(name, namespace)
    return [
        (r.host, p.path, p.path_type, p.backend.service.name, p.backend.service.port.number)
        for r in ingress.spec.rules
        for p in r.http.paths
    ]


@pytest.mark.simulated
def test_exposed_container_gets_a_host_per_port(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container = container_manager.create(spec(namespace))
    assert container.container_type == "ingress"
    networking = client.NetworkingV1Api(kube_context.api_client)
    real = networking.read_namespaced_ingress("web-ing", namespace)
    assert real.spec.ingress_class_name == "simulated"
    assert real.spec.tls is None
    host_80, host_8443 = (
        ingress_host(DOMAIN, container.container_id, namespace, "web", port) for port in (80, 8443)
    )
    assert routes(networking, "web-ing", namespace) == [
        (host_80, "/", "Prefix", "web-svc", 80),
        (host_8443, "/", "Prefix", "web-svc", 8443),
    ]
    pod = client.CoreV1Api(kube_context.api_client).read_namespaced_pod("web", namespace)
    assert real.metadata.owner_references[0].uid == pod.metadata.uid
    # Each TCP port's URL is its own host; UDP goes through the load balancer (simulated
    # address, "" until KWOK assigned it).
    urls = [(p.publish_port, p.target_port, p.protocol, p.url) for p in container.published_ports]
    assert urls[:2] == [
        (80, 8080, "TCP", f"http://{host_80}/"),
        (8443, 8443, "TCP", f"http://{host_8443}/"),
    ]
    assert urls[2][:3] == (53, 5353, "UDP")

    query = Query(namespace=namespace, container_id=container.container_id)
    deadline = time.monotonic() + 60
    while True:
        found = plugin.RESOURCE.find(query, kube_context)
        assert found is not None and len(found) == 1
        if found[0].address:
            break
        assert time.monotonic() < deadline, "the simulated ingress address never came"
        time.sleep(0.5)
    assert found[0].address == SIMULATED_INGRESS_ADDRESS
    assert [p.url for p in found[0].published_ports] == [
        f"http://{host_80}/",
        f"http://{host_8443}/",
    ]

    result = plugin.RESOURCE.remove(found, kube_context)
    assert result is not None and result.deleted == ("web-ing",) and result.gone
    assert plugin.RESOURCE.find(query, kube_context) == ()


def test_two_containers_two_hosts_each_routed_to_its_own_service(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    one = container_manager.create(spec(namespace, "one"))
    two = container_manager.create(spec(namespace, "two"))
    networking = client.NetworkingV1Api(kube_context.api_client)
    one_routes = routes(networking, "one-ing", namespace)
    two_routes = routes(networking, "two-ing", namespace)
    one_hosts = {r[0] for r in one_routes}  # type: ignore[index]
    two_hosts = {r[0] for r in two_routes}  # type: ignore[index]
    assert len(one_hosts) == len(two_hosts) == 2
    assert not one_hosts & two_hosts
    assert {r[3] for r in one_routes} == {"one-svc"}  # type: ignore[index]
    assert {r[3] for r in two_routes} == {"two-svc"}  # type: ignore[index]
    # The hosts the client is told are exactly the hosts the Ingresses route.
    for container, hosts in ((one, one_hosts), (two, two_hosts)):
        told = {p.url for p in container.published_ports if p.protocol == "TCP"}
        assert told == {f"http://{host}/" for host in hosts}


def test_tls_secret_gives_a_tls_entry_and_https_urls(
    kube_api_client: client.ApiClient, cm_plugin_manager: object, namespace: str
) -> None:
    settings = Settings(ingress_domain=DOMAIN, ingress_tls_secret="wildcard-cert")
    manager = ContainerManager(kube_api_client, settings=settings, plugin_manager=cm_plugin_manager)  # type: ignore[arg-type]
    container = manager.create(spec(namespace))
    ingress = client.NetworkingV1Api(kube_api_client).read_namespaced_ingress("web-ing", namespace)
    hosts = [rule.host for rule in ingress.spec.rules]
    assert [(t.hosts, t.secret_name) for t in ingress.spec.tls] == [(hosts, "wildcard-cert")]
    got = manager.get(container.container_id, namespace)
    assert [p.url for p in got.published_ports if p.protocol == "TCP"] == [
        f"https://{host}/" for host in hosts
    ]


def test_exposed_without_a_domain_is_refused_and_leaves_nothing(
    kube_api_client: client.ApiClient, cm_plugin_manager: object, fresh_namespace_name: str
) -> None:
    manager = ContainerManager(
        kube_api_client, settings=Settings(), plugin_manager=cm_plugin_manager
    )  # type: ignore[arg-type]
    with pytest.raises(FailedPrecondition, match="--ingress-domain"):
        manager.create(spec(fresh_namespace_name))
    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespace(fresh_namespace_name)
    assert missing.value.status == 404  # not even the namespace was created
    assert managed_objects(kube_api_client, fresh_namespace_name) == []
