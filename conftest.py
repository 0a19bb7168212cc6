"""Fixtures of every test directory of the repository.

Container Maker uses only namespaces labelled for the caller's tenant. The testing kit's
``namespace`` and the test cluster's ``real_node_namespace`` are made by an admin without that
label, so for this repository's tests they go, on purpose, through the operator's labelling
path: assigned to tenant ``local``, the tenant of direct manager calls and of anonymous
in-process servers. Tests that need a namespace Container Maker must refuse make their own.
"""

from __future__ import annotations

from typing import Any

import pytest

from container_maker.auth import LOCAL_IDENTITY
from container_maker.tenancy import assign_namespace


@pytest.fixture
def namespace(namespace: str, kube_cluster: Any) -> str:
    """The kit's fresh namespace, assigned to tenant local."""
    return _assigned(kube_cluster, namespace)


@pytest.fixture
def real_node_namespace(real_node_namespace: str, real_node_cluster: Any) -> str:
    """The real-node cluster's fresh namespace, assigned to tenant local."""
    return _assigned(real_node_cluster, real_node_namespace)


def _assigned(cluster: Any, name: str) -> str:
    api = cluster.api_client()
    try:
        assign_namespace(api, name, LOCAL_IDENTITY.tenant)
    finally:
        api.close()
    return name
