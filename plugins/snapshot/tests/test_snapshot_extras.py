"""The snapshot sidecar's cm_pod_extras contribution and the save command (pure)."""

from __future__ import annotations

import time
from typing import Any

from kubernetes.client import ApiClient

from container_maker.context import BuildContext, KubeContext
from container_maker.models import ObservedObject, PodExtras, PublishInformation
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings
from container_maker.testing import build_context, container_spec
from container_maker_snapshot import plugin, save

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


def test_snapshot_sidecar() -> None:
    extras = plugin.cm_pod_extras(spec=SPEC, context=context(snapshot_image="reg/snap:2"))
    (container,) = extras.containers
    assert container["name"] == "cm-snapshot"
    assert container["image"] == "reg/snap:2"
    # Its own lock volume only: the shared snapshot volume, which the user's container writes,
    # is not in its view (a symlinked or held lock file there would be the user's to play with).
    assert container["volumeMounts"] == [
        {"name": "cm-snapshot-lock", "mountPath": "/var/lib/container-maker/snapshot-lock"}
    ]
    assert env(container)["CONTAINER_MAKER_CONTAINER_ID"] == "id-1"
    assert env(container)["CONTAINER_MAKER_SNAPSHOT_LOCK_DIR"] == save.LOCK_DIR
    assert extras.volumes == ({"name": "cm-snapshot-lock", "emptyDir": {"sizeLimit": "1Mi"}},)


def test_the_snapshot_sidecar_keeps_the_runtimes_default_capabilities() -> None:
    # What the user's container gets and more (reading a root container's files needs all of
    # them): no capabilities entry at all, and still no privileges.
    (container,) = plugin.snapshot_extras(SPEC, context()).containers
    assert container["securityContext"] == {"privileged": False, "allowPrivilegeEscalation": False}
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
    }


def test_it_contributes_through_the_hook_unless_blocked() -> None:
    extras = Hooks(create_plugin_manager()).pod_extras(spec=SPEC, context=context())
    assert "snapshot" in [e.plugin for e in extras]
    assert all(isinstance(e, PodExtras) for e in extras)
    hooks = Hooks(create_plugin_manager(blocked=("snapshot",)))
    blocked = hooks.pod_extras(spec=SPEC, context=context())
    assert [e.plugin for e in blocked] == [e.plugin for e in extras if e.plugin != "snapshot"]


def test_registry_secret_is_mounted_into_the_snapshot_sidecar_only() -> None:
    ctx = context(registry="reg.example/saved", registry_secret="push-creds")
    extras = plugin.snapshot_extras(SPEC, ctx)
    (container,) = extras.containers
    _, volume = extras.volumes
    assert volume["secret"]["secretName"] == "push-creds"
    assert volume["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]
    assert volume["secret"]["defaultMode"] == 0o400
    assert {
        "name": volume["name"],
        "mountPath": "/var/run/secrets/container-maker/registry",
        "readOnly": True,
    } in container["volumeMounts"]
    # Never as an environment variable, whatever its name.
    assert not any("push-creds" in v for v in env(container).values())


def test_snapshot_agent_command_carries_no_credentials() -> None:
    command = save.agent_command(
        container_id="abc",
        base="reg/app@sha256:00",
        target="reg/saved/ns/app:t1",
        size_limit=2048,
        lock_dir="/snap",
        endpoints={"reg": "10.0.0.1:5000"},
        insecure=("reg", "b:1"),
        annotations={"k": "v"},
        timeout=60,
    )
    assert command[:2] == ["/snapshot-agent", "save"]
    assert "--size-limit=2048" in command
    assert "--auth-file=/var/run/secrets/container-maker/registry/config.json" in command
    assert "--annotation=k=v" in command
    assert "--endpoint=reg=10.0.0.1:5000" in command
    assert command.count("--registry-insecure=reg") == 1
    assert "--registry-insecure=b:1" in command


def test_unique_tags_differ_within_one_second() -> None:
    tags = {save.unique_tag("4ef7b9a8-e5b6") for _ in range(50)}
    assert len(tags) == 50
    assert all(t.startswith("4ef7b9a8-") for t in tags)


def test_cm_save_is_answered_by_the_snapshot_plugin_only() -> None:
    pm = create_plugin_manager()
    owners = [pm.get_name(impl.plugin) for impl in pm.hook.cm_save.get_hookimpls()]
    assert owners == ["snapshot"]
    # Blocked, nobody saves: the manager then answers FAILED_PRECONDITION.
    hooks = Hooks(create_plugin_manager(blocked=("snapshot",)))
    pod = ObservedObject(kind="pod", namespace="net", name="web", uid="u")
    settings = Settings(registry="reg.example")
    ctx = KubeContext(api_client=ApiClient(), settings=settings, deadline=time.monotonic() + 5)
    assert hooks.save(pod=pod, context=ctx) is None
