"""Starting and stopping a real-node cluster leaves this machine as it found it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from test_real_node import eventually, wait_running  # the same helpers as the pod tests

from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.pytest_plugin import (
    KUBECONFIG_ENV,
    REAL_NODE_LOCK_WAIT_SECONDS,
    TestCluster,
)
from container_maker_testcluster.realnode import (
    BRIDGE,
    KUBELET_SYSCTLS,
    NETWORK_SYSCTLS,
    NODE_LINK,
    OUR_CHAIN,
    SYSCTLS_FILE,
    cgroup_dirs,
    cni_results,
    ipsets,
    iptables_chains,
    machine_lock,
    runtime_processes,
)

pytestmark = pytest.mark.skipif(
    bool(os.environ.get(KUBECONFIG_ENV)), reason="starts a real-node cluster of its own"
)


def _out(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def machine_state() -> dict[str, Any]:
    """What a real node adds to the machine, as seen from outside our code where possible."""
    links = sorted(
        line.split(":")[1].strip().split("@")[0]
        for line in _out("ip", "-o", "link", "show").splitlines()
    )
    return {
        "links": links,
        "routes": sorted(_out("ip", "route", "show", "table", "all").splitlines()),
        "ip rules": _out("ip", "rule", "show").splitlines(),
        "ipsets": ipsets(),
        "iptables": iptables_chains(),
        "iptables rules": sorted(
            line
            for tool in ("iptables-save", "ip6tables-save")
            for line in _out(tool).splitlines()
            if line.startswith("-A")
        ),
        "mounts": sorted(
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if "containerd" in line or "kubelet" in line or "netns" in line
        ),
        "processes": sorted(
            Path(f"/proc/{p}/comm").read_text().strip()
            for p in os.listdir("/proc")
            if p.isdigit()
            and Path(f"/proc/{p}/comm").exists()
            and Path(f"/proc/{p}/comm").read_text().strip()
            in ("containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "pause")
        ),
        "cgroups": cgroup_dirs(),
        "cni results": cni_results(),
        "sysctls": {
            name: (Path("/proc/sys") / name).read_text()
            for name in (*KUBELET_SYSCTLS, *NETWORK_SYSCTLS)
        },
        "saved sysctls": SYSCTLS_FILE.exists(),
    }


@pytest.mark.parametrize("now", [False, True], ids=["graceful", "now"])
def test_stopping_a_real_node_cluster_leaves_nothing_behind(tmp_path: Path, now: bool) -> None:
    """``now`` is the stop a second signal asks for (SIGKILL at once, the pods not waited
    for): it must remove just as much."""
    # Under the machine's lock from the first look to the last: another real node (another
    # test run on this machine) can neither be running at `before` nor start before `after`.
    with machine_lock(REAL_NODE_LOCK_WAIT_SECONDS):
        check_leaves_nothing_behind(tmp_path, now)


def check_leaves_nothing_behind(tmp_path: Path, now: bool) -> None:
    before = machine_state()
    run_dir = tmp_path / "cluster"
    cluster = LocalCluster(run_dir, node="real", node_lock_wait=REAL_NODE_LOCK_WAIT_SECONDS)
    cluster.start()
    try:
        assert cluster.real_node is not None
        core = client.CoreV1Api(cluster.api_client())
        core.create_namespaced_pod(
            "default",
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="left-running"),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="web", image=cluster.image("testapp"))]
                ),
            ),
        )
        # A policy, so that kube-router makes ipsets (of its pods) that the stop must remove.
        client.NetworkingV1Api(cluster.api_client()).create_namespaced_network_policy(
            "default",
            client.V1NetworkPolicy(
                metadata=client.V1ObjectMeta(name="left-behind"),
                spec=client.V1NetworkPolicySpec(
                    pod_selector=client.V1LabelSelector(),
                    ingress=[
                        client.V1NetworkPolicyIngressRule(
                            _from=[
                                client.V1NetworkPolicyPeer(pod_selector=client.V1LabelSelector())
                            ]
                        )
                    ],
                ),
            ),
        )
        core.create_namespaced_service(
            "default",
            client.V1Service(
                metadata=client.V1ObjectMeta(name="left-behind"),
                spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
            ),
        )
        wait_running(TestCluster(cluster.kubeconfig, "", False, cluster), "default", "left-running")
        # kube-router's sync after the pod started: its chain for the pod, the policy's ipsets.
        eventually(
            lambda: (
                any(n.startswith("KUBE-SRC-") for n in ipsets())
                and any(
                    c.startswith("KUBE-POD-FW-")
                    for c in iptables_chains().get("iptables filter", [])
                )
            ),
            30,
            "kube-router's chain and ipsets for the pod",
        )
        during = machine_state()
        # While it runs, the node really is on the machine: the parts the stop must remove.
        assert {BRIDGE, NODE_LINK} <= set(during["links"])
        assert any("blackhole 10.245.0.0/16" in r for r in during["routes"])
        assert any(k.startswith("iptables nat") for k in during["iptables"])
        # kube-router's chains, our safety drop in mangle, the pod routing rules, the sysctls.
        filter_chains = during["iptables"]["iptables filter"]
        assert {"KUBE-ROUTER-FORWARD", "KUBE-NWPLCY-DEFAULT"} <= set(filter_chains)
        assert any(c.startswith("KUBE-POD-FW-") for c in filter_chains)
        assert OUR_CHAIN in during["iptables"]["iptables mangle"]
        assert any(f"iif {BRIDGE}" in rule for rule in during["ip rules"])
        assert {during["sysctls"][name].strip() for name in NETWORK_SYSCTLS} == {"1"}
        assert during["saved sysctls"]
        assert "containerd-shim" in " ".join(during["processes"])
        assert any(str(run_dir) in m for m in during["mounts"])
        assert during["cgroups"]
        assert during["cni results"]
        assert runtime_processes(cluster.real_node.socket)
    finally:
        cluster.stop(now=now)
    # The pod was still running when the cluster stopped.
    after = machine_state()
    assert after == before
    assert not run_dir.exists()
