"""The status sidecar end to end on the real node, through gRPC.

The real ``status-agent`` runs in every pod (the image built from ``plugins/status/
status-agent``), looks at the pod's own network namespace, and patches its Lease with a
ServiceAccount token that may patch only that Lease, and only its report (the
ValidatingAdmissionPolicy of ``deploy/status-lease-policy.yaml``, enforced here); the server is
the deployed one (its token from ``deploy/rbac.yaml``). Short intervals (poll 0.2 s, heartbeat
1 s, validity 3 s) keep the tests quick; the logic is the one of the defaults.

Traffic goes only to pods on our own node (their IPs on the node's pod bridge).
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    SERVER_ACCOUNT,
    Running,
    StatusLeasePolicy,
    Watcher,
    delete_namespace,
    deployed_server_client,
    exec_in_pod,
    new_network_name,
    running_server,
    sidecar_settings,
)
from kubernetes import client
from snapshot_support import saveapp_image
from status_agent_support import status_agent_processes

from container_maker._proto import types_pb2 as pb
from container_maker.testing import eventually
from container_maker_testcluster import images

ROOT = Path(__file__).resolve().parents[2]
PORT = 8080  # both workloads serve HTTP here
SILENT_PORT = 9090  # declared, but nothing listens on it
LISTENING = pb.PORT_STATE_LISTENING
NOT_LISTENING = pb.PORT_STATE_NOT_LISTENING
UNKNOWN = pb.PORT_STATE_UNKNOWN
TOKEN_PATH = "/var/run/secrets/container-maker/status/token"


@dataclass
class SidecarEnv:
    running: Running
    admin: client.ApiClient
    testapp: str
    root_app: str

    @property
    def stub(self) -> Any:
        return self.running.stub


@pytest.fixture(scope="module")
def sidecar_env(real_node_cluster: Any) -> Iterator[SidecarEnv]:
    admin = real_node_cluster.api_client()
    api = deployed_server_client(real_node_cluster, admin)
    registry = real_node_cluster.local.real_node.registry
    settings = sidecar_settings(
        registry,
        server_service_account=SERVER_ACCOUNT,  # it binds itself into each namespace
        status_poll_interval=0.2,
        status_heartbeat_interval=1.0,
        status_report_validity=3,
    )
    testapp = images.push(images.build_testapp(), registry)
    root_app = images.push(saveapp_image(user="0:0"), registry)
    # The real agent reports under the status Lease policy of deploy/, enforced.
    policy = StatusLeasePolicy(real_node_cluster)
    try:
        policy.install()
        with running_server(api, settings=settings) as running:
            yield SidecarEnv(running, admin, testapp, root_app)
    finally:
        policy.close()
        api.close()
        admin.close()


@pytest.fixture
def network(sidecar_env: SidecarEnv) -> Iterator[str]:
    name = new_network_name("sidecar")
    yield name
    delete_namespace(sidecar_env.admin, name)


def create(
    env: SidecarEnv, network: str, name: str, ports: tuple[int, ...] = (PORT,), **changes: Any
) -> Any:
    request = pb.CreateContainerRequest(
        image_name=changes.pop("image", env.testapp),
        container_name=name,
        network_name=network,
        exposure_level=pb.EXPOSURE_LEVEL_INTERNAL,
        publish_information=[pb.PublishInformation(publish_port=p, target_port=p) for p in ports],
        **changes,
    )
    return env.stub.createContainer(request, timeout=120)


def get(env: SidecarEnv, created: Any) -> Any:
    return env.stub.getContainer(
        pb.GetContainerRequest(
            container_id=created.container_id, network_name=created.container_network
        ),
        timeout=30,
    )


def port_states(response: Any) -> dict[int, int]:
    return {p.port: p.state for p in response.status.ports}


def reasons(response: Any) -> list[str]:
    return [c.reason for c in response.status.conditions]


@contextmanager
def traffic(ip: str) -> Iterator[None]:
    """A connection to the workload in a pod on our node that carries the start of a request
    and stays open while the block runs; then it is reset (no more bytes either way).

    The status agent samples the pod's sockets once per poll, so a whole request (connect, send,
    answer, close) can fall between two polls and leave it nothing to see: when the server's
    socket ends without TIME_WAIT (the peer closes first, or a reset) the agent never learns of
    it (observe.go says so). A connection that has received bytes and is still open is seen at
    the next poll, however the polls fall; the reset keeps its end from counting as later
    activity, so each block's activity is its own connection's.
    """
    with socket.create_connection((ip, PORT), timeout=10) as connection:
        connection.sendall(b"GET / HTTP/1.0\r\n")  # the headers' end is never sent
        yield
        # SO_LINGER with a zero timeout: close() sends RST, no FIN, and the socket is gone.
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def agent_pid(lease: str, namespace: str) -> int:
    """The host pid of the status agent reporting to ``lease`` in ``namespace``."""
    wanted = {
        f"CONTAINER_MAKER_REPORT_LEASE={lease}".encode(),
        f"CONTAINER_MAKER_NAMESPACE={namespace}".encode(),
    }
    for pid, environ in status_agent_processes().items():
        if wanted <= environ:
            return pid
    raise AssertionError(f"no status agent for {namespace}/{lease} on this machine")


def test_a_declared_port_nothing_listens_on_is_reported_and_holds_the_container_back(
    sidecar_env: SidecarEnv, network: str
) -> None:
    created = create(sidecar_env, network, "half", ports=(PORT, SILENT_PORT))
    got = eventually(
        lambda: get(sidecar_env, created),
        lambda r: port_states(r) == {PORT: LISTENING, SILENT_PORT: NOT_LISTENING},
        timeout=90,
    )
    assert got.status.HasField("report_time")
    # The pod itself is ready (its probe is on the first port); the report holds it back.
    assert got.status.phase == pb.CONTAINER_PHASE_RUNNING
    assert got.status.ready is False
    (condition,) = [c for c in got.status.conditions if c.reason == "PortNotListening"]
    assert f"{SILENT_PORT}/TCP" in condition.message
    assert (condition.resource_type, condition.resource_name) == ("status", "half-status")
    # list reads the same report (one Lease list for the namespace).
    listed = sidecar_env.stub.listContainer(
        pb.ListContainerRequest(network_name=network), timeout=30
    )
    assert [port_states(c) for c in listed.containers] == [port_states(got)]


def test_listening_ports_make_it_ready_and_traffic_is_its_last_activity(
    sidecar_env: SidecarEnv, network: str
) -> None:
    created = create(sidecar_env, network, "web", wait_until_ready=True)
    assert created.status.phase == pb.CONTAINER_PHASE_READY
    assert port_states(created) == {PORT: LISTENING}
    # The kubelet's readiness probe connects every 2 s but carries nothing: no activity.
    time.sleep(3)
    quiet = get(sidecar_env, created)
    assert not quiet.status.HasField("last_activity_time"), quiet.status

    events = Watcher(sidecar_env.stub, network, created.container_id)
    before = time.time()
    with traffic(created.container_ip):
        active = events.container(lambda c: c.status.HasField("last_activity_time"))
    first = active.status.last_activity_time.ToDatetime().timestamp()
    # Seen by a poll after the request (same clock: the node is this machine); a bound only.
    assert before - 1 <= first <= time.time() + 1
    time.sleep(1.5)
    with traffic(created.container_ip):
        later = events.container(
            lambda c: c.status.last_activity_time.ToDatetime().timestamp() > first
        )
    assert later.status.phase == pb.CONTAINER_PHASE_READY
    events.call.cancel()


def test_a_frozen_sidecar_stops_vouching_for_the_container_then_recovers(
    sidecar_env: SidecarEnv, network: str
) -> None:
    """A sidecar that lags (here: stopped with SIGSTOP) leaves its last report in place; once
    its validity (3 s) passes, watchers and readers see the container not ready, its ports
    UNKNOWN and why; when it goes on, it is READY again."""
    created = create(sidecar_env, network, "frozen", wait_until_ready=True)
    events = Watcher(sidecar_env.stub, network, created.container_id)
    pid = agent_pid("frozen-status", network)
    os.kill(pid, signal.SIGSTOP)
    try:
        stale = events.container(lambda c: "StatusReportStale" in reasons(c), timeout=30)
        assert stale.status.ready is False
        assert stale.status.phase == pb.CONTAINER_PHASE_RUNNING
        assert port_states(stale) == {PORT: UNKNOWN}
        assert "StatusReportStale" in reasons(get(sidecar_env, created))
    finally:
        os.kill(pid, signal.SIGCONT)
    again = events.container(lambda c: c.status.ready, timeout=30)
    assert port_states(again) == {PORT: LISTENING}
    events.call.cancel()


def test_the_users_container_cannot_read_the_sidecars_token(
    sidecar_env: SidecarEnv, network: str
) -> None:
    """Even as root in a pod sharing one PID namespace: the agent is not dumpable and runs as
    another user, so its files stay closed to /proc/<pid>/root; no token is mounted for the
    user's container."""
    created = create(
        sidecar_env, network, "root", image=sidecar_env.root_app, wait_until_ready=True
    )
    core = client.CoreV1Api(sidecar_env.admin)
    pod = core.read_namespaced_pod("root", network)
    user = next(c for c in pod.spec.containers if c.name == "root")
    assert not any("token" in m.name for m in user.volume_mounts or [])
    assert pod.spec.automount_service_account_token is False
    script = (
        "id -u; for d in /proc/[0-9]*; do "
        "if grep -q status-agent $d/cmdline 2>/dev/null; then "
        f"echo agent $d; cat $d/root{TOKEN_PATH} && echo READ-IT; fi; done; "
        "ls /var/run/secrets 2>&1; true"
    )
    output = exec_in_pod(sidecar_env.admin, network, "root", "root", "/bin/sh", "-c", script)
    assert output.splitlines()[0] == "0", output  # root in the user's container
    assert "agent /proc/" in output, output  # it sees the agent's process...
    assert "READ-IT" not in output and "Permission denied" in output, output  # ...not its token
    assert created.status.ready
