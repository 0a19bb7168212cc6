"""Build (or reuse) the binaries the test cluster runs, cached outside the clone by version.

Three things are built:

* ``kube``: our wrapper module in ``cluster/kube`` (etcd, kube-apiserver,
  kube-controller-manager, kube-scheduler and kubectl in one static binary), built the way
  upstream builds its release binaries, with the release's version stamped in at link time.
* ``kwok``: installed with ``go install`` at the pinned version.
* ``kube-router``: installed with ``go install`` at the pinned version; the real-node profile
  runs its NetworkPolicy controller alone (see :mod:`container_maker_testcluster.realnode`).

Each lands in ``<cache>/<name>-<version>-<key>/`` where the key hashes every input of the build,
so a second run (and CI on the same machine) finds it and returns in well under a second, while a
change to the pinned versions, go.mod, go.sum or the wrapper's source builds afresh. Builds take
a file lock, so two runs at once do not build twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from container_maker_testcluster.paths import cache_dir, cluster_source_dir

# Measured: a cold build fills about 0.9 GiB of Go modules and 3.8 GiB of Go build cache and
# writes 0.2 GiB of binaries; ask for headroom on top so the failure is ours and clear, not
# "no space left on device" mid-link.
MIN_FREE_BYTES_FOR_BUILD = 8 * 1024**3
PROGRESS_EVERY_SECONDS = 15.0
KUBE_ROUTER_MODULE = "github.com/cloudnativelabs/kube-router/v2"


class BuildError(RuntimeError):
    """The binaries could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class Versions:
    kubernetes: str
    kwok: str
    kube_router: str
    go_toolchain: str

    @classmethod
    def load(cls) -> Versions:
        data = tomllib.loads((cluster_source_dir() / "versions.toml").read_text())
        return cls(data["kubernetes"], data["kwok"], data["kube_router"], data["go_toolchain"])


@dataclass(frozen=True)
class Binaries:
    """Paths of the built programs. ``kube`` dispatches on its first argument."""

    kube: Path
    kwok: Path
    kube_router: Path

    @property
    def bin_dir(self) -> Path:
        """Directory holding ``kube`` and a ``kubectl`` link to it (put it on PATH)."""
        return self.kube.parent


def _log(message: str) -> None:
    print(f"[testcluster build] {message}", file=sys.stderr, flush=True)


def go_env(versions: Versions) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOWORK="off",
        GOTOOLCHAIN=versions.go_toolchain,
        CGO_ENABLED="0",
        GOFLAGS="-mod=readonly",
    )
    return env


def _input_key(versions: Versions) -> str:
    src = cluster_source_dir() / "kube"
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (src / name).read_bytes())
    # kube's own inputs, spelled as the key always spelled them (the other tools' versions
    # are not inputs of kube: bumping one must not relink it).
    v = versions
    kube_inputs = f"kubernetes={v.kubernetes!r}, kwok={v.kwok!r}, go_toolchain={v.go_toolchain!r}"
    digest.update(f"Versions({kube_inputs})".encode())
    digest.update(link_flags(versions).encode())
    return digest.hexdigest()[:12]


def link_flags(versions: Versions) -> str:
    major, minor = versions.kubernetes.removeprefix("v").split(".")[:2]
    # The release's own build date is not in the module; use a fixed date derived from nothing
    # but the version so the binary is reproducible. /version still reports the real release.
    values = {
        "gitVersion": versions.kubernetes,
        "gitMajor": major,
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
    }
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X '{package}.{key}={value}'" for key, value in values.items()]
    return " ".join(flags)


def _check_disk(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    go_cache = Path(
        subprocess.run(["go", "env", "GOCACHE"], capture_output=True, text=True).stdout.strip()
        or path
    )
    go_cache.mkdir(parents=True, exist_ok=True)
    free = min(free, shutil.disk_usage(go_cache).free)
    if free < MIN_FREE_BYTES_FOR_BUILD:
        raise BuildError(
            f"only {free / 1024**3:.1f} GiB free under {path} / {go_cache}; building the "
            f"test cluster needs {MIN_FREE_BYTES_FOR_BUILD / 1024**3:.0f} GiB. Free some space "
            "(e.g. `go clean -cache`) or point CONTAINER_MAKER_CACHE and GOCACHE elsewhere."
        )


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """Yield a scratch directory beside ``target`` that becomes ``target`` only on success."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_with_progress(
    cmd: list[str], *, cwd: Path, env: dict[str, str], what: str, total: int | None = None
) -> None:
    """Run a go command, reporting progress from its -v package lines every few seconds."""
    started = time.monotonic()
    count = 0
    tail: list[str] = []
    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY_SECONDS):
            of = f"/{total}" if total else ""
            _log(f"{what}: {count}{of} packages compiled, {time.monotonic() - started:.0f}s")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            # -v prints one bare import path per package compiled; anything else is a message.
            if line and " " not in line:
                count += 1
            else:
                tail.append(line)
                del tail[:-40]
        code = proc.wait()
    finally:
        done.set()
    if code != 0:
        raise BuildError(f"{what} failed (exit {code}):\n" + "\n".join(tail))
    _log(f"{what}: done in {time.monotonic() - started:.0f}s ({count} packages compiled)")


def _build_kube(versions: Versions, target: Path) -> None:
    src = cluster_source_dir() / "kube"
    env = go_env(versions)
    # Measured on 2 cores: 8 min with the modules downloaded and nothing else running, 13 min
    # from an empty module and build cache with tests running beside it.
    _log(f"building kube {versions.kubernetes} from {src} (cold: 8-15 min on 2 cores)")
    _log("downloading Go modules (about 1 GiB the first time)")
    subprocess.run(["go", "mod", "download"], cwd=src, env=env, check=True)
    listed = subprocess.run(
        ["go", "list", "-deps", "-tags", "selinux,notest", "."],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
    )
    total = len(listed.stdout.split()) if listed.returncode == 0 else None
    with _staged(target) as tmp:
        out = tmp / "bin" / "kube"
        _run_with_progress(
            [
                "go",
                "build",
                "-v",
                "-trimpath",
                "-tags",
                "selinux,notest",
                "-ldflags",
                link_flags(versions),
                "-o",
                str(out),
                ".",
            ],
            cwd=src,
            env=env,
            what="kube",
            total=total,
        )
        (out.parent / "kubectl").symlink_to("kube")


def _build_kwok(versions: Versions, target: Path) -> None:
    env = go_env(versions)
    env["GOFLAGS"] = ""
    with _staged(target) as tmp:
        env["GOBIN"] = str(tmp / "bin")
        _log(f"installing kwok {versions.kwok}")
        _run_with_progress(
            ["go", "install", "-v", f"sigs.k8s.io/kwok/cmd/kwok@{versions.kwok}"],
            cwd=tmp,
            env=env,
            what="kwok",
        )


def _build_kube_router(versions: Versions, target: Path) -> None:
    env = go_env(versions)
    # Its go.mod has no replace directives, so `go install module@version` works as it is.
    env["GOFLAGS"] = ""
    with _staged(target) as tmp:
        env["GOBIN"] = str(tmp / "bin")
        _log(f"installing kube-router {versions.kube_router} (cold: about 3 min on 2 cores)")
        _run_with_progress(
            [
                "go",
                "install",
                "-v",
                "-trimpath",
                "-ldflags=-s -w",
                f"{KUBE_ROUTER_MODULE}/cmd/kube-router@{versions.kube_router}",
            ],
            cwd=tmp,
            env=env,
            what="kube-router",
        )


def ensure_binaries() -> Binaries:
    """Return the cluster's binaries, building whatever is not cached yet."""
    versions = Versions.load()
    root = cache_dir()
    kube_dir = root / f"kube-{versions.kubernetes}-{_input_key(versions)}"
    kwok_dir = root / f"kwok-{versions.kwok}-{versions.go_toolchain}"
    router_dir = root / f"kube-router-{versions.kube_router}-{versions.go_toolchain}"
    wanted = Binaries(
        kube=kube_dir / "bin" / "kube",
        kwok=kwok_dir / "bin" / "kwok",
        kube_router=router_dir / "bin" / "kube-router",
    )
    if wanted.kube.exists() and wanted.kwok.exists() and wanted.kube_router.exists():
        return wanted
    if shutil.which("go") is None:
        raise BuildError("Go is not installed: the test cluster is built from Go modules")
    with _locked(root):
        if not wanted.kube.exists():
            _check_disk(root)
            _build_kube(versions, kube_dir)
        if not wanted.kwok.exists():
            _build_kwok(versions, kwok_dir)
        if not wanted.kube_router.exists():
            _build_kube_router(versions, router_dir)
    return wanted


def kwok_module_dir() -> Path:
    """Where the pinned KWOK module's source (and its stage YAML files) sit in the module cache."""
    versions = Versions.load()
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{versions.kwok}"],
        capture_output=True,
        text=True,
        env=go_env(versions) | {"GOFLAGS": ""},
        cwd=cache_dir(),
        check=True,
    ).stdout
    return Path(json.loads(out)["Dir"])
