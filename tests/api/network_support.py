"""What the network isolation tests need: ``nettools``, the test workload (busybox serving its
page on 8080 as nobody, exactly like ``testapp``) plus ``/bin/apiprobe`` (``tests/api/apiprobe``,
a static Go program: unauthenticated HTTPS GETs, printing each status code), since busybox's
TLS cannot talk to the API server ("handshake failure")."""

from __future__ import annotations

import subprocess
from pathlib import Path

from snapshot_support import _image, static_go_binary

from container_maker_testcluster import images
from container_maker_testcluster.paths import cluster_source_dir

PROBE_DIR = Path(__file__).resolve().parent / "apiprobe"


def nettools_image() -> images.Image:
    listed = subprocess.run(
        [str(images.BUSYBOX), "--list"], capture_output=True, text=True, check=True
    )
    layer = images.Layer()
    for d in ("dev", "etc", "proc", "sys", "bin", "tmp"):
        layer.directory(d)
    layer.file("bin/busybox", images.BUSYBOX.read_bytes(), 0o755)
    for applet in listed.stdout.split():
        if applet != "busybox" and "/" not in applet:
            layer.symlink(f"bin/{applet}", "busybox")
    layer.file("bin/apiprobe", static_go_binary(PROBE_DIR, "apiprobe").read_bytes(), 0o755)
    layer.file("serve", (cluster_source_dir() / "images" / "serve.sh").read_bytes(), 0o755)
    layer.directory("www", 0o755, owner=images.NOBODY)
    config: dict[str, object] = {
        "Entrypoint": ["/serve"],
        "Env": ["PATH=/bin", f"PORT={images.TESTAPP_PORT}"],
        "ExposedPorts": {f"{images.TESTAPP_PORT}/tcp": {}},
        "User": f"{images.NOBODY}:{images.NOBODY}",
        "WorkingDir": "/",
    }
    return _image("nettools", layer, config)
