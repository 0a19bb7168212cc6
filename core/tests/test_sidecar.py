"""container_maker.sidecar: the shape of a sidecar container, as plugins add one (pure)."""

from __future__ import annotations

from typing import Any

from container_maker import hookimpl
from container_maker.context import BuildContext
from container_maker.identity import ID_KEY
from container_maker.models import ContainerResources, ContainerSpec, PodExtras
from container_maker.plugins import Hooks, create_plugin_manager
from container_maker.settings import Settings
from container_maker.sidecar import sidecar_container
from container_maker.validation import validate_spec

SPEC = ContainerSpec(image_name="nginx", container_name="web", network_name="net", exposure_level=1)


def context(**settings: Any) -> BuildContext:
    config = Settings.model_validate(settings)
    return BuildContext(
        container_id="id-1", tenant="local", resources=validate_spec(SPEC, config), settings=config
    )


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_a_sidecar_is_unprivileged_with_the_sidecar_resources() -> None:
    container = sidecar_container("cm-hello", "reg/hello:1", SPEC, context())
    assert (container["name"], container["image"]) == ("cm-hello", "reg/hello:1")
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["securityContext"] == {
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["resources"] == {
        "requests": {"cpu": "10m", "memory": "32Mi", "ephemeral-storage": "16Mi"},
        "limits": {"cpu": "200m", "memory": "128Mi", "ephemeral-storage": "256Mi"},
    }
    # No mounts asked for, no volumeMounts key (an empty list would still be a change to diff).
    assert "volumeMounts" not in container


def test_the_operators_sidecar_resources_apply() -> None:
    resources = ContainerResources(cpu_request="5m", memory_limit="64Mi")
    container = sidecar_container("cm-hello", "i", SPEC, context(sidecar_resources=resources))
    assert container["resources"] == {"requests": {"cpu": "5m"}, "limits": {"memory": "64Mi"}}


def test_the_environment_names_the_users_container_sorted_with_the_plugins_own() -> None:
    container = sidecar_container(
        "cm-hello", "i", SPEC, context(), env={"HELLO_GREETING": "hi", "A_FIRST": "1"}
    )
    names = [e["name"] for e in container["env"]]
    assert names == sorted(names)
    assert env(container) == {
        "A_FIRST": "1",
        "CONTAINER_MAKER_CONTAINER_ID": "id-1",
        "CONTAINER_MAKER_CONTAINER_NAME": "web",
        "CONTAINER_MAKER_NAMESPACE": "net",
        "CONTAINER_MAKER_ID_LABEL": ID_KEY,
        "HELLO_GREETING": "hi",
    }


def test_volume_mounts_and_a_fresh_dict_per_call() -> None:
    mounts = [{"name": "cm-hello-data", "mountPath": "/data"}]
    first = sidecar_container("cm-hello", "i", SPEC, context(), volume_mounts=mounts)
    assert first["volumeMounts"] == mounts
    # A plugin adjusts what it got (the snapshot sidecar drops the capabilities entry); the
    # next container is untouched.
    del first["securityContext"]["capabilities"]
    second = sidecar_container("cm-hello", "i", SPEC, context())
    assert second["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_quick_start_plugin_adds_it_to_every_pod() -> None:
    """The package docstring's example, as a plugin author writes it."""

    class Hello:
        @hookimpl
        def cm_pod_extras(self, spec: ContainerSpec, context: BuildContext) -> PodExtras:
            container = sidecar_container("cm-hello", "busybox:1.36", spec, context)
            return PodExtras(plugin="hello", containers=(container,))

    pm = create_plugin_manager(load_entrypoints=False, plugins=[("hello", Hello())])
    (extras,) = Hooks(pm).pod_extras(spec=SPEC, context=context())
    assert extras.plugin == "hello"
    assert [c["name"] for c in extras.containers] == ["cm-hello"]
    assert extras.containers[0]["securityContext"]["privileged"] is False
