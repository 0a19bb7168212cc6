"""Benchmark: the real-node cluster's boot time, pod start latency and node memory.

    uv run python bench/real_node.py [--boots 3] [--pods 10]   (as root)

* boot: wall time of ``python -m container_maker_testcluster up --node real --detach`` (it
  returns once the real node is Ready and untainted and the default ServiceAccount exists),
  ``--boots`` times, each followed by ``down``; median and range.
* pod start latency: on one more cluster, ``--pods`` pods of the test image created one after
  another; time from the create call to the pod being Running with its container ready (polled
  every 50 ms); median and range. The first pod also pulls the image from the local registry.
* resident memory (VmRSS) of the node's processes once the pods have run: kubelet, kube-proxy,
  kube-router, containerd, the registry, and one containerd shim per running pod.

The machine is shared and noisy: compare figures taken in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes import client

from container_maker_testcluster.cluster import LocalCluster


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "container_maker_testcluster", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def boot_times(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = str(Path(tmp) / "c")
            started = time.monotonic()
            cli("up", "--node", "real", "--detach", "--dir", run_dir)
            times.append(time.monotonic() - started)
            cli("down", "--dir", run_dir)
    return times


def pod_latencies(cluster: LocalCluster, count: int) -> list[float]:
    core = client.CoreV1Api(cluster.api_client())
    latencies = []
    for index in range(count):
        name = f"bench-{index}"
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="web", image=cluster.image("testapp"))]
            ),
        )
        started = time.monotonic()
        core.create_namespaced_pod("default", pod)
        while True:
            status = core.read_namespaced_pod(name, "default").status
            if status.phase == "Running" and all(s.ready for s in status.container_statuses or []):
                break
            if time.monotonic() - started > 120:
                raise SystemExit(f"{name} not Running after 120s: {status}")
            time.sleep(0.05)
        latencies.append(time.monotonic() - started)
    return latencies


def node_memory(cluster: LocalCluster) -> dict[str, float]:
    pids = cluster.pids
    memory = {
        n: rss_mib(pids[n])
        for n in ("kubelet", "kube-proxy", "kube-router", "containerd", "registry")
    }
    assert cluster.real_node is not None
    socket = str(cluster.real_node.socket).encode()
    shims = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if socket in (entry / "cmdline").read_bytes():
                    shims.append(rss_mib(int(entry.name)))
            except OSError:
                continue
    memory["shims (total)"] = sum(shims)
    memory["shim count"] = len(shims)
    return memory


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--pods", type=int, default=10)
    args = parser.parse_args()

    boots = boot_times(args.boots)
    with LocalCluster(node="real") as cluster:
        latencies = pod_latencies(cluster, args.pods)
        memory = node_memory(cluster)
    result = {
        "boot_to_ready_node_s": {
            "median": round(statistics.median(boots), 1),
            "min": round(min(boots), 1),
            "max": round(max(boots), 1),
        },
        "pod_create_to_running_s": {
            "median": round(statistics.median(latencies), 2),
            "min": round(min(latencies), 2),
            "max": round(max(latencies), 2),
            "first (pulls the image)": round(latencies[0], 2),
        },
        "rss_mib": {k: round(v, 1) for k, v in memory.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
