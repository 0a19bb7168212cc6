"""The status sidecar's cm_pod_extras contribution (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.context import BuildContext
from container_maker.models import PodExtras, PublishInformation
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_status import plugin

SPEC = container_spec(
    image_name="nginx",
    exposure_level=2,
    publish_information=(
        PublishInformation(publish_port=80, target_port=8080),
        PublishInformation(publish_port=53, target_port=53, protocol="UDP"),
    ),
)


def context(**settings: Any) -> BuildContext:
    return build_context(SPEC, Settings.model_validate(settings), container_id="id-1")


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_status_sidecar_watches_the_ports() -> None:
    extras = plugin.cm_pod_extras(spec=SPEC, context=context(status_image="reg/status:3"))
    (container,) = extras.containers
    assert container["name"] == "cm-status"
    assert container["image"] == "reg/status:3"
    assert env(container)["CONTAINER_MAKER_WATCH_PORTS"] == "8080/TCP,53/UDP"
    assert env(container)["CONTAINER_MAKER_CONTAINER_ID"] == "id-1"


def test_the_status_sidecar_runs_as_its_own_user_without_capabilities() -> None:
    (container,) = plugin.status_extras(SPEC, context()).containers
    assert container["securityContext"] == {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsUser": 64011,
        "runAsGroup": 64011,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
    }
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
    }


def test_the_registry_secret_never_reaches_the_status_sidecar() -> None:
    ctx = context(registry="reg.example/saved", registry_secret="push-creds")
    extras = plugin.status_extras(SPEC, ctx)
    (container,) = extras.containers
    assert [m["name"] for m in container["volumeMounts"]] == ["cm-status-token"]
    assert not any("push-creds" in str(v) for v in extras.volumes)
    assert not any("push-creds" in v for v in env(container).values())


def test_it_contributes_through_the_hook_unless_blocked() -> None:
    extras = Hooks(create_plugin_manager()).pod_extras(spec=SPEC, context=context())
    assert "status" in [e.plugin for e in extras]
    assert all(isinstance(e, PodExtras) for e in extras)
    hooks = Hooks(create_plugin_manager(blocked=("status",)))
    blocked = hooks.pod_extras(spec=SPEC, context=context())
    assert [e.plugin for e in blocked] == [e.plugin for e in extras if e.plugin != "status"]
