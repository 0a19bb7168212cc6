"""Kind "disruption-budget": a PodDisruptionBudget per container, so that no voluntary
disruption (a node drain) evicts its pod. Made after the pod, which owns it; shown under the pod
in the associated-resources tree; deleted with the container."""

from __future__ import annotations

from typing import Any

from kubernetes import client

from container_maker.sdk import (
    BuildContext,
    ContainerSpec,
    NamespacedApi,
    ObservedObject,
    Resource,
    ResourceRegistry,
    hookimpl,
    object_metadata,
    pod_selector,
)

KIND = "disruption-budget"
SUFFIX = "-pdb"


def build(spec: ContainerSpec, context: BuildContext) -> dict[str, Any]:
    """The budget of one container: its pod, selected by the container id, may not be evicted."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(spec.container_name + SUFFIX, spec, context, owned=True),
        "spec": {
            "maxUnavailable": 0,
            "selector": {"matchLabels": pod_selector(context.container_id)},
        },
    }


BUDGETS = NamespacedApi.of(
    client.PolicyV1Api,
    "pod_disruption_budget",
    observe=lambda pdb: ObservedObject.from_metadata(pdb, KIND),
    plural="poddisruptionbudgets",
)

RESOURCE = Resource(
    kind=KIND,
    build=build,
    client=BUDGETS,
    after=("pod",),  # it is owned by the pod
    parent="pod",
    name_suffix=SUFFIX,
)


@hookimpl
def cm_register_resources(registry: ResourceRegistry) -> None:
    registry.add(RESOURCE)
