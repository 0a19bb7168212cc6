"""The sidecar plugins against the real cluster: the pod holds both, as configured."""

from __future__ import annotations

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.manager import ContainerManager
from container_maker.models import ContainerSpec
from container_maker.settings import Settings


@pytest.fixture
def cm_settings() -> Settings:
    return Settings(snapshot_image="localhost:5000/cm/snapshot:t1", status_image="cm/status:t2")


def test_pod_has_both_sidecars_with_configured_images(
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
    assert images == {
        "app": "busybox:1.36",
        "cm-snapshot": "localhost:5000/cm/snapshot:t1",
        "cm-status": "cm/status:t2",
    }
    sidecars = [c for c in pod.spec.containers if c.name != "app"]
    for sidecar in sidecars:
        assert sidecar.security_context.privileged is False
        assert sidecar.security_context.allow_privilege_escalation is False
        assert sidecar.resources.requests["cpu"] == "10m"
    # The snapshot sidecar keeps the runtime's defaults (to read a root container's files);
    # the status sidecar drops them all.
    status_sidecar = next(c for c in sidecars if c.name == "cm-status")
    assert status_sidecar.security_context.capabilities.drop == ["ALL"]
    assert (
        next(c for c in sidecars if c.name == "cm-snapshot").security_context.capabilities is None
    )
    snapshot = next(c for c in sidecars if c.name == "cm-snapshot")
    assert [m.name for m in snapshot.volume_mounts] == ["cm-snapshot-lock"]

    # The tree reports every container of the pod with its resources.
    (pod_node,) = container.associated_resources
    assert [n.resource_name for n in pod_node.associated_resources] == [
        "app",
        "cm-snapshot",
        "cm-status",
    ]


def test_blocked_sidecar_is_absent(kube_api_client: client.ApiClient, namespace: str) -> None:
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
    assert [c.name for c in pod.spec.containers] == ["app", "cm-snapshot"]
    # Without the status kind the pod runs as the namespace's default account (no token).
    assert pod.spec.service_account_name == "default"
    assert pod.spec.automount_service_account_token is False
