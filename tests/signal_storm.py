"""Run a program so that a second signal arrives inside its signal handler, at the worst moment.

    python tests/signal_storm.py package.module:callable [ARGS...]

calls ``callable()`` with ``sys.argv = [module, *ARGS]`` (a typer app, say), after wrapping every
Python handler that the program installs for SIGTERM or SIGINT. When the first such signal
arrives, the wrapper runs the program's handler under a profiler: the moment a lock's
``acquire``/``__enter__`` returns inside it (the handler now holds a lock), the same signal is
raised again, and Python runs the handler again right there, nested in the first run, as when
two signals come at once. A handler that takes no lock gets its second signal as it returns,
still inside the first run. Lines on stderr say when a handler is installed
(``signal-storm: handler for SIGTERM``) and where the second signal went
(``signal-storm: second SIGTERM ...``), so that a test knows when to send the first signal and
can check that the second was delivered.

A handler that takes a lock deadlocks here every time instead of once in many runs (issue 18).
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_real_signal = signal.signal


class _Storm:
    def __init__(self) -> None:
        self.sent = False
        self.inside = False

    def second(self, signum: int, where: str) -> None:
        if self.sent:
            return
        self.sent = True
        print(
            f"signal-storm: second {signal.Signals(signum).name} {where}",
            file=sys.stderr,
            flush=True,
        )
        # raise_signal handles the signal before it returns (the main thread can): the
        # handler runs again now, nested in the first run.
        signal.raise_signal(signum)

    def wrap(self, handler: Callable[[int, FrameType | None], Any]) -> Any:
        def stormy(signum: int, frame: FrameType | None) -> Any:
            if self.sent or self.inside:
                return handler(signum, frame)
            self.inside = True

            def profile(_frame: FrameType, event: str, arg: Any) -> None:
                if (
                    event == "c_return"
                    and getattr(arg, "__name__", "") in ("acquire", "__enter__")
                    and isinstance(getattr(arg, "__self__", None), LOCK_TYPES)
                ):
                    self.second(signum, "inside the handler, which holds a lock")

            sys.setprofile(profile)
            try:
                return handler(signum, frame)
            finally:
                sys.setprofile(None)
                self.second(signum, "inside the handler, as it returns (it took no lock)")
                self.inside = False

        stormy.storm_wrapped = True  # type: ignore[attr-defined]
        return stormy


def main() -> None:
    target, *args = sys.argv[1:]
    module_name, _, attribute = target.partition(":")
    storm = _Storm()

    def install(sig: int, handler: Any) -> Any:
        if (
            sig in (signal.SIGTERM, signal.SIGINT)
            and callable(handler)
            and not getattr(handler, "storm_wrapped", False)
        ):
            previous = _real_signal(sig, storm.wrap(handler))
            print(f"signal-storm: handler for {signal.Signals(sig).name}", file=sys.stderr)
            return previous
        return _real_signal(sig, handler)

    signal.signal = install  # type: ignore[assignment]
    sys.argv = [module_name, *args]
    program = getattr(importlib.import_module(module_name), attribute)
    program()


if __name__ == "__main__":
    main()
