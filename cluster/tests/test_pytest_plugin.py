"""The pytest fixtures, exercised in a pytest run of their own (pytester-style subprocess).

One run uses an existing cluster through CONTAINER_MAKER_TEST_KUBECONFIG and must start
nothing; the other starts its own cluster and must leave no process and no directory behind
when its session ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from container_maker_testcluster.pytest_plugin import KUBECONFIG_ENV, TestCluster

INNER_TEST = """
import json, os
from kubernetes import client

def test_inner(kube_cluster, namespace):
    core = client.CoreV1Api(kube_cluster.api_client())
    assert core.read_namespace(namespace).metadata.name == namespace
    local = kube_cluster.local
    with open(os.environ["REPORT"], "w") as f:
        json.dump({
            "namespace": namespace,
            "local": local is not None,
            "pids": list(local.pids.values()) if local else [],
            "run_dir": str(local.run_dir) if local else None,
            "nodes": len(core.list_node().items),
        }, f)
"""


def inner_pytest(tmp_path: Path, test: str) -> list[str]:
    (tmp_path / "test_inner.py").write_text(test)
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
        str(tmp_path / "test_inner.py"),
    ]


def run_inner(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        inner_pytest(tmp_path, INNER_TEST),
        env={**os.environ, **env, "REPORT": str(report)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, object] = json.loads(report.read_text())
    return data


def test_existing_cluster_from_kubeconfig_starts_nothing(
    kube_cluster: TestCluster, tmp_path: Path
) -> None:
    report = run_inner(tmp_path, {KUBECONFIG_ENV: str(kube_cluster.kubeconfig)})
    assert report["local"] is False
    assert report["nodes"]
    # The inner run's namespace was removed (or is being removed) from our cluster.
    result = kube_cluster.kubectl(
        "get", "namespace", str(report["namespace"]), "-o", "json", check=False
    )
    if result.returncode == 0:
        assert json.loads(result.stdout)["status"]["phase"] == "Terminating"


@pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)),
    reason=f"{KUBECONFIG_ENV} is set: this run must not start clusters",
)
def test_session_end_stops_the_cluster(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != KUBECONFIG_ENV}
    report = run_inner(tmp_path, env)
    assert report["local"] is True
    pids = report["pids"]
    assert isinstance(pids, list) and len(pids) == 5
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert not Path(str(report["run_dir"])).exists()


INNER_TEST_WAITS = """
import json, os, time

def test_inner(kube_cluster):
    local = kube_cluster.local
    with open(os.environ["REPORT"] + ".tmp", "w") as f:
        json.dump({"pids": list(local.pids.values()), "run_dir": str(local.run_dir)}, f)
    os.rename(os.environ["REPORT"] + ".tmp", os.environ["REPORT"])
    time.sleep(600)
"""


@pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)),
    reason=f"{KUBECONFIG_ENV} is set: this run must not start clusters",
)
def test_two_sigterms_end_the_session_and_stop_the_cluster(tmp_path: Path) -> None:
    """``timeout ./dev test``: timeout signals its process group and ``uv run`` forwards the
    same SIGTERM. The run ends as on Ctrl-C and the cluster is stopped; SIGTERM's default
    action would have killed pytest with the run directory left behind."""
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k != KUBECONFIG_ENV}
    process = subprocess.Popen(
        inner_pytest(tmp_path, INNER_TEST_WAITS),
        env={**env, "REPORT": str(report)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not report.exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stdout
            time.sleep(0.2)
        data = json.loads(report.read_text())
        process.send_signal(signal.SIGTERM)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert not [p for p in data["pids"] if Path(f"/proc/{p}").exists()], output
    assert not Path(data["run_dir"]).exists(), output
