"""The real node: a kubelet with containerd, runc, CNI and kube-proxy on this machine.

Parts (all real, none simulated):

* a local OCI registry (Debian's ``docker-registry``) on a free 127.0.0.1 port, storage in the
  run directory, holding the images of :mod:`container_maker_testcluster.images`;
* containerd (Debian's 1.6) with a config file of ours: root, state, socket, runc state and
  network namespaces all under the run directory; overlayfs snapshotter; cgroupfs; the sandbox
  image is our pause image; the local registry is reached over plain HTTP;
* a CNI network: Debian's bridge + host-local plugins, bridge ``cm-br0`` with gateway
  10.245.0.1 and pods in 10.245.0.0/24 (a block of POD_CIDR);
* the kubelet and kube-proxy (iptables mode) from our wrapper binary, each with a client
  certificate of its own (``system:node:<node>`` in ``system:nodes``; ``system:kube-proxy``);
* kube-router's NetworkPolicy controller alone (``--run-firewall`` only: no router, no service
  proxy, no health or metrics port), so NetworkPolicies are enforced, with iptables and ipsets
  in the filter table. Its identity (KUBE_ROUTER_USER, a client certificate) may only read pods,
  namespaces, nodes, NetworkPolicies, and the Services, Endpoints and EndpointSlices its
  informers insist on; it writes nothing. What it enforces: ingress to and egress from every pod
  of the node, pod-to-pod on the bridge too (``net.bridge.bridge-nf-call-iptables`` is set to 1
  for that), after kube-proxy's DNAT (so an egress rule for the API server names the node's
  address and the API server's port, :class:`PodNetwork`). What it always lets through: the
  node's own addresses to any pod (the kubelet's probes), and pods to the node's addresses on
  NODE_PORT_RANGE; denied traffic is REJECTed (the connection fails at once).

Network safety (the workplace rule: traffic only to loopback and our own pods): the node's
address is NODE_IP from the documentation range 198.51.100.0/24, on an interface of ours that
discards whatever is routed to it, so nothing addressed to the node leaves the machine. That
interface is a bridge with no ports (``cm-node0``): this kernel has no dummy driver (``ip link
add cm-node0 type dummy`` fails with "Error: Unknown device type."), and a port-less bridge
drops what it transmits just the same. The whole POD_CIDR is a blackhole route (the bridge's
/24 is more specific, so local pods still win). The Service CIDR is routed to that interface
rather than blackholed: a host process connecting to a ClusterIP needs a route before iptables'
OUTPUT chain can DNAT it to a pod (a blackhole makes connect() fail first with EINVAL); anything
left unDNATed is discarded there. IP forwarding is on while the node runs (``ip_forward`` is
set to 1, as the CNI bridge plugin would at the first pod: a pod reaching another pod through a
Service is routed at the bridge's gateway) and put back on stop. Nothing from a pod may leave
through another interface, and kube-router's FORWARD jump (first in the filter table, ACCEPTing
policy-compliant traffic there) would bypass a filter drop, so the drop is in two places it
never touches: a routing rule (what arrives from the bridge is routed to the node's pod subnet,
delivered locally, or blackholed in table POD_ROUTE_TABLE) and a mangle-table FORWARD chain of
ours (OUR_CHAIN: bridge to any other interface is dropped, IPv4 and IPv6). No masquerading.
Pods get no DNS resolver.

The API server listens on NODE_IP and advertises it, so the ``kubernetes`` Service's endpoint
is valid and pods reach the API through it (a status sidecar reports that way); the packets
stay on the machine (local delivery from the bridge).

Everything added is removed on stop: pods, containers, shims, mounts, network namespaces, the
bridges, routes and routing rules, iptables chains (kube-proxy's, the kubelet's, kube-router's,
ours; kube-router leaves its rules behind when it stops) and kube-router's ipsets, the cgroups
under CGROUP_ROOT, and the kernel settings the kubelet and we change are put back. Only one real
node can run on a machine at a time (the iptables chains are global); a lock enforces it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import yaml

from container_maker_testcluster import images
from container_maker_testcluster.net import SERVICE_CIDR, SERVICE_IP, free_port
from container_maker_testcluster.pki import issue_client_cert, issue_serving_cert

if TYPE_CHECKING:
    from kubernetes import client

    from container_maker_testcluster.build import Binaries
    from container_maker_testcluster.component import Component
    from container_maker_testcluster.net import Ports
    from container_maker_testcluster.pki import Pki

NODE_NAME = "cm-real-node"
KUBE_ROUTER_USER = "container-maker:kube-router"
# kube-router always lets traffic to the node's own addresses through on these ports (its
# KUBE-ROUTER-INPUT chain RETURNs them before any policy): it must match the API server's
# --service-node-port-range (the default), and no port a pod must not reach may be in it.
NODE_PORT_RANGE = (30000, 32767)
NODE_LABEL = "container-maker.io/real-node"
NODE_IP = "198.51.100.10"  # documentation range (RFC 5737), on NODE_LINK only
NODE_IP_PREFIX = "198.51.100.0/24"
POD_CIDR = "10.245.0.0/16"  # next to KWOK's 10.244.0.0/16, clear of 10.96.0.0/16 and 192.0.2.0/24
NODE_POD_SUBNET = "10.245.0.0/24"
POD_GATEWAY = "10.245.0.1"
BRIDGE = "cm-br0"
NODE_LINK = "cm-node0"  # a bridge without ports: the kernel has no dummy driver
CNI_NETWORK = "container-maker-pods"
OUR_CHAIN = "CM-REAL-NODE"  # in the mangle table: kube-router owns filter's FORWARD
# Policy routing for whatever arrives from the pod bridge: to the node's pod subnet through the
# main table, anything else (not local) into our table's blackhole default route.
RULE_PODS_TO_PODS = 1244
RULE_PODS_ELSEWHERE = 1245
POD_ROUTE_TABLE = 1245
# kube-router's iptables chains (filter table) and ipsets (its policies' pod and CIDR sets, and
# the temporary sets of its atomic ipset swaps): removed on stop, since they outlive it.
KUBE_ROUTER_CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-")
KUBE_ROUTER_IPSET = re.compile(r"(KUBE-SRC-|KUBE-DST-|TMP-)[A-Z2-7]{16}")
CGROUP_ROOT = "/container-maker"
CNI_BIN_DIR = Path("/usr/lib/cni")
LOCK_FILE = Path("/run/container-maker-real-node.lock")
SYSCTLS_FILE = Path("/run/container-maker-real-node.sysctls.json")  # while a node runs
CTR_NAMESPACE = "k8s.io"
SOCKET_PATH_MAX = 104 - len(".ttrpc")
# The kubelet's sockets under its root directory: the longest is pod-resources/<10 digits> or
# device-plugins/kubelet.sock; a unix socket path has at most 107 bytes.
KUBELET_ROOT_MAX = 107 - len("/device-plugins/kubelet.sock")
# Paths containerd 1.6 and libcni use whatever the config says (shim sockets; CNI result cache).
# Their contents go away with the pods; the directories are removed on stop if we created them.
HARDCODED_DIRS = (
    Path("/run/containerd/s"),
    Path("/run/containerd"),
    Path("/var/lib/cni/results"),
    Path("/var/lib/cni"),
)
# The kubelet sets these (setupKernelTunables) unless protectKernelDefaults makes it refuse to
# start; we let it set them and put the machine's values back on stop.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Set by us for the pod network, put back on stop. ip_forward: routed pod traffic (a pod to a
# Service whose endpoint is another pod, DNATed at the bridge's gateway) needs it, and the CNI
# bridge plugin switches it on at the first pod anyway. bridge-nf-call-iptables: pod-to-pod
# traffic on the same bridge is switched at layer 2 and skips iptables (so every NetworkPolicy)
# unless it is 1.
NETWORK_SYSCTLS = {"net/ipv4/ip_forward": "1", "net/bridge/bridge-nf-call-iptables": "1"}
# Debian packages the real node needs, installed by ./dev setup.
PROGRAMS = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "docker-registry": "docker-registry",
    "iptables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "ipset": "ipset",
    "gcc": "gcc",
}


class RealNodeError(RuntimeError):
    """The real node cannot run here; the message says what is missing or what failed."""


_held_lock: IO[str] | None = None


def _acquire_machine_lock(wait: float) -> IO[str]:
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    lock = open(LOCK_FILE, "w")  # noqa: SIM115 -- held until the node stops
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() >= deadline:
                lock.close()
                raise RealNodeError(
                    f"another real-node cluster runs on this machine (it holds {LOCK_FILE}); "
                    "only one can, since kube-proxy's iptables chains are machine-wide"
                ) from None
            time.sleep(1)


@contextlib.contextmanager
def machine_lock(wait: float) -> Iterator[None]:
    """Hold the machine's real-node lock in this process for the block; a real node started
    inside uses it instead of taking its own. For a test that must see the machine without
    anyone's real node both before its own starts and after it stops."""
    global _held_lock
    lock = _acquire_machine_lock(wait)
    _held_lock = lock
    try:
        yield
    finally:
        _held_lock = None
        lock.close()


def _run(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RealNodeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result


def check_prerequisites() -> None:
    missing = sorted({pkg for prog, pkg in PROGRAMS.items() if shutil.which(prog) is None})
    for path, pkg in (
        (CNI_BIN_DIR / "bridge", "containernetworking-plugins"),
        (images.BUSYBOX, "busybox-static"),
    ):
        if not path.exists():
            missing.append(pkg)
    if missing:
        raise RealNodeError(
            "the real node needs Debian packages that are not installed: "
            f"{' '.join(sorted(set(missing)))} (./dev setup installs them)"
        )
    if os.geteuid() != 0:
        raise RealNodeError("the real node needs root (the kubelet and containerd run as root)")


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


def runtime_processes(socket: Path) -> list[int]:
    """Our containerd's shims (their command line names its socket) and every process in our
    cgroups (containers, and anything they started)."""
    marker = b"\0" + str(socket).encode() + b"\0"
    pids: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes():
                pids.add(int(entry.name))
        except OSError:
            continue
    for root in cgroup_dirs():
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    pids.discard(os.getpid())
    return sorted(pids)


def iptables_chains(prefixes: tuple[str, ...] = ("KUBE-", "CM-")) -> dict[str, list[str]]:
    """Chains of ours (kube-proxy's, the kubelet's, ours) per ``iptables``/``ip6tables`` table."""
    found: dict[str, list[str]] = {}
    for tool in ("iptables", "ip6tables"):
        dump = _run(f"{tool}-save", check=False).stdout
        table = ""
        for line in dump.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and line[1:].startswith(prefixes):
                found.setdefault(f"{tool} {table}", []).append(line[1:].split()[0])
    return found


def remove_iptables_chains(prefixes: tuple[str, ...] = ("KUBE-", "CM-")) -> None:
    """Delete every rule jumping to a chain of ours, then flush and delete those chains."""
    for key, chains in iptables_chains(prefixes).items():
        tool, table = key.split()
        dump = _run(f"{tool}-save", "-t", table, check=False).stdout
        for line in dump.splitlines():
            match = re.match(r"-A (\S+) (.*)", line)
            jump = re.search(r"-j (\S+)", match.group(2)) if match else None
            if match and match.group(1) not in chains and jump and jump[1].startswith(prefixes):
                _run(
                    tool,
                    "-t",
                    table,
                    "-D",
                    match.group(1),
                    *shlex.split(match.group(2)),
                    check=False,
                )
        for chain in chains:
            _run(tool, "-t", table, "-F", chain, check=False)
        for chain in chains:
            _run(tool, "-t", table, "-X", chain, check=False)


def ipsets() -> list[str]:
    """Names of the machine's ipsets (kube-router's are the only ones a real node makes)."""
    return sorted(_run("ipset", "list", "-name", check=False).stdout.split())


def remove_kube_router_state() -> None:
    """Remove kube-router's iptables chains (and every jump to them), then its ipsets: both
    outlive the process, and a set cannot be destroyed while a rule refers to it."""
    remove_iptables_chains(KUBE_ROUTER_CHAIN_PREFIXES)
    for name in ipsets():
        if KUBE_ROUTER_IPSET.fullmatch(name):
            _run("ipset", "destroy", name, check=False)


def _forward_rules() -> list[str]:
    return _run("iptables", "-S", "FORWARD", check=False).stdout.splitlines()[1:]  # no -P


def kube_router_enforcing() -> bool:
    """Whether kube-router's rules are in place and one full sync has finished: its FORWARD
    jump comes first, and its chain ends with the ACCEPT of policy-compliant traffic that only
    a completed sync writes. Raises (saying what is missing) rather than answer False, for the
    error of a wait that times out."""
    forward = _forward_rules()
    if not forward or not forward[0].endswith("-j KUBE-ROUTER-FORWARD"):
        raise RealNodeError(f"kube-router's jump is not first in FORWARD: {forward}")
    chain = _run("iptables", "-S", "KUBE-ROUTER-FORWARD", check=False).stdout
    if "--mark 0x20000/0x20000 -j ACCEPT" not in chain:
        raise RealNodeError(f"no full sync in KUBE-ROUTER-FORWARD yet: {chain}")
    return True


def _remove_pod_routing() -> None:
    for priority in (RULE_PODS_TO_PODS, RULE_PODS_ELSEWHERE):
        for _ in range(10):  # a killed run may have left more than one
            if _run("ip", "rule", "del", "priority", str(priority), check=False).returncode:
                break
    _run("ip", "route", "flush", "table", str(POD_ROUTE_TABLE), check=False)


def cgroup_dirs() -> list[Path]:
    """Our cgroup directories (CGROUP_ROOT in every v1 hierarchy)."""
    base = Path("/sys/fs/cgroup")
    if not base.is_dir():
        return []
    return [
        d / CGROUP_ROOT.strip("/") for d in base.iterdir() if (d / CGROUP_ROOT.strip("/")).is_dir()
    ]


def cni_results() -> list[Path]:
    """libcni's cached results for our network (it ignores our config's directories)."""
    return sorted(Path("/var/lib/cni/results").glob(f"{CNI_NETWORK}-*"))


def create_cgroups() -> None:
    """Create CGROUP_ROOT in every v1 hierarchy (the kubelet wants its cgroupRoot to exist)."""
    name = CGROUP_ROOT.strip("/")
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if not (hierarchy / "cgroup.procs").exists() or (hierarchy / "cgroup.controllers").exists():
            continue  # not a mounted v1 hierarchy (the v2 "unified" mount is left alone)
        path = hierarchy / name
        path.mkdir(exist_ok=True)
        # A new cpuset starts empty and cannot take tasks: give it its parent's CPUs and nodes.
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (path / setting).exists() and not (path / setting).read_text().strip():
                (path / setting).write_text((hierarchy / setting).read_text())


def remove_cgroups() -> None:
    for root in cgroup_dirs():
        for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
            if path.is_dir():
                with contextlib.suppress(OSError):
                    path.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()


@dataclass(frozen=True)
class PodNetwork:
    """Where things are as the real node's pods see them (for NetworkPolicy peers and tests).

    ``apiserver_service`` is the ``kubernetes`` Service (ClusterIP, port 443); kube-proxy
    DNATs it to ``apiserver_endpoint``, the node's address and the API server's port, which is
    what an egress policy's ``ipBlock`` and port must name to allow the API server (policies
    see packets after DNAT). The node's address is on a port-less bridge of ours: nothing sent
    to it leaves the machine. kube-router always admits traffic from the node's own addresses
    to pods, and to the node's addresses on ``node_port_range``.
    """

    node_ip: str
    pod_cidr: str
    node_pod_subnet: str
    pod_gateway: str
    service_cidr: str
    apiserver_service: tuple[str, int]
    apiserver_endpoint: tuple[str, int]
    kubelet_endpoint: tuple[str, int]
    node_port_range: tuple[int, int]


class NodeCluster(Protocol):
    """What the real node needs of the cluster it belongs to (the control plane's files, ports
    and API, and a way to run components beside its own): what
    :class:`~container_maker_testcluster.cluster.LocalCluster` provides."""

    @property
    def run_dir(self) -> Path: ...

    @property
    def ports(self) -> Ports: ...

    @property
    def pki(self) -> Pki: ...

    @property
    def binaries(self) -> Binaries | None: ...

    @property
    def kubelet_config(self) -> Mapping[str, object]:
        """Laid over the kubelet's configuration (top-level keys)."""
        ...

    def api_client(self) -> client.ApiClient: ...

    def write_kubeconfig(self, path: Path, user: str, credentials: dict[str, str]) -> None: ...

    def start_component(
        self, name: str, args: list[str], binary: Path | None = None
    ) -> Component: ...

    def stop_components(self, name: str) -> None: ...

    def wait_for(
        self,
        what: str,
        check: Callable[[], bool],
        timeout: float,
        component: Component | None = None,
    ) -> None: ...


class RealNode:
    """Starts and stops the node side of a
    :class:`~container_maker_testcluster.cluster.LocalCluster` with ``node="real"``."""

    def __init__(self, cluster: NodeCluster, lock_wait: float = 0) -> None:
        self.cluster = cluster
        self.lock_wait = lock_wait
        self.dir = cluster.run_dir / "node"
        self.containerd_dir = self.dir / "containerd"
        self.socket = self.containerd_dir / "containerd.sock"
        # A unix socket path has at most 107 bytes (containerd allows 104, and adds ".ttrpc"):
        # under a deep run directory, the sockets go to a short directory of ours instead.
        # The kubelet's root holds sockets too: under a deep run directory it moves the same way.
        self.kubelet_root = self.dir / "kubelet"
        self._socket_dir: Path | None = None
        if len(str(self.socket)) > SOCKET_PATH_MAX:
            self.socket = self._short_dir() / "containerd.sock"
        if len(str(self.kubelet_root)) > KUBELET_ROOT_MAX:
            self.kubelet_root = self._short_dir() / "kubelet"
        self.registry = ""
        self.image_refs: dict[str, str] = {}
        self._undo: list[tuple[str, Callable[[], object]]] = []
        self._lock: IO[str] | None = None
        self._sysctls: dict[str, str] = {}
        self.kubelet_port = 0
        self._ports: set[int] = set()

    def _port(self) -> int:
        """A free 127.0.0.1 port that none of the cluster's other components was given."""
        taken = set(vars(self.cluster.ports).values()) | self._ports
        while (port := free_port()) in taken:
            pass
        self._ports.add(port)
        return port

    # -- start -------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Before the API server starts: lock, certificates, network, registry and images."""
        check_prerequisites()
        self._owns_lock = _held_lock is None
        self._lock = _acquire_machine_lock(self.lock_wait) if _held_lock is None else _held_lock
        self.dir.mkdir(parents=True, exist_ok=True)
        self._new_dirs = [d for d in HARDCODED_DIRS if not d.exists()]
        self._cleanup_network()  # leftovers of a run that was killed outright
        self._write_certs()
        self._setup_network()
        self._start_registry()

    def start(self) -> None:
        """After the control plane is up: containerd, kubelet, kube-proxy, kube-router."""
        self._grant_apiserver_kubelet_access()
        self._start_containerd()
        create_cgroups()
        self._start_kubelet()
        self._start_kube_proxy()
        self._start_kube_router()

    @property
    def network(self) -> PodNetwork:
        """The addresses a NetworkPolicy on this node is about (see :class:`PodNetwork`)."""
        return PodNetwork(
            node_ip=NODE_IP,
            pod_cidr=POD_CIDR,
            node_pod_subnet=NODE_POD_SUBNET,
            pod_gateway=POD_GATEWAY,
            service_cidr=SERVICE_CIDR,
            apiserver_service=(SERVICE_IP, 443),
            apiserver_endpoint=(NODE_IP, self.cluster.ports.apiserver),
            kubelet_endpoint=(NODE_IP, self.kubelet_port),
            node_port_range=NODE_PORT_RANGE,
        )

    def apiserver_args(self) -> list[str]:
        return [
            f"--kubelet-client-certificate={self.dir / 'pki' / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={self.dir / 'pki' / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={self.cluster.pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def _write_certs(self) -> None:
        pki_dir = self.dir / "pki"
        pki_dir.mkdir(exist_ok=True)
        pki = self.cluster.pki
        self.kubelet_cert = issue_client_cert(
            pki, pki_dir, "kubelet-client", f"system:node:{NODE_NAME}", ("system:nodes",)
        )
        self.kubelet_serving = issue_serving_cert(
            pki, pki_dir, "kubelet-serving", NODE_NAME, ips=(NODE_IP,), dns=(NODE_NAME,)
        )
        self.proxy_cert = issue_client_cert(pki, pki_dir, "kube-proxy", "system:kube-proxy")
        self.router_cert = issue_client_cert(pki, pki_dir, "kube-router", KUBE_ROUTER_USER)
        # The API server's identity towards the kubelet (exec, logs, port-forward); bound to
        # system:kubelet-api-admin once the API server is up, not a system:masters member.
        issue_client_cert(pki, pki_dir, "apiserver-kubelet-client", "kube-apiserver-kubelet-client")

    def _cert_kubeconfig(self, path: Path, user: str, cert: tuple[Path, Path]) -> Path:
        credentials = {"client-certificate": str(cert[0]), "client-key": str(cert[1])}
        self.cluster.write_kubeconfig(path, user, credentials)
        return path

    # -- network -----------------------------------------------------------------------------

    def _added(self, what: str, undo: Callable[[], object]) -> None:
        self._undo.append((what, undo))

    def _setup_network(self) -> None:
        _run("ip", "link", "add", NODE_LINK, "type", "bridge")
        self._added(f"link {NODE_LINK}", lambda: _run("ip", "link", "del", NODE_LINK, check=False))
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", NODE_LINK)
        _run("ip", "link", "set", NODE_LINK, "up")
        _run("ip", "route", "add", "blackhole", POD_CIDR)
        self._added(
            f"blackhole {POD_CIDR}",
            lambda: _run("ip", "route", "del", "blackhole", POD_CIDR, check=False),
        )
        # Routed into the port-less bridge (which discards), not blackholed: see the module doc.
        _run("ip", "route", "add", SERVICE_CIDR, "dev", NODE_LINK, "src", NODE_IP)
        # Pods may talk to the host and to each other, never through the host to elsewhere.
        # Not in the filter table: kube-router puts its FORWARD jump first there and ACCEPTs
        # policy-compliant traffic, which would never reach a drop of ours behind it. Two
        # places it never touches instead: routing, and the mangle table (traversed before
        # filter). Routing: what arrives from the bridge goes to the pod subnet (main table)
        # or is delivered locally (the local table's rule comes first), anything else into a
        # blackhole. The ip rules name the bridge before the CNI plugin creates it: a rule's
        # iif matches by name.
        _run("ip", "route", "add", "blackhole", "default", "table", str(POD_ROUTE_TABLE))
        self._added("pod route table", _remove_pod_routing)
        _run(
            "ip", "rule", "add", "priority", str(RULE_PODS_TO_PODS),
            "iif", BRIDGE, "to", NODE_POD_SUBNET, "lookup", "main",
        )  # fmt: skip
        _run(
            "ip", "rule", "add", "priority", str(RULE_PODS_ELSEWHERE),
            "iif", BRIDGE, "lookup", str(POD_ROUTE_TABLE),
        )  # fmt: skip
        # mangle: bridge to any other interface is dropped, for IPv6 too (pods have no IPv6
        # address, but their interfaces have link-local ones).
        for tool in ("iptables", "ip6tables"):
            _run(tool, "-t", "mangle", "-N", OUR_CHAIN)
            _run(
                tool, "-t", "mangle", "-A", OUR_CHAIN, "-i", BRIDGE, "!", "-o", BRIDGE, "-j", "DROP"
            )
            _run(tool, "-t", "mangle", "-I", "FORWARD", "1", "-j", OUR_CHAIN)
        self._added("iptables " + OUR_CHAIN, lambda: remove_iptables_chains(("CM-",)))
        # The machine's values, kept in /run until the stop has put them back: a run killed
        # outright leaves the file, and the next run restores from it, not from the values
        # the killed run had set.
        if SYSCTLS_FILE.exists():
            self._sysctls = json.loads(SYSCTLS_FILE.read_text())
        else:
            self._sysctls = {
                name: (Path("/proc/sys") / name).read_text().strip()
                for name in (*KUBELET_SYSCTLS, *NETWORK_SYSCTLS)
            }
            SYSCTLS_FILE.write_text(json.dumps(self._sysctls))
        for name, value in NETWORK_SYSCTLS.items():
            (Path("/proc/sys") / name).write_text(value)

    def _cleanup_network(self) -> None:
        """Remove every network object of ours, whether or not this run created it."""
        for link in (BRIDGE, NODE_LINK):
            _run("ip", "link", "del", link, check=False)
        _run("ip", "route", "del", "blackhole", POD_CIDR, check=False)
        _remove_pod_routing()
        remove_iptables_chains()  # kube-proxy's, the kubelet's, kube-router's and ours
        remove_kube_router_state()  # and kube-router's ipsets

    # -- registry and images -----------------------------------------------------------------

    def _start_registry(self) -> None:
        port = self._port()
        self.registry = f"127.0.0.1:{port}"
        config = self.dir / "registry.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "warn", "accesslog": {"disabled": True}},
                    "storage": {
                        "filesystem": {"rootdirectory": str(self.dir / "registry")},
                        "delete": {"enabled": True},
                    },
                    "http": {"addr": self.registry},
                }
            )
        )
        component = self.cluster.start_component(
            "registry", ["serve", str(config)], binary=Path(shutil.which("docker-registry") or "")
        )

        def up() -> bool:
            import urllib.request

            with urllib.request.urlopen(f"http://{self.registry}/v2/", timeout=2) as r:
                return bool(r.status == 200)

        self.cluster.wait_for("the registry", up, 30, component)
        for image in images.build_all():
            self.image_refs[image.name] = images.push(image, self.registry)

    # -- containerd --------------------------------------------------------------------------

    def _start_containerd(self) -> None:
        d = self.containerd_dir
        (d / "certs.d" / self.registry).mkdir(parents=True, exist_ok=True)
        (d / "certs.d" / self.registry / "hosts.toml").write_text(
            f'server = "http://{self.registry}"\n\n'
            f'[host."http://{self.registry}"]\n  capabilities = ["pull", "resolve"]\n'
        )
        cni_conf = self.dir / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-container-maker.conflist").write_text(
            json.dumps(
                {
                    "cniVersion": "0.4.0",
                    "name": CNI_NETWORK,
                    "plugins": [
                        {
                            "type": "bridge",
                            "bridge": BRIDGE,
                            "isGateway": True,
                            # No masquerading: pod traffic never leaves the machine.
                            "ipMasq": False,
                            "hairpinMode": True,
                            "ipam": {
                                "type": "host-local",
                                "ranges": [[{"subnet": NODE_POD_SUBNET, "gateway": POD_GATEWAY}]],
                                "routes": [{"dst": "0.0.0.0/0"}],
                                "dataDir": str(self.dir / "cni" / "ipam"),
                            },
                        }
                    ],
                },
                indent=2,
            )
        )
        self._added(f"link {BRIDGE}", lambda: _run("ip", "link", "del", BRIDGE, check=False))
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""# containerd for the test cluster's real node; written by realnode.py.
version = 2
root = "{d / "root"}"
state = "{d / "state"}"
# Plugins that would touch paths outside the run directory or need other kernels' features.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{self.socket}"

[ttrpc]
  address = "{self.socket}.ttrpc"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""

[{cri}]
  sandbox_image = "{self.image_refs["pause"]}"
  # Network namespaces under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  # This machine's root lacks CAP_SYS_RESOURCE (not in the bounding set), so no process may
  # lower its oom_score_adj: `echo -5 > /proc/self/oom_score_adj` is "Permission denied", and
  # runc failed every sandbox ("can't get final child's PID from pipe: EOF") when the kubelet
  # asked for -998. Clamp requested values to containerd's own instead (as rootless kind does).
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which("runc")}"
  Root = "{self.runc_root}"
  # cgroupfs, like the kubelet (no systemd on this machine).
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN_DIR}"
  conf_dir = "{cni_conf}"
  max_conf_num = 1

[{cri}.registry]
  # hosts.toml per registry: ours is plain HTTP on loopback.
  config_path = "{d / "certs.d"}"
"""
        path = self.dir / "containerd.toml"
        path.write_text(config)
        component = self.cluster.start_component(
            "containerd", ["--config", str(path)], binary=Path(shutil.which("containerd") or "")
        )
        self.cluster.wait_for(
            "containerd's socket",
            lambda: self.ctr("version", check=False).returncode == 0,
            30,
            component,
        )

    @property
    def runc_root(self) -> Path:
        return self.containerd_dir / "runc"

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run Debian's ``ctr`` against our containerd, in the CRI namespace."""
        return _run(
            "ctr", "--address", str(self.socket), "--namespace", CTR_NAMESPACE, *args, check=check
        )

    def runc_containers(self) -> list[dict[str, Any]]:
        """Containers runc knows in our containerd's state (running or not)."""
        root = self.runc_root / CTR_NAMESPACE
        if not root.is_dir():
            return []
        out = _run("runc", "--root", str(root), "list", "--format", "json", check=False).stdout
        listed: list[dict[str, Any]] = json.loads(out or "null") or []
        return listed

    # -- kubelet and kube-proxy --------------------------------------------------------------

    def _grant_apiserver_kubelet_access(self) -> None:
        from kubernetes import client

        rbac = client.RbacAuthorizationV1Api(self.cluster.api_client())
        rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding(
                metadata=client.V1ObjectMeta(name="container-maker:apiserver-kubelet-client"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io",
                    kind="ClusterRole",
                    name="system:kubelet-api-admin",
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User",
                        name="kube-apiserver-kubelet-client",
                        api_group="rbac.authorization.k8s.io",
                    )
                ],
            )
        )

    def _start_kubelet(self) -> None:
        self.kubelet_port = self._port()
        kubeconfig = self._cert_kubeconfig(
            self.dir / "kubelet.kubeconfig", f"system:node:{NODE_NAME}", self.kubelet_cert
        )
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self._port(),
            "tlsCertFile": str(self.kubelet_serving[0]),
            "tlsPrivateKeyFile": str(self.kubelet_serving[1]),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.cluster.pki.ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # No systemd here, and containerd 1.6 cannot tell the kubelet its driver.
            "cgroupDriver": "cgroupfs",
            # Pods' cgroups under our own root in each hierarchy, removed on stop.
            "cgroupRoot": CGROUP_ROOT,
            # This machine (and kind's nodes on older hosts) has only cgroup v1.
            "failCgroupV1": False,
            # Swap is tolerated, not required: the test VM may or may not have it.
            "failSwapOn": False,
            # No static pods: the directory is not watched at all.
            "staticPodPath": "",
            # Pods get no resolver: tests use IPs only, and no pod may query an outside DNS.
            "resolvConf": "",
            "clusterDomain": "cluster.local",
            # The kubelet must set a few kernel settings (panic, overcommit...) or refuse to
            # start; we let it and restore the machine's values on stop.
            "protectKernelDefaults": False,
            # A test VM's disk is shared with builds: never evict test pods or GC our images
            # for disk pressure (kind relaxes the same thresholds for the same reason).
            "evictionHard": {
                "memory.available": "0%",
                "nodefs.available": "0%",
                "nodefs.inodesFree": "0%",
                "imagefs.available": "0%",
            },
            "imageGCHighThresholdPercent": 100,
            # Quick pod status updates and a short lease: tests wait on them.
            "nodeStatusUpdateFrequency": "4s",
            "syncFrequency": "10s",
            "fileCheckFrequency": "20s",
            "serializeImagePulls": False,
            "registerNode": True,
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "logging": {"format": "text"},
            **self.cluster.kubelet_config,
        }
        path = self.dir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        kubelet_root = self.kubelet_root
        kubelet_root.mkdir(exist_ok=True)
        self.cluster.start_component(
            "kubelet",
            [
                f"--config={path}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={kubelet_root}",
                f"--cert-dir={self.dir / 'pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={NODE_LABEL}=true",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self) -> None:
        kubeconfig = self._cert_kubeconfig(
            self.dir / "kube-proxy.kubeconfig", "system:kube-proxy", self.proxy_cert
        )
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": NODE_NAME,
            "bindAddress": NODE_IP,
            "healthzBindAddress": f"127.0.0.1:{self._port()}",
            "metricsBindAddress": f"127.0.0.1:{self._port()}",
            # NodePorts only on the node's own (dummy) address; not on 127.0.0.1, which would
            # make kube-proxy set route_localnet machine-wide.
            "nodePortAddresses": [f"{NODE_IP}/32"],
            "iptables": {"localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "0s"},
            # 0 leaves the machine's conntrack sysctls alone (kind does the same in containers).
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        path = self.dir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._proxy_config = path
        self.cluster.start_component("kube-proxy", [f"--config={path}"])

    def _start_kube_router(self) -> None:
        """kube-router's NetworkPolicy controller alone: no router, no service proxy, no health
        or metrics port (the health port would listen on every interface)."""
        from kubernetes import client

        low, high = NODE_PORT_RANGE
        for what, port in (
            ("the API server", self.cluster.ports.apiserver),
            ("the kubelet", self.kubelet_port),
        ):
            if low <= port <= high:  # free ports are ephemeral ones: 32768 and up, normally
                raise RealNodeError(
                    f"{what}'s port {port} is in the node port range {low}-{high}, which "
                    "kube-router lets every pod reach whatever the policies say"
                )
        self._grant_kube_router_read_access()
        kubeconfig = self._cert_kubeconfig(
            self.dir / "kube-router.kubeconfig", KUBE_ROUTER_USER, self.router_cert
        )
        core = client.CoreV1Api(self.cluster.api_client())

        def registered() -> bool:
            # kube-router reads the node once at start (its address tells its pods) and
            # exits if the node is not there yet.
            node = core.read_node(NODE_NAME)
            status = node.status
            return status is not None and any(a.address == NODE_IP for a in status.addresses or [])

        self.cluster.wait_for(f"node {NODE_NAME} to register", registered, 60)
        self._router_args = [
            f"--kubeconfig={kubeconfig}",
            f"--hostname-override={NODE_NAME}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--run-loadbalancer=false",
            "--enable-cni=false",
            "--enable-ipv4=true",
            "--enable-ipv6=false",
            "--health-port=0",
            "--metrics-port=0",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--service-node-port-range={NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}",
            "--v=1",
        ]
        self.start_network_policy()

    def _grant_kube_router_read_access(self) -> None:
        """Read-only: it writes nothing to the API. Services, endpoints and EndpointSlices too,
        although its policy controller ignores them: kube-router starts those informers
        whichever controllers run and exits unless every one syncs within a minute."""
        from kubernetes import client

        rbac = client.RbacAuthorizationV1Api(self.cluster.api_client())
        read = ["list", "watch"]
        rbac.create_cluster_role(
            client.V1ClusterRole(
                metadata=client.V1ObjectMeta(name=KUBE_ROUTER_USER),
                rules=[
                    client.V1PolicyRule(
                        api_groups=[""],
                        resources=["pods", "namespaces", "services", "endpoints"],
                        verbs=read,
                    ),
                    client.V1PolicyRule(api_groups=[""], resources=["nodes"], verbs=["get", *read]),
                    client.V1PolicyRule(
                        api_groups=["discovery.k8s.io"], resources=["endpointslices"], verbs=read
                    ),
                    client.V1PolicyRule(
                        api_groups=["networking.k8s.io"], resources=["networkpolicies"], verbs=read
                    ),
                ],
            )
        )
        rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding(
                metadata=client.V1ObjectMeta(name=KUBE_ROUTER_USER),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=KUBE_ROUTER_USER
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User", name=KUBE_ROUTER_USER, api_group="rbac.authorization.k8s.io"
                    )
                ],
            )
        )

    def start_network_policy(self) -> None:
        """Start kube-router (again) and return once its first full sync is in iptables."""
        # kube-proxy prepends its FORWARD jumps when missing, and kube-router puts its own
        # first at every sync: with kube-proxy's in place first, kube-router's ends up first
        # (as upstream intends) from its first sync on, not only from its next one.
        self.cluster.wait_for(
            "kube-proxy's FORWARD rules",
            lambda: any(r.endswith("-j KUBE-FORWARD") for r in _forward_rules()),
            60,
        )
        assert self.cluster.binaries is not None
        component = self.cluster.start_component(
            "kube-router", self._router_args, binary=self.cluster.binaries.kube_router
        )
        self.cluster.wait_for(
            "kube-router's NetworkPolicy rules", kube_router_enforcing, 90, component
        )

    def stop_network_policy(self) -> None:
        """Stop kube-router and remove its rules and ipsets, leaving kube-proxy's and ours: with
        this, NetworkPolicies are objects nobody enforces (the negative control of the tests).
        ``start_network_policy()`` puts it back."""
        self.cluster.stop_components("kube-router")
        remove_kube_router_state()

    # -- stop --------------------------------------------------------------------------------

    def drain(self, timeout: float = 60, hurry: Callable[[], bool] = lambda: False) -> None:
        """Delete the pods bound to the node and wait until the runtime has none left (or
        ``hurry()``: what is left is killed by :meth:`stop_runtime_leftovers`)."""
        from kubernetes import client

        try:
            core = client.CoreV1Api(self.cluster.api_client())
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE_NAME}")
            for pod in pods.items:
                meta = pod.metadata
                assert meta is not None and meta.name and meta.namespace
                core.delete_namespaced_pod(meta.name, meta.namespace, grace_period_seconds=0)
        except Exception:  # the API server may already be gone; the sweep below still runs
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not hurry():
            if not self.runc_containers():
                return
            time.sleep(0.5)

    def _short_dir(self) -> Path:
        """A short directory of ours for sockets (made once, removed on cleanup)."""
        if self._socket_dir is None:
            self._socket_dir = Path(tempfile.mkdtemp(prefix="cm-node-"))
        return self._socket_dir

    def stop_runtime_leftovers(self) -> None:
        """After the kubelet stopped: kill what containerd still runs, via ctr and runc."""
        if self.socket.exists():
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False)
            for task in tasks:
                for _ in range(20):
                    if self.ctr("tasks", "delete", task, check=False).returncode == 0:
                        break
                    time.sleep(0.25)
        root = self.runc_root / CTR_NAMESPACE
        for container in self.runc_containers():
            _run("runc", "--root", str(root), "kill", container["id"], "KILL", check=False)
            _run("runc", "--root", str(root), "delete", "--force", container["id"], check=False)

    def cleanup(self) -> None:
        """After every process stopped: remove what we added to the machine."""
        if self._lock is None:
            return  # we never held the machine's real node: what is there belongs to another
        for pid in runtime_processes(self.socket):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for top in (self.cluster.run_dir, self._socket_dir):
            for point in mounts_under(top) if top is not None else ():
                _run("umount", "-l", point, check=False)
        proxy_config = getattr(self, "_proxy_config", None)
        if proxy_config is not None and self.cluster.binaries is not None:
            # kube-proxy's own cleanup of its iptables (and nftables/ipvs) rules.
            _run(
                str(self.cluster.binaries.kube),
                "kube-proxy",
                "--cleanup",
                f"--config={proxy_config}",
                check=False,
            )
        for _what, undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self._cleanup_network()
        remove_cgroups()
        # libcni's cache of our network's results, left by sandboxes killed without a CNI DEL.
        for result in cni_results():
            result.unlink(missing_ok=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        for directory in getattr(self, "_new_dirs", []):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        for name, value in self._sysctls.items():
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / name).write_text(value)
        if self._sysctls:
            SYSCTLS_FILE.unlink(missing_ok=True)
        if self._lock is not None and self._owns_lock:
            self._lock.close()
        self._lock = None
