"""Stop signals (SIGTERM, SIGINT) for ``container-maker serve``, with handlers that take no lock.

A Python signal handler runs in the main thread between two bytecodes of whatever that thread is
doing, including inside another run of the same handler when a second signal comes quickly (a
supervisor that signals the process group while ``uv run`` forwards the same signal, systemd,
``timeout``). A handler that takes a lock can then wait for a lock held by the frame beneath it,
forever: the first version of the server set a ``threading.Event`` from its handler and hung so
(issue 18).

So the handlers here do nothing at all (or, while the server is starting, raise once), and the
main thread learns of signals from a pipe given to :func:`signal.set_wakeup_fd`: CPython's
C-level handler, which is async-signal-safe and runs in whichever thread the kernel picked,
writes each signal's number into it, and the main thread waits in ``select`` on the pipe.

Why not the alternatives:

- ``signal.sigwait`` needs the signals blocked in every thread. The mask is inherited by every
  process we start (a :class:`~container_maker.cli.ServedCluster`, such as the test cluster's,
  starts its components, which would then ignore the SIGTERM that stops them), and a thread
  started before the mask was set (gRPC's C-core and other libraries start their own) would
  take the signal with its default action: death without cleanup, the served cluster left
  behind.
- A handler that sets a plain attribute the main thread polls is safe too, but wakes the main
  thread every poll interval and answers a signal only at the next one.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):
    """Raised in the main thread by the first stop signal while :meth:`StopSignals.interrupting`
    is in force (the server is starting); a BaseException so that no ``except Exception``
    swallows it."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signal = signum


class StopSignals:
    """Counts SIGTERM and SIGINT while in force (a context manager, main thread only).

    A signal that is ignored when it is entered (``SIG_IGN``: SIGINT of a background job, say)
    stays ignored.
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> None:
        self.signals = signals
        self._received: list[signal.Signals] = []
        self._previous: dict[signal.Signals, signal._HANDLER] = {}
        self._previous_fd = -1
        self._read_fd = self._write_fd = -1
        self._interrupting = False
        self._interrupted = False

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("stop signals can only be handled in the main thread")
        self._read_fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._previous_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for sig in self.signals:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        signal.set_wakeup_fd(self._previous_fd)
        os.close(self._read_fd)
        os.close(self._write_fd)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # No lock, no allocation that could block, nothing but two attribute reads and a store:
        # this may run nested inside itself or inside any code of the main thread. The signal
        # itself is already in the pipe. Checking and setting the flag before raising means a
        # nested run between the two sees it set, so exactly one Interrupted is raised.
        if self._interrupting and not self._interrupted:
            self._interrupted = True
            raise Interrupted(signal.Signals(signum))

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """While in force, the first signal raises :class:`Interrupted` in the main thread
        (once: later signals are only counted), so that a long start (the local cluster's
        first build takes minutes) can be stopped; the code interrupted cleans up in its
        ``finally`` blocks, which later signals do not interrupt again."""
        self._interrupting = True
        try:
            if self.received():  # a signal that came before: act on it now
                self._interrupted = True
                raise Interrupted(self._received[0])
            yield
        finally:
            self._interrupting = False

    def received(self) -> list[signal.Signals]:
        """The stop signals that arrived so far, in order."""
        while True:
            try:
                data = os.read(self._read_fd, 64)
            except BlockingIOError:
                break
            if not data:
                break
            # Other signals with Python handlers write to the same pipe: keep ours.
            self._received += [signal.Signals(n) for n in data if n in self.signals]
        return list(self._received)

    def wait(self, count: int = 1, timeout: float | None = None) -> bool:
        """Wait until ``count`` signals arrived in all (True) or ``timeout`` passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while len(self.received()) < count:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            # A signal delivered to this thread interrupts select (EINTR), our handler runs,
            # and select is resumed (PEP 475), now finding the byte in the pipe.
            select.select([self._read_fd], [], [], remaining)
        return True
