"""The snapshot agent's Go unit tests, vet, formatting and modules, run by the one test command.

No cluster: the agent's tests use temporary files and a local registry server.
"""

from __future__ import annotations

from pathlib import Path

from container_maker_testcluster.gochecks import GoModuleChecks


class TestSnapshotAgent(GoModuleChecks):
    directory = Path(__file__).resolve().parents[1] / "snapshot-agent"
