"""The pod plugin against the real cluster (nodes simulated by KWOK)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes import client

from container_maker.context import BuildContext, KubeContext
from container_maker.errors import ServiceAccountNotReady
from container_maker.identity import new_container_id
from container_maker.kube import api_errors
from container_maker.models import (
    ContainerSpec,
    Manifest,
    ObservedObject,
    PublishInformation,
    Query,
)
from container_maker.plugins import Hooks
from container_maker.testing import foreign_pod
from container_maker.validation import validate_spec
from container_maker_pod import plugin


def build(
    hooks: Hooks, namespace: str, kube_context: KubeContext, name: str = "web"
) -> tuple[ContainerSpec, BuildContext]:
    spec = ContainerSpec(
        image_name="nginx:1.27",
        container_name=name,
        network_name=namespace,
        exposure_level=1,
        publish_information=(PublishInformation(publish_port=80, target_port=8080),),
        environment_variables={"GREETING": "hello"},
    )
    context = BuildContext(
        container_id=new_container_id(),
        tenant="local",
        resources=validate_spec(spec, kube_context.settings),
        settings=kube_context.settings,
    )
    extras = hooks.pod_extras(spec=spec, context=context)
    if any(e.service_account_name for e in extras):
        # The pod runs as the status sidecar's ServiceAccount: make it first, as a create does.
        status = hooks.resources()["status"]
        status.create_object(status.manifest(spec, context), kube_context)
    return spec, context.model_copy(update={"pod_extras": extras})


def create(
    hooks: Hooks, spec: ContainerSpec, context: BuildContext, kube: KubeContext
) -> ObservedObject:
    return plugin.RESOURCE.create_object(plugin.RESOURCE.manifest(spec, context), kube)


def wait_for_ip(pod: ObservedObject, kube: KubeContext) -> ObservedObject:
    deadline = time.monotonic() + 60
    query = Query(namespace=pod.namespace, container_id=pod.labels["container-maker.io/id"])
    while True:
        found = plugin.RESOURCE.find(query, kube)
        assert found is not None and len(found) == 1
        if found[0].address:
            return found[0]
        assert time.monotonic() < deadline, "the pod never got an IP"
        time.sleep(0.5)


@pytest.mark.simulated
def test_create_get_delete(
    cm_plugin_manager: object, namespace: str, kube_context: KubeContext
) -> None:
    hooks = Hooks(cm_plugin_manager)  # type: ignore[arg-type]
    spec, context = build(hooks, namespace, kube_context)
    created = create(hooks, spec, context, kube_context)
    assert created.labels["container-maker.io/id"] == context.container_id

    real = client.CoreV1Api(kube_context.api_client).read_namespaced_pod("web", namespace)
    assert real.spec.automount_service_account_token is False
    assert [c.name for c in real.spec.containers] == ["web", "cm-snapshot", "cm-status"]
    for container in real.spec.containers:
        assert not (container.security_context and container.security_context.privileged)
    assert real.spec.volumes[0].empty_dir.size_limit == "2Gi"

    running = wait_for_ip(created, kube_context)
    assert (
        running.address
        == client.CoreV1Api(kube_context.api_client)
        .read_namespaced_pod("web", namespace)
        .status.pod_ip
    )
    assert running.ports[0].container_port == 8080
    user = running.containers[0]
    assert (user.role, user.resources.cpu_request, user.resources.snapshot_size_limit) == (
        "user",
        "100m",
        "2Gi",
    )
    assert {c.role for c in running.containers[1:]} == {"sidecar"}

    result = plugin.RESOURCE.remove((running,), kube_context)
    assert result is not None
    assert result.deleted == ("web",)
    assert result.gone
    query = Query(namespace=namespace, container_id=context.container_id)
    assert plugin.RESOURCE.find(query, kube_context) == ()


def test_unmanaged_pods_are_invisible_and_untouchable(
    namespace: str, kube_context: KubeContext
) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    theirs = foreign_pod(
        kube_context.api_client, namespace, "theirs", {"container-maker.io/id": "x"}
    )
    assert plugin.RESOURCE.find(Query(namespace=namespace), kube_context) == ()
    intruder = ObservedObject(
        kind="pod", namespace=namespace, name="theirs", uid=theirs.metadata.uid, labels={}
    )
    result = plugin.RESOURCE.remove((intruder,), kube_context)
    assert result is not None and result.skipped == ("theirs",) and result.deleted == ()
    assert core.read_namespaced_pod("theirs", namespace).metadata.deletion_timestamp is None


def test_uid_precondition_protects_a_recreated_pod(
    cm_plugin_manager: object, namespace: str, kube_context: KubeContext
) -> None:
    hooks = Hooks(cm_plugin_manager)  # type: ignore[arg-type]
    spec, context = build(hooks, namespace, kube_context)
    created = create(hooks, spec, context, kube_context)
    stale = created.model_copy(update={"uid": "00000000-0000-0000-0000-000000000000"})
    result = plugin.RESOURCE.remove((stale,), kube_context)
    assert result is not None and result.skipped == ("web",)
    core = client.CoreV1Api(kube_context.api_client)
    assert core.read_namespaced_pod("web", namespace).metadata.deletion_timestamp is None


def test_pod_create_waits_for_a_missing_service_account(
    cm_plugin_manager: object, namespace: str, kube_context: KubeContext
) -> None:
    """A pod is refused (403) while its ServiceAccount does not exist; create retries.

    In a brand-new namespace that happens to ``default`` until the serviceaccount controller
    catches up (the API server itself waits a second or two for it, so it shows on busy
    clusters). To make it happen every time, the test points the pod at a ServiceAccount that
    it creates only after the first refusal.
    """
    core = client.CoreV1Api(kube_context.api_client)
    hooks = Hooks(cm_plugin_manager)  # type: ignore[arg-type]
    spec, context = build(hooks, namespace, kube_context)
    body = plugin.RESOURCE.manifest(spec, context).to_body()
    body["spec"]["serviceAccountName"] = "late"
    late = Manifest(kind="pod", body=body)

    # The API server's refusal is translated to the retryable ServiceAccountNotReady.
    with pytest.raises(ServiceAccountNotReady), api_errors("probing"):
        core.create_namespaced_pod(namespace, late.to_body(), dry_run="All")

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(plugin.RESOURCE.create_object, late, kube_context)
        time.sleep(1.5)
        assert not future.done(), "create did not wait for the ServiceAccount"
        core.create_namespaced_service_account(namespace, {"metadata": {"name": "late"}})
        created = future.result(timeout=60)
    assert created is not None and created.name == "web"
