"""The status plugin against the real cluster: the pod holds its sidecar, as configured."""

from __future__ import annotations

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec
from container_maker.settings import Settings


@pytest.fixture
def cm_settings() -> Settings:
    return Settings(status_image="cm/status:t2")


def test_pod_has_the_status_sidecar_with_the_configured_image(
    container_manager: ContainerManager, namespace: str, kube_context: KubeContext
) -> None:
    container = container_manager.create(
        ContainerSpec(
            image_name="busybox:1.36",
            container_name="app",
            network_name=namespace,
            exposure_level=1,
        )
    )
    pod = client.CoreV1Api(kube_context.api_client).read_namespaced_pod("app", namespace)
    images = {c.name: c.image for c in pod.spec.containers}
    assert images["app"] == "busybox:1.36"
    assert images["cm-status"] == "cm/status:t2"
    status = next(c for c in pod.spec.containers if c.name == "cm-status")
    assert status.security_context.privileged is False
    assert status.security_context.allow_privilege_escalation is False
    assert status.security_context.capabilities.drop == ["ALL"]
    assert status.resources.requests["cpu"] == "10m"
    assert pod.spec.service_account_name == "container-maker-status"

    # The tree reports every container of the pod, the sidecar among them.
    (pod_node,) = container.associated_resources
    assert "cm-status" in [n.resource_name for n in pod_node.associated_resources]


def test_blocked_status_sidecar_is_absent(
    kube_api_client: client.ApiClient, namespace: str
) -> None:
    manager = ContainerManager(kube_api_client, settings=Settings(blocked_plugins=("status",)))
    manager.create(
        ContainerSpec(
            image_name="busybox:1.36",
            container_name="app",
            network_name=namespace,
            exposure_level=1,
        )
    )
    pod = client.CoreV1Api(kube_api_client).read_namespaced_pod("app", namespace)
    assert "cm-status" not in [c.name for c in pod.spec.containers]
    # Without the status kind the pod runs as the namespace's default account (no token).
    assert pod.spec.service_account_name == "default"
    assert pod.spec.automount_service_account_token is False
