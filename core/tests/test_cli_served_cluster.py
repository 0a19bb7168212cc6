"""``container_maker.cli.serve`` with a cluster of its own, and ``serve_command``, in process.

A :class:`~container_maker.cli.ServedCluster` whose start fails, or is interrupted by a signal,
is stopped all the same. The command ``serve_command`` builds has serve's options but those left
out, and never ``cluster``. (Serving on a real local cluster, signals included, is in
tests/api/test_api_server.py.)
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from container_maker import cli
from container_maker.api.kubeconfig import KubeTarget
from container_maker.errors import InvalidConfiguration


@pytest.fixture(autouse=True)
def root_logging() -> Iterator[None]:
    """serve configures the root logger (JSON lines on stderr): undone after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class Recorded:
    """A served cluster whose start does ``starting()``; it records the stops."""

    def __init__(self, starting: Any) -> None:
        self.starting = starting
        self.starts = 0
        self.stops: list[bool] = []

    def start(self) -> KubeTarget:
        self.starts += 1
        self.starting()
        raise AssertionError("start was to fail or be interrupted")

    def stop(self, *, now: bool) -> None:
        self.stops.append(now)


def no_route() -> None:
    raise InvalidConfiguration("the cluster did not come up")


def test_a_cluster_whose_start_fails_is_stopped_and_serve_exits_2() -> None:
    cluster = Recorded(no_route)
    with pytest.raises(typer.Exit) as exited:
        cli.serve(port=0, health_port=0, cluster=cluster)
    assert exited.value.exit_code == 2
    assert (cluster.starts, cluster.stops) == (1, [False])


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def sigterm_to_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the handler raises Interrupted in here
        time.sleep(0.01)


def test_a_signal_while_the_cluster_starts_aborts_the_start_and_stops_it() -> None:
    cluster = Recorded(sigterm_to_self)
    previous = signal.getsignal(signal.SIGTERM)
    handler = Kept()
    logging.getLogger("container_maker.cli").addHandler(handler)
    try:
        cli.serve(port=0, health_port=0, cluster=cluster)  # returns: an interrupted start
    finally:
        logging.getLogger("container_maker.cli").removeHandler(handler)
    assert (cluster.starts, cluster.stops) == (1, [False])  # one signal: with grace
    assert [r.getMessage() for r in handler.records] == ["interrupted while starting"]
    assert signal.getsignal(signal.SIGTERM) == previous  # serve's handlers are gone


def test_a_command_with_the_options_of_serve_but_those_left_out() -> None:
    received: list[dict[str, Any]] = []

    def run(**options: Any) -> None:
        """Record the options."""
        received.append(options)

    app = typer.Typer(add_completion=False)
    app.command("serve")(cli.serve_command(run, without=("kubeconfig",)))
    served = get_command(cli.app).commands["serve"]  # type: ignore[attr-defined]
    names = {p.name for p in served.params}
    assert "cluster" not in names and "kubeconfig" in names and "grace_period" in names
    assert {p.name for p in get_command(app).params} == names - {"kubeconfig"}

    result = CliRunner().invoke(
        app, ["--port=0", "--no-reflection", "--grace-period=3", "--ingress-class=nginx"]
    )
    assert result.exit_code == 0, result.output
    (options,) = received
    # The plugins' settings are options too, handed over apart: only the values given.
    derived = {p.name for p in cli.plugin_options()}
    assert {"ingress_domain", "ingress_class", "status_image", "status_report_validity"} <= derived
    assert derived <= names
    assert set(options) == names - {"kubeconfig"} - derived | {"plugin_settings"}
    assert options["plugin_settings"] == {"ingress_class": "nginx"}
    assert (options["port"], options["reflection"], options["grace_period"]) == (0, False, 3)
    refused = CliRunner().invoke(app, ["--kubeconfig=x"])
    assert refused.exit_code == 2 and "No such option" in refused.output, refused.output


def test_only_options_serve_has_can_be_left_out() -> None:
    with pytest.raises(ValueError, match="serve has no options"):
        cli.serve_command(cli.serve, without=("kube_config",))
