"""The status sidecar's test image: the static ``status-agent`` binary alone, FROM scratch.

* The agent (``plugins/sidecars/status-agent``) is built static (``CGO_ENABLED=0``, stdlib only)
  and cached outside the clone under a hash of its sources and the Go version, like the snapshot
  agent (``snapshot_support.agent_binary``).
* The image matches the production recipe (``plugins/sidecars/status-agent/Dockerfile``):
  ``/status-agent`` mode 0755, entrypoint ``/status-agent run``, user ``64011:64011``. It is
  built with the snapshot support's deterministic one-layer image builder.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from snapshot_support import _image, go_env

from container_maker_testcluster import images
from container_maker_testcluster.paths import cache_dir

ROOT = Path(__file__).resolve().parents[2]
STATUS_AGENT_DIR = ROOT / "plugins" / "sidecars" / "status-agent"
STATUS_AGENT_USER = "64011:64011"


def _sources_digest() -> str:
    """The Go version and every file the binary is built from (tests excluded)."""
    digest = hashlib.sha256()
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest.update(go_version.encode())
    for path in sorted(STATUS_AGENT_DIR.glob("*")):
        built = path.suffix == ".go" and not path.name.endswith("_test.go")
        if built or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def status_agent_binary() -> Path:
    """The static agent binary, built once per source hash (cached outside the clone)."""
    target = cache_dir() / f"status-agent-{_sources_digest()}" / "status-agent"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), "."],
        cwd=STATUS_AGENT_DIR,
        env=go_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    tmp.rename(target)
    return target


def status_agent_image() -> images.Image:
    """FROM scratch: the agent binary, unprivileged, entrypoint ``/status-agent run``."""
    layer = images.Layer()
    layer.file("status-agent", status_agent_binary().read_bytes(), 0o755)
    config: dict[str, object] = {
        "Entrypoint": ["/status-agent", "run"],
        "User": STATUS_AGENT_USER,
    }
    return _image("status-agent", layer, config)
