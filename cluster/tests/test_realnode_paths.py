"""Unix socket paths of the real node stay within the kernel's limit under any run directory.

A socket path has at most 107 bytes. containerd's and the kubelet's sockets live under the run
directory; under a deep one (pytest's tmp_path once its counter reaches three digits did it)
they move to a short directory of ours. Pure: nothing is started.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from container_maker_testcluster.realnode import RealNode

UNIX_PATH_MAX = 107
LONGEST_KUBELET_SOCKET = "/device-plugins/kubelet.sock"


@pytest.mark.parametrize("depth", [10, 60, 90, 200])
def test_socket_paths_fit_under_any_run_directory(depth: int) -> None:
    run_dir = Path("/tmp") / ("d" * depth) / "cluster"
    node = RealNode(SimpleNamespace(run_dir=run_dir))
    short: Any = node._socket_dir
    try:
        assert len(str(node.socket) + ".ttrpc") <= 104  # containerd's own limit
        assert len(str(node.kubelet_root) + LONGEST_KUBELET_SOCKET) <= UNIX_PATH_MAX
        if short is None:
            assert node.kubelet_root == run_dir / "node" / "kubelet"
    finally:
        if short is not None:
            shutil.rmtree(short)
