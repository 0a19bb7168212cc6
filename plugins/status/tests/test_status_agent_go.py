"""The status agent's Go unit tests, vet and formatting, run by the one test command.

No cluster: the live tests use the test process's own network namespace and a local TLS server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

AGENT = Path(__file__).resolve().parents[1] / "status-agent"


def go(*args: str, tool: str = "go") -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool)
    assert binary, f"{tool} is needed to test the status agent (see README)"
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
    result = go("mod", "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_status_agent_needs_nothing_but_the_standard_library() -> None:
    """No go.sum to keep, and its build never needs the module proxy."""
    assert "require" not in (AGENT / "go.mod").read_text()
    assert not (AGENT / "go.sum").exists()
