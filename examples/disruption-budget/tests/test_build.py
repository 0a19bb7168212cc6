"""The budget's manifest, built without a cluster (the kit's spec and context factories)."""

from __future__ import annotations

import pytest
from cm_disruption_budget import plugin

from container_maker.models import ObjectRef
from container_maker.sdk import ID_KEY, pod_selector
from container_maker.testing import build_context, container_spec


def test_one_budget_selecting_the_containers_pod() -> None:
    context = build_context(owner=ObjectRef(kind="pod", namespace="net", name="web", uid="u-1"))
    manifest = plugin.RESOURCE.manifest(container_spec(container_name="api"), context)
    body = manifest.body
    assert (body["apiVersion"], body["kind"]) == ("policy/v1", "PodDisruptionBudget")
    assert (body["metadata"]["name"], body["metadata"]["namespace"]) == ("api-pdb", "net")
    assert body["metadata"]["labels"][ID_KEY] == context.container_id
    assert body["spec"] == {
        "maxUnavailable": 0,
        "selector": {"matchLabels": pod_selector(context.container_id)},
    }
    (owner,) = body["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Pod", "web", "u-1")


def test_it_needs_the_pod_to_exist() -> None:
    """Owned by the pod: built once the pod is created (the registry's order), never before."""
    with pytest.raises(ValueError, match="owned by the container's pod"):
        plugin.RESOURCE.manifest(container_spec(), build_context())
