"""The two stop-signal helpers (``container_maker.api.signals`` for ``serve``,
``container_maker_testcluster.signals`` for the test cluster) under a second signal delivered
inside the first one's handler (tests/signal_storm.py) and a third during the cleanup that the
first started: exactly one Interrupted is raised (a handler raising on every signal, as
Python's own SIGINT handler does, would abort that cleanup), all are counted, nothing hangs.
No cluster needed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROGRAMS = {
    "serve": """
import json, signal, time
from container_maker.api.signals import Interrupted, StopSignals

def main():
    with StopSignals() as signals, signals.interrupting():
        # The cleanup runs inside interrupting(), as a start's own cleanup does.
        try:
            print("ready", flush=True)
            while True:
                time.sleep(0.01)
        except Interrupted as interrupted:
            signal.raise_signal(signal.SIGTERM)  # a third one, during the cleanup
            signals.wait(3, timeout=10)  # counted, never raised again
            print(json.dumps({"interrupted": interrupted.signal.name,
                              "received": [s.name for s in signals.received()]}), flush=True)
""",
    "testcluster": """
import json, signal, time
from container_maker_testcluster.signals import Interrupted, StopSignals

def main():
    signals = StopSignals(raise_first=True)
    with signals:
        try:
            print("ready", flush=True)
            while True:
                time.sleep(0.01)
        except Interrupted as interrupted:
            signal.raise_signal(signal.SIGTERM)  # a third one, during the cleanup
            end = time.monotonic() + 10
            while signals.count < 3 and time.monotonic() < end:
                time.sleep(0.01)  # counted, never raised again
            print(json.dumps({"interrupted": interrupted.signal.name,
                              "received": ["SIGTERM"] * signals.count}), flush=True)
""",
}


@pytest.mark.parametrize("which", sorted(PROGRAMS))
def test_one_interrupt_for_three_signals(which: str, tmp_path: Path) -> None:
    (tmp_path / "program.py").write_text(PROGRAMS[which])
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "signal_storm.py"), "program:main"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "signal-storm: second SIGTERM inside the handler" in err
    assert json.loads(out) == {"interrupted": "SIGTERM", "received": ["SIGTERM"] * 3}
