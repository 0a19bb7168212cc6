"""What the network isolation tests need: ``nettools``, the test workload (``testapp``'s files
and config: busybox serving its page on 8080 as nobody) plus ``/bin/apiprobe``
(``tests/api/apiprobe``, a static Go program: unauthenticated HTTPS GETs, printing each status
code), since busybox's TLS cannot talk to the API server ("handshake failure")."""

from __future__ import annotations

from pathlib import Path

from snapshot_support import _image, static_go_binary

from container_maker_testcluster import images

PROBE_DIR = Path(__file__).resolve().parent / "apiprobe"


def nettools_image() -> images.Image:
    layer = images.testapp_layer()
    layer.file("bin/apiprobe", static_go_binary(PROBE_DIR, "apiprobe").read_bytes(), 0o755)
    return _image("nettools", layer, images.testapp_config())
