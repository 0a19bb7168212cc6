"""Benchmark: delay from a pod's change to the watchContainers message, against a raw watch.

    uv run python bench/watch_delay.py [--runs 20]

Starts a test cluster and a Container Maker server on loopback, opens one ``watchContainers``
stream and, as the baseline, one plain Kubernetes watch on pods (the official client, the same
API server, the same moment). For each run it creates a container, starts deleting its pod and
records when each stream reports the change. It prints both medians and their ratio: the
machine is shared and noisy, so only figures taken in the same run are compared.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import threading
import time
from typing import Any

import grpc
from kubernetes import client, watch

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.api.server import create_server
from container_maker.auth import LOCAL_IDENTITY
from container_maker.manager import ContainerManager
from container_maker.tenancy import assign_namespace
from container_maker_testcluster.cluster import LocalCluster

NAMESPACE = "bench-watch"


def reader(stream: Any, into: queue.Queue[tuple[float, Any]]) -> None:
    try:
        for item in stream:
            into.put((time.monotonic(), item))
    except Exception:
        pass


def wait_for(events: queue.Queue[tuple[float, Any]], match: Any, timeout: float = 30) -> float:
    deadline = time.monotonic() + timeout
    while True:
        arrived, item = events.get(timeout=max(0.01, deadline - time.monotonic()))
        if match(item):
            return arrived


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with LocalCluster(nodes=1) as cluster:
        api = cluster.api_client()
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        assign_namespace(api, NAMESPACE, LOCAL_IDENTITY.tenant)  # the in-process server's
        server, port = create_server("127.0.0.1:0", ContainerManager(api), threads=8, health_port=0)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = service_pb2_grpc.ContainerMakerAPIStub(channel)

        ours: queue.Queue[tuple[float, Any]] = queue.Queue()
        call = stub.watchContainers(pb.WatchContainersRequest(network_name=NAMESPACE))
        threading.Thread(target=reader, args=(call, ours), daemon=True).start()
        wait_for(ours, lambda e: e.type == pb.CONTAINER_EVENT_TYPE_SYNCED)

        raw: queue.Queue[tuple[float, Any]] = queue.Queue()
        raw_watch = watch.Watch()
        raw_stream = raw_watch.stream(core.list_namespaced_pod, NAMESPACE)
        threading.Thread(target=reader, args=(raw_stream, raw), daemon=True).start()

        baseline: list[float] = []
        measured: list[float] = []
        for run in range(args.runs):
            name = f"d{run}"
            made = stub.createContainer(
                pb.CreateContainerRequest(
                    image_name="busybox:1.36",
                    container_name=name,
                    network_name=NAMESPACE,
                    exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
                ),
                timeout=60,
            )
            wait_for(ours, lambda e, c=made.container_id: e.container.container_id == c)
            wait_for(raw, lambda e, n=name: e["object"].metadata.name == n)
            started = time.monotonic()
            core.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=30)
            baseline.append(
                wait_for(
                    raw,
                    lambda e, n=name: (
                        e["object"].metadata.name == n
                        and e["object"].metadata.deletion_timestamp is not None
                    ),
                )
                - started
            )
            measured.append(
                wait_for(
                    ours,
                    lambda e, c=made.container_id: (
                        e.container.container_id == c
                        and (
                            e.type == pb.CONTAINER_EVENT_TYPE_DELETED
                            or e.container.status.phase == pb.CONTAINER_PHASE_TERMINATING
                        )
                    ),
                )
                - started
            )
        call.cancel()
        raw_watch.stop()
        channel.close()
        server.stop(0)

    base, ours_median = statistics.median(baseline), statistics.median(measured)
    print(f"raw Kubernetes watch (baseline): median of {args.runs} {base * 1000:.1f} ms")
    print(f"watchContainers:                 median of {args.runs} {ours_median * 1000:.1f} ms")
    print(f"ratio watchContainers / raw watch: {ours_median / base:.2f}")


if __name__ == "__main__":
    main()
