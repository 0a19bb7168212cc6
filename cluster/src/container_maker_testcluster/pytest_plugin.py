"""The test cluster for pytest: one real cluster per test run, and a real-node cluster.

* The cluster of the testing kit's ``kube_cluster`` (session; the kit, ``container_maker.testing``,
  owns that fixture and ``namespace``, a fresh namespace per test): this plugin implements the
  kit's ``pytest_container_maker_cluster`` hook. The cluster is started once per run, when a
  test first needs it, and stopped when the session ends. If ``CONTAINER_MAKER_TEST_KUBECONFIG``
  names a kubeconfig, the tests use that cluster instead (kind, k3d, a real one) and nothing is
  started.
* ``real_node_cluster`` (module): a cluster whose only node is a real kubelet with containerd
  (``LocalCluster(node="real")``), started lazily by the first test of a module that asks for it
  and stopped at the end of that module. Module scope, not session: only one real node can run
  on a machine (kube-proxy's iptables chains are machine-wide), and tests that start a real-node
  cluster of their own (e.g. to check that stopping leaves nothing behind) must be able to run
  after it. ``kube_cluster`` stays KWOK-only: its tests use images (nginx:1.27, ...) that cannot
  be pulled here. Skipped when ``CONTAINER_MAKER_TEST_KUBECONFIG`` points elsewhere.
* ``real_node_namespace`` (function): a fresh namespace on the real-node cluster.

While a cluster of ours runs, SIGTERM ends the run like Ctrl-C, so that the cluster is stopped
(see ``_sigterm_as_interrupt``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from container_maker.testing import (
    KUBECONFIG_ENV,
    TEST_NAMESPACE_LABEL,
    KubeconfigCluster,
    scratch_namespace,
)
from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.signals import StopSignals

__all__ = ["KUBECONFIG_ENV", "TEST_NAMESPACE_LABEL", "TestCluster"]

# Another test run on the same machine may hold the real node; wait for it rather than fail.
REAL_NODE_LOCK_WAIT_SECONDS = 900


@dataclass(frozen=True)
class TestCluster(KubeconfigCluster):
    """What tests get: the kit's cluster, with the cluster we started (``local``) when we did:
    its images, its API client and its release's kubectl (``kubectl_path``)."""

    __test__ = False  # not a test class, despite the name

    def image(self, name: str) -> str:
        """Reference of one of our images (``testapp``, ``pause``) in the real node's registry."""
        if self.local is None:
            raise LookupError("only a real-node cluster started here has our images")
        image: str = self.local.image(name)
        return image

    def api_client(self) -> client.ApiClient:
        """A new API client for the cluster (admin credentials of the kubeconfig)."""
        if self.local is not None:
            api: client.ApiClient = self.local.api_client()
            return api
        return super().api_client()


def _sigterm_as_interrupt() -> contextlib.AbstractContextManager[object]:
    """While a cluster of ours runs, SIGTERM ends the run like Ctrl-C (KeyboardInterrupt, so
    the fixtures stop the cluster) instead of killing pytest, which would leave the run
    directory and, with a real node, the machine's network settings behind. Raised once:
    ``timeout`` and ``uv run`` deliver two SIGTERMs at once, and a second KeyboardInterrupt
    would abort the teardown the first started. Signals during the stop itself make it skip
    the grace periods (:meth:`LocalCluster.stop`). A SIGTERM handler of someone else's is
    left alone."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return contextlib.nullcontext()
    return StopSignals(raise_first=True, signals=(signal.SIGTERM,))


@pytest.hookimpl(optionalhook=True)
def pytest_container_maker_cluster(
    config: pytest.Config,
) -> contextlib.AbstractContextManager[TestCluster]:
    """The kit's session cluster: ours, or the one ``CONTAINER_MAKER_TEST_KUBECONFIG`` names."""
    return _session_cluster()


@contextlib.contextmanager
def _session_cluster() -> Iterator[TestCluster]:
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.fail(f"{KUBECONFIG_ENV} is set but no kubectl is on PATH")
        yield TestCluster(Path(external), kubectl, simulated=False)
        return
    with _sigterm_as_interrupt(), LocalCluster(nodes=2) as local:
        assert local.binaries is not None
        yield TestCluster(
            local.kubeconfig, str(local.binaries.bin_dir / "kubectl"), simulated=True, local=local
        )


@pytest.fixture(scope="module")
def real_node_cluster() -> Iterator[TestCluster]:
    if os.environ.get(KUBECONFIG_ENV):
        pytest.skip(f"{KUBECONFIG_ENV} is set: the real-node tests need a cluster started here")
    with (
        _sigterm_as_interrupt(),
        LocalCluster(node="real", node_lock_wait=REAL_NODE_LOCK_WAIT_SECONDS) as local,
    ):
        assert local.binaries is not None
        yield TestCluster(
            local.kubeconfig, str(local.binaries.bin_dir / "kubectl"), simulated=False, local=local
        )


@pytest.fixture
def real_node_namespace(
    real_node_cluster: TestCluster, request: pytest.FixtureRequest
) -> Iterator[str]:
    with scratch_namespace(real_node_cluster, request.node.name) as name:
        yield name
