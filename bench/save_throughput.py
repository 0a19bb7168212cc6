"""Benchmark: saveContainer's time and throughput on the real node, next to ``tar`` of the same
filesystem on the same node in the same run.

    uv run python bench/save_throughput.py [--sizes-mb 10 200] [--runs 3]   (as root)

For each size, a container of the save test workload (busybox, about 2 MB, plus that many MB
of incompressible data in /data) is created on a fresh real-node cluster, then:

* save: wall time of the ``saveContainer`` gRPC call (exec into the sidecar, measure, read,
  tar+gzip, stream to the node's registry, push config and manifest), ``--runs`` times; median,
  range, and MB/s of file data captured;
* tar: ``tar -czf - --one-file-system -C /proc/<pid>/root .`` run by root on the host on the
  same container's filesystem, output counted and discarded; median of ``--runs``.

The machine is shared and noisy: compare figures taken in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api"))

from api_support import install_status_reporter, running_server  # noqa: E402 -- the tests' helpers, from their directory
from kubernetes import client  # noqa: E402
from snapshot_support import (  # noqa: E402
    SAVEAPP_PORT,
    Relay,
    agent_image,
    saveapp_image,
)
from status_agent_support import status_agent_image  # noqa: E402

from container_maker._proto import types_pb2 as pb  # noqa: E402
from container_maker.settings import Settings  # noqa: E402
from container_maker_testcluster import images  # noqa: E402
from container_maker_testcluster.cluster import LocalCluster  # noqa: E402


def main_pid(runtime_id: str) -> int:
    pids = []
    for cgroup in Path("/proc").glob("[0-9]*/cgroup"):
        try:
            if runtime_id in cgroup.read_text():
                pids.append(int(cgroup.parent.name))
        except OSError:
            continue
    return min(pids)


def file_bytes(root: Path) -> int:
    """Bytes of regular files under ``root``, its /proc, /sys and /dev left out."""
    total = 0
    for directory, subdirs, files in os.walk(root):
        if Path(directory) == root:
            subdirs[:] = [d for d in subdirs if d not in ("proc", "sys", "dev")]
        for name in files:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def tar_seconds(pid: int) -> tuple[float, int]:
    started = time.monotonic()
    tar = subprocess.Popen(
        ["tar", "-czf", "-", "--one-file-system", "-C", f"/proc/{pid}/root", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert tar.stdout is not None
    size = 0
    while chunk := tar.stdout.read(1 << 20):
        size += len(chunk)
    tar.wait()
    return time.monotonic() - started, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with LocalCluster(node="real") as cluster:
        assert cluster.real_node is not None
        registry = cluster.real_node.registry
        agent_ref = images.push(agent_image(), registry)
        relay = Relay(int(registry.rsplit(":", 1)[1]))
        settings = Settings(
            snapshot_image=agent_ref,
            registry=f"{registry}/saved",
            registry_endpoints={registry: relay.address},
            status_image=images.push(status_agent_image(), registry),
        )
        api = cluster.api_client()
        install_status_reporter(api)  # what deploy/ would have made
        try:
            with running_server(api, settings=settings) as running:
                for mb in args.sizes_mb:
                    ref = images.push(saveapp_image(mb * 1024 * 1024), registry)
                    name = f"bench-{mb}"
                    created = running.stub.createContainer(
                        pb.CreateContainerRequest(
                            image_name=ref,
                            container_name=name,
                            network_name="bench",
                            exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
                            publish_information=[
                                pb.PublishInformation(publish_port=80, target_port=SAVEAPP_PORT)
                            ],
                            resource_requirements=pb.ResourceRequirements(
                                snapshot_size_limit="2Gi"
                            ),
                            wait_until_ready=True,
                        ),
                        timeout=300,
                    )
                    pod = client.CoreV1Api(api).list_namespaced_pod("bench").items
                    status = next(
                        s
                        for p in pod
                        for s in p.status.container_statuses
                        if p.metadata.labels.get("container-maker.io/name") == name
                        and s.name == name
                    )
                    pid = main_pid(status.container_id.split("://", 1)[-1])
                    data_bytes = file_bytes(Path(f"/proc/{pid}/root"))
                    saves = []
                    for _ in range(args.runs):
                        started = time.monotonic()
                        running.stub.saveContainer(
                            pb.SaveContainerRequest(
                                container_id=created.container_id, network_name="bench"
                            ),
                            timeout=900,
                        )
                        saves.append(time.monotonic() - started)
                    tars = [tar_seconds(pid) for _ in range(args.runs)]
                    mib = data_bytes / 1024 / 1024
                    save_median = statistics.median(saves)
                    tar_median = statistics.median(t for t, _ in tars)
                    print(
                        f"{mb} MB extra ({mib:.1f} MiB of files): save median {save_median:.2f} s "
                        f"({min(saves):.2f}-{max(saves):.2f}), {mib / save_median:.1f} MiB/s; "
                        f"tar -cz median {tar_median:.2f} s, {mib / tar_median:.1f} MiB/s "
                        f"(output {tars[0][1] / 1024 / 1024:.1f} MiB)",
                        flush=True,
                    )
        finally:
            relay.close()
            api.close()


if __name__ == "__main__":
    main()
