"""What the save tests need on the real node: the snapshot agent's image, a test workload, and
a relay from the pod network to the node-local registry.

* The agent (``plugins/snapshot/snapshot-agent``) is built static (``CGO_ENABLED=0``) and cached
  outside the clone under a hash of its sources and the Go version, like the cluster's binaries.
* Its test image is FROM scratch: the binary alone, entrypoint ``/snapshot-agent idle`` (the
  production recipe is ``plugins/snapshot/snapshot-agent/Dockerfile``), built and pushed with the
  cluster package's deterministic layers and OCI pusher.
* ``saveapp``: busybox whose entrypoint records its first boot (``/www/first-boot.txt``, only if
  missing), its arguments and its environment, then serves ``/www`` on port 8080 as nobody.
* Attack images (``attack_image``): ``saveapp`` as root, with static C programs of
  ``tests/api/attacks/`` (``gcc -static``, cached like the agent) started by an entrypoint that
  then runs the saveapp's own.
* The registry listens on the host's 127.0.0.1, which a pod cannot reach (its loopback is its
  own). :class:`Relay` listens on the pod bridge's gateway address and forwards to it, so the
  agent pushes to the registry's own name (``127.0.0.1:<port>``, plain HTTP through the relay:
  the tests name a registry that wants a password in ``registry_insecure``) through
  ``registry_endpoints``. The relay notes whether a request carried an ``Authorization``
  header. Only this machine is ever contacted.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import warnings
import zlib
from collections.abc import Mapping
from pathlib import Path

from container_maker_testcluster import images
from container_maker_testcluster.paths import cache_dir
from container_maker_testcluster.realnode import POD_GATEWAY

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = ROOT / "plugins" / "snapshot" / "snapshot-agent"
ATTACKS_DIR = Path(__file__).resolve().parent / "attacks"
SAVEAPP_PORT = 8080
IP_FREEBIND = 15  # <linux/in.h>; not exported by Python's socket module
SAVEAPP_ENTRYPOINT = b"""#!/bin/sh
# First boot only: a file that a saved image must carry into its next containers.
[ -f /www/first-boot.txt ] || echo "first boot in $(hostname)" > /www/first-boot.txt
echo "$@" > /www/args.txt
env | sort > /www/env.txt
trap 'exit 0' TERM INT
httpd -f -p "$PORT" -h /www &
wait
"""


def go_env() -> dict[str, str]:
    return {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}


def static_go_binary(directory: Path, name: str) -> Path:
    """The static binary of the Go program in ``directory``, built once per hash of its sources
    (tests excluded) and the Go version, and cached outside the clone."""
    digest = hashlib.sha256()
    go_version = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()
    digest.update(go_version.encode())
    for path in sorted(directory.glob("*")):
        built = path.suffix == ".go" and not path.name.endswith("_test.go")
        if built or path.name in ("go.mod", "go.sum"):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    target = cache_dir() / f"{name}-{digest.hexdigest()[:16]}" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    subprocess.run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp), "."],
        cwd=directory,
        env=go_env(),
        check=True,
        capture_output=True,
        timeout=600,
    )
    tmp.rename(target)
    return target


def static_c_binary(source: Path) -> Path:
    """``source`` built with ``gcc -static``, once per hash of its text."""
    data = source.read_bytes()
    target = cache_dir() / f"{source.stem}-{hashlib.sha256(data).hexdigest()[:16]}" / source.stem
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    subprocess.run(
        ["gcc", "-O2", "-static", "-Wall", "-o", str(tmp), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    tmp.rename(target)
    return target


def agent_binary() -> Path:
    """The static snapshot agent."""
    return static_go_binary(AGENT_DIR, "snapshot-agent")


def _image(name: str, layer: images.Layer, config: dict[str, object]) -> images.Image:
    """An OCI image of one deterministic layer (as the cluster package builds its own)."""
    layer_tar = layer.tar()
    layer_gz = gzip.compress(layer_tar, compresslevel=6, mtime=0)

    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def canonical(value: object) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    config_bytes = canonical(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [digest(layer_tar)]},
            "history": [{"created_by": f"tests/api/snapshot_support.py ({name})"}],
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": images.MEDIA_MANIFEST,
            "config": {
                "mediaType": images.MEDIA_CONFIG,
                "digest": digest(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": images.MEDIA_LAYER, "digest": digest(layer_gz), "size": len(layer_gz)}
            ],
        }
    )
    return images.Image(
        name, "1", manifest, {digest(config_bytes): config_bytes, digest(layer_gz): layer_gz}
    )


def agent_image() -> images.Image:
    """FROM scratch: the agent binary, run as root with the capabilities the pod grants."""
    layer = images.Layer()
    layer.file("snapshot-agent", agent_binary().read_bytes(), 0o755)
    return _image("snapshot-agent", layer, {"Entrypoint": ["/snapshot-agent", "idle"]})


def saveapp_image(
    extra_bytes: int = 0,
    user: str | None = None,
    files: Mapping[str, tuple[bytes, int]] | None = None,
    entrypoint: str = "/start",
    variant: str | None = None,
) -> images.Image:
    """The save test workload; ``extra_bytes`` of incompressible data in /data (for sizes);
    it runs as nobody unless ``user`` says otherwise ("0:0"). ``files`` (path -> data, mode)
    are added, ``entrypoint`` replaces ``/start`` (which it should end by running)."""
    listed = subprocess.run(
        [str(images.BUSYBOX), "--list"], capture_output=True, text=True, check=True
    )
    layer = images.Layer()
    for d in ("dev", "etc", "proc", "sys", "bin"):
        layer.directory(d)
    layer.directory("tmp", 0o1777)
    layer.file(
        "etc/passwd", b"root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    layer.file("bin/busybox", images.BUSYBOX.read_bytes(), 0o755)
    for applet in listed.stdout.split():
        if applet != "busybox" and "/" not in applet:
            layer.symlink(f"bin/{applet}", "busybox")
    layer.file("start", SAVEAPP_ENTRYPOINT, 0o755)
    layer.directory("www", 0o755, owner=images.NOBODY)
    for path, (data, mode) in (files or {}).items():
        layer.file(path, data, mode)
    if extra_bytes:
        layer.directory("data")
        # Deterministic but incompressible: a hash chain.
        chunks: list[bytes] = []
        block = hashlib.sha256(b"saveapp").digest()
        while len(chunks) * 32 < extra_bytes:
            block = hashlib.sha256(block).digest()
            chunks.append(block)
        layer.file("data/blob", b"".join(chunks)[:extra_bytes])
    config: dict[str, object] = {
        "Entrypoint": [entrypoint],
        "Cmd": ["from-image-cmd"],
        "Env": ["PATH=/bin", f"PORT={SAVEAPP_PORT}", "SAVEAPP_ORIGIN=image-config"],
        "ExposedPorts": {f"{SAVEAPP_PORT}/tcp": {}},
        "User": user or f"{images.NOBODY}:{images.NOBODY}",
        "WorkingDir": "/www",
        "Labels": {"org.example.saveapp": "yes"},
    }
    image = _image("saveapp", layer, config)
    variant = variant or "-".join(
        part for part in ("saveapp", str(extra_bytes or ""), "root" if user else "") if part
    )
    return images.Image(variant, image.tag, image.manifest, image.blobs)


def attack_image(name: str, script: str, programs: tuple[str, ...]) -> images.Image:
    """``saveapp`` as root, with the static programs ``tests/api/attacks/<program>.c`` in ``/``
    and ``script`` (a shell script that ends by running ``/start``) as its entrypoint."""
    files = {"attack": (script.encode(), 0o755)}
    for program in programs:
        files[program] = (static_c_binary(ATTACKS_DIR / f"{program}.c").read_bytes(), 0o755)
    return saveapp_image(user="0:0", files=files, entrypoint="/attack", variant=name)


def files_holding(storage: Path, needles: list[bytes]) -> list[str]:
    """The files under a registry's storage that hold one of ``needles``, raw or once gunzipped
    (layers are gzip; a partial upload is decompressed as far as it goes)."""
    found: list[str] = []
    for path in sorted(p for p in storage.rglob("*") if p.is_file()):
        data = path.read_bytes()
        texts = [data]
        if data[:2] == b"\x1f\x8b":
            # A truncated stream (a partial upload) inflates as far as it goes; a corrupt one
            # is left raw.
            with contextlib.suppress(zlib.error):
                texts.append(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data))
        if any(needle in text for needle in needles for text in texts):
            found.append(str(path.relative_to(storage)))
    return found


class Relay:
    """TCP relay from the pod bridge's gateway address to a loopback port (the registry)."""

    def __init__(self, target_port: int, host: str = POD_GATEWAY) -> None:
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # The CNI plugin gives the bridge its gateway address with the node's first pod; free
        # binding lets the relay listen on it before that.
        self.listener.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        self.listener.bind((host, 0))
        self.listener.listen()
        self.address = f"{host}:{self.listener.getsockname()[1]}"
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self.saw_authorization = False  # a client sent an Authorization header through us
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @classmethod
    def to(cls, address: str) -> Relay:
        """A relay to ``address`` (``host:port`` of a registry on this machine's loopback)."""
        return cls(int(address.rsplit(":", 1)[1]))

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                conn.close()  # the registry is down: the client sees the connection drop
                continue
            upstream.settimeout(None)
            self._sockets += [conn, upstream]
            for a, b, watch in ((conn, upstream, True), (upstream, conn, False)):
                threading.Thread(target=self._pipe, args=(a, b, watch), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while data := src.recv(1 << 16):
                if watch:
                    # The header name may straddle two reads: keep the end of the last one.
                    if b"\nauthorization:" in (tail + data).lower():
                        self.saw_authorization = True
                    tail = data[-32:]
                dst.sendall(data)
        except OSError:
            pass  # the other side went away: close both below
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stopped.set()
        self.listener.close()
        for s in self._sockets:
            s.close()
        self._thread.join(5)


class AuthRegistry:
    """A second registry of our own (Debian's docker-registry) that wants a user and password
    (htpasswd, bcrypt), on a free loopback port, its storage in a temporary directory."""

    def __init__(self, user: str, password: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # bcrypt through libcrypt; no bcrypt module is installed

            hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
        self.dir = Path(tempfile.mkdtemp(prefix="cm-auth-registry-"))
        (self.dir / "htpasswd").write_text(f"{user}:{hashed}\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(self.dir / "data")}},
            "http": {"addr": self.address},
            "auth": {"htpasswd": {"realm": "cm-test", "path": str(self.dir / "htpasswd")}},
        }
        (self.dir / "config.yml").write_text(json.dumps(config))
        self.log = open(self.dir / "registry.log", "wb")  # noqa: SIM115 -- closed in close()
        self.process = subprocess.Popen(
            ["docker-registry", "serve", str(self.dir / "config.yml")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2)
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return  # up, and asking for credentials
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError(f"the test registry did not start: {self.dir}/registry.log")
            time.sleep(0.2)

    def get(self, path: str, user: str, password: str, accept: str) -> bytes:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request = urllib.request.Request(
            f"http://{self.address}/v2/{path}",
            headers={"Authorization": f"Basic {token}", "Accept": accept},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            data: bytes = response.read()
            return data

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
