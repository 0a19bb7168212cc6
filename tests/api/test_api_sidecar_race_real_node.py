"""Root in the user's container tries to rob both sidecars, on the real node, through gRPC
(review finding 3): it kills them again and again and races each new start, and it races
saveContainer's ``snapshot-agent save`` execs, for the registry password and the status token.

The attacker (``sidecar_race.c``, see ``race_support``) runs as the user's container's
entrypoint; the test starts it, calls saveContainer ten times while it watches, stops it and
reads its summary from the container's log. It must have opened nothing: the user's container
lacks NET_RAW and MKNOD, so the kernel's capability-subset check refuses it the snapshot
sidecar's ``/proc`` files, and the status agent's binary is execute-only, so it is not dumpable
from execve on. That the attack really ran is checked too: both sidecars' restart counts rose
by the rounds it played, and it was refused on live processes.

The kubelet of this module's own real node backs off crash loops for at most 1 s
(``crashLoopBackOff.maxContainerRestartPeriod``), so 20 kills of each sidecar take about a
minute each instead of the default back-off's hours. Traffic stays on this machine: pods on our
node, the loopback registries, and the relay on the pod bridge's gateway.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
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
    exec_in_pod,
    new_network_name,
    running_server,
    sidecar_settings,
)
from kubernetes import client
from race_support import ROUNDS, attacker_image
from snapshot_support import AuthRegistry, Relay

from container_maker._proto import types_pb2 as pb
from container_maker.auth import LOCAL_IDENTITY
from container_maker.tenancy import assign_namespace
from container_maker.testing import eventually
from container_maker_testcluster import images
from container_maker_testcluster.cluster import LocalCluster
from container_maker_testcluster.pytest_plugin import (
    KUBECONFIG_ENV,
    REAL_NODE_LOCK_WAIT_SECONDS,
    TestCluster,
)

ROOT = Path(__file__).resolve().parents[2]
NAME = "victim"
PORT = 8080
SAVES = 10
TOKEN_FILE = "var/run/secrets/container-maker/status/token"
SECRET = "push-creds"


@dataclass
class RaceEnv:
    running: Running
    admin: client.ApiClient
    attacker: str
    registry: AuthRegistry
    user: str
    password: str

    @property
    def stub(self) -> Any:
        return self.running.stub


@pytest.fixture(scope="module")
def race_cluster() -> Iterator[LocalCluster]:
    """A real-node cluster of this module's own, its kubelet backing off for at most 1 s."""
    if os.environ.get(KUBECONFIG_ENV):
        pytest.skip(f"{KUBECONFIG_ENV} is set: the real-node tests need a cluster started here")
    with LocalCluster(
        node="real",
        node_lock_wait=REAL_NODE_LOCK_WAIT_SECONDS,
        kubelet_config={"crashLoopBackOff": {"maxContainerRestartPeriod": "1s"}},
    ) as local:
        yield local


@pytest.fixture(scope="module")
def race_env(race_cluster: LocalCluster) -> Iterator[RaceEnv]:
    """The server runs under the deployed ServiceAccount's token and saves to a registry of
    ours that wants a password (the prize); pods reach it and the node's registry through
    relays on the pod bridge."""
    assert race_cluster.binaries is not None and race_cluster.real_node is not None
    cluster = TestCluster(
        race_cluster.kubeconfig,
        str(race_cluster.binaries.bin_dir / "kubectl"),
        simulated=False,
        local=race_cluster,
    )
    admin = race_cluster.api_client()
    api = deployed_server_client(cluster, admin)
    node_registry = race_cluster.real_node.registry
    user, password = "pusher", secrets.token_urlsafe(18)
    auth = AuthRegistry(user, password)
    relay = Relay.to(auth.address)
    # The agent reads the running image's config from the node's registry.
    node_relay = Relay.to(node_registry)
    settings = sidecar_settings(
        node_registry,
        server_service_account=SERVER_ACCOUNT,  # it binds itself into each namespace
        registry=f"{auth.address}/saved",
        registry_secret=SECRET,
        # The test's registry speaks plain HTTP on the machine's loopback: named as such, as an
        # operator must, or the agent refuses to send it the credentials.
        registry_insecure=(auth.address,),
        registry_endpoints={auth.address: relay.address, node_registry: node_relay.address},
    )
    attacker = images.push(attacker_image(), node_registry)
    try:
        with running_server(api, settings=settings) as running:
            yield RaceEnv(running, admin, attacker, auth, user, password)
    finally:
        api.close()
        relay.close()
        node_relay.close()
        auth.close()
        admin.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def network(race_env: RaceEnv) -> Iterator[str]:
    """A namespace holding the registry Secret the snapshot sidecar mounts."""
    name = new_network_name("race")
    core = client.CoreV1Api(race_env.admin)
    core.create_namespace({"metadata": {"name": name}})
    # Made by an admin (to hold the Secret first): assigned to the server's tenant.
    assign_namespace(race_env.admin, name, LOCAL_IDENTITY.tenant)
    config = {
        "auths": {race_env.registry.address: {"auth": b64(f"{race_env.user}:{race_env.password}")}}
    }
    core.create_namespaced_secret(
        name,
        {
            "metadata": {"name": SECRET},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": b64(json.dumps(config))},
        },
    )
    yield name
    delete_namespace(race_env.admin, name)


def create_attacker(env: RaceEnv, network: str) -> Any:
    request = pb.CreateContainerRequest(
        image_name=env.attacker,
        container_name=NAME,
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=PORT, target_port=PORT)],
        environment_variables={"RACE_NETWORK": network},
        wait_until_ready=True,
    )
    return env.stub.createContainer(request, timeout=120)


def exec_in(env: RaceEnv, network: str, *command: str) -> str:
    """Run a command in the user's container as the admin (the test's own hand inside)."""
    return exec_in_pod(env.admin, network, NAME, NAME, *command)


def attacker_log(env: RaceEnv, network: str) -> str:
    log: str = client.CoreV1Api(env.admin).read_namespaced_pod_log(NAME, network, container=NAME)
    return log


def restart_counts(env: RaceEnv, network: str) -> dict[str, int]:
    pod = client.CoreV1Api(env.admin).read_namespaced_pod(NAME, network)
    return {s.name: s.restart_count for s in pod.status.container_statuses or []}


def all_ready(env: RaceEnv, network: str) -> bool:
    pod = client.CoreV1Api(env.admin).read_namespaced_pod(NAME, network)
    statuses = pod.status.container_statuses or []
    return len(statuses) == 3 and all(s.ready for s in statuses)


def host_pid(cmdline: bytes, env_entry: str) -> int:
    """The host pid of the process with ``cmdline`` (a prefix) and ``env_entry`` in its
    environment (we are root on the node, so even a non-dumpable one's can be read)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "cmdline").read_bytes().startswith(cmdline):
                continue
            if env_entry.encode() in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    raise AssertionError(f"no process {cmdline!r} with {env_entry} on this machine")


def cap_prm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapPrm:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no CapPrm in /proc/{pid}/status")


def summary_of(log: str) -> dict[str, Any]:
    (line,) = [line for line in log.splitlines() if line.startswith("SUMMARY ")]
    parsed: dict[str, Any] = json.loads(line.removeprefix("SUMMARY "))
    return parsed


def test_killing_and_racing_the_sidecars_opens_nothing_and_steals_nothing(
    race_env: RaceEnv, network: str
) -> None:
    created = create_attacker(race_env, network)
    assert created.status.ready

    # The user's container is strictly weaker than the snapshot sidecar (read on the node).
    user_pid = host_pid(b"/attacker\0race\0", f"RACE_NETWORK={network}")
    snapshot_pid = host_pid(b"/snapshot-agent\0idle\0", f"CONTAINER_MAKER_NAMESPACE={network}")
    status_pid = host_pid(b"/status-agent\0run\0", f"CONTAINER_MAKER_NAMESPACE={network}")
    user_caps, snapshot_caps = cap_prm(user_pid), cap_prm(snapshot_pid)
    print(f"\n  CapPrm: user {user_caps:#x}, snapshot sidecar {snapshot_caps:#x}")
    assert user_caps & ~snapshot_caps == 0 and user_caps != snapshot_caps
    # The prizes, as root on the node sees them.
    token = Path(f"/proc/{status_pid}/root/{TOKEN_FILE}").read_text().strip()
    assert token.count(".") == 2  # a JWT
    prizes = {
        "registry password": race_env.password,
        "registry auth": b64(f"{race_env.user}:{race_env.password}"),
        "status token": token,
        "status token signature": token.rsplit(".", 1)[1],
    }
    before = restart_counts(race_env, network)

    started = time.monotonic()
    exec_in(race_env, network, "/attacker", "start")
    eventually(
        lambda: attacker_log(race_env, network),
        lambda log: "KILL-ROUNDS-DONE" in log,
        timeout=900,
    )
    killed = restart_counts(race_env, network)
    print(f"  {ROUNDS} kill rounds per sidecar in {time.monotonic() - started:.0f} s: {killed}")
    eventually(lambda: all_ready(race_env, network), bool, timeout=120)

    # Ten saves while the attacker races every new process; each one pushes for real.
    for _ in range(SAVES):
        reply = race_env.stub.saveContainer(
            pb.SaveContainerRequest(container_id=created.container_id, network_name=network),
            timeout=180,
        )
        (saved,) = reply.saved_pods
        assert saved.image_name.startswith(f"{race_env.registry.address}/saved/{network}/")
    exec_in(race_env, network, "/attacker", "stop")
    log = eventually(
        lambda: attacker_log(race_env, network),
        lambda text: "SUMMARY " in text,
        timeout=120,
    )
    summary = summary_of(log)
    print(f"  attacker: {json.dumps({k: v for k, v in summary.items() if k != 'loot'})}")
    print(f"  loot: {summary['loot'][:2000]}")

    # The attack ran: every round killed a sidecar that the kubelet brought back...
    assert summary["rounds"] == {"snapshot": ROUNDS, "status": ROUNDS}, summary
    assert summary["restarts_seen"] == {"snapshot": ROUNDS, "status": ROUNDS}, summary
    assert summary["round_timeouts"] == 0, summary
    after = restart_counts(race_env, network)
    for sidecar in ("cm-snapshot", "cm-status"):
        assert after[sidecar] - before[sidecar] >= ROUNDS, (before, after)
    assert after[NAME] == before[NAME]  # the attacker itself ran throughout
    # ...its opens met live processes and were refused, and it saw the save execs...
    assert summary["denied"] > 0 and summary["save_denied"] > 0, summary
    # Every save exec was seen. It may be counted more than once: each save forks its capture
    # child, which shows the parent's cmdline (`/snapshot-agent save ...`) until its own exec.
    assert summary["save_processes"] >= SAVES, summary
    # ...and it opened nothing, so it read nothing.
    stolen = [line for line in log.splitlines() if line.startswith("LOOT ")]
    assert summary["successes"] == 0, "\n".join(stolen)
    assert "LOOT" not in log and "OPENED" not in log and "READ" not in log
    for what, prize in prizes.items():
        assert prize not in log, f"the {what} is in the attacker's log"


def test_the_users_container_cannot_open_a_packet_socket(race_env: RaceEnv, network: str) -> None:
    """Without NET_RAW, root in the user's container can neither sniff nor spoof frames on the
    pod network: socket(AF_PACKET, SOCK_RAW) is EPERM."""
    create_attacker(race_env, network)
    output = exec_in(race_env, network, "/attacker", "packet")
    assert output.strip() == "AF_PACKET: errno 1 (Operation not permitted)", output
