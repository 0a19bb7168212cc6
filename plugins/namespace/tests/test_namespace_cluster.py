"""The namespace plugin against the real cluster."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client

from container_maker.context import KubeContext
from container_maker.errors import Forbidden
from container_maker.identity import TENANT_KEY, managed_labels
from container_maker.models import Manifest, ObservedObject, Query
from container_maker_namespace import plugin
from container_maker_namespace.manifests import build_namespace


def manifest(name: str, tenant: str = "local") -> Manifest:
    return Manifest(kind="namespace", body=build_namespace(name, "baseline", tenant))


def test_create_get_and_delete(fresh_namespace_name: str, kube_context: KubeContext) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    created = plugin.RESOURCE.create_object(manifest(fresh_namespace_name), kube_context)
    assert created is not None
    real = core.read_namespace(fresh_namespace_name)
    assert real.metadata.uid == created.uid
    assert real.metadata.labels["app.kubernetes.io/managed-by"] == "container-maker"
    assert real.metadata.labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert real.metadata.labels["container-maker.io/tenant"] == "local"

    # Creating again returns the existing namespace.
    again = plugin.RESOURCE.create_object(manifest(fresh_namespace_name), kube_context)
    assert again is not None and again.uid == created.uid

    found = plugin.RESOURCE.find(Query(namespace=fresh_namespace_name), kube_context)
    assert found is not None and [o.uid for o in found] == [created.uid]
    assert found[0].phase == "Active"
    assert not found[0].terminating

    result = plugin.RESOURCE.remove((created,), kube_context)
    assert result is not None and result.deleted == (fresh_namespace_name,)
    real = core.read_namespace(fresh_namespace_name)
    assert real.metadata.deletion_timestamp is not None or real.status.phase == "Terminating"


def test_a_namespace_we_did_not_create_is_never_deleted(
    namespace: str, kube_context: KubeContext
) -> None:
    found = plugin.RESOURCE.find(Query(namespace=namespace), kube_context)
    assert found is not None and len(found) == 1
    result = plugin.RESOURCE.remove(found, kube_context)
    assert result is not None
    assert result.deleted == ()
    assert result.skipped == (namespace,)
    real = client.CoreV1Api(kube_context.api_client).read_namespace(namespace)
    assert real.metadata.deletion_timestamp is None


def test_missing_namespace_is_found_empty(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    query = Query(namespace=fresh_namespace_name)
    assert plugin.RESOURCE.find(query, kube_context) == ()


def test_terminating_namespace_is_waited_for_and_recreated(
    fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    """A finalizer on a ConfigMap keeps the namespace terminating until the test lets go."""
    core = client.CoreV1Api(kube_context.api_client)
    name = fresh_namespace_name
    old = core.create_namespace({"metadata": {"name": name, "labels": managed_labels()}})
    core.create_namespaced_config_map(
        name, {"metadata": {"name": "hold", "finalizers": ["container-maker.io/test-hold"]}}
    )
    core.delete_namespace(name)
    deadline = time.monotonic() + 30
    while core.read_namespace(name).status.phase != "Terminating":
        assert time.monotonic() < deadline, "the namespace never started terminating"
        time.sleep(0.2)

    result: list[ObservedObject | None] = []
    worker = threading.Thread(
        target=lambda: result.append(plugin.RESOURCE.create_object(manifest(name), kube_context))
    )
    worker.start()
    time.sleep(2)
    assert worker.is_alive(), "create returned while the namespace was still terminating"
    core.patch_namespaced_config_map("hold", name, {"metadata": {"finalizers": None}})
    worker.join(timeout=90)
    assert not worker.is_alive()
    (created,) = result
    assert created is not None
    assert created.uid != old.metadata.uid
    assert not created.terminating
    assert core.read_namespace(name).metadata.uid == created.uid


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_pod_security_level_is_enforced_label(
    level: str, fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    body = build_namespace(fresh_namespace_name, level, "local")
    created = plugin.RESOURCE.create_object(Manifest(kind="namespace", body=body), kube_context)
    assert created is not None
    assert created.labels["pod-security.kubernetes.io/enforce"] == level


@pytest.mark.parametrize(
    "labels",
    [{}, {**managed_labels(), TENANT_KEY: "tenant-b"}, {TENANT_KEY: "tenant-b"}],
    ids=["made-by-someone", "made-for-another-tenant", "assigned-to-another-tenant"],
)
def test_an_existing_namespace_of_another_tenant_is_never_adopted(
    labels: dict[str, str], fresh_namespace_name: str, kube_context: KubeContext
) -> None:
    core = client.CoreV1Api(kube_context.api_client)
    before = core.create_namespace({"metadata": {"name": fresh_namespace_name, "labels": labels}})
    with pytest.raises(Forbidden, match="not available to tenant local"):
        plugin.RESOURCE.create_object(manifest(fresh_namespace_name), kube_context)
    after = core.read_namespace(fresh_namespace_name)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert not core.list_namespaced_resource_quota(fresh_namespace_name).items


def test_a_namespace_assigned_to_the_tenant_is_used_as_it_is(
    namespace: str, kube_context: KubeContext
) -> None:
    """The repository's ``namespace`` fixture is assigned to tenant local (conftest.py)."""
    core = client.CoreV1Api(kube_context.api_client)
    before = core.read_namespace(namespace)
    used = plugin.RESOURCE.create_object(manifest(namespace), kube_context)
    assert used is not None and used.uid == before.metadata.uid
    assert core.read_namespace(namespace).metadata.resource_version == (
        before.metadata.resource_version
    )
