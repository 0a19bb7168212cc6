"""The namespace manifest (pure)."""

from __future__ import annotations

from container_maker_namespace.manifests import build_namespace


def test_labelled_as_ours_with_pod_security() -> None:
    assert build_namespace("team-a", "baseline") == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "team-a",
            "labels": {
                "app.kubernetes.io/managed-by": "container-maker",
                "pod-security.kubernetes.io/enforce": "baseline",
                "container-maker.io/tenant": "local",
            },
        },
    }


def test_restricted_on_request() -> None:
    labels = build_namespace("x", "restricted")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
