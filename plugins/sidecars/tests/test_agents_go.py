"""The sidecar agents' Go unit tests, vet, formatting and modules, run by the one test command.

No cluster: the snapshot agent's tests use temporary files and a local registry server, the
status agent's live tests the test process's own network namespace and a local TLS server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SIDECARS = Path(__file__).resolve().parents[1]
AGENTS = ["snapshot-agent", "status-agent"]


def go(agent: str, *args: str, tool: str = "go") -> subprocess.CompletedProcess[str]:
    binary = shutil.which(tool)
    assert binary, f"{tool} is needed to test the sidecar agents (see README)"
    env = {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    return subprocess.run(
        [binary, *args],
        cwd=SIDECARS / agent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("agent", AGENTS)
def test_go_unit_tests_pass(agent: str) -> None:
    result = go(agent, "test", "-count=1", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("agent", AGENTS)
def test_go_vet_is_clean(agent: str) -> None:
    result = go(agent, "vet", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("agent", AGENTS)
def test_gofmt_is_clean(agent: str) -> None:
    result = go(agent, "-l", ".", tool="gofmt")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"not gofmt-formatted:\n{result.stdout}"


@pytest.mark.parametrize("agent", AGENTS)
def test_go_modules_verify(agent: str) -> None:
    """What go.mod requires is in go.sum and verifies (a readonly build would fail otherwise)."""
    result = go(agent, "mod", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    if "require" in (SIDECARS / agent / "go.mod").read_text():
        assert (SIDECARS / agent / "go.sum").is_file()


def test_the_status_agent_needs_nothing_but_the_standard_library() -> None:
    """No go.sum to keep, and its build never needs the module proxy."""
    assert "require" not in (SIDECARS / "status-agent" / "go.mod").read_text()
