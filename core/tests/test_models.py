"""Models are strict and frozen; identity helpers (pure)."""

from __future__ import annotations

import pydantic
import pytest

from container_maker.identity import (
    MAX_NAME_LENGTH,
    container_labels,
    label_selector,
    object_name,
)
from container_maker.models import ContainerSpec, Manifest, PublishInformation


def spec(**changes: object) -> ContainerSpec:
    values: dict[str, object] = {
        "image_name": "nginx",
        "container_name": "web",
        "network_name": "net",
        "exposure_level": 2,
        "environment_variables": {"A": "1", "B": "2"},
    }
    values.update(changes)
    return ContainerSpec.model_validate(values)


def test_models_are_frozen() -> None:
    s = spec()
    with pytest.raises(pydantic.ValidationError):
        s.container_name = "other"  # type: ignore[misc]


def test_models_are_strict_and_forbid_extra_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        PublishInformation.model_validate({"publish_port": "80", "target_port": 80})
    with pytest.raises(pydantic.ValidationError):
        spec(colour="blue")


def test_manifest_body_cannot_be_changed_through_to_body() -> None:
    manifest = Manifest(kind="pod", body={"metadata": {"labels": {"a": "b"}}})
    body = manifest.to_body()
    body["metadata"]["labels"]["a"] = "changed"
    assert manifest.body["metadata"]["labels"]["a"] == "b"


def test_spec_hash_ignores_dict_order_but_not_content() -> None:
    a = spec(environment_variables={"A": "1", "B": "2"})
    b = spec(environment_variables={"B": "2", "A": "1"})
    c = spec(environment_variables={"A": "1", "B": "3"})
    assert a.spec_hash() == b.spec_hash()
    assert a.spec_hash() != c.spec_hash()
    assert a.spec_hash() != spec(exposure_level=3).spec_hash()


def test_labels_and_selectors() -> None:
    labels = container_labels("id-1", spec(), "team-a")
    assert labels == {
        "app.kubernetes.io/managed-by": "container-maker",
        "container-maker.io/tenant": "team-a",
        "container-maker.io/id": "id-1",
        "container-maker.io/name": "web",
        "container-maker.io/exposure-level": "cluster-local",
    }
    assert label_selector() == "app.kubernetes.io/managed-by=container-maker"
    assert label_selector("id-1") == (
        "app.kubernetes.io/managed-by=container-maker,container-maker.io/id=id-1"
    )
    assert label_selector(container_name="web").endswith("container-maker.io/name=web")
    assert label_selector(tenant="team-a") == (
        "app.kubernetes.io/managed-by=container-maker,container-maker.io/tenant=team-a"
    )


def test_object_names_stay_within_kubernetes_limits() -> None:
    longest = "w" * MAX_NAME_LENGTH
    for kind in ("pod", "service", "ingress"):
        assert len(object_name(kind, longest)) <= 63
    assert object_name("pod", "web") == "web"
    assert object_name("service", "web") == "web-svc"
    assert object_name("ingress", "web") == "web-ing"
