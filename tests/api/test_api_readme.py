"""The README's grpcurl session, run as printed against the API on the real test cluster.

grpcurl is installed with ``go install`` at the version the README names, into the cache
directory (``~/.cache/container-maker`` or ``$CONTAINER_MAKER_CACHE``), once per machine. The
session block is read from README.md, so the README cannot drift from what works; the only
change is the port (the test's server listens on a free port instead of 50052).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import Running, delete_namespace, namespace_phase
from kubernetes import client

from container_maker_testcluster.paths import cache_dir

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
SESSION_MARKER = "<!-- grpcurl-session"


def readme_grpcurl_version() -> str:
    match = re.search(r"go install github\.com/fullstorydev/grpcurl/cmd/grpcurl@(v[0-9.]+)", README)
    assert match, "README.md no longer says how to install grpcurl"
    return match.group(1)


def readme_session() -> str:
    start = README.index(SESSION_MARKER)
    block = re.search(r"```sh\n(.*?)```", README[start:], re.DOTALL)
    assert block, "no ```sh block after the grpcurl-session marker"
    return block.group(1)


@pytest.fixture(scope="session")
def grpcurl() -> Path:
    """The grpcurl binary of the README's version (installed on first use, then reused)."""
    version = readme_grpcurl_version()
    target = cache_dir() / f"grpcurl-{version}"
    binary = target / "grpcurl"
    if binary.is_file():
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to install grpcurl (go install), as for the test cluster")
    staging = Path(tempfile.mkdtemp(prefix="grpcurl-", dir=cache_dir()))
    env = {**os.environ, "GOBIN": str(staging), "GOFLAGS": "-trimpath"}
    result = subprocess.run(
        [go, "install", f"github.com/fullstorydev/grpcurl/cmd/grpcurl@{version}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    try:
        staging.rename(target)  # atomic: a concurrent run either sees all of it or nothing
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        assert binary.is_file()
    return binary


def run_session(script: str, grpcurl: Path, port: int) -> subprocess.CompletedProcess[str]:
    assert "localhost:50052" in script
    script = script.replace("localhost:50052", f"localhost:{port}")
    env = {**os.environ, "PATH": f"{grpcurl.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.simulated
def test_readme_session_works_as_printed(
    grpcurl: Path, api_server: Running, admin_api: client.ApiClient
) -> None:
    assert namespace_phase(admin_api, "demo") is None, "a leftover demo namespace"
    try:
        result = run_session(readme_session(), grpcurl, api_server.port)
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        assert "containermaker.ContainerMakerAPI" in out  # list, through reflection
        assert '"container_type": "service"' in out  # create, list and get
        assert out.count('"container_name": "web"') == 3
        # create, list and get tell the published port's URL (the Service's DNS name).
        assert out.count('"url": "tcp://web-svc.demo.svc:80"') == 3
        assert '"status": "Deleted"' in out or '"status": "Deleting"' in out
        # The last delete removed the namespace that create made.
        end = time.monotonic() + 30
        while namespace_phase(admin_api, "demo") == "Active" and time.monotonic() < end:
            time.sleep(0.5)
        assert namespace_phase(admin_api, "demo") in (None, "Terminating")
    finally:
        delete_namespace(admin_api, "demo")


def grpcurl_run(grpcurl: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(grpcurl), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_grpcurl_sees_services_health_and_errors(grpcurl: Path, api_server: Running) -> None:
    address = api_server.address
    listed = grpcurl_run(grpcurl, "-plaintext", address, "list")
    assert listed.stdout.split() == [
        "containermaker.ContainerMakerAPI",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    ]
    described = grpcurl_run(
        grpcurl, "-plaintext", address, "describe", "containermaker.ContainerResponse"
    )
    assert "string container_type = 7;" in described.stdout
    health = grpcurl_run(grpcurl, "-plaintext", address, "grpc.health.v1.Health/Check")
    assert '"status": "SERVING"' in health.stdout
    bad: Any = grpcurl_run(
        grpcurl,
        "-plaintext",
        "-d",
        '{"network_name": "demo", "container_id": "x"}',
        address,
        "containermaker.ContainerMakerAPI/getContainer",
    )
    assert bad.returncode != 0
    assert "Code: InvalidArgument" in bad.stderr
    assert "container_id:" in bad.stderr
