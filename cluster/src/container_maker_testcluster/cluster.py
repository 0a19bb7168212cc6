"""A real Kubernetes control plane on loopback, with KWOK-simulated nodes or one real node.

``LocalCluster`` starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK
as separate processes, each on a free 127.0.0.1 port with its own log file under the run
directory, waits until the cluster is usable (``/readyz``, Ready nodes, the ``default``
ServiceAccount), and stops them all in reverse order. Children get ``PR_SET_PDEATHSIG`` so that
they die with the process that started them even if it is killed outright: a cluster never
outlives its owner.

What is simulated (and named so): the nodes (KWOK; pods become Running with an IP but nothing
runs), LoadBalancer Service addresses and Ingress addresses (KWOK stages; addresses from the
documentation range 203.0.113.0/24, never connected to). Everything else is the real thing.

With ``node="real"`` the only node is a real kubelet with containerd, runc, CNI and kube-proxy on
this machine instead (see :mod:`container_maker_testcluster.realnode`): containers really run.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml
from kubernetes import client

from container_maker_testcluster.build import Binaries, ensure_binaries, kwok_module_dir
from container_maker_testcluster.component import DIE_WITH_PARENT, ClusterError, Component
from container_maker_testcluster.net import SERVICE_CIDR, SERVICE_IP, Ports
from container_maker_testcluster.paths import cluster_source_dir
from container_maker_testcluster.pki import Pki, create_pki
from container_maker_testcluster.realnode import NODE_IP, NODE_LABEL, RealNode
from container_maker_testcluster.signals import StopSignals

SIMULATED_POD_CIDR = "10.244.0.0/16"
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SIMULATED_NODE_LABEL = "container-maker.io/simulated-node"
# KWOK's own stages, read from the pinned module in the module cache (not copied into the repo).
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
STOP_GRACE_SECONDS = 10.0
# urllib3 warns on every refused connection while we poll components that are still starting.
logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
NODE_KINDS = ("simulated", "real")
BIND_CLASH = "address already in use"
START_ATTEMPTS = 3


class LocalCluster:
    """A control plane plus simulated nodes, owned by this process.

    Use as a context manager, or call ``start()`` and ``stop()``. ``run_dir`` holds the
    certificates, kubeconfigs, etcd data and logs; it is created by ``start()`` and removed by
    ``stop()`` (pass ``keep_run_dir=True`` to keep logs for a post-mortem). With
    ``node="real"``, ``kubelet_config`` is laid over the kubelet's configuration (top-level
    keys), for a test that needs e.g. a shorter crash-loop back-off.
    """

    def __init__(
        self,
        run_dir: Path | None = None,
        *,
        nodes: int = 1,
        node: str = "simulated",
        node_lock_wait: float = 0,
        kubelet_config: Mapping[str, object] | None = None,
        keep_run_dir: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if node not in NODE_KINDS:
            raise ValueError(f"node must be one of {NODE_KINDS}, not {node!r}")
        if node == "real" and nodes != 1:
            raise ValueError("a real-node cluster has exactly one node")
        self.node = node
        self.node_lock_wait = node_lock_wait
        # Real node only: settings laid over the kubelet's configuration (a test's own needs).
        self.kubelet_config = dict(kubelet_config or {})
        self.run_dir = run_dir or Path(tempfile.mkdtemp(prefix="cm-cluster-"))
        self.nodes = nodes
        self.keep_run_dir = keep_run_dir
        self.ports = Ports()
        self.kubeconfig = self.run_dir / "admin.kubeconfig"
        self._log = log or (lambda message: None)
        self._components: list[Component] = []
        self._tokens: dict[str, str] = {}
        self.binaries: Binaries | None = None
        self.boot_seconds: float | None = None
        self.real_node: RealNode | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the cluster; retried with new ports if another process took one meanwhile."""
        self.binaries = ensure_binaries()
        started = time.monotonic()
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start_components()
                break
            except ClusterError as exc:
                if BIND_CLASH not in str(exc) or attempt == START_ATTEMPTS:
                    raise
                self._log(f"a port was taken while starting ({exc}); retrying with new ports")
                self.ports = Ports()
        self.boot_seconds = time.monotonic() - started
        self._log(f"cluster ready in {self.boot_seconds:.1f}s; KUBECONFIG={self.kubeconfig}")

    def _start_components(self) -> None:
        try:
            self._prepare_files()
            if self.node == "real":
                self.real_node = RealNode(self, self.node_lock_wait)
                self.real_node.prepare()
            self._start_etcd()
            self._start_apiserver()
            self.start_component("kube-controller-manager", self._controller_manager_args())
            self.start_component("kube-scheduler", self._scheduler_args())
            if self.real_node is not None:
                self.real_node.start()
            else:
                self._start_kwok()
                self._create_nodes()
            self._wait_usable()
        except BaseException:
            self.stop()
            raise

    def stop(self, *, now: bool = False, urgent: Callable[[], bool] | None = None) -> None:
        """Stop every component, newest first, then remove the run directory.

        With a real node, its pods are deleted first (so the kubelet tears their sandboxes down
        as in production), whatever containerd still runs is killed before containerd stops,
        and what the node added to the machine is removed last.

        Each component gets SIGTERM and :data:`STOP_GRACE_SECONDS` to exit, then SIGKILL. With
        ``now``, or once a SIGTERM or SIGINT arrives while this runs (in the main thread), it
        gets SIGKILL at once and the real node's pods are not waited for; everything is still
        removed. Such a signal is taken as that "stop now" and never interrupts the stop
        (Python's own SIGINT handler would raise KeyboardInterrupt in the middle of it,
        leaving processes, mounts or network settings behind); it is delivered again once the
        stop is done, to whatever handles it outside (pytest's KeyboardInterrupt, say).
        ``urgent`` is the caller's own "stop now" (a signal its handler counted just before
        this stop installed its own), asked as often as ``now``.
        """
        with StopSignals() as signals:
            told = False

            def hurry() -> bool:
                nonlocal told
                if not (now or signals.count or (urgent is not None and urgent())):
                    return False
                if not told and self._components:
                    told = True
                    cause = f" ({signals.first.name} while stopping)" if signals.first else ""
                    self._log(f"stopping now{cause}: no more grace for the components")
                return True

            self._stop(hurry)
        if signals.first is not None:
            # Deferred, not swallowed: the handler restored above gets it now.
            signal.raise_signal(signals.first)

    def _stop(self, hurry: Callable[[], bool]) -> None:
        real = self.real_node
        if real is not None and self._components:
            real.drain(hurry=hurry)
        for component in reversed(self._components):
            if real is not None and component.name == "containerd":
                real.stop_runtime_leftovers()
            self._terminate(component, hurry=hurry, say=True)
        self._components.clear()
        if real is not None:
            real.cleanup()
        if not self.keep_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    @property
    def pids(self) -> dict[str, int]:
        return {c.name: c.process.pid for c in self._components}

    def api_client(self) -> client.ApiClient:
        """A new API client authenticated as the cluster admin."""
        configuration = client.Configuration(host=self.server)
        configuration.ssl_ca_cert = str(self.pki.ca_cert)
        configuration.api_key = {"BearerToken": self._tokens["admin"]}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(configuration)

    def get_raw(self, path: str, timeout: float = 5.0) -> bytes:
        """GET ``path`` from the API server as the admin (for /readyz, /version, ...)."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        request = urllib.request.Request(
            self.server + path, headers={"Authorization": f"Bearer {self._tokens['admin']}"}
        )
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body: bytes = response.read()
            return body

    def image(self, name: str) -> str:
        """Reference of one of our images (``testapp``, ``pause``) in the real node's registry."""
        if self.real_node is None:
            raise LookupError("only a real-node cluster has our images and registry")
        return self.real_node.image_refs[name]

    @property
    def server(self) -> str:
        return f"https://{self.api_host}:{self.ports.apiserver}"

    @property
    def api_host(self) -> str:
        """Where the API server listens and what it advertises.

        Loopback with simulated nodes. With the real node, the node's own address (on an
        interface of ours that never leaves the machine): the ``kubernetes`` Service's
        endpoint must not be loopback, or pods could not reach the API through it.
        """
        return NODE_IP if self.node == "real" else "127.0.0.1"

    # -- files -------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "logs").mkdir(exist_ok=True)
        self.pki: Pki = create_pki(self.run_dir / "pki", (self.api_host, SERVICE_IP))
        # Static tokens: the admin in system:masters, and the two control-plane components
        # under the user names their default RBAC bindings expect (not the admin's power).
        self._tokens = {
            user: secrets.token_urlsafe(32)
            for user in ("admin", "system:kube-controller-manager", "system:kube-scheduler")
        }
        groups = {"admin": "system:masters"}
        token_file = self.run_dir / "pki" / "tokens.csv"
        token_file.touch(mode=0o600)
        token_file.write_text(
            "".join(
                f'{token},{user},{user},"{groups.get(user, "")}"\n'
                for user, token in self._tokens.items()
            )
        )
        self._token_file = token_file
        self.write_kubeconfig(self.kubeconfig, "admin", {"token": self._tokens["admin"]})
        for user, short in (
            ("system:kube-controller-manager", "controller-manager"),
            ("system:kube-scheduler", "scheduler"),
        ):
            self.write_kubeconfig(
                self.run_dir / f"{short}.kubeconfig", user, {"token": self._tokens[user]}
            )

    def write_kubeconfig(self, path: Path, user: str, credentials: dict[str, str]) -> None:
        """Write a kubeconfig for ``user`` (``credentials``: a token, or a client certificate
        and key); the file is private (0600)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "container-maker-test",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [{"name": user, "user": credentials}],
            "contexts": [
                {
                    "name": "container-maker-test",
                    "context": {"cluster": "container-maker-test", "user": user},
                }
            ],
            "current-context": "container-maker-test",
        }
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(doc))

    # -- components --------------------------------------------------------------------------

    def start_component(self, name: str, args: list[str], binary: Path | None = None) -> Component:
        """Start ``binary`` (our wrapper's ``name`` command by default) with ``args``, logging
        to ``logs/<name>.log``; it is stopped with the cluster."""
        assert self.binaries is not None
        command = [str(binary)] if binary else [str(self.binaries.kube), name]
        component = self._launch(name, [*command, *args])
        self._components.append(component)
        return component

    def stop_components(self, name: str) -> None:
        """Stop every component called ``name`` (SIGTERM, then SIGKILL after the grace period)
        and forget it; the others keep running."""
        for component in [c for c in self._components if c.name == name]:
            self._terminate(component)
            self._components.remove(component)

    def _launch(self, name: str, argv: list[str]) -> Component:
        log_path = self.run_dir / "logs" / f"{name}.log"
        # Appended to: a restarted component's log follows its predecessor's.
        log_file = open(log_path, "ab")  # noqa: SIM115 -- closed in _terminate
        process = subprocess.Popen(
            [*DIE_WITH_PARENT, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=self.run_dir,
            start_new_session=True,
        )
        self._log(f"started {name} (pid {process.pid}, log {log_path})")
        return Component(name, process, log_path, log_file, argv)

    def restart_apiserver(self, *, hard: bool = False) -> None:
        """Stop the kube-apiserver and start it again with the same arguments (port,
        certificates, tokens, etcd, whose data is kept); return once ``/readyz`` answers.

        Stopping is SIGTERM (its graceful shutdown) and SIGKILL after a grace period, or
        SIGKILL at once with ``hard=True`` (a crash). The other components are left running and
        reconnect by themselves, as in a real cluster. Call it from a thread that lives as long
        as the cluster (the one that started it, usually): the new process gets SIGTERM when
        the calling thread ends (see ``DIE_WITH_PARENT``).
        """
        (index,) = [i for i, c in enumerate(self._components) if c.name == "kube-apiserver"]
        old = self._components[index]
        self._terminate(old, hard=hard)
        self._log(
            f"stopped kube-apiserver (pid {old.process.pid}, {'SIGKILL' if hard else 'SIGTERM'})"
        )
        new = self._launch(old.name, old.argv)
        self._components[index] = new
        self.wait_for("kube-apiserver /readyz", self._apiserver_ready, 120, new)

    def _terminate(
        self,
        component: Component,
        *,
        hard: bool = False,
        hurry: Callable[[], bool] = lambda: False,
        say: bool = False,
    ) -> None:
        """SIGTERM, then SIGKILL after the grace period or as soon as ``hurry()`` (SIGKILL at
        once with ``hard``)."""
        process = component.process
        if process.poll() is None and say:
            self._log(f"stopping {component.name} (pid {process.pid})")
        if process.poll() is None and not (hard or hurry()):
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            while not hurry() and time.monotonic() < deadline:
                try:
                    process.wait(0.1)  # short slices: a signal must shorten the wait at once
                    break
                except subprocess.TimeoutExpired:
                    pass
        if process.poll() is None:
            process.kill()
            process.wait()
        component.log_file.close()

    def wait_for(
        self,
        what: str,
        check: Callable[[], bool],
        timeout: float,
        component: Component | None = None,
    ) -> None:
        """Return once ``check()`` is true (an exception from it means "not yet"); raise
        ClusterError if a component exits meanwhile or after ``timeout`` seconds, with the last
        lines of the exited component's log or else of ``component``'s."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            for c in self._components:
                if c.process.poll() is not None:
                    raise ClusterError(
                        f"{c.name} exited with code {c.process.returncode} while waiting for "
                        f"{what}; last lines of {c.log_path}:\n{c.log_tail()}"
                    )
            try:
                if check():
                    return
            except Exception as exc:  # any failure here means "not yet"
                last_error = exc
            time.sleep(0.2)
        tail = f"\nlast lines of {component.log_path}:\n{component.log_tail()}" if component else ""
        raise ClusterError(
            f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error}){tail}"
        )

    def _start_etcd(self) -> None:
        p = self.ports
        etcd = self.start_component(
            "etcd",
            [
                "--name=default",
                f"--data-dir={self.run_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{p.etcd_peer}",
                # A test cluster's data is thrown away: not syncing makes it much faster.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            url = f"http://127.0.0.1:{p.etcd_client}/health"
            with urllib.request.urlopen(url, timeout=2) as response:
                body: dict[str, Any] = json.load(response)
                return body.get("health") == "true"

        self.wait_for("etcd /health", healthy, 60, etcd)

    def _start_apiserver(self) -> None:
        pki = self.pki
        apiserver = self.start_component(
            "kube-apiserver",
            [
                f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
                f"--bind-address={self.api_host}",
                # Without it the API server picks an interface address; ours keeps it local.
                f"--advertise-address={self.api_host}",
                f"--secure-port={self.ports.apiserver}",
                f"--tls-cert-file={pki.serving_cert}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-key-file={pki.sa_public_key}",
                f"--service-account-signing-key-file={pki.sa_private_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--token-auth-file={self._token_file}",
                "--authorization-mode=Node,RBAC",
                # Kubelets may only change their own Node and their pods (as real clusters run).
                "--enable-admission-plugins=NodeRestriction",
                "--profiling=false",
                *(self.real_node.apiserver_args() if self.real_node else []),
            ],
        )

        self.wait_for("kube-apiserver /readyz", self._apiserver_ready, 120, apiserver)

    def _apiserver_ready(self) -> bool:
        return self.get_raw("/readyz") == b"ok"

    def _control_loop_args(self, short: str, port: int) -> list[str]:
        """What the controller manager and the scheduler share: their own identity (for the
        API and for delegated authn/authz of their own port), one replica, loopback only."""
        kubeconfig = self.run_dir / f"{short}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            "--profiling=false",
        ]

    def _controller_manager_args(self) -> list[str]:
        return [
            *self._control_loop_args("controller-manager", self.ports.controller_manager),
            # Every default controller: namespace, garbage collector, serviceaccount(-token),
            # endpoints, endpointslice, node lifecycle, and the rest a real cluster runs.
            "--controllers=*",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={self.pki.sa_private_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            f"--cluster-signing-cert-file={self.pki.ca_cert}",
            f"--cluster-signing-key-file={self.pki.ca_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ]

    def _scheduler_args(self) -> list[str]:
        return self._control_loop_args("scheduler", self.ports.scheduler)

    def _start_kwok(self) -> None:
        assert self.binaries is not None
        module = kwok_module_dir()
        documents: list[str] = [
            yaml.safe_dump(
                {
                    "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
                    "kind": "KwokConfiguration",
                    "options": {
                        "cidr": SIMULATED_POD_CIDR,
                        # Simulated nodes "live" on loopback: anything that ever tries to reach one
                        # stays on this machine.
                        "nodeIP": "127.0.0.1",
                        "manageAllNodes": False,
                        "manageNodesWithAnnotationSelector": "=".join(KWOK_NODE_ANNOTATION),
                        "serverAddress": f"127.0.0.1:{self.ports.kwok}",
                        # Renew node leases, so the node lifecycle controller sees live nodes.
                        "nodeLeaseDurationSeconds": 40,
                        # KWOK's documented defaults, which it does not apply to options read
                        # from a config file.
                        "podPlayStageParallelism": 4,
                        "nodePlayStageParallelism": 4,
                        "nodeLeaseParallelism": 4,
                        "podsOnNodeSyncParallelism": 1,
                        "enablePodsOnNodeSyncListPager": True,
                    },
                }
            )
        ]
        documents += [(module / f).read_text() for f in KWOK_STAGE_FILES]
        ours = sorted((cluster_source_dir() / "stages").glob("*.yaml"))
        documents += [p.read_text() for p in ours]
        kwok_config = self.run_dir / "kwok.yaml"
        kwok_config.write_text("\n---\n".join(documents))
        self.start_component(
            "kwok",
            [f"--kubeconfig={self.kubeconfig}", f"--config={kwok_config}"],
            binary=self.binaries.kwok,
        )

    def _create_nodes(self) -> None:
        core = client.CoreV1Api(self.api_client())
        for index in range(self.nodes):
            name = f"kwok-node-{index}"
            core.create_node(
                client.V1Node(
                    metadata=client.V1ObjectMeta(
                        name=name,
                        annotations={KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1]},
                        labels={
                            "kubernetes.io/hostname": name,
                            "kubernetes.io/os": "linux",
                            "kubernetes.io/arch": "amd64",
                            "type": "kwok",
                            SIMULATED_NODE_LABEL: "true",
                        },
                    ),
                    # No NoSchedule taint: our pods must land on these nodes without tolerations.
                    status=client.V1NodeStatus(
                        allocatable={
                            "cpu": "32",
                            "memory": "256Gi",
                            "pods": "250",
                            "ephemeral-storage": "1Ti",
                        },
                        capacity={
                            "cpu": "32",
                            "memory": "256Gi",
                            "pods": "250",
                            "ephemeral-storage": "1Ti",
                        },
                    ),
                )
            )

    def _wait_usable(self) -> None:
        api = self.api_client()
        core = client.CoreV1Api(api)

        def nodes_ready() -> bool:
            """Ready, and schedulable: the node lifecycle controller has lifted its
            not-ready NoSchedule taint (it does so shortly after the node turns Ready)."""
            label = NODE_LABEL if self.real_node else SIMULATED_NODE_LABEL
            nodes = core.list_node(label_selector=f"{label}=true").items
            usable = [
                n
                for n in nodes
                if any(
                    c.type == "Ready" and c.status == "True"
                    for c in ((n.status and n.status.conditions) or [])
                )
                and not any(t.effect == "NoSchedule" for t in (n.spec and n.spec.taints) or [])
            ]
            return len(usable) == self.nodes

        def default_service_account() -> bool:
            core.read_namespaced_service_account("default", "default")
            return True

        self.wait_for(f"Ready, untainted {self.node} nodes", nodes_ready, 120)
        self.wait_for("the default ServiceAccount", default_service_account, 120)


def describe(cluster: LocalCluster) -> dict[str, object]:
    """What a user needs to reach the cluster, as written to the run directory's state file."""
    assert cluster.binaries is not None
    return {
        "kubeconfig": str(cluster.kubeconfig),
        "server": cluster.server,
        "bin_dir": str(cluster.binaries.bin_dir),
        "logs": str(cluster.run_dir / "logs"),
        "pids": cluster.pids,
        "supervisor_pid": os.getpid(),
        "node": cluster.node,
        **(
            {
                "registry": cluster.real_node.registry,
                "images": cluster.real_node.image_refs,
                "network": asdict(cluster.real_node.network),
            }
            if cluster.real_node
            else {}
        ),
    }
