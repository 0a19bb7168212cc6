"""The pod manifest (pure): user container, sidecars, volume, security, resources."""

from __future__ import annotations

from typing import Any

import pytest

from container_maker.context import BuildContext
from container_maker.errors import InternalError, InvalidArgument
from container_maker.models import (
    ContainerResources,
    ContainerSpec,
    PodExtras,
    PublishInformation,
    ResourceRequirements,
)
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_pod.manifests import build_pod

CONTAINER_ID = "7d444840-9dc0-11d1-b245-5ffdce74fad2"


def make(extras: tuple[PodExtras, ...] = (), **changes: Any) -> tuple[ContainerSpec, BuildContext]:
    values: dict[str, Any] = {
        "publish_information": (
            PublishInformation(publish_port=80, target_port=8080),
            PublishInformation(publish_port=53, target_port=5353, protocol="udp"),
        ),
        "environment_variables": {"B": "2", "A": "1"},
        **changes,
    }
    spec = container_spec(**values)
    return spec, build_context(spec, Settings(), container_id=CONTAINER_ID, pod_extras=extras)


def sidecar(plugin: str, name: str, **security: Any) -> PodExtras:
    container: dict[str, Any] = {"name": name, "image": f"{name}:1"}
    if security:
        container["securityContext"] = security
    return PodExtras(plugin=plugin, containers=(container,))


def test_labels_and_annotations_from_birth() -> None:
    spec, context = make()
    pod = build_pod(spec, context)
    meta = pod["metadata"]
    assert meta["name"] == "web"
    assert meta["namespace"] == "net"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "container-maker"
    assert meta["labels"]["container-maker.io/id"] == CONTAINER_ID
    assert meta["annotations"]["container-maker.io/spec-hash"] == spec.spec_hash()
    assert "ownerReferences" not in meta


def test_user_container() -> None:
    spec, context = make()
    user = build_pod(spec, context)["spec"]["containers"][0]
    assert user["name"] == "web"
    assert user["image"] == "nginx:1.27"
    assert user["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert user["ports"] == [
        {"name": "tcp-8080", "containerPort": 8080, "protocol": "TCP"},
        {"name": "udp-5353", "containerPort": 5353, "protocol": "UDP"},
    ]
    assert user["volumeMounts"] == [
        {"name": "snapshot", "mountPath": "/var/lib/container-maker/snapshot"}
    ]


def test_the_image_is_pulled_at_every_start_unless_the_operator_says_otherwise() -> None:
    """Always by default: the registry checks the pod's pull rights each time, so a tenant
    cannot run another tenant's private image from the node's cache."""
    spec, context = make()
    assert build_pod(spec, context)["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    relaxed = context.model_copy(update={"settings": Settings(image_pull_policy="IfNotPresent")})
    user = build_pod(spec, relaxed)["spec"]["containers"][0]
    assert user["imagePullPolicy"] == "IfNotPresent"


def test_default_resources_and_snapshot_volume() -> None:
    spec, context = make()
    pod = build_pod(spec, context)
    assert pod["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
    }
    assert pod["spec"]["volumes"] == [{"name": "snapshot", "emptyDir": {"sizeLimit": "2Gi"}}]


def test_requested_resources_override_defaults() -> None:
    spec, context = make(
        resource_requirements=ResourceRequirements(cpu_limit="2", snapshot_size_limit="5Gi")
    )
    pod = build_pod(spec, context)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "2"
    assert pod["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == "5Gi"


def test_no_privileges_no_token() -> None:
    spec, context = make()
    pod_spec = build_pod(spec, context)["spec"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["enableServiceLinks"] is False
    # One PID namespace: how the snapshot sidecar reaches the user's filesystem unprivileged.
    assert pod_spec["shareProcessNamespace"] is True
    security = pod_spec["containers"][0]["securityContext"]
    assert security["privileged"] is False
    assert security["allowPrivilegeEscalation"] is False
    # Strictly weaker than the snapshot sidecar, which keeps the runtime's default set.
    assert security["capabilities"] == {"drop": ["NET_RAW", "MKNOD"]}


def test_sidecars_are_added_in_plugin_name_order() -> None:
    extras = (sidecar("zeta", "cm-z"), sidecar("alpha", "cm-a"))
    spec, context = make(extras)
    names = [c["name"] for c in build_pod(spec, context)["spec"]["containers"]]
    assert names == ["web", "cm-a", "cm-z"]


def test_privileged_sidecar_is_refused() -> None:
    spec, context = make((sidecar("evil", "cm-evil", privileged=True),))
    with pytest.raises(InternalError, match="evil"):
        build_pod(spec, context)


def test_container_name_taken_by_a_sidecar_is_invalid() -> None:
    spec, context = make((sidecar("status", "cm-status"),), container_name="cm-status")
    with pytest.raises(InvalidArgument) as info:
        build_pod(spec, context)
    assert info.value.field == "container_name"


def test_clashing_sidecar_volume_is_refused() -> None:
    extras = PodExtras(plugin="x", volumes=({"name": "snapshot", "emptyDir": {}},))
    spec, context = make((extras,))
    with pytest.raises(InternalError, match="volume"):
        build_pod(spec, context)


def test_builder_does_not_mutate_its_inputs() -> None:
    extras = (sidecar("alpha", "cm-a"),)
    spec, context = make(extras)
    before = context.model_dump()
    build_pod(spec, context)["spec"]["containers"][1]["image"] = "changed"
    assert context.model_dump() == before
    assert isinstance(context.resources, ContainerResources)


@pytest.mark.parametrize(
    ("ports", "probed"),
    [
        ((PublishInformation(publish_port=80, target_port=8080),), 8080),
        (
            (
                PublishInformation(publish_port=53, target_port=5353, protocol="udp"),
                PublishInformation(publish_port=81, target_port=9090, protocol="tcp"),
                PublishInformation(publish_port=82, target_port=9191),
            ),
            9090,
        ),
        ((PublishInformation(publish_port=53, target_port=5353, protocol="udp"),), None),
        ((), None),
    ],
)
def test_readiness_waits_for_the_first_tcp_port(
    ports: tuple[PublishInformation, ...], probed: int | None
) -> None:
    spec, context = make(publish_information=ports)
    user = build_pod(spec, context)["spec"]["containers"][0]
    if probed is None:
        assert "readinessProbe" not in user
    else:
        assert user["readinessProbe"]["tcpSocket"] == {"port": probed}
    # Sidecars are never probed on the user's ports.
    assert all(
        "readinessProbe" not in c for c in build_pod(spec, context)["spec"]["containers"][1:]
    )
