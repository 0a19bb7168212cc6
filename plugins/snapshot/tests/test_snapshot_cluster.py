"""The snapshot plugin against the real cluster: the pod holds its sidecar, as configured."""

from __future__ import annotations

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec
from container_maker.settings import Settings


@pytest.fixture
def cm_settings() -> Settings:
    return Settings(snapshot_image="localhost:5000/cm/snapshot:t1")


def test_pod_has_the_snapshot_sidecar_with_the_configured_image(
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
    assert images["cm-snapshot"] == "localhost:5000/cm/snapshot:t1"
    snapshot = next(c for c in pod.spec.containers if c.name == "cm-snapshot")
    assert snapshot.security_context.privileged is False
    assert snapshot.security_context.allow_privilege_escalation is False
    assert snapshot.resources.requests["cpu"] == "10m"
    # It keeps the runtime's defaults (to read a root container's files).
    assert snapshot.security_context.capabilities is None
    assert [m.name for m in snapshot.volume_mounts] == ["cm-snapshot-lock"]

    # The tree reports every container of the pod, the sidecar among them.
    (pod_node,) = container.associated_resources
    assert "cm-snapshot" in [n.resource_name for n in pod_node.associated_resources]


def test_blocked_snapshot_sidecar_is_absent(
    kube_api_client: client.ApiClient, namespace: str
) -> None:
    manager = ContainerManager(kube_api_client, settings=Settings(blocked_plugins=("snapshot",)))
    manager.create(
        ContainerSpec(
            image_name="busybox:1.36",
            container_name="app",
            network_name=namespace,
            exposure_level=1,
        )
    )
    pod = client.CoreV1Api(kube_api_client).read_namespaced_pod("app", namespace)
    assert "cm-snapshot" not in [c.name for c in pod.spec.containers]
    assert "cm-snapshot-lock" not in [v.name for v in pod.spec.volumes]
