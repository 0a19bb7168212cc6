"""Structured logs: one JSON object per line and per event, carrying the call's request id.

The request id lives in a context variable that the API interceptor sets for the duration of a
call; every record logged while handling the call (by the API layer, the manager or a plugin,
in the handling thread) carries it as ``record.request_id`` (see :func:`install_request_ids`).
Fields passed with ``extra={...}`` become keys of the line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

REQUEST_ID: ContextVar[str] = ContextVar("container_maker_request_id", default="")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


_factory_lock = threading.Lock()
_installed = False


def install_request_ids() -> None:
    """Stamp every log record made from now on with ``request_id`` ("" outside calls).

    Done in the record factory rather than in a handler's filter, so that every handler (ours,
    pytest's, an embedding application's) sees the id. Idempotent.
    """
    global _installed
    with _factory_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.request_id = REQUEST_ID.get()
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "event", "request_id", <extra fields>, "exception"}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "") or REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(line, default=str)


def configure_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON lines, at ``level`` and above."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    install_request_ids()
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per refused connection while the Kubernetes API is unreachable is noise: the
    # error reaches the caller (UNAVAILABLE) and the call's own log line.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
