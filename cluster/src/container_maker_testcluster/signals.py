"""SIGTERM and SIGINT for the test cluster's supervisors, with handlers that take no lock.

A Python signal handler runs in the main thread between two bytecodes of whatever that thread
does, including inside another run of the same handler when two signals come at once (a
supervisor signalling the process group while ``uv run`` forwards the same signal; systemd;
``timeout``). A handler that takes a lock can deadlock on the frame beneath it (issue 18), and
Python's own SIGINT handler raises KeyboardInterrupt on every signal, so that a second Ctrl-C
aborts the stop that the first one started, leaving processes, mounts or iptables chains behind.

The handlers here only store plain attributes (no lock, no logging, which locks), and raise at
most once. The supervisors poll those attributes: they poll their processes anyway, so a wakeup
pipe (as ``container-maker serve`` uses) would not answer sooner. ``signal.sigwait`` is not
used: the blocked mask would be inherited by the cluster's components, which must die of the
SIGTERM we send them.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


class Interrupted(KeyboardInterrupt):
    """The first stop signal while :class:`StopSignals` raises: a KeyboardInterrupt, so that
    code (pytest among it) treats a SIGTERM like Ctrl-C."""

    def __init__(self, signum: signal.Signals) -> None:
        super().__init__(signum.name)
        self.signal = signum


class StopSignals:
    """Lock-free handlers for SIGTERM and SIGINT while in force (a context manager).

    ``count`` is the number of signals seen, ``first`` the first; with ``raise_first`` the
    first one raises :class:`Interrupted` in the main thread (once; later ones are only
    counted). Outside the main thread, where Python cannot install handlers, it does nothing.
    A signal that is ignored (``SIG_IGN``: SIGINT of a background job) stays ignored.
    """

    def __init__(
        self, *, raise_first: bool = False, signals: tuple[signal.Signals, ...] = STOP_SIGNALS
    ) -> None:
        self.raise_first = raise_first
        self.signals = signals
        self._arrived: list[int] = []
        self._raised = False
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
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

    @property
    def count(self) -> int:
        return len(self._arrived)

    @property
    def first(self) -> signal.Signals | None:
        return signal.Signals(self._arrived[0]) if self._arrived else None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        # May run nested inside itself. list.append is one C call, which a nested run cannot
        # split (``count += 1`` could lose one); the flag is set before raising, so a nested run
        # sees it and exactly one Interrupted is raised.
        self._arrived.append(signum)
        if self.raise_first and not self._raised:
            self._raised = True
            raise Interrupted(signal.Signals(signum))
