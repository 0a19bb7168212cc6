"""The processes a test cluster is made of, and the error of a cluster that cannot start.

Shared by :mod:`~container_maker_testcluster.cluster`, which starts and stops the components,
and :mod:`~container_maker_testcluster.realnode`, whose components it starts the same way.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


class ClusterError(RuntimeError):
    """The cluster could not be started; the message includes the failing component's log."""


# util-linux's setpriv sets PR_SET_PDEATHSIG and execs the component (same pid; the setting
# survives exec), so the component gets SIGTERM when the thread that started it dies. Setting it
# ourselves would need Popen(preexec_fn=...), which forks a process that may have gRPC loaded
# (the test cluster's serve command, the API tests); gRPC's fork handlers then abort the child
# (grpc/grpc#43055). Without preexec_fn, Python starts children with vfork, which runs none.
DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "TERM", "--")


@dataclass
class Component:
    """One running process of the cluster, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    argv: list[str] = field(default_factory=list)  # how to start it again (restart)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])
