"""Settings for the whole test session that must exist before any test module imports grpc.

gRPC's fork support restarts its epoll poller in a forked child. The test cluster starts its
components with ``subprocess.Popen(preexec_fn=...)``, which forks and closes every inherited
descriptor before exec; with gRPC already loaded in this process (the API tests), the child's
restarted poller meets the closed epoll descriptor and aborts ("Epoll1Poller encountered
epoll_wait error: Bad file descriptor", grpc/grpc#43055): a real-node registry died that way
in our suite. No test forks to keep using gRPC in the child, so fork support is off.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
