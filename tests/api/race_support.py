"""The sidecar race attacker's image: ``sidecar_race.c`` (beside this file), ``gcc -static``,
alone in a FROM-scratch image that runs as root, entrypoint ``/attacker race 20``.

The binary is cached outside the clone under a hash of its source and the compiler's version,
like the agents (``snapshot_support.static_go_binary``).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from snapshot_support import _image

from container_maker_testcluster import images
from container_maker_testcluster.paths import cache_dir

SOURCE = Path(__file__).with_name("sidecar_race.c")
ROUNDS = 20


def attacker_binary() -> Path:
    if shutil.which("gcc") is None:
        raise images.ImageError("gcc is needed for the attacker (apt-get install gcc libc6-dev)")
    compiler = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    digest = hashlib.sha256(compiler.stdout.encode() + SOURCE.read_bytes()).hexdigest()[:16]
    target = cache_dir() / f"sidecar-race-{digest}" / "attacker"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(tmp), str(SOURCE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    tmp.rename(target)
    return target


def attacker_image(rounds: int = ROUNDS) -> images.Image:
    """Root, the runtime's capabilities less what the pod drops; /tmp for its control files."""
    layer = images.Layer()
    for d in ("dev", "etc", "proc", "sys"):
        layer.directory(d)
    layer.directory("tmp", 0o1777)
    layer.file("attacker", attacker_binary().read_bytes(), 0o755)
    config: dict[str, object] = {
        "Entrypoint": ["/attacker", "race", str(rounds)],
        "User": "0:0",
        "ExposedPorts": {"8080/tcp": {}},
    }
    return _image("sidecar-race", layer, config)
