"""pytest fixtures: one real cluster per test run, one fresh namespace per test.

* ``kube_cluster`` (session): the cluster. Started once per run and stopped when the session
  ends. If ``CONTAINER_MAKER_TEST_KUBECONFIG`` names a kubeconfig, the tests use that cluster
  instead (kind, k3d, a real one) and nothing is started.
* ``namespace`` (function): the name of a namespace created for the test, deleted after it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from container_maker_testcluster.cluster import LocalCluster

KUBECONFIG_ENV = "CONTAINER_MAKER_TEST_KUBECONFIG"
TEST_NAMESPACE_LABEL = "container-maker.io/test-namespace"


@dataclass(frozen=True)
class TestCluster:
    """What tests get: how to reach the cluster, and whether its nodes are simulated."""

    __test__ = False  # not a test class, despite the name

    kubeconfig: Path
    kubectl_path: str
    simulated: bool
    local: LocalCluster | None = None

    def api_client(self) -> client.ApiClient:
        """A new API client for the cluster (admin credentials of the kubeconfig)."""
        if self.local is not None:
            return self.local.api_client()
        api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl (of the cluster's release, when we started it) against the cluster."""
        return subprocess.run(
            [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            input=input,
            timeout=120,
        )


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[TestCluster]:
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.fail(f"{KUBECONFIG_ENV} is set but no kubectl is on PATH")
        yield TestCluster(Path(external), kubectl, simulated=False)
        return
    with LocalCluster(nodes=2) as local:
        assert local.binaries is not None
        yield TestCluster(
            local.kubeconfig, str(local.binaries.bin_dir / "kubectl"), simulated=True, local=local
        )


@pytest.fixture
def namespace(kube_cluster: TestCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    core = client.CoreV1Api(kube_cluster.api_client())
    stem = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"t-{stem}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    yield name
    try:
        core.delete_namespace(name, propagation_policy="Background")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
