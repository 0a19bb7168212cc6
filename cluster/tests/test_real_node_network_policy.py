"""The real node enforces NetworkPolicy (kube-router's policy controller), and its traffic stays
on the machine even where kube-router ACCEPTs it.

Every peer is a pod of ours or a network namespace this module makes; each address is checked
before anything connects to it (see ``connects``). Connections are made from inside a pod with
busybox's ``nc -w 2``: a denied connection fails within that bound (kube-router REJECTs, so it
usually fails at once), and every wait is bounded.

The negative controls run the same checks with kube-router stopped and its rules removed, and
with our safety drops removed, and see the connections succeed: what blocks them is the policy
engine (or our drop), not anything else on the machine.
"""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from test_real_node import create_pod, eventually, wait_running, web_container

from container_maker_testcluster import images
from container_maker_testcluster.net import SERVICE_CIDR
from container_maker_testcluster.pytest_plugin import TEST_NAMESPACE_LABEL, TestCluster
from container_maker_testcluster.realnode import (
    BRIDGE,
    NODE_IP,
    POD_CIDR,
    RULE_PODS_TO_PODS,
    RealNode,
    RealNodeError,
    kube_router_enforcing,
)

# A network namespace of this module's, wired to the host by a veth pair (not the pod bridge):
# it stands for "beyond the machine" without being anywhere else.
OUTSIDE_NETNS = "cm-np-outside"
OUTSIDE_HOST_LINK = "cm-np-out0"
OUTSIDE_NETWORK = "10.246.255.0/30"  # clear of the pod and Service ranges and the machine's
OUTSIDE_HOST_IP = "10.246.255.1"
OUTSIDE_IP = "10.246.255.2"
OUTSIDE_PORT = 8080
# Our own test peers: pods, Services, the node's address (on a port-less bridge of ours) and
# the network namespace above. Nothing else is ever dialled.
ALLOWED_TARGETS = [
    ipaddress.ip_network(n) for n in (POD_CIDR, SERVICE_CIDR, f"{NODE_IP}/32", OUTSIDE_NETWORK)
]
# Bounds: a connection attempt, and how long a policy change may take to be enforced.
CONNECT_SECONDS = 2
SYNC_SECONDS = 30


def real_node(cluster: TestCluster) -> RealNode:
    assert cluster.local is not None and cluster.local.real_node is not None
    return cluster.local.real_node


def connects(cluster: TestCluster, namespace: str, pod: str, address: str, port: int) -> bool:
    """Whether ``pod`` opens a TCP connection to ``address:port`` (within CONNECT_SECONDS)."""
    ip = ipaddress.ip_address(address)
    assert any(ip in n for n in ALLOWED_TARGETS), f"{address} is not a test peer: not connecting"
    result = cluster.kubectl(
        "exec",
        "-n",
        namespace,
        pod,
        "--",
        "sh",
        "-c",
        # busybox's nc has no -z: with stdin closed it exits once connected (status 0), or
        # fails on a refused, rejected or timed-out connect.
        f"nc -w {CONNECT_SECONDS} {address} {port} </dev/null && echo reached",
        check=False,
    )
    return result.stdout.strip() == "reached"


def eventually_connects(
    cluster: TestCluster, namespace: str, pod: str, address: str, port: int, expected: bool
) -> None:
    """Wait (bounded) until ``pod``'s connection to ``address:port`` succeeds or fails as
    expected: kube-router applies a change a moment after the API server has it."""
    verb = "reach" if expected else "be refused by"
    eventually(
        lambda: connects(cluster, namespace, pod, address, port) is expected,
        SYNC_SECONDS,
        f"{namespace}/{pod} to {verb} {address}:{port}",
    )


@pytest.fixture
def other_namespace(real_node_cluster: TestCluster) -> Iterator[str]:
    """A second fresh namespace (the first tenant's neighbour), deleted afterwards."""
    core = client.CoreV1Api(real_node_cluster.api_client())
    name = f"t-np-peer-{uuid.uuid4().hex[:6]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})
        )
    )
    yield name
    core.delete_namespace(name, propagation_policy="Background")


def start_pods(cluster: TestCluster, pods: dict[str, str]) -> dict[str, str]:
    """Start testapp pods (``name: namespace``; each serves 8080, label app=<name>) and return
    their IPs once every one is ready."""
    image = cluster.image("testapp")
    for name, namespace in pods.items():
        create_pod(
            cluster,
            namespace,
            name,
            [web_container("web", image)],
            termination_grace_period_seconds=1,
        )
    return {
        name: wait_running(cluster, namespace, name).status.pod_ip
        for name, namespace in pods.items()
    }


def apply_policy(cluster: TestCluster, namespace: str, name: str, spec: dict[str, Any]) -> None:
    """Create a NetworkPolicy from its plain ``spec`` (as in a manifest) with kubectl."""
    import json

    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


DENY_INGRESS: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Ingress"]}
DENY_EGRESS: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Egress"]}


def test_the_pod_network_is_described_for_policies(real_node_cluster: TestCluster) -> None:
    network = real_node(real_node_cluster).network
    core = client.CoreV1Api(real_node_cluster.api_client())
    kubernetes = core.read_namespaced_service("kubernetes", "default").spec
    assert network.apiserver_service == (kubernetes.cluster_ip, kubernetes.ports[0].port)
    endpoints = core.read_namespaced_endpoints("kubernetes", "default").subsets
    assert [(a.ip, s.ports[0].port) for s in endpoints for a in s.addresses] == [
        network.apiserver_endpoint
    ]
    assert network.node_ip == NODE_IP and network.pod_cidr == POD_CIDR
    assert ipaddress.ip_address(network.pod_gateway) in ipaddress.ip_network(
        network.node_pod_subnet
    )
    low, high = network.node_port_range
    assert not low <= network.apiserver_endpoint[1] <= high
    assert not low <= network.kubelet_endpoint[1] <= high
    assert kube_router_enforcing()


def test_ingress_default_deny_then_an_allow_by_label_and_port(
    real_node_cluster: TestCluster, real_node_namespace: str, other_namespace: str
) -> None:
    server_ns, client_ns = real_node_namespace, other_namespace
    ips = start_pods(real_node_cluster, {"b": server_ns, "a": client_ns, "c": client_ns})
    # No policy: everyone reaches B.
    assert connects(real_node_cluster, client_ns, "a", ips["b"], 8080)
    assert connects(real_node_cluster, client_ns, "c", ips["b"], 8080)

    apply_policy(real_node_cluster, server_ns, "deny-ingress", DENY_INGRESS)
    eventually_connects(real_node_cluster, client_ns, "a", ips["b"], 8080, expected=False)
    assert not connects(real_node_cluster, client_ns, "c", ips["b"], 8080)
    # B itself may still go out (ingress only), and A is still reachable by B.
    assert connects(real_node_cluster, server_ns, "b", ips["a"], 8080)

    apply_policy(
        real_node_cluster,
        server_ns,
        "allow-a",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": client_ns}
                            },
                            "podSelector": {"matchLabels": {"app": "a"}},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }
            ],
        },
    )
    eventually_connects(real_node_cluster, client_ns, "a", ips["b"], 8080, expected=True)
    # The other pod of the same namespace is still refused, on every try.
    assert not any(connects(real_node_cluster, client_ns, "c", ips["b"], 8080) for _ in range(3))


def test_egress_default_deny_blocks_pods_the_api_server_and_the_node(
    real_node_cluster: TestCluster, real_node_namespace: str, other_namespace: str
) -> None:
    network = real_node(real_node_cluster).network
    client_ns, server_ns = real_node_namespace, other_namespace
    ips = start_pods(real_node_cluster, {"a": client_ns, "b": server_ns})
    targets = [
        (ips["b"], 8080),
        network.apiserver_service,  # 10.96.0.1:443, DNATed by kube-proxy to the next one
        network.apiserver_endpoint,  # the node's address
        network.kubelet_endpoint,  # the node's address, the kubelet's port
    ]
    for address, port in targets:
        assert connects(real_node_cluster, client_ns, "a", address, port), (address, port)

    apply_policy(real_node_cluster, client_ns, "deny-egress", DENY_EGRESS)
    for address, port in targets:
        eventually_connects(real_node_cluster, client_ns, "a", address, port, expected=False)
    # Only A's namespace is denied: B still reaches the API server.
    assert connects(real_node_cluster, server_ns, "b", *network.apiserver_service)


def test_without_kube_router_the_same_policies_block_nothing(
    real_node_cluster: TestCluster, real_node_namespace: str, other_namespace: str
) -> None:
    """The negative control: the deny checks above fail once kube-router's rules are gone,
    and hold again once it is back."""
    node = real_node(real_node_cluster)
    network = node.network
    server_ns, client_ns = real_node_namespace, other_namespace
    ips = start_pods(real_node_cluster, {"b": server_ns, "a": client_ns})
    apply_policy(real_node_cluster, server_ns, "deny-ingress", DENY_INGRESS)
    apply_policy(real_node_cluster, client_ns, "deny-egress", DENY_EGRESS)
    targets = [(ips["b"], 8080), network.apiserver_service, network.apiserver_endpoint]
    for address, port in targets:
        eventually_connects(real_node_cluster, client_ns, "a", address, port, expected=False)

    node.stop_network_policy()
    try:
        with pytest.raises(RealNodeError, match="not first in FORWARD"):
            kube_router_enforcing()
        for address, port in targets:
            assert connects(real_node_cluster, client_ns, "a", address, port), (address, port)
    finally:
        node.start_network_policy()
    for address, port in targets:
        eventually_connects(real_node_cluster, client_ns, "a", address, port, expected=False)


@pytest.fixture
def outside_netns() -> Iterator[None]:
    """A network namespace listening on OUTSIDE_IP:OUTSIDE_PORT behind a veth pair on the
    host, outside the pod bridge; removed afterwards."""
    ns = ["ip", "netns", "exec", OUTSIDE_NETNS]

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, timeout=30)

    run("ip", "netns", "add", OUTSIDE_NETNS)
    server: subprocess.Popen[bytes] | None = None
    try:
        run("ip", "link", "add", OUTSIDE_HOST_LINK, "type", "veth", "peer", "name", "eth0",
            "netns", OUTSIDE_NETNS)  # fmt: skip
        run("ip", "addr", "add", f"{OUTSIDE_HOST_IP}/30", "dev", OUTSIDE_HOST_LINK)
        run("ip", "link", "set", OUTSIDE_HOST_LINK, "up")
        run(*ns, "ip", "addr", "add", f"{OUTSIDE_IP}/30", "dev", "eth0")
        run(*ns, "ip", "link", "set", "eth0", "up")
        run(*ns, "ip", "link", "set", "lo", "up")
        # The way back to the pods, were anything to get through.
        run(*ns, "ip", "route", "add", POD_CIDR, "via", OUTSIDE_HOST_IP)
        server = subprocess.Popen(
            [*ns, str(images.BUSYBOX), "nc", "-ll", "-p", str(OUTSIDE_PORT), "-e", "true"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        yield
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", OUTSIDE_HOST_LINK], capture_output=True)
        subprocess.run(["ip", "netns", "del", OUTSIDE_NETNS], capture_output=True)


def test_pod_traffic_never_leaves_through_another_interface(
    real_node_cluster: TestCluster, real_node_namespace: str, outside_netns: None
) -> None:
    """A pod without any policy (kube-router ACCEPTs all its traffic in filter's FORWARD,
    ahead of anything of ours there) still cannot reach past the bridge: our routing rule
    blackholes it, and our mangle-table drop would catch it behind that. Each layer alone
    holds; with a hole punched in both for this one address (the rest of the machine stays
    covered throughout) the same connection succeeds, so the test can fail."""
    ips = start_pods(real_node_cluster, {"a": real_node_namespace})
    # The host reaches the namespace: it listens, and the veth works.
    probe = subprocess.run(
        [str(images.BUSYBOX), "nc", "-w", "2", OUTSIDE_IP, str(OUTSIDE_PORT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
    )
    assert probe.returncode == 0, probe.stderr

    def route(destination: str) -> subprocess.CompletedProcess[str]:
        """The kernel's routing decision for a pod's packet (a query: nothing is sent)."""
        return subprocess.run(
            ["ip", "route", "get", destination, "from", ips["a"], "iif", BRIDGE],
            capture_output=True,
            text=True,
        )

    # To another pod: the bridge. Beyond it: the blackhole, which the kernel answers for a
    # forwarded packet with EINVAL ("Invalid argument").
    assert f"dev {BRIDGE}" in route("10.245.0.250").stdout
    refused = route(OUTSIDE_IP)
    assert refused.returncode != 0 and "Invalid argument" in refused.stderr, refused

    def reaches_outside() -> bool:
        return connects(real_node_cluster, real_node_namespace, "a", OUTSIDE_IP, OUTSIDE_PORT)

    routing_hole = ["priority", str(RULE_PODS_TO_PODS - 1), "iif", BRIDGE, "to", OUTSIDE_IP,
                    "lookup", "main"]  # fmt: skip
    mangle_hole = ["FORWARD", "-i", BRIDGE, "-d", OUTSIDE_IP, "-j", "ACCEPT"]
    assert not reaches_outside()
    try:
        subprocess.run(["ip", "rule", "add", *routing_hole], check=True)
        assert f"dev {OUTSIDE_HOST_LINK}" in route(OUTSIDE_IP).stdout
        # Routed to the veth now: the mangle drop alone stops it.
        assert not reaches_outside()
        subprocess.run(["iptables", "-t", "mangle", "-I", *mangle_hole[:1], "1",
                        *mangle_hole[1:]], check=True)  # fmt: skip
        # Through both: the connection goes through (to our namespace, and nowhere else).
        assert reaches_outside()
        subprocess.run(["ip", "rule", "del", *routing_hole], check=True)
        # Routing alone stops it again.
        assert not reaches_outside()
    finally:
        subprocess.run(["ip", "rule", "del", *routing_hole], capture_output=True)
        subprocess.run(["iptables", "-t", "mangle", "-D", *mangle_hole], capture_output=True)
    assert not reaches_outside()
