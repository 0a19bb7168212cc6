"""``container-maker plugins``: the installed command lists what a server would load.

The real console script runs in a subprocess, so the entry points are those the workspace
installed, as an operator's shell would see them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

COMMAND = Path(sys.executable).with_name("container-maker")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The caller's CONTAINER_MAKER_* variables must not change what the test sees.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINER_MAKER_")}
    return subprocess.run(
        [str(COMMAND), "plugins", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def listed(*args: str, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    result = run("-o", "json", *args, env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == sorted(row["name"] for row in rows)
    return {row["name"]: row for row in rows}


def test_builtin_plugins_with_their_distributions_kinds_and_hooks() -> None:
    plugins = listed()
    service = plugins["service"]
    assert set(service) == {"name", "distribution", "version", "kinds", "hooks", "blocked"}
    assert service["distribution"] == "container-maker-service"
    assert service["version"]
    assert service["kinds"] == ["service"]
    assert service["hooks"] == ["cm_register_resources"]
    assert service["hooks"] == sorted(service["hooks"])
    assert service["blocked"] is False
    # One distribution may bring several plugins, each with its own kind.
    assert plugins["namespace"]["kinds"] == ["limit-range", "namespace", "resource-quota"]
    assert plugins["networkpolicy"]["kinds"] == ["default-deny", "networkpolicy"]
    assert plugins["networkpolicy"]["distribution"] == "container-maker-namespace"
    assert plugins["pod"]["distribution"] == "container-maker-pod"
    # A plugin that owns no kind (cm_register_resources absent) lists none.
    assert plugins["snapshot"]["kinds"] == []
    assert "cm_pod_extras" in plugins["snapshot"]["hooks"]
    # One distribution per sidecar.
    assert plugins["snapshot"]["distribution"] == "container-maker-snapshot"
    assert plugins["status"]["distribution"] == "container-maker-status"
    assert plugins["status"]["kinds"] == ["status"]
    assert plugins["api-key"]["distribution"] == "container-maker-auth"
    assert "cm_authenticate" in plugins["api-key"]["hooks"]
    assert not any(row["blocked"] for row in plugins.values())


def test_blocked_plugin_is_marked_blocked_with_no_hooks() -> None:
    for plugins in (
        listed("--blocked-plugins", "ingress"),
        listed(env={"CONTAINER_MAKER_BLOCKED_PLUGINS": "ingress,status"}),
    ):
        ingress = plugins["ingress"]
        assert ingress["blocked"] is True
        assert ingress["hooks"] == [] and ingress["kinds"] == []
        # Never loaded, it still names the distribution that offers it.
        assert ingress["distribution"] == "container-maker-ingress"
        assert plugins["service"]["blocked"] is False


def test_flag_wins_over_the_environment() -> None:
    plugins = listed(
        "--blocked-plugins", "ingress", env={"CONTAINER_MAKER_BLOCKED_PLUGINS": "status"}
    )
    assert plugins["ingress"]["blocked"] is True
    assert plugins["status"]["blocked"] is False


def test_table_names_every_plugin() -> None:
    result = run("--blocked-plugins", "ingress")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "KINDS", "HOOKS"]
    for name in listed("--blocked-plugins", "ingress"):
        assert any(line.split()[0] == name for line in lines[1:]), name
    assert any(line.startswith("ingress (blocked)") for line in lines)


def test_blocking_an_essential_plugin_exits_2_naming_it() -> None:
    for result in (
        run("--blocked-plugins", "pod"),
        run("-o", "json", env={"CONTAINER_MAKER_BLOCKED_PLUGINS": "pod"}),
    ):
        assert result.returncode == 2
        assert result.stdout == ""
        assert "'pod'" in result.stderr and "essential" in result.stderr


def test_unknown_output_format_exits_2() -> None:
    result = run("-o", "yaml")
    assert result.returncode == 2
    assert "table or json" in result.stderr
