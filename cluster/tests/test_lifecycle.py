"""Starting and stopping leaves nothing behind: no processes, no run directory.

These start clusters of their own (besides the session's), through the Python API and through
the command line, so they are skipped when CONTAINER_MAKER_TEST_KUBECONFIG points elsewhere.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client

from container_maker_testcluster.cluster import STOP_GRACE_SECONDS, LocalCluster
from container_maker_testcluster.pytest_plugin import KUBECONFIG_ENV

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)),
    reason=f"{KUBECONFIG_ENV} is set: this run must not start clusters of its own",
)

CLI = [sys.executable, "-m", "container_maker_testcluster"]


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def wait_for_state(run_dir: Path, timeout: float = 180) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state: dict[str, object] = json.loads((run_dir / "state.json").read_text())
            return state
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.5)
    pytest.fail(f"no state.json in {run_dir} after {timeout}s")


def component_pids(state: dict[str, object]) -> list[int]:
    pids = state["pids"]
    assert isinstance(pids, dict)
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }
    return [int(p) for p in pids.values()]


def test_python_api_stop_leaves_no_process_and_no_directory() -> None:
    cluster = LocalCluster(nodes=1)
    with cluster:
        pids = list(cluster.pids.values())
        assert all(alive(p) for p in pids)
        nodes = client.CoreV1Api(cluster.api_client()).list_node().items
        assert [n.metadata.name for n in nodes] == ["kwok-node-0"]
    assert not any(alive(p) for p in pids)
    assert not cluster.run_dir.exists()


def test_cli_up_detach_env_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    up = subprocess.run(
        [*CLI, "up", "--detach", "--dir", str(run_dir)], capture_output=True, text=True, timeout=300
    )
    assert up.returncode == 0, up.stderr
    assert "export KUBECONFIG=" in up.stdout
    state = wait_for_state(run_dir)
    pids = component_pids(state)

    env = subprocess.run(
        [*CLI, "env", "--dir", str(run_dir)], capture_output=True, text=True, check=True
    )
    lines = dict(line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines())
    kubectl = Path(lines["PATH"].split(":")[0]) / "kubectl"
    nodes = subprocess.run(
        [str(kubectl), f"--kubeconfig={lines['KUBECONFIG']}", "get", "nodes", "-o", "name"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert nodes.stdout.split() == ["node/kwok-node-0"]

    subprocess.run([*CLI, "down", "--dir", str(run_dir)], check=True, timeout=120)
    assert not any(alive(p) for p in [*pids, int(str(state["supervisor_pid"]))])
    assert not run_dir.exists()


def foreground_up(run_dir: Path) -> subprocess.Popen[str]:
    """``up`` in the foreground, its output (stdout and stderr) on one pipe."""
    return subprocess.Popen(
        [*CLI, "up", "--dir", str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_ctrl_c_stops_a_foreground_cluster(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    process = foreground_up(run_dir)
    try:
        pids = component_pids(wait_for_state(run_dir))
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "stopped" in output
    assert not any(alive(p) for p in pids)
    assert not run_dir.exists()


def test_a_second_signal_during_the_stop_skips_the_grace_and_still_cleans_up(
    tmp_path: Path,
) -> None:
    """``up`` stops on SIGTERM; a SIGINT during that stop (Python's own handler would raise
    KeyboardInterrupt in the middle of it) makes it skip the components' grace, and it still
    removes everything. The stop provably runs when the SIGINT comes: a stopped (SIGSTOP)
    controller manager cannot exit, so the stop waits STOP_GRACE_SECONDS for it."""
    run_dir = tmp_path / "cluster"
    process = foreground_up(run_dir)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    state = wait_for_state(run_dir)
    pids = component_pids(state)
    assert isinstance(state["pids"], dict)
    controller_manager = int(state["pids"]["kube-controller-manager"])
    try:
        os.kill(controller_manager, signal.SIGSTOP)
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        while "stopping" not in lines.get(timeout=max(0.1, deadline - time.monotonic())):
            pass
        second = time.monotonic()
        process.send_signal(signal.SIGINT)
        code = process.wait(60)
        took = time.monotonic() - second
    finally:
        if alive(controller_manager):
            os.kill(controller_manager, signal.SIGCONT)
        if process.poll() is None:
            process.kill()
    text = "".join(output)
    assert code == 0, text
    assert "stopping now" in text and "stopped" in text.splitlines()[-1], text
    assert not any(alive(p) for p in pids)
    assert not run_dir.exists()
    print(f"stopped {took:.1f} s after the second signal")
    assert took < STOP_GRACE_SECONDS, text
