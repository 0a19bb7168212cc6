"""The ingress plugin against the real cluster."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec, PublishInformation, Query
from container_maker.settings import Settings
from container_maker_ingress import plugin

SIMULATED_INGRESS_ADDRESS = "203.0.113.254"


@pytest.fixture
def cm_settings() -> Settings:
    return Settings(ingress_host="apps.container-maker.test", ingress_class="simulated")


def spec(namespace: str, name: str = "web") -> ContainerSpec:
    return ContainerSpec(
        image_name="nginx:1.27",
        container_name=name,
        network_name=namespace,
        exposure_level=4,
        publish_information=(
            PublishInformation(publish_port=80, target_port=8080),
            PublishInformation(publish_port=8443, target_port=8443),
        ),
    )


@pytest.mark.simulated
def test_exposed_container_gets_an_ingress(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container = container_manager.create(spec(namespace))
    assert container.container_type == "ingress"
    networking = client.NetworkingV1Api(kube_context.api_client)
    real = networking.read_namespaced_ingress("web-ing", namespace)
    assert real.spec.ingress_class_name == "simulated"
    rule = real.spec.rules[0]
    assert rule.host == "apps.container-maker.test"
    assert [
        (p.path, p.backend.service.name, p.backend.service.port.number) for p in rule.http.paths
    ] == [
        (f"/{namespace}/web/80", "web-svc", 80),
        (f"/{namespace}/web/8443", "web-svc", 8443),
    ]
    pod = client.CoreV1Api(kube_context.api_client).read_namespaced_pod("web", namespace)
    assert real.metadata.owner_references[0].uid == pod.metadata.uid

    query = Query(namespace=namespace, container_id=container.container_id)
    deadline = time.monotonic() + 60
    while True:
        found = plugin.cm_get(kind="ingress", query=query, context=kube_context)
        assert found is not None and len(found) == 1
        if found[0].address:
            break
        assert time.monotonic() < deadline, "the simulated ingress address never came"
        time.sleep(0.5)
    assert found[0].address == SIMULATED_INGRESS_ADDRESS

    result = plugin.cm_delete(kind="ingress", objects=found, context=kube_context)
    assert result is not None and result.deleted == ("web-ing",) and result.gone
    assert plugin.cm_get(kind="ingress", query=query, context=kube_context) == ()


def test_two_containers_share_a_host_without_colliding(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container_manager.create(spec(namespace, "one"))
    container_manager.create(spec(namespace, "two"))
    found = plugin.cm_get(kind="ingress", query=Query(namespace=namespace), context=kube_context)
    assert found is not None and sorted(i.name for i in found) == ["one-ing", "two-ing"]
    networking = client.NetworkingV1Api(kube_context.api_client)
    paths = [
        p.path
        for name in ("one-ing", "two-ing")
        for p in networking.read_namespaced_ingress(name, namespace).spec.rules[0].http.paths
    ]
    assert len(paths) == len(set(paths)) == 4
