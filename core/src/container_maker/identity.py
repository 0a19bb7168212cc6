"""Identity of a container's objects: labels, annotations, object names and label selectors.

Every object Container Maker makes carries the managed-by label and the container id label from
birth, so one label selector per kind finds all objects of a container (and only ours).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from .models import ContainerSpec, ExposureLevel, ObjectRef

MANAGED_BY_KEY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "container-maker"
ID_KEY = "container-maker.io/id"
NAME_KEY = "container-maker.io/name"
EXPOSURE_KEY = "container-maker.io/exposure-level"
# The tenant a namespace (and every object of ours in it) belongs to. A namespace is used for a
# tenant's containers only when it carries this label with the tenant's value: Container Maker
# sets it on the namespaces it creates; an operator may set it on one made otherwise.
TENANT_KEY = "container-maker.io/tenant"
SPEC_HASH_ANNOTATION = "container-maker.io/spec-hash"
# The label selecting a container's pod (the Service selects on it).
POD_SELECTOR_KEY = ID_KEY

# The pod-wide emptyDir shared by the user's container and the snapshot sidecar.
SNAPSHOT_VOLUME = "snapshot"

# Suffixes appended to the container name for the objects that need their own name. The pod
# carries the container name itself. Names must stay valid Kubernetes names after the suffix.
NAME_SUFFIXES: Mapping[str, str] = {
    "pod": "",
    "service": "-svc",
    "ingress": "-ing",
    "networkpolicy": "-net",
}
MAX_NAME_LENGTH = 63 - max(len(s) for s in NAME_SUFFIXES.values())

_EXPOSURE_NAMES = {
    ExposureLevel.INTERNAL: "internal",
    ExposureLevel.CLUSTER_LOCAL: "cluster-local",
    ExposureLevel.CLUSTER_EXTERNAL: "cluster-external",
    ExposureLevel.EXPOSED: "exposed",
}
_EXPOSURE_BY_NAME = {v: k for k, v in _EXPOSURE_NAMES.items()}


def new_container_id() -> str:
    """A fresh container id (a random UUID)."""
    return str(uuid.uuid4())


def object_name(kind: str, container_name: str) -> str:
    """The Kubernetes name of the ``kind`` object of a container."""
    return container_name + NAME_SUFFIXES.get(kind, f"-{kind}")


def exposure_label(level: ExposureLevel) -> str:
    """The value of the exposure label for ``level``."""
    return _EXPOSURE_NAMES[level]


def exposure_from_label(value: str | None) -> ExposureLevel | None:
    """The exposure level named by a label value, or None when missing or unknown."""
    if value is None:
        return None
    return _EXPOSURE_BY_NAME.get(value)


def managed_labels() -> dict[str, str]:
    """The label every object made by Container Maker carries."""
    return {MANAGED_BY_KEY: MANAGED_BY_VALUE}


def container_labels(container_id: str, spec: ContainerSpec, tenant: str) -> dict[str, str]:
    """The labels of every object of one container (of ``tenant``)."""
    return {
        MANAGED_BY_KEY: MANAGED_BY_VALUE,
        TENANT_KEY: tenant,
        ID_KEY: container_id,
        NAME_KEY: spec.container_name,
        EXPOSURE_KEY: exposure_label(spec.exposure),
    }


def container_annotations(spec: ContainerSpec) -> dict[str, str]:
    """The annotations of every object of one container (the spec digest, for idempotency)."""
    return {SPEC_HASH_ANNOTATION: spec.spec_hash()}


def is_managed(labels: Mapping[str, str] | None) -> bool:
    """True when the labels mark an object as made by Container Maker."""
    return labels is not None and labels.get(MANAGED_BY_KEY) == MANAGED_BY_VALUE


def label_selector(
    container_id: str | None = None,
    container_name: str | None = None,
    tenant: str | None = None,
) -> str:
    """The label selector for managed objects, optionally of one container (by id or name)
    or of one tenant."""
    terms = [f"{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"]
    if tenant is not None:
        terms.append(f"{TENANT_KEY}={tenant}")
    if container_id is not None:
        terms.append(f"{ID_KEY}={container_id}")
    if container_name is not None:
        terms.append(f"{NAME_KEY}={container_name}")
    return ",".join(terms)


def pod_selector(container_id: str) -> dict[str, str]:
    """The labels by which a container's Service selects its pod (and only its pod)."""
    return {MANAGED_BY_KEY: MANAGED_BY_VALUE, POD_SELECTOR_KEY: container_id}


def owner_reference(owner: ObjectRef) -> dict[str, object]:
    """An ownerReference to ``owner`` (a Pod), so the garbage collector finishes any cascade.

    Not a controller reference and without blockOwnerDeletion: the Pod does not control these
    objects, and blockOwnerDeletion would need extra RBAC (finalizers on pods).
    """
    if owner.kind != "pod":
        raise ValueError(f"only pods own other objects, not {owner.kind}")
    return {"apiVersion": "v1", "kind": "Pod", "name": owner.name, "uid": owner.uid}
