"""The server around the API: health, reflection, a client built from the .proto files only,
TLS and mutual TLS, the ``container-maker serve`` command (SIGTERM, configuration discovery),
and the test cluster's ``serve``, which serves on a local cluster of its own (``./dev serve``)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from api_support import Running, running_server, service_account_token
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from kubernetes import client, config

from container_maker.api import TlsConfig
from container_maker.api.kubeconfig import load_api_client
from container_maker.errors import InvalidConfiguration

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "containermaker.ContainerMakerAPI"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def health_status(channel: grpc.Channel, service: str = "") -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status)


def test_health_answers_for_the_server_and_the_api(api_server: Running) -> None:
    assert health_status(api_server.channel) == SERVING
    assert health_status(api_server.channel, SERVICE) == SERVING
    stub = health_pb2_grpc.HealthStub(api_server.channel)
    with pytest.raises(grpc.RpcError) as unknown:
        stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


def test_reflection_describes_the_api(api_server: Running) -> None:
    database = ProtoReflectionDescriptorDatabase(api_server.channel)
    assert set(database.get_services()) == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    service_file = database.FindFileContainingSymbol(SERVICE)
    assert service_file.name == "containermaker/service.proto"
    assert list(service_file.dependency) == ["containermaker/types.proto"]
    types_file = database.FindFileByName("containermaker/types.proto")
    assert "ContainerResponse" in [m.name for m in types_file.message_type]


PROTO_ONLY_CLIENT = r"""
import json, sys
import grpc
import service_pb2_grpc, types_pb2 as pb

namespace, address = sys.argv[1], sys.argv[2]
stub = service_pb2_grpc.ContainerMakerAPIStub(grpc.insecure_channel(address))
created = stub.createContainer(pb.CreateContainerRequest(
    image_name="busybox:1.36", container_name="plain", network_name=namespace,
    exposure_level=pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
    publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
    resource_requirements=pb.ResourceRequirements(memory_limit="512Mi")), timeout=90)
got = stub.getContainer(pb.GetContainerRequest(
    container_id=created.container_id, network_name=namespace), timeout=30)
listed = stub.listContainer(pb.ListContainerRequest(network_name=namespace), timeout=30)
deleted = stub.deleteContainer(pb.DeleteContainerRequest(
    container_id=created.container_id, network_name=namespace), timeout=90)
print(json.dumps({
    "id": created.container_id, "got": got.container_id,
    "listed": [c.container_id for c in listed.containers], "status": deleted.status,
    "type": got.container_type,
    "project_modules": sorted(m for m in sys.modules if m.startswith("container_maker")),
}))
"""


def test_client_built_from_the_protos_only(
    api_server: Running, namespace: str, tmp_path: Path
) -> None:
    from grpc_tools import protoc

    out = tmp_path / "client"
    out.mkdir()
    protos = ROOT / "protos"
    # Flat output, as a client project would lay it out: its own module names, no package.
    for name in ("types", "service"):
        source = (protos / "containermaker" / f"{name}.proto").read_text()
        (tmp_path / f"{name}.proto").write_text(
            source.replace('import "containermaker/types.proto";', 'import "types.proto";')
        )
    include = Path(protoc.__file__).parent / "_proto"
    assert (
        protoc.main(
            [
                "protoc",
                f"-I{tmp_path}",
                f"-I{include}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                "types.proto",
                "service.proto",
            ]
        )
        == 0
    )
    (out / "client.py").write_text(PROTO_ONLY_CLIENT)
    # -E -s: no PYTHONPATH, no user site; the script's own directory holds the generated code.
    result = subprocess.run(
        [sys.executable, "-E", "-s", str(out / "client.py"), namespace, api_server.address],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["got"] == report["id"]
    assert report["listed"] == [report["id"]]
    assert report["status"] in ("Deleted", "Deleting")
    assert report["type"] == "service"
    assert report["project_modules"] == []


# -- TLS ----------------------------------------------------------------------------------


def _certificate(
    subject: str, key: Any, issuer: tuple[x509.Name, Any] | None, ca: bool = False
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj: Any) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return bytes(
        obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test-ca", ca_key, None, ca=True)
    files = {"ca": _pem(ca)}
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        files[role] = _pem(_certificate(role, key, (ca.subject, ca_key)))
        files[f"{role}-key"] = _pem(key)
    paths = {}
    for name, data in files.items():
        paths[name] = directory / f"{name}.pem"
        paths[name].write_bytes(data)
    return paths


def unreachable_api() -> client.ApiClient:
    # Health and TLS need no cluster: nothing here reaches Kubernetes.
    return client.ApiClient(client.Configuration(host="https://127.0.0.1:9"))


def test_tls(pki: dict[str, Path]) -> None:
    tls = TlsConfig(cert=pki["server"], key=pki["server-key"])
    with running_server(unreachable_api(), tls=tls) as running:
        secure = grpc.secure_channel(
            running.address, grpc.ssl_channel_credentials(pki["ca"].read_bytes())
        )
        assert health_status(secure) == SERVING
        plain = grpc.insecure_channel(running.address)
        with pytest.raises(grpc.RpcError) as refused:
            health_status(plain)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


def test_mutual_tls(pki: dict[str, Path]) -> None:
    tls = TlsConfig(cert=pki["server"], key=pki["server-key"], client_ca=pki["ca"])
    with running_server(unreachable_api(), tls=tls) as running:
        with_cert = grpc.ssl_channel_credentials(
            pki["ca"].read_bytes(), pki["client-key"].read_bytes(), pki["client"].read_bytes()
        )
        assert health_status(grpc.secure_channel(running.address, with_cert)) == SERVING
        without = grpc.ssl_channel_credentials(pki["ca"].read_bytes())
        with pytest.raises(grpc.RpcError) as refused:
            health_status(grpc.secure_channel(running.address, without))
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE


# -- the command ----------------------------------------------------------------------------


CONTAINER_MAKER = str(Path(sys.executable).parent / "container-maker")
# ``./dev serve``: the test cluster's serve, on a local cluster of its own.
LOCAL_SERVE = [sys.executable, "-m", "container_maker_testcluster"]
# tests/signal_storm.py: a second signal inside the first one's handler (see there).
SIGNAL_STORM = [sys.executable, str(ROOT / "tests" / "signal_storm.py"), "container_maker.cli:app"]


class Serve:
    """``container-maker serve`` (or ``command``'s ``serve``) as a subprocess; its JSON log
    lines are collected."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [*(command or [CONTAINER_MAKER]), "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.raw: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.raw.append(line)
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if line["event"] == event:
                return line
        raise AssertionError(f"no {event!r} line; output:\n{''.join(self.raw)}")

    def exits_cleanly(self, timeout: float, after: str) -> None:
        """The process ends within ``timeout`` seconds (``after`` says what should have made it
        stop) with exit code 0; else the test fails, with its output."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {timeout:g} s after {after}; output:\n{''.join(self.raw)}")
        assert code == 0, "".join(self.raw)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


@pytest.fixture
def serve_processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for process in started:
        process.stop()


def test_sigterm_turns_health_not_serving_then_stops(
    kube_cluster: Any, serve_processes: list[Serve]
) -> None:
    serve = Serve(
        f"--kubeconfig={kube_cluster.kubeconfig}", "--host=127.0.0.1", "--port=0",
        "--health-port=0", "--grace-period=2",
    )  # fmt: skip
    serve_processes.append(serve)
    ready = serve.wait_for("serving", timeout=60)
    assert ready["kube_config_source"] == f"kubeconfig {kube_cluster.kubeconfig}"
    channel = grpc.insecure_channel(f"127.0.0.1:{ready['port']}")
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
    assert next(watch).status == SERVING
    # The health server's own port shares the state (and stops last, after the grace period).
    health_channel = grpc.insecure_channel(f"127.0.0.1:{ready['health_port']}")
    assert ready["health_port"] not in (0, ready["port"])
    assert health_status(health_channel) == SERVING
    serve.process.send_signal(signal.SIGTERM)
    assert next(watch).status == NOT_SERVING
    assert health_status(health_channel) == NOT_SERVING
    health_channel.close()
    serve.exits_cleanly(30, "SIGTERM")
    stopping = serve.wait_for("shutting down", timeout=5)
    assert stopping["signal"] == "SIGTERM"
    assert stopping["grace_seconds"] == 2


def test_settings_from_environment_and_flags(
    kube_cluster: Any, serve_processes: list[Serve]
) -> None:
    env = {
        **os.environ,
        "CONTAINER_MAKER_KUBECONFIG": str(kube_cluster.kubeconfig),
        "CONTAINER_MAKER_HOST": "127.0.0.1",
        "CONTAINER_MAKER_PORT": "0",
        "CONTAINER_MAKER_HEALTH_PORT": "0",
        "CONTAINER_MAKER_LOG_LEVEL": "debug",
        "CONTAINER_MAKER_BLOCKED_PLUGINS": "ingress",
    }
    serve = Serve("--threads=2", env=env)
    serve_processes.append(serve)
    ready = serve.wait_for("serving", timeout=60)
    assert ready["plugins"] == ["namespace", "networkpolicy", "pod", "service", "status"]
    assert ready["port"] != 50052


def refused_serve(
    *args: str, variables: Mapping[str, str] | None = None, unset: tuple[str, ...] = ()
) -> str:
    """Run ``container-maker serve --port=0 ARGS`` with none of our environment's
    ``CONTAINER_MAKER_*`` settings (nor the variables ``unset``), plus ``variables``; it must
    refuse to start (exit code 2). Its stderr."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in unset and not key.startswith("CONTAINER_MAKER_")
    }
    env.update(variables or {})
    result = subprocess.run(
        [CONTAINER_MAKER, "serve", "--port=0", "--health-port=0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    return result.stderr


def only_log_line(stderr: str) -> dict[str, Any]:
    """The one JSON log line of a refused start."""
    (line,) = [json.loads(x) for x in stderr.splitlines() if x.startswith("{")]
    return line


def test_no_kubernetes_configuration_is_a_clear_error(tmp_path: Path) -> None:
    stderr = refused_serve(
        variables={"HOME": str(tmp_path)}, unset=("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    )
    line = only_log_line(stderr)
    assert line["level"] == "error"
    assert "no Kubernetes configuration found" in line["event"]
    assert "--kubeconfig" in line["event"]
    assert "python -m container_maker_testcluster serve" in line["event"]  # ./dev serve


def test_inconsistent_status_settings_are_a_clear_error(tmp_path: Path) -> None:
    """A report that would expire before the next heartbeat is refused before anything starts."""
    stderr = refused_serve(
        "--status-report-validity=15",
        f"--kubeconfig={tmp_path / 'none'}",
        variables={"CONTAINER_MAKER_STATUS_HEARTBEAT_INTERVAL": "20"},
    )
    line = only_log_line(stderr)
    assert (
        "status_report_validity (15s) must exceed status_heartbeat_interval (20.0s)"
        in (line["event"])
    )


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_the_retired_ingress_host_stops_the_server_with_what_to_do(
    tmp_path: Path, given: str
) -> None:
    """An operator who had the one-host setting learns at startup what replaces it; the server
    never serves EXPOSED containers on the shared host."""
    kubeconfig = f"--kubeconfig={tmp_path / 'none'}"
    if given == "flag":
        stderr = refused_serve(kubeconfig, "--ingress-host=apps.example.com")
    else:
        stderr = refused_serve(
            kubeconfig, variables={"CONTAINER_MAKER_INGRESS_HOST": "apps.example.com"}
        )
    line = only_log_line(stderr)
    assert "ingress_host" in line["event"] and "no longer supported" in line["event"]
    assert "--ingress-domain" in line["event"]


def test_a_bad_ingress_domain_is_a_clear_error(tmp_path: Path) -> None:
    stderr = refused_serve(
        "--ingress-domain=Sandbox.Example.com.", f"--kubeconfig={tmp_path / 'none'}"
    )
    line = only_log_line(stderr)
    assert "ingress_domain" in line["event"] and "not a lowercase DNS name" in line["event"]


@pytest.mark.parametrize(
    ("args", "variables", "message"),
    [
        (['--ingress-peers=[{"cidr": "10.0.0.1/8"}]'], {}, "has host bits set"),
        (["--ingress-peers=gateway"], {}, "bad --ingress-peers: ingress peers must be a JSON"),
        (["--egress-denied-cidrs=10.0.0.0/8,nowhere"], {}, "'nowhere' is not a network"),
        (["--api-server-endpoints=kubernetes:443"], {}, "'kubernetes:443' is not an ip:port"),
        ([], {"CONTAINER_MAKER_EGRESS_CLUSTER_DNS": "maybe"}, "CONTAINER_MAKER_EGRESS_CLUSTER_DNS"),
    ],
)
def test_bad_network_policy_settings_are_a_clear_error(
    tmp_path: Path, args: list[str], variables: dict[str, str], message: str
) -> None:
    stderr = refused_serve(f"--kubeconfig={tmp_path / 'none'}", *args, variables=variables)
    assert message in stderr, stderr


def test_in_cluster_configuration(
    kube_cluster: Any, admin_api: client.ApiClient, tmp_path: Path
) -> None:
    """The path a pod takes: KUBERNETES_SERVICE_HOST/PORT and a mounted ServiceAccount token."""
    ca = admin_api.configuration.ssl_ca_cert
    if not ca:
        pytest.skip("the cluster's kubeconfig carries no CA file")
    core = client.CoreV1Api(admin_api)
    name = f"incluster-{os.getpid()}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        core.create_namespaced_service_account(name, {"metadata": {"name": "server"}})
        token = tmp_path / "token"
        token.write_text(service_account_token(admin_api, name, "server"))
        url = urlsplit(admin_api.configuration.host)
        target = load_api_client(
            environ={
                "KUBERNETES_SERVICE_HOST": str(url.hostname),
                "KUBERNETES_SERVICE_PORT": str(url.port),
                "KUBECONFIG": str(kube_cluster.kubeconfig),  # in-cluster wins over it
            },
            token_file=token,
            ca_file=Path(ca),
        )
        assert target.source == "in-cluster"
        review: Any = {}
        who = client.AuthenticationV1Api(target.api_client).create_self_subject_review(review)
        assert who.status.user_info.username == f"system:serviceaccount:{name}:server"
    finally:
        core.delete_namespace(name)


def test_missing_explicit_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfiguration, match="does not exist"):
        load_api_client(tmp_path / "nope.kubeconfig")


def fake_kubeconfig(directory: Path) -> Path:
    """A kubeconfig for an API server that is not there: serve starts without reaching it."""
    path = directory / "nowhere.kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "none"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return path


def test_a_second_signal_inside_the_signal_handler_stops_the_server(
    tmp_path: Path, serve_processes: list[Serve]
) -> None:
    """Issue 18: two signals at once (a supervisor signals the process group and ``uv run``
    forwards the same signal) used to deadlock the handler. tests/signal_storm.py delivers the
    second one inside the first one's handler, right after it takes a lock if it takes one
    (the old handler did, in Event.set, and hung there every time; checked)."""
    serve = Serve(
        f"--kubeconfig={fake_kubeconfig(tmp_path)}", "--host=127.0.0.1", "--port=0",
        "--health-port=0", "--grace-period=30", command=SIGNAL_STORM,
    )  # fmt: skip
    serve_processes.append(serve)
    serve.wait_for("serving", timeout=120)
    deadline = time.monotonic() + 30
    while not any(x.startswith("signal-storm: handler for SIGTERM") for x in serve.raw):
        assert time.monotonic() < deadline, "".join(serve.raw)
        time.sleep(0.05)
    serve.process.send_signal(signal.SIGTERM)
    serve.exits_cleanly(30, "SIGTERM")  # the grace period is 30 s: no call is in flight
    assert any("signal-storm: second SIGTERM inside the handler" in x for x in serve.raw)
    assert serve.wait_for("shutting down", timeout=5)["signal"] == "SIGTERM"
    serve.wait_for("second signal: cancelling the calls in flight now", timeout=5)
    serve.wait_for("stopped", timeout=5)


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class LocalClusterSeen:
    """The local cluster of the test cluster's ``serve``, as its log lines name it (``started etcd
    (pid N, log RUN_DIR/logs/etcd.log)``)."""

    run_dir: Path
    pids: dict[str, int]

    @classmethod
    def from_output(cls, raw: list[str]) -> LocalClusterSeen:
        text = "".join(raw)
        started = list(re.finditer(r"started (\S+) \(pid (\d+), log ([^\s\"]+)/logs/", text))
        assert started, text
        return cls(Path(started[0][3]), {m[1]: int(m[2]) for m in started})

    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "admin.kubeconfig"

    def assert_stopped(self) -> None:
        assert not [name for name, pid in self.pids.items() if alive(pid)]
        assert not self.run_dir.exists()


class CallInFlight:
    """A ``createContainer`` that waits until ready, for a container that cannot be scheduled
    (the caller cordoned the nodes): in flight until its deadline (120 s) or a cancel."""

    def __init__(self, stub: Any, api: client.ApiClient, network: str) -> None:
        from container_maker._proto import types_pb2 as pb

        self.outcome: list[grpc.StatusCode] = []
        request = pb.CreateContainerRequest(
            image_name="nginx:1.27", container_name="waits", network_name=network,
            exposure_level=pb.EXPOSURE_LEVEL_CLUSTER_LOCAL,
            publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
            wait_until_ready=True,
        )  # fmt: skip

        def create() -> None:
            try:
                stub.createContainer(request, timeout=120)
                self.outcome.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                self.outcome.append(error.code())

        self.thread = threading.Thread(target=create, daemon=True)
        self.thread.start()
        core = client.CoreV1Api(api)
        deadline = time.monotonic() + 60
        while not self._pods(core, network):  # then the handler waits for the pod
            assert time.monotonic() < deadline and self.thread.is_alive(), self.outcome
            time.sleep(0.2)

    @staticmethod
    def _pods(core: client.CoreV1Api, network: str) -> list[Any]:
        try:
            return list(core.list_namespaced_pod(network).items)
        except client.ApiException:
            return []


@pytest.fixture
def nodes_cordoned(admin_api: client.ApiClient) -> Iterator[None]:
    """The session cluster's nodes take no new pod for the test's duration."""
    core = client.CoreV1Api(admin_api)
    names = [n.metadata.name for n in core.list_node().items if n.metadata]
    for name in names:
        core.patch_node(name, {"spec": {"unschedulable": True}})
    yield
    for name in names:
        core.patch_node(name, {"spec": {"unschedulable": False}})


def test_the_process_does_not_wait_for_handlers_of_cancelled_calls(
    kube_cluster: Any,
    admin_api: client.ApiClient,
    nodes_cordoned: None,
    network: str,
    serve_processes: list[Serve],
) -> None:
    """At the end of the grace period gRPC cancels the calls left, but a handler that does
    not ask (a wait_until_ready create polls until its own deadline) would keep the process
    alive until then, past any supervisor's patience."""
    serve = Serve(
        f"--kubeconfig={kube_cluster.kubeconfig}", "--host=127.0.0.1", "--port=0",
        "--health-port=0", "--grace-period=2",
    )  # fmt: skip
    serve_processes.append(serve)
    ready = serve.wait_for("serving", timeout=60)
    from container_maker._proto import service_pb2_grpc

    stub = service_pb2_grpc.ContainerMakerAPIStub(
        grpc.insecure_channel(f"127.0.0.1:{ready['port']}")
    )
    call = CallInFlight(stub, admin_api, network)
    started = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)
    serve.exits_cleanly(30, "SIGTERM (grace 2 s)")
    took = time.monotonic() - started
    line = serve.wait_for("exiting without waiting for the handlers of cancelled calls", 5)
    assert line["handlers"] == 1
    call.thread.join(10)
    assert call.outcome in ([grpc.StatusCode.CANCELLED], [grpc.StatusCode.UNAVAILABLE])
    print(f"exited {took:.1f} s after SIGTERM (grace 2 s)")
    assert took < 15, "".join(serve.raw)


@pytest.mark.simulated
def test_serve_local_stops_at_once_on_a_second_signal_during_the_grace_period(
    kube_cluster: Any, serve_processes: list[Serve]
) -> None:
    """The test cluster's ``serve`` serves on a cluster of its own. A call is provably in
    flight when the first SIGTERM comes (waiting for a container that cannot be scheduled), so
    the grace period (60 s) is running when the second one comes: the call is cancelled, the
    server and the local cluster stop at once, and nothing of the cluster is left."""
    if kube_cluster.local is None:
        pytest.skip("tests run against an existing cluster: no cluster of their own is started")
    serve = Serve("--port=0", "--health-port=0", "--grace-period=60", command=LOCAL_SERVE)
    serve_processes.append(serve)
    ready = serve.wait_for("serving", timeout=300)
    assert ready["address"] == "127.0.0.1"
    assert ready["kube_config_source"] == "local test cluster"
    assert ready["kubernetes"] != kube_cluster.api_client().configuration.host
    assert ready["ingress_domain"] == "containers.localhost"  # EXPOSED works out of the box
    local = LocalClusterSeen.from_output(serve.raw)
    assert {"etcd", "kube-apiserver", "kwok"} <= set(local.pids)
    channel = grpc.insecure_channel(f"127.0.0.1:{ready['port']}")
    assert health_status(channel) == SERVING
    from container_maker._proto import service_pb2_grpc
    from container_maker._proto import types_pb2 as pb

    stub = service_pb2_grpc.ContainerMakerAPIStub(channel)
    exposed = stub.createContainer(
        pb.CreateContainerRequest(
            image_name="nginx:1.27",
            container_name="site",
            network_name="demo",  # default is reserved: Container Maker makes demo
            exposure_level=pb.EXPOSURE_LEVEL_EXPOSED,
            publish_information=[pb.PublishInformation(publish_port=80, target_port=8080)],
        ),
        timeout=90,
    )
    (port,) = exposed.published_ports
    assert port.url.startswith("http://80-site-demo-")
    listed = stub.listContainer(pb.ListContainerRequest(network_name="demo"), timeout=30)
    assert [c.container_id for c in listed.containers] == [exposed.container_id]
    assert port.url.endswith(".containers.localhost/")

    api = config.new_client_from_config(config_file=str(local.kubeconfig))  # type: ignore[no-untyped-call]
    client.CoreV1Api(api).patch_node("kwok-node-0", {"spec": {"unschedulable": True}})
    call = CallInFlight(stub, api, "signals")

    serve.process.send_signal(signal.SIGTERM)
    assert serve.wait_for("shutting down", timeout=10)["grace_seconds"] == 60
    assert call.thread.is_alive()  # the first signal's grace period is running
    second = time.monotonic()
    serve.process.send_signal(signal.SIGTERM)
    serve.exits_cleanly(45, "the second SIGTERM")
    took = time.monotonic() - second
    call.thread.join(10)
    assert call.outcome in ([grpc.StatusCode.CANCELLED], [grpc.StatusCode.UNAVAILABLE])
    serve.wait_for("second signal: cancelling the calls in flight now", timeout=5)
    assert serve.wait_for("stopping the local cluster", timeout=5)["without_grace"] is True
    serve.wait_for("local cluster stopped", timeout=5)
    local.assert_stopped()
    print(f"stopped {took:.1f} s after the second SIGTERM")
    assert took < 30, "".join(serve.raw)


@pytest.mark.simulated
def test_timeout_around_uv_run_serve_local_stops_cleanly(kube_cluster: Any) -> None:
    """The issue's operator: ``timeout`` signals its process group while ``uv run`` forwards
    the same SIGTERM, so the server gets two at once (or one, by luck). It stops, stops its
    local cluster, and exits; ``timeout`` then exits 124. The command is ``./dev serve``'s."""
    if kube_cluster.local is None:
        pytest.skip("tests run against an existing cluster: no cluster of their own is started")
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH: ./dev installs it"
    limit = 45  # enough to start the local cluster (about 10 s) and serve a while
    started = time.monotonic()
    result = subprocess.run(
        ["timeout", "-s", "TERM", str(limit), uv, "run", "--no-sync", "python", "-m",
         "container_maker_testcluster", "serve", "--port", "0", "--health-port", "0"],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=limit + 120,
    )  # fmt: skip
    took = time.monotonic() - started - limit
    raw = result.stderr.splitlines(keepends=True)
    events = [json.loads(x)["event"] for x in raw if x.startswith("{")]
    assert result.returncode == 124, result.stderr  # timeout's own code: it had to signal
    order = ["serving", "shutting down", "stopped", "stopping the local cluster",
             "local cluster stopped"]  # fmt: skip
    assert [e for e in events if e in order] == order, result.stderr
    LocalClusterSeen.from_output(raw).assert_stopped()
    signals = 2 if "second signal: cancelling the calls in flight now" in events else 1
    print(f"stopped {took:.1f} s after the signal ({signals} SIGTERM seen by the server)")
    assert took < 30, result.stderr


@pytest.mark.simulated
def test_serve_local_interrupted_while_starting_stops_what_it_started(
    kube_cluster: Any, serve_processes: list[Serve]
) -> None:
    """A SIGTERM while the local cluster starts (its first run builds it for minutes) aborts
    the start; what was started is stopped and the process exits."""
    if kube_cluster.local is None:
        pytest.skip("tests run against an existing cluster: no cluster of their own is started")
    serve = Serve("--port=0", "--health-port=0", command=LOCAL_SERVE)
    serve_processes.append(serve)
    deadline = time.monotonic() + 300
    while not any("started kube-apiserver" in x for x in serve.raw):
        assert time.monotonic() < deadline and serve.process.poll() is None, "".join(serve.raw)
        time.sleep(0.05)
    serve.process.send_signal(signal.SIGTERM)
    serve.exits_cleanly(60, "SIGTERM")
    assert serve.wait_for("interrupted while starting", timeout=5)["signal"] == "SIGTERM"
    assert not any('"serving"' in x for x in serve.raw)
    LocalClusterSeen.from_output(serve.raw).assert_stopped()


@pytest.mark.parametrize("command", [[CONTAINER_MAKER], LOCAL_SERVE], ids=["core", "local"])
def test_serve_help_says_what_a_second_signal_does(command: list[str]) -> None:
    result = subprocess.run(
        [*command, "serve", "--help"],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "A second one stops now: the calls left are cancelled" in text
    if command == LOCAL_SERVE:
        assert "the local cluster is stopped without waiting for its components" in text
