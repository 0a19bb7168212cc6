"""Tests on the real node: containers really run (kubelet, containerd, runc, CNI, kube-proxy).

Traffic goes only to our own pods and Services on this machine: every address is checked to
be in the real node's pod CIDR or the Service CIDR before anything connects to it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import time
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from kubernetes import client

from container_maker_testcluster import images
from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.net import SERVICE_CIDR
from container_maker_testcluster.pytest_plugin import TestCluster
from container_maker_testcluster.realnode import (
    NODE_IP,
    NODE_LABEL,
    NODE_NAME,
    POD_CIDR,
    RealNodeError,
)

T = TypeVar("T")


def eventually(check: Callable[[], T], timeout: float = 60, what: str = "") -> T:
    """Return the first truthy result of ``check``; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:  # not yet
            last = exc
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: {last!r}")


def http_get(address: str, port: int) -> str:
    """GET / from one of our pods or Services (refuses any other address)."""
    ip = ipaddress.ip_address(address)
    assert ip in ipaddress.ip_network(POD_CIDR) or ip in ipaddress.ip_network(SERVICE_CIDR), (
        f"{address} is neither a pod of the real node nor a Service: not connecting"
    )
    with urllib.request.urlopen(f"http://{address}:{port}/", timeout=3) as response:
        body: bytes = response.read()
        return body.decode()


def container(name: str, image: str, **extra: Any) -> client.V1Container:
    return client.V1Container(name=name, image=image, **extra)


def web_container(name: str, image: str) -> client.V1Container:
    """The test image's HTTP server, Ready only once its port accepts connections (the
    entrypoint writes its page first, so Running alone does not mean it listens yet)."""
    return container(
        name,
        image,
        ports=[client.V1ContainerPort(container_port=8080)],
        readiness_probe=client.V1Probe(
            tcp_socket=client.V1TCPSocketAction(port=8080), period_seconds=1
        ),
    )


def create_pod(
    cluster: TestCluster,
    namespace: str,
    name: str,
    containers: list[client.V1Container],
    **spec: Any,
) -> client.V1Pod:
    core = client.CoreV1Api(cluster.api_client())
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(containers=containers, **spec),
    )
    return core.create_namespaced_pod(namespace, pod)


def wait_running(cluster: TestCluster, namespace: str, name: str) -> client.V1Pod:
    core = client.CoreV1Api(cluster.api_client())

    def running() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        assert pod.status.phase not in ("Failed", "Succeeded"), pod.status
        ready = pod.status.phase == "Running" and all(
            s.ready for s in pod.status.container_statuses or []
        )
        return pod if ready else None

    return eventually(running, 120, f"pod {namespace}/{name} Running")


def test_real_node_registered_ready_with_its_own_identity(real_node_cluster: TestCluster) -> None:
    core = client.CoreV1Api(real_node_cluster.api_client())
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == [NODE_NAME]  # the only node, and not simulated
    node = nodes[0]
    assert node.metadata.labels[NODE_LABEL] == "true"
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    assert {(a.type, a.address) for a in node.status.addresses} >= {("InternalIP", NODE_IP)}
    assert node.status.node_info.container_runtime_version.startswith("containerd://1.6")
    assert node.status.node_info.kubelet_version == "v1.36.3"
    ready = [c for c in node.status.conditions if c.type == "Ready"]
    assert ready and ready[0].status == "True"
    # The kubelet renews its Lease as system:node:<name> (the Node authorizer lets it touch only
    # its own): the lease is held by the node, not by an admin.
    coordination = client.CoordinationV1Api(real_node_cluster.api_client())
    lease = eventually(
        lambda: coordination.read_namespaced_lease(NODE_NAME, "kube-node-lease"), 30, "the lease"
    )
    assert lease.spec.holder_identity == NODE_NAME


def test_pod_from_local_registry_runs_and_logs_its_output(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "hello", [container("web", image)])
    pod = wait_running(real_node_cluster, real_node_namespace, "hello")
    status = pod.status.container_statuses[0]
    # Pulled from our registry, and it is exactly the image we built.
    assert status.image_id.endswith(images.build_testapp().digest)
    assert status.image_id.startswith(image.split("/")[0] + "/")
    assert status.container_id.startswith("containerd://")
    core = client.CoreV1Api(real_node_cluster.api_client())
    log = eventually(
        lambda: core.read_namespaced_pod_log("hello", real_node_namespace),
        30,
        "the container's log",
    )
    assert "serving /www on port 8080" in log


def test_port_answers_over_pod_ip_and_cluster_ip(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    image = real_node_cluster.image("testapp")
    create_pod(
        real_node_cluster,
        real_node_namespace,
        "web",
        [web_container("web", image)],
    )
    core = client.CoreV1Api(real_node_cluster.api_client())
    service = core.create_namespaced_service(
        real_node_namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(
                selector={"app": "web"},
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    pod = wait_running(real_node_cluster, real_node_namespace, "web")
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(POD_CIDR)
    assert http_get(pod.status.pod_ip, 8080) == "hello from web\n"
    # kube-proxy programs the Service a moment after the endpoints appear.
    body = eventually(lambda: http_get(service.spec.cluster_ip, 80), 60, "the ClusterIP to answer")
    assert body == "hello from web\n"


def test_load_balancer_without_node_ports_answers_on_its_cluster_ip(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    """Container Maker's LoadBalancer Services have allocateLoadBalancerNodePorts false (no
    NodePort per port); kube-proxy still programs them. Nothing here assigns a load balancer
    address on the real node, so the ClusterIP is what is reached."""
    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "lb", [web_container("lb", image)])
    core = client.CoreV1Api(real_node_cluster.api_client())
    service = core.create_namespaced_service(
        real_node_namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="lb"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                allocate_load_balancer_node_ports=False,
                selector={"app": "lb"},
                ports=[client.V1ServicePort(port=80, target_port=8080)],
            ),
        ),
    )
    assert [p.node_port for p in service.spec.ports] == [None]
    wait_running(real_node_cluster, real_node_namespace, "lb")
    body = eventually(lambda: http_get(service.spec.cluster_ip, 80), 60, "the ClusterIP to answer")
    assert body == "hello from lb\n"


def test_two_containers_share_an_empty_dir(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    image = real_node_cluster.image("testapp")
    mount = [client.V1VolumeMount(name="shared", mount_path="/shared")]
    writer = container(
        "writer",
        image,
        command=["sh", "-c", "echo written-by-$(hostname)-writer > /shared/note; exec sleep 3600"],
        volume_mounts=mount,
    )
    reader = container(
        "reader",
        image,
        command=[
            "sh",
            "-c",
            "until [ -f /shared/note ]; do sleep 0.2; done; echo read: $(cat /shared/note);"
            " exec sleep 3600",
        ],
        volume_mounts=mount,
    )
    create_pod(
        real_node_cluster,
        real_node_namespace,
        "pair",
        [writer, reader],
        volumes=[client.V1Volume(name="shared", empty_dir=client.V1EmptyDirVolumeSource())],
        termination_grace_period_seconds=1,
    )
    wait_running(real_node_cluster, real_node_namespace, "pair")
    core = client.CoreV1Api(real_node_cluster.api_client())
    log = eventually(
        lambda: core.read_namespaced_pod_log("pair", real_node_namespace, container="reader"),
        30,
        "the reader's log",
    )
    assert log.strip() == "read: written-by-pair-writer"


def test_kubectl_exec_runs_in_the_container(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "shell", [container("app", image)])
    wait_running(real_node_cluster, real_node_namespace, "shell")
    result = real_node_cluster.kubectl(
        "exec",
        "-n",
        real_node_namespace,
        "shell",
        "--",
        "sh",
        "-c",
        "echo $((6 * 7)) > /tmp/answer && cat /tmp/answer /www/index.html && id -u",
    )
    assert result.stdout.split("\n") == ["42", "hello from shell", "65534", ""]
    # The file written by exec is in the running container, as a second exec sees.
    again = real_node_cluster.kubectl(
        "exec", "-n", real_node_namespace, "shell", "--", "cat", "/tmp/answer"
    )
    assert again.stdout == "42\n"


def test_deleting_a_pod_stops_its_processes(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    local = real_node_cluster.local
    assert local is not None and local.real_node is not None
    node = local.real_node
    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "doomed", [container("web", image)])
    pod = wait_running(real_node_cluster, real_node_namespace, "doomed")
    container_id = pod.status.container_statuses[0].container_id.removeprefix("containerd://")
    info = json.loads(node.ctr("containers", "info", container_id).stdout)
    sandbox_id = info["Spec"]["annotations"]["io.kubernetes.cri.sandbox-id"]
    running = {c["id"]: c for c in node.runc_containers()}
    assert running[container_id]["status"] == running[sandbox_id]["status"] == "running"
    pids = [running[container_id]["pid"], running[sandbox_id]["pid"]]
    with open(f"/proc/{pids[0]}/cmdline", "rb") as cmdline:
        assert cmdline.read().split(b"\0")[:2] == [b"/bin/sh", b"/serve"]
    with open(f"/proc/{pids[1]}/cmdline", "rb") as cmdline:
        assert cmdline.read().split(b"\0")[0] == b"/pause"

    core = client.CoreV1Api(real_node_cluster.api_client())
    core.delete_namespaced_pod("doomed", real_node_namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod("doomed", real_node_namespace)
            return False
        except client.ApiException as exc:
            return exc.status == 404

    eventually(gone, 60, "the pod to be deleted")
    # The serve script exits on SIGTERM, so this takes a moment, not the 30 s grace period.
    eventually(
        lambda: not {container_id, sandbox_id} & {c["id"] for c in node.runc_containers()},
        30,
        "runc to forget the container and its sandbox",
    )
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]
    tasks = node.ctr("tasks", "ls", "-q").stdout.split()
    assert container_id not in tasks and sandbox_id not in tasks


def test_a_second_real_node_is_refused_and_leaves_the_first_alone(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    second = LocalCluster(node="real")
    with pytest.raises(RealNodeError, match="another real-node cluster runs on this machine"):
        second.start()
    assert not second.run_dir.exists()
    # The first node's network and runtime are untouched: a new pod still answers.
    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "still", [web_container("web", image)])
    pod = wait_running(real_node_cluster, real_node_namespace, "still")
    assert http_get(pod.status.pod_ip, 8080) == "hello from still\n"


def test_pods_reach_the_api_server_through_the_kubernetes_service(
    real_node_cluster: TestCluster, real_node_namespace: str
) -> None:
    """The ``kubernetes`` Service's endpoint is the node's address (not loopback), so a pod
    can open a connection to the API server through the Service's ClusterIP."""
    core = client.CoreV1Api(real_node_cluster.api_client())
    endpoints = eventually(
        lambda: core.read_namespaced_endpoints("kubernetes", "default").subsets,
        what="the kubernetes Service's endpoints",
    )
    assert [a.ip for s in endpoints for a in s.addresses or []] == [NODE_IP]
    cluster_ip = core.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_CIDR)

    image = real_node_cluster.image("testapp")
    create_pod(real_node_cluster, real_node_namespace, "api-client", [container("app", image)])
    wait_running(real_node_cluster, real_node_namespace, "api-client")
    result = real_node_cluster.kubectl(
        "exec",
        "-n",
        real_node_namespace,
        "api-client",
        "--",
        "sh",
        "-c",
        # busybox's nc has no -z: connect with stdin closed; it fails unless the TCP connection
        # (DNAT by kube-proxy to the API server's address) is established.
        f"nc -w 5 {cluster_ip} 443 </dev/null && echo reached",
        check=False,
    )
    assert result.stdout.strip() == "reached", result.stdout + result.stderr
