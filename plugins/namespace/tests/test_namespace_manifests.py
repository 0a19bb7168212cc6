"""The namespace manifest (pure)."""

from __future__ import annotations

from container_maker_namespace.manifests import build_namespace


def test_labelled_as_ours_with_pod_security() -> None:
    assert build_namespace("team-a", "baseline", "tenant-a") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "team-a",
            "labels": {
                "app.kubernetes.io/managed-by": "container-maker",
                "container-maker.io/tenant": "tenant-a",
                "pod-security.kubernetes.io/enforce": "baseline",
            },
        },
    }


def test_restricted_on_request() -> None:
    labels = build_namespace("x", "restricted", "local")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
