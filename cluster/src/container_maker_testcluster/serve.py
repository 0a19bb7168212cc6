"""``python -m container_maker_testcluster serve``: Container Maker's API on a cluster of its own.

This is how a newcomer gets a working API with one command (``./dev serve``). The test cluster
sits above the product: this module calls ``container_maker.cli.serve`` with every option of
``container-maker serve`` but ``--kubeconfig`` (the command is built by
``container_maker.cli.serve_command``, so the options are defined once, in core) and with a
:class:`LocalServedCluster`, which serve starts before it serves and stops when it stops, with
its signal handlers in force throughout. The product never imports this distribution.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from container_maker import cli
from container_maker.api.kubeconfig import KubeTarget
from container_maker.settings import LOCAL_INGRESS_DOMAIN
from container_maker_testcluster.cluster import LocalCluster

log = logging.getLogger("container_maker_testcluster.serve")


class LocalServedCluster:
    """A fresh test cluster (one simulated node, a run directory of its own) for
    ``container_maker.cli.serve``: a :class:`container_maker.cli.ServedCluster`."""

    def __init__(self) -> None:
        self.cluster: LocalCluster | None = None

    def start(self) -> KubeTarget:
        # Made here, not in __init__: it creates its run directory, which only stop() removes,
        # and serve calls stop() only once start() was called.
        self.cluster = LocalCluster(nodes=1, log=log.info)
        log.info("starting the local test cluster (the first run builds it: see README.md)")
        self.cluster.start()
        bin_dir = self.cluster.binaries.bin_dir if self.cluster.binaries else ""
        print(
            f"Local cluster ready. kubectl: KUBECONFIG={self.cluster.kubeconfig} "
            f"{bin_dir}/kubectl get pods -A",
            file=sys.stderr,
            flush=True,
        )
        return KubeTarget(self.cluster.api_client(), "local test cluster", self.cluster.server)

    def stop(self, *, now: bool) -> None:
        if self.cluster is None:  # interrupted before the cluster existed: nothing to stop
            return
        log.info("stopping the local cluster", extra={"without_grace": now})
        self.cluster.stop(now=now)
        log.info("local cluster stopped")


def local_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options of ``container-maker serve`` as this command serves with them: the sandbox
    domain :data:`~container_maker.settings.LOCAL_INGRESS_DOMAIN` unless a domain is given (by
    flag or ``CONTAINER_MAKER_INGRESS_DOMAIN``; an empty one is none), so that EXPOSED works on
    the local cluster (whose Ingress addresses are simulated); and reflection, for grpcurl,
    unless ``--no-reflection`` (or ``CONTAINER_MAKER_REFLECTION``) says otherwise."""
    local = dict(options)
    # The ingress plugin's setting, among the plugins' (serve_command passes them apart).
    plugin_settings = dict(local.get("plugin_settings") or {})
    if not plugin_settings.get("ingress_domain"):
        plugin_settings["ingress_domain"] = LOCAL_INGRESS_DOMAIN
    local["plugin_settings"] = plugin_settings
    if local.get("reflection") is None:
        local["reflection"] = True
    return local


def serve(**options: Any) -> None:
    """Serve Container Maker's gRPC API on a fresh local test cluster until SIGTERM or Ctrl-C.

    The cluster (a real control plane on loopback, one simulated node) starts first, the first
    run building it, and lives as long as the server. The options are those of
    container-maker serve but --kubeconfig, with two defaults of their own: the sandbox domain
    containers.localhost, so that EXPOSED works, and reflection on (it listens on loopback;
    --no-reflection turns it off).

    The first SIGTERM or SIGINT stops gracefully: health turns NOT_SERVING and calls in flight
    get --grace-period seconds to finish. A second one stops now: the calls left are cancelled
    and the local cluster is stopped without waiting for its components (it is always
    stopped). A signal while starting aborts the start and stops what was started.
    """
    cli.serve(**local_options(options), cluster=LocalServedCluster())


command = cli.serve_command(serve, without=("kubeconfig",))
"""The ``serve`` command of :mod:`container_maker_testcluster.cli`."""
