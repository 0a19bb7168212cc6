"""Fixtures of the API tests: one in-process server per module on the real test cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_support import (
    Running,
    StatusLeasePolicy,
    delete_namespace,
    new_network_name,
    running_server,
)
from kubernetes import client


@pytest.fixture(scope="module")
def admin_api(kube_cluster: Any) -> Iterator[client.ApiClient]:
    api: client.ApiClient = kube_cluster.api_client()
    yield api
    api.close()


@pytest.fixture(scope="module")
def api_server(admin_api: client.ApiClient) -> Iterator[Running]:
    """The API served on the test cluster with the admin's credentials (module-wide), with
    reflection, as ``./dev serve`` serves it (anonymous: loopback, no authenticator)."""
    with running_server(admin_api, reflection=True) as running:
        yield running


@pytest.fixture
def stub(api_server: Running) -> Any:
    return api_server.stub


@pytest.fixture
def network(admin_api: client.ApiClient) -> Iterator[str]:
    """A namespace name nobody uses yet; Container Maker creates it. Deleted afterwards."""
    name = new_network_name()
    yield name
    delete_namespace(admin_api, name)


@pytest.fixture(scope="module")
def status_lease_policy(kube_cluster: Any) -> Iterator[StatusLeasePolicy]:
    """deploy/status-lease-policy.yaml installed and enforced for the module's tests."""
    policy = StatusLeasePolicy(kube_cluster)
    try:
        policy.install()
        yield policy
    finally:
        policy.close()


@pytest.fixture
def without_status_lease_policy(
    status_lease_policy: StatusLeasePolicy,
) -> Iterator[StatusLeasePolicy]:
    """The policy's binding deleted for one test (nothing enforced), then restored."""
    status_lease_policy.unbind()
    try:
        yield status_lease_policy
    finally:
        status_lease_policy.install()
