"""Component ports: free, distinct, and clear of the kernel's ephemeral range and of the
NodePort range (see realnode.NODE_PORT_RANGE)."""

from __future__ import annotations

import socket
from pathlib import Path

from container_maker_testcluster.net import Ports, free_port
from container_maker_testcluster.realnode import NODE_PORT_RANGE


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)] + list(vars(Ports()).values())
    assert len(set(ports)) == len(ports)
    assert all(port < low for port in ports)
    assert not [port for port in ports if NODE_PORT_RANGE[0] <= port <= NODE_PORT_RANGE[1]]
    for port in ports[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free: nothing of ours holds it
