"""``LocalCluster.restart_apiserver``: the API server stops (gracefully, or killed outright) and
starts again on the same port with the same certificates and etcd data; the other components
reconnect by themselves, so the cluster is fully usable afterwards.

It starts a cluster of its own (restarting the session's would disturb every other test), so it
is skipped when CONTAINER_MAKER_TEST_KUBECONFIG points elsewhere.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.pytest_plugin import KUBECONFIG_ENV

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)),
    reason=f"{KUBECONFIG_ENV} is set: this run must not start clusters of its own",
)


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def wait_until(what: str, check: Callable[[], Any], timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except client.ApiException:
            result = None
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=1) as local:
        yield local


def a_pod_runs(core: client.CoreV1Api, name: str) -> None:
    """A new pod is scheduled (scheduler), run (KWOK) and deleted: every component works."""
    core.create_namespaced_pod(
        "default",
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
        ),
    )

    def running() -> bool:
        pod: Any = core.read_namespaced_pod(name, "default")
        return bool(pod.status.phase == "Running" and pod.spec.node_name)

    wait_until(f"pod {name} Running on a node", running)
    core.delete_namespaced_pod(name, "default", grace_period_seconds=0)


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_restart_keeps_port_data_and_components(cluster: LocalCluster, hard: bool) -> None:
    core = client.CoreV1Api(cluster.api_client())
    name = f"before-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"kept": "yes"}),
    )
    before = cluster.pids
    server = cluster.server

    cluster.restart_apiserver(hard=hard)

    after = cluster.pids
    assert after["kube-apiserver"] != before["kube-apiserver"]
    assert not alive(before["kube-apiserver"])
    assert alive(after["kube-apiserver"])
    # Only the API server was restarted, and it is reached where it was, as it was.
    assert {k: v for k, v in after.items() if k != "kube-apiserver"} == {
        k: v for k, v in before.items() if k != "kube-apiserver"
    }
    assert cluster.server == server
    assert cluster.get_raw("/readyz") == b"ok"
    # etcd's data is kept: what was made before is there (the same client, its same token).
    assert core.read_namespaced_config_map(name, "default").data == {"kept": "yes"}
    log = (cluster.run_dir / "logs" / "kube-apiserver.log").read_text(errors="replace")
    assert log.count("Serving securely on") >= 2  # one log, both processes
    # The node stays Ready, and a new pod is scheduled and run: the scheduler and KWOK
    # reconnected.
    a_pod_runs(core, f"after-{uuid.uuid4().hex[:6]}")
