"""The ResourceQuota and LimitRange of created namespaces: the builders (pure) and the plugin
against the real cluster (its quota controller and admission plugins)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.errors import AlreadyExists, Forbidden
from container_maker.identity import is_managed, managed_labels
from container_maker.models import ContainerResources, Manifest
from container_maker.quantity import parse_quantity
from container_maker.settings import DEFAULT_NAMESPACE_QUOTA, QUOTA_NAME, Settings
from container_maker.tenancy import assign_namespace
from container_maker.testing import build_context, container_spec, eventually, foreign_pod
from container_maker_namespace import plugin
from container_maker_namespace.manifests import build_namespace
from container_maker_namespace.quota import (
    LIMIT_RANGE,
    QUOTA,
    build_limit_range,
    build_resource_quota,
    limit_range_limits,
)


def test_quota_is_the_settings_hard_and_labelled_ours() -> None:
    quota = build_resource_quota("team-a", Settings())
    assert quota["metadata"] == {
        "name": "container-maker",
        "namespace": "team-a",
        "labels": {"app.kubernetes.io/managed-by": "container-maker"},
    }
    assert quota["spec"]["hard"] == {**DEFAULT_NAMESPACE_QUOTA, "services.nodeports": "0"}


def test_limit_range_defaults_and_bounds() -> None:
    assert limit_range_limits(Settings()) == {
        "default": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"},
        "defaultRequest": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "512Mi"},
        "max": {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"},
        "min": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "16Mi"},
    }
    (item,) = build_limit_range("team-a", Settings())["spec"]["limits"]
    assert item["type"] == "Container"


def test_limit_range_always_admits_the_sidecars() -> None:
    """Operator bounds tighter than the sidecars' own resources widen to include them."""
    sidecar = ContainerResources(
        cpu_request="5m",
        cpu_limit="200m",
        memory_request="8Mi",
        memory_limit="512Mi",
        ephemeral_request="1Mi",
        ephemeral_limit="256Mi",
    )
    settings = Settings(
        sidecar_resources=sidecar,
        default_resources=ContainerResources(
            cpu_request="100m", cpu_limit="100m", memory_request="64Mi", memory_limit="64Mi"
        ),
        max_resources=ContainerResources(
            cpu_request="100m",
            cpu_limit="100m",
            memory_request="64Mi",
            memory_limit="64Mi",
            ephemeral_request="",
            ephemeral_limit="",
        ),
        min_resources=ContainerResources(cpu_request="50m", memory_request="64Mi"),
    )
    limits = limit_range_limits(settings)
    assert limits["max"] == {"cpu": "200m", "memory": "512Mi"}  # no ephemeral bound set
    assert limits["min"] == {"cpu": "5m", "memory": "8Mi"}  # no ephemeral minimum set
    for name, field in (("cpu", "cpu"), ("memory", "memory")):
        assert parse_quantity(getattr(sidecar, f"{field}_limit")) <= parse_quantity(
            limits["max"][name]
        )
        assert parse_quantity(getattr(sidecar, f"{field}_request")) >= parse_quantity(
            limits["min"][name]
        )


# -- on the cluster ------------------------------------------------------------------------


def create(name: str, context: KubeContext) -> Any:
    """The namespace, then (in one Container Maker manages) its namespace-scoped kinds, as a
    create does (an existing one kept)."""
    manifest = Manifest(kind="namespace", body=build_namespace(name, "baseline", "local"))
    made = plugin.RESOURCE.create_object(manifest, context)
    if is_managed(made.labels):
        spec = container_spec(network_name=name)
        built = build_context(spec, context.settings)
        for resource in (LIMIT_RANGE, QUOTA):
            with contextlib.suppress(AlreadyExists):
                resource.create_object(resource.manifest(spec, built), context)
    return made


def quota_objects(core: client.CoreV1Api, namespace: str) -> tuple[list[Any], list[Any]]:
    return (
        core.list_namespaced_resource_quota(namespace).items,
        core.list_namespaced_limit_range(namespace).items,
    )


def test_created_namespace_gets_a_counted_quota_and_a_limit_range(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    create(fresh_namespace_name, kube_context)
    # Read at once: the create returned only once the quota controller had counted it.
    quota = core.read_namespaced_resource_quota(QUOTA_NAME, fresh_namespace_name)
    assert quota.metadata.labels == managed_labels()
    assert quota.spec.hard == kube_context.settings.quota_hard()
    assert set(quota.status.hard) == set(quota.spec.hard)
    assert set(quota.status.used) == set(quota.spec.hard)
    limit_range = core.read_namespaced_limit_range(QUOTA_NAME, fresh_namespace_name)
    assert limit_range.metadata.labels == managed_labels()
    (item,) = limit_range.spec.limits
    assert item.max == limit_range_limits(kube_context.settings)["max"]
    assert item.default_request == {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "512Mi"}


def test_a_pod_naming_no_resources_gets_the_defaults(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    """The LimitRange fills in what a pod leaves out, so the quota can count it."""
    core = client.CoreV1Api(kube_context.api_client)
    create(fresh_namespace_name, kube_context)
    body: Any = {
        "metadata": {"name": "plain"},
        "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]},
    }
    pod = core.create_namespaced_pod(fresh_namespace_name, body)
    resources = pod.spec.containers[0].resources
    assert resources.requests == {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "512Mi"}
    assert resources.limits == {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi"}


def test_namespace_of_someone_else_gets_none(namespace: str, kube_context: KubeContext) -> None:
    """Assigned to the tenant by an operator (conftest.py), not made by us: used as it is."""
    core = client.CoreV1Api(kube_context.api_client)
    create(namespace, kube_context)
    assert quota_objects(core, namespace) == ([], [])


def test_namespace_of_an_older_server_gets_them_on_the_next_create(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    body: Any = {"metadata": {"name": fresh_namespace_name, "labels": managed_labels()}}
    old = core.create_namespace(body)
    assert quota_objects(core, fresh_namespace_name) == ([], [])
    # An older server set no tenant label: the operator assigns the namespace to its tenant.
    with pytest.raises(Forbidden):
        create(fresh_namespace_name, kube_context)
    assign_namespace(kube_context.api_client, fresh_namespace_name, "local")
    found = create(fresh_namespace_name, kube_context)
    assert found.uid == old.metadata.uid
    quotas, limit_ranges = quota_objects(core, fresh_namespace_name)
    assert [q.metadata.name for q in quotas] == [QUOTA_NAME]
    assert [r.metadata.name for r in limit_ranges] == [QUOTA_NAME]


def test_an_existing_quota_is_left_as_it_is(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    """An operator's change to one namespace's quota stands; a later create does not undo it."""
    core = client.CoreV1Api(kube_context.api_client)
    create(fresh_namespace_name, kube_context)
    patch: Any = {"spec": {"hard": {"count/pods": "50"}}}
    core.patch_namespaced_resource_quota(QUOTA_NAME, fresh_namespace_name, patch)
    create(fresh_namespace_name, kube_context)
    quota = core.read_namespaced_resource_quota(QUOTA_NAME, fresh_namespace_name)
    assert quota.spec.hard["count/pods"] == "50"


def test_create_returns_only_once_the_quota_is_counted(
    kube_cluster: Any, fresh_namespace_name: str, kube_api_client: client.ApiClient
) -> None:
    """Until the quota controller has counted a new quota the API server admits everything
    uncounted: provoked here with the controller manager held still (SIGSTOP), a pod is
    admitted past a quota of 0 pods. The plugin's create waits that out and returns only
    once the quota holds; then the same pod is refused."""
    local = kube_cluster.local
    if local is None:
        pytest.skip("needs to pause the controller manager of a cluster the tests started")
    settings = Settings(namespace_quota={"count/pods": "0"})
    context = KubeContext(
        api_client=kube_api_client, settings=settings, deadline=time.monotonic() + 120
    )
    core = client.CoreV1Api(kube_api_client)
    controller_manager = local.pids["kube-controller-manager"]
    pool = ThreadPoolExecutor(1)
    os.kill(controller_manager, signal.SIGSTOP)
    try:
        future = pool.submit(create, fresh_namespace_name, context)
        eventually(
            lambda: core.list_namespaced_resource_quota(fresh_namespace_name).items,
            lambda quotas: bool(quotas),
            timeout=30,
        )
        # The held controller manager makes no default ServiceAccount either: stand in for it.
        account: Any = {"metadata": {"name": "default"}}
        core.create_namespaced_service_account(fresh_namespace_name, account)
        slipped = foreign_pod(kube_api_client, fresh_namespace_name, "slipped-past", timeout=5)
        assert slipped.metadata.name == "slipped-past"  # the uncounted quota did not stop it
        time.sleep(2)
        assert not future.done(), future.exception() if future.done() else None
    finally:
        os.kill(controller_manager, signal.SIGCONT)
    future.result(timeout=60)
    pool.shutdown()
    quota = core.read_namespaced_resource_quota(QUOTA_NAME, fresh_namespace_name)
    assert quota.status.hard == {"count/pods": "0", "services.nodeports": "0"}
    with pytest.raises(client.ApiException) as refused:
        foreign_pod(kube_api_client, fresh_namespace_name, "refused", timeout=5)
    assert refused.value.status == 403
    assert "exceeded quota: container-maker" in str(refused.value.body)
