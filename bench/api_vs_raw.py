"""Benchmark: Container Maker's API against the raw Kubernetes client doing the same work.

    uv run python bench/api_vs_raw.py [--runs 30] [--list-size 200] [--burst 100]

Starts a test cluster (a real control plane, two KWOK nodes: pods are simulated) and a real
``container-maker serve`` process on it (32 threads, no per-tenant create rate or container
limit, so that the limits do not stand in for the work), then times each operation both ways
in the same run, in namespaces an admin made and assigned to the caller's tenant:

- Container Maker: the gRPC calls of a client on loopback (no wait for readiness).
- raw: the official Python client on the same API server, doing what the user sees: create a
  pod (plus a Service and an Ingress for EXPOSED), read the pod, list pods by label, delete the
  pod.

Rows: create INTERNAL and EXPOSED one at a time, get, list of ``--list-size`` containers, and
create and delete throughput with 8 concurrent clients over ``--burst`` containers. It prints
medians (or rates), the ratios and the server's resident memory. The machine is shared and
noisy: only the ratios within one run mean something.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from kubernetes import client

from container_maker._proto import service_pb2_grpc
from container_maker._proto import types_pb2 as pb
from container_maker.auth import LOCAL_IDENTITY
from container_maker.tenancy import assign_namespace
from container_maker_testcluster.cluster import LocalCluster

COMMAND = Path(sys.executable).with_name("container-maker")
LABEL = "bench.container-maker.io/raw"
CONCURRENCY = 8


class Server:
    """``container-maker serve`` on the cluster, on a free port; its JSON log is read."""

    def __init__(self, kubeconfig: Path) -> None:
        self.process = subprocess.Popen(
            [str(COMMAND), "serve", f"--kubeconfig={kubeconfig}", "--port=0",
             "--health-port=0", "--ingress-domain=containers.localhost",
             "--max-creates-per-second=0", "--max-containers-per-tenant=1000000", "--threads=32"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_for("serving")["port"]

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def _wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    raise SystemExit("container-maker serve exited before serving") from None
                continue
            if line.get("event") == event:
                return line
        raise SystemExit(f"container-maker serve logged no {event!r}")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def request(network: str, name: str, level: int) -> pb.CreateContainerRequest:
    return pb.CreateContainerRequest(
        image_name="nginx:1.27",
        container_name=name,
        network_name=network,
        exposure_level=level,  # type: ignore[arg-type]
        publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
    )


def raw_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {LABEL: "true", "app": name}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27",
                                  "ports": [{"containerPort": 8080}]}]},
    }  # fmt: skip


def raw_create(api: client.ApiClient, namespace: str, name: str, exposed: bool) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, raw_pod(name))
    if exposed:
        core.create_namespaced_service(namespace, {
            "metadata": {"name": f"{name}-svc"},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
        })  # fmt: skip
        client.NetworkingV1Api(api).create_namespaced_ingress(namespace, {
            "metadata": {"name": f"{name}-ing"},
            "spec": {"rules": [{"host": f"{name}.containers.localhost", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": f"{name}-svc", "port": {"number": 80}}}}]}}]},
        })  # fmt: skip


def timed(action: Callable[[], object], runs: int) -> float:
    """The median of ``runs`` timings of ``action``, in milliseconds."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000


def rate(actions: list[Callable[[], object]]) -> float:
    """Actions per second, run by :data:`CONCURRENCY` threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for future in [pool.submit(a) for a in actions]:
            future.result()
    return len(actions) / (time.perf_counter() - started)


def fresh_namespace(api: client.ApiClient, stem: str) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    assign_namespace(api, name, LOCAL_IDENTITY.tenant)  # the anonymous loopback caller's
    return name


Row = tuple[str, float, float, str]  # what, Container Maker, raw, unit


def measure(
    api: client.ApiClient,
    core: client.CoreV1Api,
    stub: service_pb2_grpc.ContainerMakerAPIStub,
    args: argparse.Namespace,
) -> list[Row]:
    rows: list[Row] = []
    names = (f"c{i}" for i in range(1_000_000))

    def one_at_a_time(level: int, exposed: bool) -> tuple[float, float]:
        ours_ns, raw_ns = fresh_namespace(api, "bench-cm"), fresh_namespace(api, "bench-raw")
        ours = timed(lambda: stub.createContainer(request(ours_ns, next(names), level)), args.runs)
        raw = timed(lambda: raw_create(api, raw_ns, next(names), exposed), args.runs)
        return ours, raw

    for label, level, exposed in (("INTERNAL", 1, False), ("EXPOSED", 4, True)):
        rows.append((f"create {label}, one at a time", *one_at_a_time(level, exposed), "ms"))

    ours_ns, raw_ns = fresh_namespace(api, "bench-cm"), fresh_namespace(api, "bench-raw")
    made = [stub.createContainer(request(ours_ns, f"l{i}", 1)) for i in range(args.list_size)]
    for i in range(args.list_size):
        raw_create(api, raw_ns, f"l{i}", False)
    get = pb.GetContainerRequest(container_id=made[0].container_id, network_name=ours_ns)
    ours = timed(lambda: stub.getContainer(get, timeout=60), args.runs)
    raw = timed(lambda: core.read_namespaced_pod("l0", raw_ns), args.runs)
    rows.append(("get", ours, raw, "ms"))
    runs = max(5, args.runs // 3)
    listed = pb.ListContainerRequest(network_name=ours_ns)
    ours = timed(lambda: stub.listContainer(listed, timeout=300), runs)
    raw = timed(lambda: core.list_namespaced_pod(raw_ns, label_selector=f"{LABEL}=true"), runs)
    rows.append((f"list, {args.list_size} containers", ours, raw, "ms"))

    ours_ns, raw_ns = fresh_namespace(api, "bench-cm"), fresh_namespace(api, "bench-raw")
    burst = [f"b{i}" for i in range(args.burst)]
    ids: list[str] = []

    def create_ours(name: str) -> Callable[[], None]:
        def create() -> None:
            made = stub.createContainer(request(ours_ns, name, 1), timeout=300)
            ids.append(made.container_id)

        return create

    def create_raw(name: str) -> Callable[[], None]:
        return lambda: raw_create(api, raw_ns, name, False)

    ours = rate([create_ours(n) for n in burst])
    raw = rate([create_raw(n) for n in burst])
    rows.append((f"create throughput, {CONCURRENCY} clients", ours, raw, "/s"))

    def delete_ours(container_id: str) -> Callable[[], object]:
        deleted = pb.DeleteContainerRequest(container_id=container_id, network_name=ours_ns)
        return lambda: stub.deleteContainer(deleted, timeout=300)

    def delete_raw(name: str) -> Callable[[], object]:
        return lambda: core.delete_namespaced_pod(name, raw_ns)

    ours = rate([delete_ours(i) for i in ids])
    raw = rate([delete_raw(n) for n in burst])
    rows.append((f"delete throughput, {CONCURRENCY} clients", ours, raw, "/s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--list-size", type=int, default=200)
    parser.add_argument("--burst", type=int, default=100)
    args = parser.parse_args()
    with LocalCluster(nodes=2) as cluster:
        api = cluster.api_client()
        core = client.CoreV1Api(api)
        server = Server(cluster.kubeconfig)
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        stub = service_pb2_grpc.ContainerMakerAPIStub(channel)
        try:
            rows = measure(api, core, stub, args)
            rss = server.rss_mib()
        finally:
            channel.close()
            server.stop()

    print(f"{'operation':<36} {'Container Maker':>16} {'raw client':>12} {'ratio':>8}")
    for what, ours, raw, unit in rows:
        # Times: how many times slower; rates: the fraction of the raw rate.
        ratio = ours / raw
        print(f"{what:<36} {ours:>13.1f} {unit:<2} {raw:>9.1f} {unit:<2} {ratio:>7.2f}x")
    print(f"server resident memory: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
