"""The server factory and its lifecycle.

:func:`create_server` builds a gRPC server with the Container Maker servicer, the standard
health service (``grpc.health.v1``), server reflection when asked (so grpcurl and other tools
need no ``.proto``) and the API interceptor that authenticates callers, bound to an address
(port 0 picks a free port). It refuses to serve beyond loopback without TLS or without an
authenticator unless told so (:func:`~.authentication.check_exposure`). The
returned :class:`ApiServer` is started by the caller; :meth:`ApiServer.serve_until_signalled`
runs it until SIGTERM or SIGINT, then marks health NOT_SERVING and stops with a grace period
during which calls in flight may finish; a second signal cancels them at once.

Health is also served by a second, small gRPC server on a port of its own (``health_port``,
plaintext, the same host), with threads of its own and the same health state: however many
slow calls fill the API's threads and queue, the kubelet's probes are answered at once there.
It answers ``Check`` only (the probes' method): a ``Watch`` stream never ends, and there is
nothing on that port that should pile up. It starts and stops with the API's server.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as grpc_reflection

from container_maker._proto import service_pb2_grpc
from container_maker.errors import InvalidConfiguration
from container_maker.manager import ContainerManager
from container_maker.watch import WatchHub

from .authentication import (
    SERVICE_NAME,
    CallAuthenticator,
    check_authenticators,
    check_exposure,
    split_host,
)
from .interceptor import ApiInterceptor
from .logs import install_request_ids
from .servicer import ContainerMakerServicer
from .signals import StopSignals

log = logging.getLogger(__name__)
_P = ParamSpec("_P")
_T = TypeVar("_T")

__all__ = ["SERVICE_NAME", "ApiServer", "TlsConfig", "create_server"]
DEFAULT_PORT = 50052
# Each open watchContainers stream holds a thread for as long as it is open; threads are cheap
# while they wait, so the default leaves room for a few dozen watchers.
DEFAULT_THREADS = 32
# Threads that watch streams may never take, so unary calls are still served (at most half).
UNARY_RESERVE = 4
DEFAULT_GRACE_SECONDS = 20.0
# gRPC's maximum_concurrent_rpcs counts every call from its arrival to its end: those running
# on a thread, open watch streams (at most threads - UNARY_RESERVE) and those waiting in the
# pool's queue, which nothing else bounds. Calls wait there for a free thread; past this many
# calls per thread gRPC refuses new ones at once with RESOURCE_EXHAUSTED, before reading
# them, rather than queueing work that the threads would not reach within a client's
# deadline (a create may hold its thread for minutes). It is a bound on the queue, not a
# second thread count: a burst of quick calls a few times the threads still waits its turn.
CALLS_PER_THREAD = 4
# The health server: Check answers from memory, so two threads are plenty; its own bound
# keeps a flood of Checks from queueing without end.
HEALTH_THREADS = 2
HEALTH_MAX_CALLS = 64
# Far above any legitimate request (a spec with many ports and variables is a few KiB); larger
# messages are refused by gRPC itself with RESOURCE_EXHAUSTED.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class TlsConfig:
    """Server TLS from PEM files; with ``client_ca`` clients must present a certificate that
    it signed (mutual TLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        try:
            pair = (self.key.read_bytes(), self.cert.read_bytes())
            ca = self.client_ca.read_bytes() if self.client_ca else None
        except OSError as e:
            raise InvalidConfiguration(f"TLS files: {e}") from e
        return grpc.ssl_server_credentials(
            [pair], root_certificates=ca, require_client_auth=ca is not None
        )


class CallPool(futures.ThreadPoolExecutor):
    """The server's threads, counting the calls whose handlers are running.

    gRPC cancels the calls left at the end of the grace period, but a handler learns of that
    only if it asks (a ``wait_until_ready`` create polls until its own deadline); its thread
    would keep the process from exiting until then. :attr:`busy` tells the command so;
    :attr:`waiting` counts the calls queued for a free thread.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="grpc-call")
        self._busy = 0
        self._waiting = 0
        self._busy_lock = threading.Lock()

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> futures.Future[_T]:
        def counted() -> _T:
            with self._busy_lock:
                self._waiting -= 1
                self._busy += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._busy_lock:
                    self._busy -= 1

        with self._busy_lock:
            self._waiting += 1
        try:
            return super().submit(counted)
        except BaseException:
            with self._busy_lock:
                self._waiting -= 1  # refused (the pool shut down): it never waits
            raise

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def waiting(self) -> int:
        return self._waiting


class ApiServer:
    """A created server: start it, stop it, or serve until a signal (see the module)."""

    def __init__(
        self,
        server: grpc.Server,
        health_servicer: health.HealthServicer,
        hub: WatchHub,
        pool: CallPool | None = None,
        *,
        health_server: grpc.Server | None = None,
        health_port: int = 0,
    ) -> None:
        self.grpc_server = server
        self.health = health_servicer
        self.hub = hub
        self.pool = pool
        self.health_server = health_server
        self.health_port = health_port  # of the health server (0 without one)

    @property
    def handlers_running(self) -> int:
        """Calls whose handlers still run (after a stop: cancelled calls that did not notice)."""
        return self.pool.busy if self.pool else 0

    def start(self) -> None:
        self.grpc_server.start()
        if self.health_server is not None:
            self.health_server.start()
        for service in ("", SERVICE_NAME):
            self.health.set(service, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = DEFAULT_GRACE_SECONDS) -> None:
        """Mark every service NOT_SERVING, refuse new calls, let calls in flight finish for up
        to ``grace`` seconds, then cancel what is left; returns once stopped."""
        self._begin_stop()
        self.grpc_server.stop(grace).wait()
        self._stop_health()

    def _stop_health(self) -> None:
        # Last: the probes see NOT_SERVING for the whole grace period.
        if self.health_server is not None:
            self.health_server.stop(0).wait()

    def _begin_stop(self) -> None:
        self.health.enter_graceful_shutdown()
        # Watch streams never finish by themselves: end them so that the grace period is not
        # spent waiting for them.
        self.hub.stop()

    def serve_until_signalled(
        self, grace: float = DEFAULT_GRACE_SECONDS, signals: StopSignals | None = None
    ) -> list[signal.Signals]:
        """Serve until SIGTERM or SIGINT, then stop with ``grace``; returns the signals seen.

        A second signal while calls in flight still have grace skips what is left of it: the
        calls are cancelled at once. ``signals`` are the caller's (it may want to see signals
        that come after, while it cleans up); by default the method installs its own. Must run
        in the main thread (see :mod:`container_maker.api.signals` for how, and why without a
        lock in the handler).
        """
        if signals is None:
            with StopSignals() as own:
                return self.serve_until_signalled(grace, own)
        signals.wait(1)
        first = signals.received()[0]
        log.info("shutting down", extra={"signal": first.name, "grace_seconds": grace})
        self._begin_stop()
        stopped = self.grpc_server.stop(grace)
        # Wait for the end of the grace period or a second signal, whichever comes first; the
        # short slices bound how late the end of the grace period is noticed.
        while not stopped.is_set():
            if signals.wait(2, timeout=0.1):
                second = signals.received()[1]
                log.warning(
                    "second signal: cancelling the calls in flight now",
                    extra={"signal": second.name},
                )
                self.grpc_server.stop(0).wait()
                break
        self._stop_health()
        log.info("stopped")
        return signals.received()


def max_watches(threads: int) -> int:
    """How many watch streams a server with ``threads`` threads accepts at once."""
    return threads - min(UNARY_RESERVE, threads // 2)


def _health_server(health_servicer: health.HealthServicer, address: str) -> tuple[grpc.Server, int]:
    """The small server of ``Check`` alone on ``address`` (see the module), and its port."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=HEALTH_THREADS, thread_name_prefix="grpc-health"),
        options=[("grpc.so_reuseport", 0)],
        maximum_concurrent_rpcs=HEALTH_MAX_CALLS,
    )
    check = grpc.unary_unary_rpc_method_handler(
        health_servicer.Check,
        request_deserializer=health_pb2.HealthCheckRequest.FromString,
        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(health.SERVICE_NAME, {"Check": check}),)
    )
    return server, _listen(server, address, None, "health (--health-port)")


def _listen(server: grpc.Server, address: str, tls: TlsConfig | None, what: str) -> int:
    try:
        if tls is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, tls.credentials())
    except RuntimeError as e:
        raise InvalidConfiguration(f"cannot listen on {address} for {what}: {e}") from e
    if port == 0:
        raise InvalidConfiguration(
            f"cannot listen on {address} for {what} (in use or not a local address)"
        )
    return port


def create_server(
    address: str,
    manager: ContainerManager,
    *,
    threads: int = DEFAULT_THREADS,
    tls: TlsConfig | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    health_port: int | None = None,
    max_concurrent_rpcs: int | None = None,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    reflection: bool | None = None,
    insecure_plaintext_on_network: bool = False,
    insecure_anonymous_on_network: bool = False,
) -> tuple[ApiServer, int]:
    """A server for ``manager`` bound to ``address`` ("host:port"; port 0 picks a free one).

    Returns the (not yet started) server and the port it is bound to. ``threads`` bounds the
    calls handled at once (watch streams may take all but :data:`UNARY_RESERVE` of them);
    ``max_concurrent_rpcs`` the calls accepted at once, waiting ones included (default
    :data:`CALLS_PER_THREAD` per thread); ``tls`` enables TLS (mutual with a client CA);
    requests larger than ``max_message_bytes`` are refused with RESOURCE_EXHAUSTED. Health is
    served on ``health_port`` as well, on the same host (default: the settings'; 0: a free
    port; :attr:`ApiServer.health_port` says which). ``interceptors`` come after the API's own
    (nearer the servicer). ``reflection`` (default: ``settings.reflection``) serves gRPC
    reflection. Callers are authenticated by the authenticators of
    ``settings.authenticators``; without any, calls are anonymous, which is refused beyond
    loopback unless ``insecure_anonymous_on_network`` (and plaintext beyond loopback unless
    ``insecure_plaintext_on_network``): InvalidConfiguration.
    """
    settings = manager.settings
    check_authenticators(
        manager.hooks, settings, client_ca=tls is not None and tls.client_ca is not None
    )
    authenticator = CallAuthenticator(manager)
    check_exposure(
        split_host(address),
        tls=tls is not None,
        authenticated=not authenticator.anonymous,
        insecure_plaintext_on_network=insecure_plaintext_on_network,
        insecure_anonymous_on_network=insecure_anonymous_on_network,
    )
    install_request_ids()
    pool = CallPool(threads)
    server = grpc.server(
        pool,
        interceptors=[ApiInterceptor(authenticator), *interceptors],
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),  # a busy port is an error, not a shared one
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs or CALLS_PER_THREAD * threads,
    )
    hub = WatchHub(manager)
    service_pb2_grpc.add_ContainerMakerAPIServicer_to_server(
        ContainerMakerServicer(manager, hub, max_watches=max_watches(threads)), server
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    if settings.reflection if reflection is None else reflection:
        grpc_reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, grpc_reflection.SERVICE_NAME), server
        )
    port = _listen(server, address, tls, "the API (--host, --port)")
    host = address.rpartition(":")[0]
    if health_port is None:
        health_port = manager.settings.health_port
    try:
        health_server, bound_health = _health_server(health_servicer, f"{host}:{health_port}")
    except InvalidConfiguration:
        server.stop(0)  # free the API's port at once
        raise
    api_server = ApiServer(
        server, health_servicer, hub, pool, health_server=health_server, health_port=bound_health
    )
    return api_server, port
