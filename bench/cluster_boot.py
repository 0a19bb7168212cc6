"""Benchmark: test-cluster boot time and memory, and the build cache.

    uv run python bench/cluster_boot.py [--runs 5] [--rebuild]

Boots the cluster ``--runs`` times in a row and reports the median time from ``start()`` to a
usable cluster (``/readyz``, Ready simulated nodes, the default ServiceAccount), the resident
memory of each control-plane process once ready, the time ``ensure_binaries()`` takes when the
binaries are cached, and (with ``--rebuild``) a warm rebuild: the same ``go build`` into a
scratch directory with Go's build cache warm. The machine is shared and noisy: compare figures
taken in the same run, not across runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from container_maker_testcluster import build
from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.paths import cache_dir, cluster_source_dir


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def du_gib(path: str) -> float:
    out = subprocess.run(["du", "-sk", path], capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024**2 if out else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    started = time.monotonic()
    build.ensure_binaries()
    print(f"ensure_binaries() with a warm cache: {time.monotonic() - started:.3f}s")

    if args.rebuild:
        versions = build.Versions.load()
        src = cluster_source_dir() / "kube"
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            subprocess.run(
                [
                    "go",
                    "build",
                    "-trimpath",
                    "-tags",
                    "selinux,notest",
                    "-ldflags",
                    build.link_flags(versions),
                    "-o",
                    f"{tmp}/kube",
                    ".",
                ],
                cwd=src,
                env=build.go_env(versions),
                check=True,
            )
            print(f"warm rebuild (go build, build cache warm): {time.monotonic() - started:.1f}s")

    boots: list[float] = []
    memory: dict[str, list[float]] = {}
    for run in range(args.runs):
        with LocalCluster(nodes=1) as cluster:
            assert cluster.boot_seconds is not None
            boots.append(cluster.boot_seconds)
            for name, pid in cluster.pids.items():
                memory.setdefault(name, []).append(rss_mib(pid))
        print(f"boot {run + 1}: {boots[-1]:.1f}s")
    print(
        f"boot time: median {statistics.median(boots):.1f}s of {len(boots)} "
        f"(min {min(boots):.1f}s, max {max(boots):.1f}s)"
    )
    total = 0.0
    for name, values in memory.items():
        median = statistics.median(values)
        total += median
        print(f"RSS {name}: {median:.0f} MiB (median)")
    print(f"RSS control plane + KWOK total: {total:.0f} MiB")
    gocache = subprocess.run(
        ["go", "env", "GOCACHE", "GOMODCACHE"], capture_output=True, text=True
    ).stdout.split()
    for path in [*gocache, str(cache_dir())]:
        print(f"disk {path}: {du_gib(path):.2f} GiB")


if __name__ == "__main__":
    main()
