"""The registry allow-list and the pull policy through gRPC, on the test cluster (KWOK nodes:
simulated, so no image is ever pulled; what is checked is what reaches the API server).

With ``image_registries`` set, a create naming an image from elsewhere (the review's
``10.0.0.1:5000/x``, a Docker Hub short name) is INVALID_ARGUMENT naming ``image_name`` and the
allowed registries, and leaves nothing behind: no namespace, no object. An allowed image, and a
saved image of ``registry``, are created with ``imagePullPolicy: Always``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from api_support import (
    Running,
    create_request,
    managed_objects,
    namespace_phase,
    rpc_error,
    running_server,
)
from kubernetes import client

from container_maker.settings import Settings

ALLOWED = "registry.example.com/team"
SAVED = "saved.example.com:5000/saved"
DIGEST = "sha256:" + "5e" * 32


@pytest.fixture(scope="module")
def allow_listed(admin_api: client.ApiClient) -> Iterator[Running]:
    settings = Settings(image_registries=(ALLOWED,), registry=SAVED)
    with running_server(admin_api, settings=settings) as running:
        yield running


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("10.0.0.1:5000/x", "10.0.0.1:5000"),
        ("nginx:1.27", "docker.io"),
        ("registry.example.com/other/app:1", "registry.example.com"),
        ("registry.example.com:5000/team/app:1", "registry.example.com:5000"),
    ],
)
def test_an_image_from_another_registry_is_refused_and_leaves_nothing(
    allow_listed: Running, admin_api: client.ApiClient, network: str, image: str, registry: str
) -> None:
    error = rpc_error(
        allow_listed.stub.createContainer, create_request(network, image_name=image), timeout=30
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = error.details() or ""
    assert details.startswith("image_name: "), details
    assert f"registry {registry!r}" in details, details
    assert details.endswith(f"allowed registries: {ALLOWED}, {SAVED}"), details
    # Refused before anything was made: the namespace was never created.
    assert namespace_phase(admin_api, network) is None
    assert managed_objects(admin_api, network) == []


def pull_policy(api: client.ApiClient, network: str, name: str) -> Any:
    pod = client.CoreV1Api(api).read_namespaced_pod(name, network)
    (user,) = [c for c in pod.spec.containers if c.name == name]
    return user.image, user.image_pull_policy


def test_allowed_and_saved_images_are_created_and_pulled_at_every_start(
    allow_listed: Running, admin_api: client.ApiClient, network: str
) -> None:
    allowed = f"{ALLOWED}/app:1"
    saved = f"{SAVED}/{network}/web@{DIGEST}"
    for name, image in (("web", allowed), ("copy", saved)):
        allow_listed.stub.createContainer(
            create_request(network, name, image_name=image), timeout=60
        )
        assert pull_policy(admin_api, network, name) == (image, "Always")
