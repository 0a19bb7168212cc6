"""The snapshot agent's Go unit tests, vet, formatting and modules, run by the one test command.

No cluster: the agent's tests use temporary files and a local registry server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

AGENT = Path(__file__).resolve().parents[1] / "snapshot-agent"


def go(*args: str, tool: str = "go") -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool)
    assert binary, f"{tool} is needed to test the snapshot agent (see README)"
    env = {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    return subprocess.run(
        [binary, *args],
        cwd=AGENT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_go_unit_tests_pass() -> None:
    result = go("test", "-count=1", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


def test_go_vet_is_clean() -> None:
    result = go("vet", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


def test_gofmt_is_clean() -> None:
    result = go("-l", ".", tool="gofmt")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"not gofmt-formatted:\n{result.stdout}"


def test_go_modules_verify() -> None:
    """What go.mod requires is in go.sum and verifies (a readonly build would fail otherwise)."""
    result = go("mod", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    if "require" in (AGENT / "go.mod").read_text():
        assert (AGENT / "go.sum").is_file()
