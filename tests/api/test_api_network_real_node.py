"""Tenant network isolation on the real node, through gRPC, with the attacks run from inside.

The server runs as an operator would configure it: under the deployed ServiceAccount's token
(deploy/rbac.yaml), ingress peers = the pods of one gateway namespace, the node's network
(198.51.100.0/24, the documentation range the node's address comes from) added to the denied
ranges, no cluster DNS (pods on the real node have no resolver), the API server's endpoint found
from the ``kubernetes`` EndpointSlice, and a registry reached through a relay on the pod
bridge's gateway (as the save tests do). The node's network plugin must enforce NetworkPolicy
(the real-node profile runs kube-router's policy controller); these checks prove that it does.

Every probe runs in a pod of ours (``kubectl exec`` of busybox ``nc``/``wget`` in the user's
container) and goes to a pod or to an address of this machine: the pod bridge's gateway, the
node's own address on its portless bridge, the Service range that kube-proxy rewrites to those.
Nothing leaves the machine.

``CONTAINER_MAKER_TEST_NETWORK_POLICIES=off`` runs the same checks with the network policy
plugin blocked (no policy at all): every denial check then fails, which is how we know they
can fail.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    SERVER_ACCOUNT,
    Running,
    delete_namespace,
    deployed_server_client,
    new_network_name,
    running_server,
    sidecar_settings,
)
from kubernetes import client
from network_support import PROBE_DIR, nettools_image
from snapshot_support import Relay

from container_maker._proto import types_pb2 as pb
from container_maker.settings import Settings
from container_maker_namespace.policy_settings import DEFAULT_EGRESS_DENIED_CIDRS, PolicyPeer
from container_maker_testcluster import images, realnode
from container_maker_testcluster.net import SERVICE_IP
from container_maker_testcluster.realnode import NODE_IP_PREFIX

ROOT = Path(__file__).resolve().parents[2]
PORT = 8080  # testapp serves its page here
API_SERVICE_IP = SERVICE_IP  # the "kubernetes" Service, port 443
POLICIES_OFF = os.environ.get("CONTAINER_MAKER_TEST_NETWORK_POLICIES") == "off"
POLICY_APPLIED_WITHIN = 20  # seconds kube-router may take to apply a new pod's policies
BLOCKED: tuple[str, ...] = ("networkpolicy",) if POLICIES_OFF else ()


@dataclass
class Pod:
    namespace: str
    name: str
    container: str
    ip: str


@dataclass
class NetEnv:
    kubectl: Any
    admin: client.ApiClient
    running: Running
    api_relay: Relay
    registry_relay: Relay
    tenant_a: Pod
    tenant_b: Pod
    gateway: Pod
    outsider: Pod
    container_a: pb.ContainerResponse
    network_a: str
    kubelet: str
    api_endpoint: str
    testapp: str
    settings: Settings

    @property
    def stub(self) -> Any:
        return self.running.stub


def run_in(env_kubectl: Any, pod: Pod, script: str) -> str:
    """Run ``script`` with sh in the pod's container; its stdout and stderr together."""
    result = env_kubectl(
        "exec",
        "-n",
        pod.namespace,
        pod.name,
        "-c",
        pod.container,
        "--",
        "sh",
        "-c",
        script,
        check=False,
    )
    return str(result.stdout + result.stderr)


def connects(env: NetEnv, pod: Pod, address: str, port: int) -> tuple[bool, str]:
    """Whether a TCP connection from ``pod`` to ``address:port`` is established (nc, 2 s
    connect timeout; an established connection is left after 4 s). Returns the verdict and
    nc's words (timed out, refused, ...)."""
    out = run_in(env.kubectl, pod, f"timeout 4 nc -w 2 {address} {port} </dev/null; echo rc=$?")
    return "can't connect" not in out and "rc=" in out, out.strip()


def http_get(env: NetEnv, pod: Pod, url: str) -> str:
    """The body at ``url`` fetched from ``pod`` (busybox wget, 5 s), or wget's error."""
    return run_in(env.kubectl, pod, f"timeout 5 wget -q -O - {url} 2>&1; echo rc=$?")


def plain_pod(admin: client.ApiClient, namespace: str, name: str, image: str) -> Pod:
    """A pod Container Maker did not make (testapp: serves its page on 8080), once Running."""
    core = client.CoreV1Api(admin)
    body: Any = {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"name": "main", "image": image}],
        },
    }
    deadline = time.monotonic() + 90
    while True:
        try:
            core.create_namespaced_pod(namespace, body)
            break
        except client.ApiException as e:  # a new namespace's default ServiceAccount
            if e.status != 403 or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    while True:
        pod = core.read_namespaced_pod(name, namespace)
        ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or ()))
        if pod.status.phase == "Running" and pod.status.pod_ip and ready:
            return Pod(namespace, name, "main", pod.status.pod_ip)
        assert time.monotonic() < deadline, f"{namespace}/{name} never ran: {pod.status}"
        time.sleep(0.3)


def create_namespace(admin: client.ApiClient, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
    return name


def tenant(env_stub: Any, admin: client.ApiClient, network: str, image: str) -> tuple[Pod, Any]:
    """A CLUSTER_LOCAL container publishing 8080 in ``network``, READY (so its status sidecar
    reported through the API server); its pod."""
    created = env_stub.createContainer(
        pb.CreateContainerRequest(
            image_name=image,
            container_name="app",
            network_name=network,
            exposure_level=pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
            publish_information=[pb.PublishInformation(publish_port=80, target_port=PORT)],
            wait_until_ready=True,
        ),
        timeout=120,
    )
    pod = client.CoreV1Api(admin).read_namespaced_pod("app", network)
    return Pod(network, "app", "app", pod.status.pod_ip), created


@pytest.fixture(scope="module")
def net_env(real_node_cluster: Any) -> Iterator[NetEnv]:
    admin = real_node_cluster.api_client()
    server_api = deployed_server_client(real_node_cluster, admin)
    local = real_node_cluster.local
    registry = local.real_node.registry
    network = local.real_node.network
    testapp = images.push(nettools_image(), registry)
    registry_relay = Relay.to(registry)
    namespaces: list[str] = []
    gateway_ns = create_namespace(admin, "gateway")
    internal_ns = create_namespace(admin, "internal")
    namespaces += [gateway_ns, internal_ns]
    settings = sidecar_settings(
        registry,
        server_service_account=SERVER_ACCOUNT,  # it binds itself into each namespace
        blocked_plugins=BLOCKED,
        registry=f"{registry}/saved",
        registry_endpoints={registry: registry_relay.address},
        ingress_peers=(PolicyPeer(namespace_labels={"kubernetes.io/metadata.name": gateway_ns}),),
        egress_denied_cidrs=(*DEFAULT_EGRESS_DENIED_CIDRS, NODE_IP_PREFIX),
        egress_cluster_dns=False,
    )
    network_a, network_b = new_network_name("tenant-a"), new_network_name("tenant-b")
    api_relay = None
    try:
        with running_server(server_api, settings=settings) as running:
            # The API as pods would reach it: the node's pod-bridge address, relayed to the
            # test server (which itself listens on loopback only).
            api_relay = Relay(running.port)
            tenant_a, container_a = tenant(running.stub, admin, network_a, testapp)
            tenant_b, _ = tenant(running.stub, admin, network_b, testapp)
            gateway = plain_pod(admin, gateway_ns, "gateway", testapp)
            outsider = plain_pod(admin, internal_ns, "internal-service", testapp)
            yield NetEnv(
                kubectl=real_node_cluster.kubectl,
                admin=admin,
                running=running,
                api_relay=api_relay,
                registry_relay=registry_relay,
                tenant_a=tenant_a,
                tenant_b=tenant_b,
                gateway=gateway,
                outsider=outsider,
                container_a=container_a,
                network_a=network_a,
                kubelet="{}:{}".format(*network.kubelet_endpoint),
                api_endpoint="{}:{}".format(*network.apiserver_endpoint),
                testapp=testapp,
                settings=settings,
            )
    finally:
        for ns in (network_a, network_b, *namespaces):
            delete_namespace(admin, ns)
        if api_relay is not None:
            api_relay.close()
        registry_relay.close()
        server_api.close()
        admin.close()


def denied(env: NetEnv, pod: Pod, address: str, port: int) -> None:
    """``pod`` cannot connect to ``address:port``, which listens: the gateway's pod, which no
    policy restricts (its namespace is not ours), connects to it. So only the policy stands
    between them (kube-router REJECTs: the connection is refused at once, not left to time
    out)."""
    reachable, control = connects(env, env.gateway, address, port)
    assert reachable, f"control: {address}:{port} does not answer the gateway's pod: {control}"
    # kube-router applies a new pod's policies asynchronously (about a second, longer on a
    # loaded machine): a connection made before is no proof either way. So the verdict is the
    # first refusal within a bounded wait; without policies, every try connects and this fails.
    deadline = time.monotonic() + POLICY_APPLIED_WITHIN
    while True:
        ok, words = connects(env, pod, address, port)
        if not ok or time.monotonic() > deadline:
            break
        time.sleep(1)
    print(f"{pod.namespace}/{pod.name} -> {address}:{port}: {' '.join(words.split())}")
    assert not ok, (
        f"{pod.namespace}/{pod.name} still reached {address}:{port} after "
        f"{POLICY_APPLIED_WITHIN} s: {words}; kube-router: {kube_router_state()}"
    )


def kube_router_state() -> str:
    """Whether kube-router runs and enforces, for the message of a failed denial."""
    running = subprocess.run(["pgrep", "-af", "kube-router"], capture_output=True, text=True)
    try:
        enforcing = str(realnode.kube_router_enforcing())
    except realnode.RealNodeError as e:
        enforcing = str(e)
    return f"processes {running.stdout.strip()!r}, enforcing: {enforcing}"


# -- what a tenant cannot reach -----------------------------------------------------------


def test_another_tenants_pod_is_unreachable(net_env: NetEnv) -> None:
    denied(net_env, net_env.tenant_a, net_env.tenant_b.ip, PORT)


def test_the_container_maker_api_is_unreachable(net_env: NetEnv) -> None:
    host, port = net_env.api_relay.address.rsplit(":", 1)
    denied(net_env, net_env.tenant_a, host, int(port))


def test_the_kubelet_on_the_node_address_is_unreachable(net_env: NetEnv) -> None:
    host, port = net_env.kubelet.rsplit(":", 1)
    denied(net_env, net_env.tenant_a, host, int(port))


def test_a_private_address_is_unreachable(net_env: NetEnv) -> None:
    """A service on an internal network (a pod nobody exposed, standing in for one)."""
    denied(net_env, net_env.tenant_a, net_env.outsider.ip, PORT)


# -- who may reach a tenant ---------------------------------------------------------------


def test_the_gateway_reaches_the_published_port(net_env: NetEnv) -> None:
    page = http_get(net_env, net_env.gateway, f"http://{net_env.tenant_a.ip}:{PORT}/")
    assert "hello from app" in page, page


def test_a_pod_outside_the_gateway_namespace_does_not(net_env: NetEnv) -> None:
    denied(net_env, net_env.outsider, net_env.tenant_a.ip, PORT)


# -- what the sidecars need still works ---------------------------------------------------


def test_the_status_sidecar_reports(net_env: NetEnv) -> None:
    """READY needs a fresh report in which the port listens: the sidecar reached the API
    server through its endpoint rule; it keeps reporting."""
    got = net_env.stub.getContainer(
        pb.GetContainerRequest(
            container_id=net_env.container_a.container_id, network_name=net_env.network_a
        ),
        timeout=30,
    )
    assert got.status.ready, got.status
    assert got.status.phase == pb.CONTAINER_PHASE_READY


def test_save_reaches_the_registry(net_env: NetEnv) -> None:
    reply = net_env.stub.saveContainer(
        pb.SaveContainerRequest(
            container_id=net_env.container_a.container_id, network_name=net_env.network_a
        ),
        timeout=180,
    )
    (saved,) = reply.saved_pods
    assert "@sha256:" in saved.image_name


# -- the API server: reachable while the status sidecar reports, but not usable -------------


def test_the_user_container_reaches_the_api_server_but_is_refused(net_env: NetEnv) -> None:
    """NetworkPolicy selects pods, not containers: the user's container can reach what the
    status sidecar reaches (the API server). It has no token, so the API server answers it as
    system:anonymous: 401 or 403 on everything that matters."""
    ok, words = connects(net_env, net_env.tenant_a, API_SERVICE_IP, 443)
    assert ok, words
    ns = net_env.network_a
    paths = (
        f"/api/v1/namespaces/{ns}/pods",
        f"/api/v1/namespaces/{ns}/secrets",
        f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
        "/api/v1/secrets",
        "/api/v1/nodes",
        "/apis/networking.k8s.io/v1/networkpolicies",
    )
    urls = " ".join(f"https://{API_SERVICE_IP}{path}" for path in paths)
    out = run_in(net_env.kubectl, net_env.tenant_a, f"apiprobe {urls}; echo rc=$?")
    print(out)
    codes = dict(line.split(" ", 1)[::-1] for line in out.splitlines() if line[:1].isdigit())
    assert sorted(codes) == sorted(f"https://{API_SERVICE_IP}{path}" for path in paths), out
    assert set(codes.values()) <= {"401", "403"}, out
    # And no token is there to be found in the user's container.
    listing = run_in(net_env.kubectl, net_env.tenant_a, "ls /var/run/secrets 2>&1; echo done")
    assert "kubernetes.io" not in listing and "container-maker" not in listing, listing


def test_without_the_status_plugin_the_api_servers_service_address_is_unreachable(
    net_env: NetEnv,
) -> None:
    """With the status plugin blocked no API-server rule is made: the Service address (which
    kube-proxy rewrites to the endpoint) and the endpoint itself are unreachable."""
    settings = net_env.settings.model_copy(
        update={"blocked_plugins": (*net_env.settings.blocked_plugins, "status")}
    )
    network = new_network_name("tenant-c")
    try:
        with running_server(net_env.admin, settings=settings) as running:
            pod, _ = tenant(running.stub, net_env.admin, network, net_env.testapp)
            denied(net_env, pod, API_SERVICE_IP, 443)
            host, port = net_env.api_endpoint.rsplit(":", 1)
            denied(net_env, pod, host, int(port))
    finally:
        delete_namespace(net_env.admin, network)


def test_the_probe_is_gofmt_and_vet_clean() -> None:
    """The test's own Go program is held to the agents' standard (no cluster needed)."""
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=readonly"}
    fmt = subprocess.run(
        ["gofmt", "-l", "."], cwd=PROBE_DIR, capture_output=True, text=True, env=env, check=False
    )
    assert fmt.returncode == 0 and not fmt.stdout.strip(), fmt.stdout + fmt.stderr
    vet = subprocess.run(
        ["go", "vet", "./..."], cwd=PROBE_DIR, capture_output=True, text=True, env=env, check=False
    )
    assert vet.returncode == 0, vet.stdout + vet.stderr
