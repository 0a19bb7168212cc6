"""The sidecars' cm_pod_extras contributions (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.context import BuildContext
from container_maker.models import ContainerSpec, PodExtras, PublishInformation
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings
from container_maker.validation import validate_spec
from container_maker_sidecars import snapshot, status

SPEC = ContainerSpec(
    image_name="nginx",
    container_name="web",
    network_name="net",
    exposure_level=2,
    publish_information=(
        PublishInformation(publish_port=80, target_port=8080),
        PublishInformation(publish_port=53, target_port=53, protocol="UDP"),
    ),
)


def context(**settings: Any) -> BuildContext:
    config = Settings.model_validate(settings)
    return BuildContext(container_id="id-1", resources=validate_spec(SPEC, config), settings=config)


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_snapshot_sidecar() -> None:
    extras = snapshot.cm_pod_extras(spec=SPEC, context=context(snapshot_image="reg/snap:2"))
    (container,) = extras.containers
    assert container["name"] == "cm-snapshot"
    assert container["image"] == "reg/snap:2"
    assert container["volumeMounts"] == [
        {"name": "snapshot", "mountPath": "/var/lib/container-maker/snapshot"}
    ]
    assert env(container)["CONTAINER_MAKER_CONTAINER_ID"] == "id-1"
    assert extras.volumes == ()  # the shared volume belongs to the pod


def test_status_sidecar_watches_the_ports() -> None:
    extras = status.cm_pod_extras(spec=SPEC, context=context(status_image="reg/status:3"))
    (container,) = extras.containers
    assert container["name"] == "cm-status"
    assert container["image"] == "reg/status:3"
    assert env(container)["CONTAINER_MAKER_WATCH_PORTS"] == "8080/TCP,53/UDP"


def test_sidecars_are_unprivileged_with_their_own_small_requests() -> None:
    ctx = context()
    for extras in (snapshot.snapshot_extras(SPEC, ctx), status.status_extras(SPEC, ctx)):
        (container,) = extras.containers
        assert container["securityContext"] == {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        }
        assert container["resources"] == {
            "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
        }


def test_both_contribute_through_the_hook() -> None:
    extras = Hooks(create_plugin_manager()).pod_extras(spec=SPEC, context=context())
    assert sorted(e.plugin for e in extras) == ["snapshot", "status"]
    assert all(isinstance(e, PodExtras) for e in extras)


def test_blocked_sidecar_contributes_nothing() -> None:
    hooks = Hooks(create_plugin_manager(blocked=("snapshot",)))
    extras = hooks.pod_extras(spec=SPEC, context=context())
    assert [e.plugin for e in extras] == ["status"]
