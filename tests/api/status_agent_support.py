"""The status sidecar's test image: the static ``status-agent`` binary alone, FROM scratch.

* The agent (``plugins/status/status-agent``) is built static (``CGO_ENABLED=0``, stdlib only)
  and cached outside the clone under a hash of its sources and the Go version, like the snapshot
  agent (``snapshot_support.static_go_binary``).
* The image matches the production recipe (``plugins/status/status-agent/Dockerfile``):
  ``/status-agent`` mode 0111 (execute-only, so the kernel makes it non-dumpable from execve),
  entrypoint ``/status-agent run``, user ``64011:64011``. It is
  built with the snapshot support's deterministic one-layer image builder.
"""

from __future__ import annotations

from pathlib import Path

from snapshot_support import _image, static_go_binary

from container_maker_testcluster import images

ROOT = Path(__file__).resolve().parents[2]
STATUS_AGENT_DIR = ROOT / "plugins" / "status" / "status-agent"
STATUS_AGENT_USER = "64011:64011"
# Execute-only, as in the Dockerfile: readable by nobody, so not dumpable from execve on.
STATUS_AGENT_MODE = 0o111


def status_agent_binary() -> Path:
    """The static status agent, built once per source hash (cached outside the clone)."""
    return static_go_binary(STATUS_AGENT_DIR, "status-agent")


def status_agent_image() -> images.Image:
    """FROM scratch: the agent binary, execute-only and unprivileged, entrypoint
    ``/status-agent run``."""
    layer = images.Layer()
    layer.file("status-agent", status_agent_binary().read_bytes(), STATUS_AGENT_MODE)
    config: dict[str, object] = {
        "Entrypoint": ["/status-agent", "run"],
        "User": STATUS_AGENT_USER,
    }
    return _image("status-agent", layer, config)


def status_agent_processes() -> dict[int, set[bytes]]:
    """Every status agent process on this machine: pid -> its environment entries (we are
    root, so even a non-dumpable agent's environment can be read)."""
    found: dict[int, set[bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "cmdline").read_bytes().startswith(b"/status-agent\0"):
                continue
            found[int(entry.name)] = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
    return found
