"""Pure helpers that turn models into the JSON shapes of Kubernetes objects, and back.

The plugins' builders (their ``manifests`` modules, which make each kind's
:class:`~container_maker.models.Manifest`) use them through the SDK, so that every plugin
writes labels, owner references, resources and security settings the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import BuildContext
from .identity import container_annotations, container_labels, owner_reference
from .models import ContainerResources, ContainerSpec

# ContainerResources fields -> (section, Kubernetes resource name).
_RESOURCE_FIELDS: dict[str, tuple[str, str]] = {
    "cpu_request": ("requests", "cpu"),
    "cpu_limit": ("limits", "cpu"),
    "memory_request": ("requests", "memory"),
    "memory_limit": ("limits", "memory"),
    "ephemeral_request": ("requests", "ephemeral-storage"),
    "ephemeral_limit": ("limits", "ephemeral-storage"),
}


def object_metadata(
    name: str, spec: ContainerSpec, context: BuildContext, *, owned: bool = False
) -> dict[str, Any]:
    """The metadata of one of a container's objects: labels from birth, owner when ``owned``."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": spec.network_name,
        "labels": container_labels(context.container_id, spec, context.tenant),
        "annotations": container_annotations(spec),
    }
    if owned:
        if context.owner is None:
            raise ValueError(f"{name} must be owned by the container's pod, which is unknown")
        metadata["ownerReferences"] = [owner_reference(context.owner)]
    return metadata


def resource_requirements(resources: ContainerResources) -> dict[str, dict[str, str]]:
    """A container's ``resources`` from a :class:`ContainerResources` (empty values omitted)."""
    out: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    for field, (section, name) in _RESOURCE_FIELDS.items():
        value = getattr(resources, field)
        if value:
            out[section][name] = value
    return {section: values for section, values in out.items() if values}


def resources_from_kubernetes(
    requests: Mapping[str, str] | None,
    limits: Mapping[str, str] | None,
    snapshot_size_limit: str = "",
) -> ContainerResources:
    """The inverse of :func:`resource_requirements` (for reporting what exists)."""
    sections = {"requests": dict(requests or {}), "limits": dict(limits or {})}
    values = {
        field: str(sections[section].get(name, ""))
        for field, (section, name) in _RESOURCE_FIELDS.items()
    }
    return ContainerResources(snapshot_size_limit=snapshot_size_limit, **values)


USER_DROPPED_CAPABILITIES = ("NET_RAW", "MKNOD")
"""Capabilities the user's container never has, whatever its image.

With them gone the user's container is strictly weaker than the snapshot sidecar (which keeps
the runtime's default set): the kernel's ptrace access check (``cap_issubset``) then refuses the
user every ``/proc/<pid>/*`` file of the sidecar's processes, dumpable or not, while the sidecar
can still read a root user container. NET_RAW would also let tenant code sniff and spoof on the
node's pod network (ARP, router advertisements); MKNOD is of no use to a sandboxed program.
"""


def unprivileged(drop_all_capabilities: bool = False) -> dict[str, Any]:
    """A container securityContext that never grants privileges.

    The user's container keeps the rest of the runtime's default capabilities (images such as
    web servers need e.g. NET_BIND_SERVICE) but never those of
    :data:`USER_DROPPED_CAPABILITIES`; sidecars drop them all.
    """
    context: dict[str, Any] = {"privileged": False, "allowPrivilegeEscalation": False}
    if drop_all_capabilities:
        context["capabilities"] = {"drop": ["ALL"]}
    else:
        context["capabilities"] = {"drop": list(USER_DROPPED_CAPABILITIES)}
    return context
