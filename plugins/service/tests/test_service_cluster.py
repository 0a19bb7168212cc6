"""The service plugin against the real cluster."""

from __future__ import annotations

import ipaddress
import time

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.manager import ContainerManager
from container_maker.models import (
    ContainerSpec,
    ExposureLevel,
    ObservedObject,
    PublishInformation,
    Query,
)
from container_maker.settings import Settings
from container_maker.testing import eventually
from container_maker_service import plugin

SIMULATED_LB_RANGE = ipaddress.ip_network("203.0.113.0/24")


def spec(namespace: str, level: ExposureLevel, node_port: int | None = None) -> ContainerSpec:
    return ContainerSpec(
        image_name="nginx:1.27",
        container_name="web",
        network_name=namespace,
        exposure_level=int(level),
        publish_information=(
            PublishInformation(publish_port=80, target_port=8080, node_port=node_port),
        ),
    )


def test_cluster_ip_service(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container = container_manager.create(spec(namespace, ExposureLevel.CLUSTER_LOCAL))
    query = Query(namespace=namespace, container_id=container.container_id)
    found = plugin.RESOURCE.find(query, kube_context)
    assert found is not None
    (service,) = found
    real = client.CoreV1Api(kube_context.api_client).read_namespaced_service("web-svc", namespace)
    assert real.spec.type == "ClusterIP"
    assert service.address == real.spec.cluster_ip
    assert container.container_ip == real.spec.cluster_ip
    pod = client.CoreV1Api(kube_context.api_client).read_namespaced_pod("web", namespace)
    assert [(o.kind, o.uid) for o in real.metadata.owner_references] == [("Pod", pod.metadata.uid)]
    assert real.spec.selector["container-maker.io/id"] == container.container_id


@pytest.mark.simulated
@pytest.mark.parametrize("cm_settings", [Settings(allow_node_ports=True)])
def test_load_balancer_service_gets_its_simulated_address(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container = container_manager.create(spec(namespace, ExposureLevel.CLUSTER_EXTERNAL, 30123))
    query = Query(namespace=namespace, container_id=container.container_id)

    def fetch() -> ObservedObject:
        found = plugin.RESOURCE.find(query, kube_context)
        assert found is not None and len(found) == 1
        return found[0]

    service = eventually(fetch, lambda s: bool(s.address))
    assert ipaddress.ip_address(service.address) in SIMULATED_LB_RANGE
    real = client.CoreV1Api(kube_context.api_client).read_namespaced_service("web-svc", namespace)
    assert real.spec.type == "LoadBalancer"
    assert real.spec.ports[0].node_port == 30123  # given explicitly, so kept
    assert real.spec.allocate_load_balancer_node_ports is False  # no others are allocated


def test_delete_and_garbage_collection(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    container = container_manager.create(spec(namespace, ExposureLevel.CLUSTER_LOCAL))
    query = Query(namespace=namespace, container_id=container.container_id)
    found = plugin.RESOURCE.find(query, kube_context)
    assert found
    result = plugin.RESOURCE.remove(found, kube_context)
    assert result is not None and result.deleted == ("web-svc",) and result.gone
    assert plugin.RESOURCE.find(query, kube_context) == ()

    # The Pod owns the Service: deleting only the pod lets the garbage collector finish.
    second = container_manager.create(
        spec(namespace, ExposureLevel.CLUSTER_LOCAL).model_copy(update={"container_name": "gc"})
    )
    core.delete_namespaced_pod("gc", namespace, grace_period_seconds=0)
    query = Query(namespace=namespace, container_id=second.container_id)
    deadline = time.monotonic() + 60
    while plugin.RESOURCE.find(query, kube_context):
        assert time.monotonic() < deadline, "the garbage collector never removed the service"
        time.sleep(0.5)
