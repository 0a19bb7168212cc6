"""The checks every Go program of the repository gets from the one test command (no cluster).

A test module of a plugin with a Go agent subclasses :class:`GoModuleChecks` with the agent's
directory; pytest then runs its unit tests, ``go vet``, ``gofmt`` and ``go mod verify`` there,
with the workspace off and cgo off, as the image builds do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar


def go(directory: Path, *args: str, tool: str = "go") -> subprocess.CompletedProcess[str]:
    """Run ``tool`` (``go`` or ``gofmt``) with ``args`` in ``directory``."""
    binary = shutil.which(tool)
    assert binary, f"{tool} is needed to test {directory.name} (see README)"
    env = {**os.environ, "GOWORK": "off", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    return subprocess.run(
        [binary, *args], cwd=directory, env=env, capture_output=True, text=True, timeout=600
    )


class GoModuleChecks:
    """Test methods for the Go module in :attr:`directory` (set it in a ``Test...`` subclass)."""

    directory: ClassVar[Path]

    def test_go_unit_tests_pass(self) -> None:
        result = go(self.directory, "test", "-count=1", "./...")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_go_vet_is_clean(self) -> None:
        result = go(self.directory, "vet", "./...")
        assert result.returncode == 0, result.stdout + result.stderr

    def test_gofmt_is_clean(self) -> None:
        result = go(self.directory, "-l", ".", tool="gofmt")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "", f"not gofmt-formatted:\n{result.stdout}"

    def test_go_modules_verify(self) -> None:
        """What go.mod requires is in go.sum and verifies (a readonly build would fail
        otherwise)."""
        result = go(self.directory, "mod", "verify")
        assert result.returncode == 0, result.stdout + result.stderr
        if "require" in (self.directory / "go.mod").read_text():
            assert (self.directory / "go.sum").is_file()
