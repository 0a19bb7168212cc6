"""An installed plugin whose kinds cannot be ordered stops ``serve``, naming the plugins.

Each case installs real distributions (a ``.dist-info`` with its entry points, on the
subprocess's ``PYTHONPATH``) next to the workspace's, and runs the installed console script:
``serve`` must exit 2 before it serves, and ``plugins`` must say the same.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND = Path(sys.executable).with_name("container-maker")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: nobody, user: {token: unused}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
"""


def install(site: Path, name: str, code: str) -> None:
    """A distribution ``name`` whose one plugin (entry-point name ``name``) is ``code``."""
    module = name.replace("-", "_")
    (site / f"{module}.py").write_text(code)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[container_maker]\n{name} = {module}:plugin\n")


def kind(name: str, **declaration: object) -> str:
    return (
        "from container_maker.memory import MemoryKind\n"
        f"plugin = MemoryKind({name!r}, {{}}, **{declaration!r})\n"
    )


CASES = {
    "cycle": (
        {"loop-a": kind("a", after=("b",)), "loop-b": kind("b", after=("a",))},
        "the plugins' anchors form a cycle among kinds 'a' (loop-a), 'b' (loop-b)",
    ),
    "unknown-anchor": (
        {"budget": kind("budget", after=("deployment",))},
        "plugin 'budget' anchors kind 'budget' to 'deployment', which no plugin registers",
    ),
    "duplicate": (
        {"second-pod": kind("pod")},
        "plugins 'pod' and 'second-pod' both register kind 'pod'",
    ),
}


def run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINER_MAKER_")}
    return subprocess.run(
        [str(COMMAND), *args],
        env={**clean, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("case", list(CASES))
def test_serve_exits_naming_the_plugins(case: str, tmp_path: Path) -> None:
    plugins, message = CASES[case]
    site = tmp_path / "site"
    site.mkdir()
    for name, code in plugins.items():
        install(site, name, code)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    served = run(
        site, "serve", "--kubeconfig", str(kubeconfig), "--port", "0", "--health-port", "0"
    )
    assert served.returncode == 2, served.stdout + served.stderr
    assert message in served.stdout + served.stderr
    assert "serving" not in served.stdout.replace("cannot serve", "")
    listed = run(site, "plugins")
    assert listed.returncode == 2
    assert message in listed.stderr


def test_serve_refuses_to_block_an_essential_plugin(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    for args, env in (
        (["--blocked-plugins", "ingress,pod"], {}),
        ([], {"CONTAINER_MAKER_BLOCKED_PLUGINS": "pod"}),
    ):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CONTAINER_MAKER_")}
        served = subprocess.run(
            [str(COMMAND), "serve", "--kubeconfig", str(kubeconfig), "--port", "0", *args],
            env={**clean, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert served.returncode == 2, served.stdout + served.stderr
        assert "'pod'" in served.stderr and "essential" in served.stderr
