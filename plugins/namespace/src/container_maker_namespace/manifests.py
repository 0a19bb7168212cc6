"""The namespace manifest (pure)."""

from __future__ import annotations

from typing import Any

from container_maker.sdk import TENANT_KEY, managed_labels

PSS_ENFORCE = "pod-security.kubernetes.io/enforce"


def build_namespace(name: str, pod_security_level: str, tenant: str) -> dict[str, Any]:
    """A namespace labelled as Container Maker's and as ``tenant``'s, enforcing the given Pod
    Security Standard.

    It carries no container id: a namespace is shared by the tenant's containers in it.
    """
    labels = managed_labels()
    labels[TENANT_KEY] = tenant
    labels[PSS_ENFORCE] = pod_security_level
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels},
    }
