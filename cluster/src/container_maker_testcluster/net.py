"""The test cluster's Service range and the loopback ports its components listen on.

Shared by :mod:`~container_maker_testcluster.cluster` (the control plane) and
:mod:`~container_maker_testcluster.realnode` (the node's own components and network).
"""

from __future__ import annotations

import random
import socket
import threading
from dataclasses import dataclass, field

from container_maker_testcluster.component import ClusterError

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the `kubernetes` Service's ClusterIP: first address of the range

# Ports are picked below the kernel's ephemeral range (32768-60999 by default): a port picked
# there could be taken by any outgoing connection (the components' own, among them) between
# our check and the component's bind, which did happen ("address already in use"). And below
# the NodePort range (30000-32767): with the real node the API server and the kubelet listen on
# the node's address, where kube-proxy would DNAT a NodePort of the same number away from them,
# and where kube-router lets every pod reach those ports whatever the NetworkPolicies say.
_PORT_RANGE = (20000, 30000)
_handed_out: set[int] = set()
_port_lock = threading.Lock()


def free_port() -> int:
    """A loopback TCP port that is free now and was not handed out before in this process."""
    with _port_lock:
        for _ in range(1000):
            port = random.randrange(*_PORT_RANGE)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise ClusterError(f"no free loopback port in {_PORT_RANGE[0]}-{_PORT_RANGE[1]}")


@dataclass
class Ports:
    """The control plane's ports, each from :func:`free_port`."""

    etcd_client: int = field(default_factory=free_port)
    etcd_peer: int = field(default_factory=free_port)
    apiserver: int = field(default_factory=free_port)
    controller_manager: int = field(default_factory=free_port)
    scheduler: int = field(default_factory=free_port)
    kwok: int = field(default_factory=free_port)
