"""The budget on a real cluster, through a manager with the installed plugins and this one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cm_disruption_budget import plugin
from kubernetes import client

from container_maker.sdk import AssociatedResource, Unavailable
from container_maker.testing import (
    HookCall,
    Intercepting,
    ManagerFactory,
    container_spec,
    managed_objects,
)


def budget(api: client.ApiClient, namespace: str, name: str) -> Any:
    try:
        return client.PolicyV1Api(api).read_namespaced_pod_disruption_budget(name, namespace)
    except client.ApiException as e:
        if e.status == 404:
            return None
        raise


def kinds_under(node: AssociatedResource) -> list[tuple[str, str]]:
    return [(n.resource_type, n.resource_name) for n in node.associated_resources]


@pytest.mark.parametrize("level", [1, 2], ids=["INTERNAL", "CLUSTER_LOCAL"])
def test_create_get_list_delete(
    level: int,
    cm_manager: ManagerFactory,
    tenant_namespace: str,
    kube_api_client: client.ApiClient,
) -> None:
    manager = cm_manager(plugin)
    spec = container_spec(network_name=tenant_namespace, exposure_level=level)
    created = manager.create(spec)

    pdb = budget(kube_api_client, tenant_namespace, "web-pdb")
    assert pdb is not None
    assert pdb.spec.max_unavailable == 0
    pod = client.CoreV1Api(kube_api_client).read_namespaced_pod("web", tenant_namespace)
    assert pdb.spec.selector.match_labels.items() <= pod.metadata.labels.items()
    assert [o.uid for o in pdb.metadata.owner_references] == [pod.metadata.uid]

    got = manager.get(created.container_id, tenant_namespace)
    # The pod node (under the service's, when there is one) holds the budget after its containers.
    (top,) = got.associated_resources
    pod_node = top if level == 1 else top.associated_resources[0]
    assert (pod_node.resource_type, pod_node.resource_name) == ("pod", "web")
    assert kinds_under(pod_node)[-1] == (plugin.KIND, "web-pdb")
    listed = manager.list(tenant_namespace)
    assert [c.container_id for c in listed] == [created.container_id]
    assert listed[0].associated_resources == got.associated_resources

    assert manager.delete(created.container_id, tenant_namespace).status == "Deleted"
    assert budget(kube_api_client, tenant_namespace, "web-pdb") is None


def test_created_right_after_the_pod_and_deleted_before_it(
    cm_manager: ManagerFactory, tenant_namespace: str, cm_hook_calls: list[HookCall]
) -> None:
    manager = cm_manager(plugin)
    created = manager.create(container_spec(network_name=tenant_namespace))
    creates = [c.kind for c in cm_hook_calls if c.hook == "create"]
    assert creates[creates.index("pod") + 1] == plugin.KIND
    cm_hook_calls.clear()
    manager.delete(created.container_id, tenant_namespace)
    deletes = [c.kind for c in cm_hook_calls if c.hook == "delete"]
    assert deletes.index(plugin.KIND) < deletes.index("pod")


def test_a_failed_create_of_the_budget_leaves_nothing_behind(
    cm_manager: ManagerFactory, tenant_namespace: str, kube_api_client: client.ApiClient
) -> None:
    """The create fails after the budget was made (its answer lost): the rollback removes the
    budget and everything made before it."""

    def lost_answer(call: str, kind: str, proceed: Callable[[], Any]) -> Any:
        result = proceed()
        if (call, kind) == ("create", plugin.KIND):
            raise Unavailable("injected: the budget's create answer was lost")
        return result

    manager = cm_manager(plugin, ("fault", Intercepting(lost_answer)))
    with pytest.raises(Unavailable, match="injected"):
        manager.create(container_spec(network_name=tenant_namespace))
    assert budget(kube_api_client, tenant_namespace, "web-pdb") is None
    assert managed_objects(kube_api_client, tenant_namespace, resources=manager.resources) == []
