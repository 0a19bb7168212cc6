"""Container images for the real node, built here from Debian's files, and a registry pusher.

No base image can be pulled on this machine, so the two images the real node needs are made
from what Debian installs:

* ``pause``: the pod sandbox process, a tiny C program of ours (``cluster/images/pause.c``)
  built with ``gcc -static``;
* ``testapp``: busybox-static (``/bin/busybox`` and a link per applet) with
  ``cluster/images/serve.sh`` as its entrypoint: it serves ``/www`` over HTTP on ``$PORT``
  (8080 by default) and has a shell and coreutils to write files. It runs as nobody (65534).

Images are OCI image manifests whose layers are deterministic tars (sorted entries, mtime 0,
uid/gid fixed, no user names) gzipped with a zero timestamp, so building twice from the same
inputs gives the same digests. :func:`push` uploads them to a registry with the OCI distribution
API (blob upload, then manifest PUT), so the kubelet pulls them exactly as in production.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from container_maker_testcluster.paths import cluster_source_dir

BUSYBOX = Path("/bin/busybox")
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
NOBODY = 65534
TESTAPP_PORT = 8080


class ImageError(RuntimeError):
    """An image could not be built or pushed."""


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class _Entry:
    path: str
    kind: bytes  # tarfile.DIRTYPE, REGTYPE or SYMTYPE
    mode: int
    data: bytes = b""
    target: str = ""
    owner: int = 0


@dataclass
class Layer:
    """A filesystem layer: entries by path, turned into a deterministic tar."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def directory(self, path: str, mode: int = 0o755, owner: int = 0) -> None:
        self.entries[path] = _Entry(path, tarfile.DIRTYPE, mode, owner=owner)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.entries[path] = _Entry(path, tarfile.REGTYPE, mode, data=data)

    def symlink(self, path: str, target: str) -> None:
        self.entries[path] = _Entry(path, tarfile.SYMTYPE, 0o777, target=target)

    def tar(self) -> bytes:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(self.entries):
                entry = self.entries[path]
                info = tarfile.TarInfo(path)
                info.type = entry.kind
                info.mode = entry.mode
                info.mtime = 0
                info.uid = info.gid = entry.owner
                info.uname = info.gname = ""
                if entry.kind == tarfile.SYMTYPE:
                    info.linkname = entry.target
                    tar.addfile(info)
                elif entry.kind == tarfile.REGTYPE:
                    info.size = len(entry.data)
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    tar.addfile(info)
        return out.getvalue()


@dataclass(frozen=True)
class Image:
    """A built image: its manifest and every blob it references, by digest."""

    name: str
    tag: str
    manifest: bytes
    blobs: dict[str, bytes]

    @property
    def digest(self) -> str:
        return _digest(self.manifest)


def _image(name: str, tag: str, layer: Layer, config: dict[str, object]) -> Image:
    layer_tar = layer.tar()
    # mtime=0 and no file name: gzip's header is then the same on every build.
    layer_gz = gzip.compress(layer_tar, compresslevel=9, mtime=0)
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [_digest(layer_tar)]},
        "history": [{"created_by": f"container_maker_testcluster.images ({name})"}],
    }
    config_bytes = _canonical(image_config)
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {
                "mediaType": MEDIA_CONFIG,
                "digest": _digest(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": MEDIA_LAYER, "digest": _digest(layer_gz), "size": len(layer_gz)}
            ],
        }
    )
    return Image(
        name, tag, manifest, {_digest(config_bytes): config_bytes, _digest(layer_gz): layer_gz}
    )


def _base_layer() -> Layer:
    layer = Layer()
    for d in ("dev", "etc", "proc", "sys"):
        layer.directory(d)
    layer.directory("tmp", 0o1777)
    layer.file(
        "etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return layer


def build_pause() -> Image:
    """The sandbox image: our pause.c, compiled statically."""
    if shutil.which("gcc") is None:
        raise ImageError("gcc is needed to build the pause image (apt-get install gcc libc6-dev)")
    source = cluster_source_dir() / "images" / "pause.c"
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        # No build id and a fixed source path: the same compiler gives the same bytes.
        result = subprocess.run(
            ["gcc", "-static", "-Os", "-s", "-Wl,--build-id=none", "-o", str(binary), "pause.c"],
            cwd=source.parent,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ImageError(f"gcc -static failed:\n{result.stderr}")
        data = binary.read_bytes()
    layer = _base_layer()
    layer.file("pause", data, 0o755)
    return _image("pause", "1", layer, {"Entrypoint": ["/pause"], "User": f"{NOBODY}:{NOBODY}"})


def testapp_layer() -> Layer:
    """The test workload's files: busybox-static with every applet in /bin, ``/serve`` and
    ``/www``. Test images that are the workload plus a tool start from it."""
    if not BUSYBOX.is_file():
        raise ImageError(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    listed = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    layer = _base_layer()
    layer.directory("bin")
    layer.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in listed.stdout.split():
        if applet != "busybox" and "/" not in applet:
            layer.symlink(f"bin/{applet}", "busybox")
    layer.file("serve", (cluster_source_dir() / "images" / "serve.sh").read_bytes(), 0o755)
    layer.directory("www", 0o755, owner=NOBODY)
    return layer


def testapp_config() -> dict[str, object]:
    """The test workload's image config: ``/serve`` on TESTAPP_PORT as nobody."""
    return {
        "Entrypoint": ["/serve"],
        "Env": ["PATH=/bin", f"PORT={TESTAPP_PORT}"],
        "ExposedPorts": {f"{TESTAPP_PORT}/tcp": {}},
        "User": f"{NOBODY}:{NOBODY}",
        "WorkingDir": "/",
    }


def build_testapp() -> Image:
    """The test workload: busybox-static serving /www on port 8080."""
    return _image("testapp", "1", testapp_layer(), testapp_config())


def build_all() -> list[Image]:
    return [build_pause(), build_testapp()]


def _request(
    method: str, url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        if method == "HEAD" and exc.code == 404:
            return 404, {}
        body = exc.read().decode(errors="replace")
        raise ImageError(f"{method} {url}: HTTP {exc.code}: {body}") from exc


def push(image: Image, registry: str, repository: str | None = None) -> str:
    """Upload ``image`` to ``registry`` (host:port, plain HTTP); return its reference.

    The OCI distribution API: a HEAD per blob to skip what is there, else POST an upload session
    and PUT the bytes with their digest (monolithic upload); then PUT the manifest by tag.
    """
    repository = repository or f"container-maker/{image.name}"
    base = f"http://{registry}/v2/{repository}"
    for digest, blob in image.blobs.items():
        if _request("HEAD", f"{base}/blobs/{digest}")[0] == 200:
            continue
        status, headers = _request("POST", f"{base}/blobs/uploads/", b"")
        if status != 202 or "Location" not in headers:
            raise ImageError(f"upload session for {digest} not started (HTTP {status})")
        location = urllib.parse.urljoin(f"http://{registry}/", headers["Location"])
        separator = "&" if "?" in location else "?"
        put = f"{location}{separator}digest={urllib.parse.quote(digest)}"
        status, _ = _request("PUT", put, blob, {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise ImageError(f"blob {digest} not accepted (HTTP {status})")
    status, headers = _request(
        "PUT", f"{base}/manifests/{image.tag}", image.manifest, {"Content-Type": MEDIA_MANIFEST}
    )
    if status != 201:
        raise ImageError(f"manifest of {repository} not accepted (HTTP {status})")
    if headers.get("Docker-Content-Digest", image.digest) != image.digest:
        raise ImageError(
            f"registry computed {headers['Docker-Content-Digest']} for {repository}, "
            f"we built {image.digest}"
        )
    return f"{registry}/{repository}:{image.tag}"
