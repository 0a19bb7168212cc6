"""Command line: ``python -m container_maker_testcluster build|up|down|env|serve``.

``up`` runs the cluster in the foreground until Ctrl-C (or SIGTERM), then stops everything (a
second signal during the stop skips the components' grace periods, never the cleanup);
``up --detach`` runs that same foreground process in the background and returns once the cluster
is ready; ``down`` stops it; ``env`` prints the shell lines to use it. The run directory
(default ``/tmp/container-maker-cluster-<uid>``, or ``CONTAINER_MAKER_CLUSTER_DIR``) holds the
kubeconfig, the logs and ``state.json``, and is removed when the cluster stops. ``serve``
serves Container Maker's API on a fresh cluster of its own, with the options of
``container-maker serve`` (:mod:`container_maker_testcluster.serve`; ``./dev serve``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from container_maker_testcluster.build import BuildError, ensure_binaries
from container_maker_testcluster.cluster import LocalCluster, describe
from container_maker_testcluster.component import ClusterError
from container_maker_testcluster.images import ImageError
from container_maker_testcluster.paths import default_run_dir
from container_maker_testcluster.realnode import RealNodeError
from container_maker_testcluster.serve import command as serve_command
from container_maker_testcluster.signals import Interrupted, StopSignals

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Run directory [default: /tmp/container-maker-cluster-UID]."),
]


def _say(message: str) -> None:
    print(f"[testcluster] {message}", file=sys.stderr, flush=True)


def _state(run_dir: Path) -> dict[str, object] | None:
    """The running cluster's state, or None when no live cluster uses ``run_dir``."""
    try:
        state: dict[str, object] = json.loads((run_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    pid = state.get("supervisor_pid")
    if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
        return None
    return state


def _usage(state: dict[str, object]) -> str:
    if state.get("node") == "real":
        refs = state.get("images")
        listed = ", ".join(str(r) for r in refs.values()) if isinstance(refs, dict) else ""
        parts = (
            f"Real node: containers really run. Local registry {state.get('registry')}; "
            f"our images: {listed}."
        )
    else:
        parts = (
            "Simulated parts: the nodes (KWOK), LoadBalancer and Ingress addresses "
            "(203.0.113.0/24)."
        )
    return (
        "The test cluster is up. To use it from a shell:\n"
        f"  export KUBECONFIG={state['kubeconfig']}\n"
        f"  export PATH={state['bin_dir']}:$PATH   # kubectl of the same release\n"
        "  kubectl get nodes\n"
        f"Component logs: {state['logs']}\n" + parts
    )


@app.command()
def build() -> None:
    """Build (or reuse from the cache) the cluster's binaries and print where they are."""
    try:
        binaries = ensure_binaries()
    except BuildError as exc:
        _say(str(exc))
        raise typer.Exit(1) from exc
    print(binaries.bin_dir)


@app.command()
def up(
    run_dir: DirOption = None,
    nodes: Annotated[int, typer.Option(min=1, help="Number of simulated nodes.")] = 1,
    node: Annotated[
        str,
        typer.Option(
            "--node",
            help="simulated: KWOK nodes; real: one real kubelet/containerd node (root).",
        ),
    ] = "simulated",
    detach: Annotated[bool, typer.Option(help="Return once ready; stop with `down`.")] = False,
) -> None:
    """Start the cluster and keep it running until Ctrl-C or SIGTERM (or `down` with --detach).

    A second signal while it stops skips the components' grace periods (the cleanup is never
    skipped).
    """
    run_dir = run_dir or default_run_dir()
    if (state := _state(run_dir)) is not None:
        _say(f"a cluster is already running in {run_dir}")
        print(_usage(state))
        return
    if run_dir.exists():
        _say(f"removing stale run directory {run_dir}")
        subprocess.run(["rm", "-rf", str(run_dir)], check=True)
    if detach:
        _up_detached(run_dir, nodes, node)
        return
    try:
        cluster = LocalCluster(run_dir, nodes=nodes, node=node, log=_say)
    except ValueError as exc:
        _say(str(exc))
        raise typer.Exit(2) from exc
    # The first SIGTERM or SIGINT while starting interrupts the start (which stops what it
    # started); once up, it ends the loop below. A second one, during the stop, makes the stop
    # skip the components' grace (LocalCluster.stop). Handlers take no lock (see signals.py).
    signals = StopSignals(raise_first=True)
    with signals:
        try:
            cluster.start()
            signals.raise_first = False  # from here on the loop below polls for signals
            if signals.count:  # one came between the start's end and the line above
                raise Interrupted(signals.first or signal.SIGTERM)
            state = describe(cluster)
            (run_dir / "state.json").write_text(json.dumps(state))
            print(_usage(state), flush=True)
            _say("press Ctrl-C to stop")
            while not signals.count:
                exited = [n for n, p in cluster.pids.items() if not Path(f"/proc/{p}").exists()]
                if exited:
                    _say(f"{', '.join(exited)} exited; stopping the cluster (logs in {run_dir})")
                    break
                time.sleep(0.5)
        except Interrupted:
            pass
        except (BuildError, ClusterError, RealNodeError, ImageError) as exc:
            _say(str(exc))
            raise typer.Exit(1) from exc
        finally:
            if signals.first is not None:
                _say(f"{signals.first.name}: stopping (a second signal skips the grace periods)")
            else:
                _say("stopping")
            # A second signal may come between this line and the moment stop() installs its
            # own handlers: ours counts it then, and stop() asks.
            cluster.stop(now=signals.count > 1, urgent=lambda: signals.count > 1)
            _say("stopped")


def _up_detached(run_dir: Path, nodes: int, node: str) -> None:
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = run_dir.parent / f"{run_dir.name}.supervisor.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "container_maker_testcluster",
                "up",
                "--dir",
                str(run_dir),
                "--nodes",
                str(nodes),
                "--node",
                node,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _say(f"starting in the background (pid {process.pid}, log {log_path})")
    while (state := _state(run_dir)) is None:
        if process.poll() is not None:
            _say(f"the cluster failed to start:\n{log_path.read_text(errors='replace')}")
            raise typer.Exit(1)
        time.sleep(0.5)
    log_path.unlink(missing_ok=True)
    print(_usage(state))
    print("Stop it with: python -m container_maker_testcluster down")


@app.command()
def down(run_dir: DirOption = None) -> None:
    """Stop the cluster started with `up --detach` and remove its run directory."""
    run_dir = run_dir or default_run_dir()
    state = _state(run_dir)
    if state is None:
        _say(f"no cluster is running in {run_dir}")
        return
    pid = state["supervisor_pid"]
    assert isinstance(pid, int)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if Path(f"/proc/{pid}").exists():
        _say(f"the cluster (pid {pid}) did not stop within 60s")
        raise typer.Exit(1)
    _say("stopped")


@app.command()
def env(run_dir: DirOption = None) -> None:
    """Print shell lines that point kubectl at the running cluster (eval "$(... env)")."""
    run_dir = run_dir or default_run_dir()
    state = _state(run_dir)
    if state is None:
        _say(f"no cluster is running in {run_dir}; start one with `up --detach`")
        raise typer.Exit(1)
    print(f"export KUBECONFIG={state['kubeconfig']}")
    print(f"export PATH={state['bin_dir']}:$PATH")


app.command("serve")(serve_command)
