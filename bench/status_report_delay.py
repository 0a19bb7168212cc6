"""Benchmark: how long after the kubelet calls a pod Ready does Container Maker call it READY?

    uv run python bench/status_report_delay.py [--runs 20]   (as root: it starts the real node)

Our READY needs the pod Ready (the kubelet, through the readiness probe on the first TCP port)
and a report of the status sidecar saying every declared port listens. This starts the real
node, a server with the real status agent (default poll 1 s and heartbeat 10 s), one
``watchContainers`` stream and, as the baseline, one plain Kubernetes watch on pods. For each
run it creates a container (busybox httpd on port 8080) and records, from the create call,
when the raw watch first shows the pod Ready and when the stream first shows it READY. It prints
both medians, their ratio and the median of the per-run differences: the machine is shared and
noisy, so only figures taken in the same run are compared. After the last run it prints the
resident memory of the status agent.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "api"))

from api_support import install_status_reporter, running_server  # noqa: E402 -- the tests' helpers, from their directory
from kubernetes import client, watch  # noqa: E402
from snapshot_support import agent_image  # noqa: E402
from status_agent_support import status_agent_image, status_agent_processes  # noqa: E402
from watch_delay import reader, wait_for  # noqa: E402 -- this directory's sibling benchmark

from container_maker._proto import types_pb2 as pb  # noqa: E402
from container_maker.auth import LOCAL_IDENTITY  # noqa: E402
from container_maker.settings import Settings  # noqa: E402
from container_maker.tenancy import assign_namespace  # noqa: E402
from container_maker_testcluster import images  # noqa: E402
from container_maker_testcluster.cluster import LocalCluster  # noqa: E402

NAMESPACE = "bench-status"


def pod_ready(event: Any, name: str) -> bool:
    pod = event["object"]
    if pod.metadata.name != name or pod.status is None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def agent_rss_kib() -> list[int]:
    """The resident memory of every status agent process on this machine (we are root)."""
    found = []
    for pid in status_agent_processes():
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found.append(int(line.split()[1]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with LocalCluster(node="real") as cluster:
        assert cluster.real_node is not None
        registry = cluster.real_node.registry
        settings = Settings(
            status_image=images.push(status_agent_image(), registry),
            snapshot_image=images.push(agent_image(), registry),
        )
        testapp = images.push(images.build_testapp(), registry)
        api = cluster.api_client()
        install_status_reporter(api)  # what deploy/ would have made
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        assign_namespace(api, NAMESPACE, LOCAL_IDENTITY.tenant)  # the in-process server's
        with running_server(api, settings=settings, threads=8) as running:
            ours: queue.Queue[tuple[float, Any]] = queue.Queue()
            call = running.stub.watchContainers(pb.WatchContainersRequest(network_name=NAMESPACE))
            threading.Thread(target=reader, args=(call, ours), daemon=True).start()
            wait_for(ours, lambda e: e.type == pb.CONTAINER_EVENT_TYPE_SYNCED)
            raw: queue.Queue[tuple[float, Any]] = queue.Queue()
            raw_watch = watch.Watch()
            raw_stream = raw_watch.stream(core.list_namespaced_pod, NAMESPACE)
            threading.Thread(target=reader, args=(raw_stream, raw), daemon=True).start()

            kubelet: list[float] = []
            measured: list[float] = []
            for run in range(args.runs):
                name = f"s{run}"
                started = time.monotonic()
                made = running.stub.createContainer(
                    pb.CreateContainerRequest(
                        image_name=testapp,
                        container_name=name,
                        network_name=NAMESPACE,
                        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
                        publish_information=[
                            pb.PublishInformation(publish_port=8080, target_port=8080)
                        ],
                    ),
                    timeout=60,
                )
                kubelet.append(wait_for(raw, lambda e, n=name: pod_ready(e, n)) - started)
                measured.append(
                    wait_for(
                        ours,
                        lambda e, c=made.container_id: (
                            e.type != pb.CONTAINER_EVENT_TYPE_SYNCED
                            and e.container.container_id == c
                            and e.container.status.ready
                        ),
                    )
                    - started
                )
                print(f"run {run}: pod Ready {kubelet[-1]:.2f} s, READY {measured[-1]:.2f} s")
                if run == args.runs - 1:
                    time.sleep(5)  # a few polls and a heartbeat
                    rss = agent_rss_kib()
                    print(f"status agents running: {len(rss)}, RSS {max(rss, default=0)} KiB")
                running.stub.deleteContainer(
                    pb.DeleteContainerRequest(
                        container_id=made.container_id, network_name=NAMESPACE
                    )
                )
            call.cancel()
            raw_watch.stop()
        api.close()

    base, ours_median = statistics.median(kubelet), statistics.median(measured)
    later = statistics.median(m - k for m, k in zip(measured, kubelet, strict=True))
    print(f"pod Ready (kubelet, raw watch): median of {args.runs} {base:.2f} s after create")
    print(f"READY (watchContainers):        median of {args.runs} {ours_median:.2f} s after create")
    print(f"ratio READY / pod Ready: {ours_median / base:.2f}")
    print(f"median of READY minus pod Ready per run: {later * 1000:.0f} ms")


if __name__ == "__main__":
    main()
