"""The snapshot agent's Go unit tests and vet, run by the one test command (pure: no cluster)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parents[1] / "snapshot-agent"


def go(*args: str) -> subprocess.CompletedProcess[str]:
    go_binary = shutil.which("go")
    assert go_binary, "Go is needed to test the snapshot agent (see README)"
    env = {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    return subprocess.run(
        [go_binary, *args], cwd=AGENT_DIR, env=env, capture_output=True, text=True, timeout=600
    )


def test_go_unit_tests_pass() -> None:
    result = go("test", "-count=1", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


def test_go_vet_is_clean() -> None:
    result = go("vet", "./...")
    assert result.returncode == 0, result.stdout + result.stderr


def test_go_sum_is_committed_and_tidy() -> None:
    """go.sum lists what go.mod needs (a readonly build would fail otherwise)."""
    assert (AGENT_DIR / "go.sum").is_file()
    result = go("mod", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
