"""The status agent's Go unit tests, vet and formatting, run by the one test command.

No cluster: the live tests use the test process's own network namespace and a local TLS server.
"""

from __future__ import annotations

from pathlib import Path

from container_maker_testcluster.gochecks import GoModuleChecks

AGENT = Path(__file__).resolve().parents[1] / "status-agent"


class TestStatusAgent(GoModuleChecks):
    directory = AGENT

    def test_the_status_agent_needs_nothing_but_the_standard_library(self) -> None:
        """No go.sum to keep, and its build never needs the module proxy."""
        assert "require" not in (AGENT / "go.mod").read_text()
        assert not (AGENT / "go.sum").exists()
