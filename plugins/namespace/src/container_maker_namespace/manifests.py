"""The namespace manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.auth import LOCAL_IDENTITY
from container_maker.identity import TENANT_KEY, managed_labels

PSS_ENFORCE = "pod-security.kubernetes.io/enforce"


def build_namespace(name: str, pod_security_level: str) -> dict[str, Any]:
    """A namespace labelled as Container Maker's, enforcing the given Pod Security Standard.

    It carries no container id: a namespace is shared by the containers in it.
    """
    labels = managed_labels()
    labels[PSS_ENFORCE] = pod_security_level
    # Placeholder until the tenancy change labels it with the caller's tenant: the admission
    # policy on the server's RoleBindings (deploy/admission.yaml) wants a tenant's namespace.
    labels[TENANT_KEY] = LOCAL_IDENTITY.tenant
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels},
    }
