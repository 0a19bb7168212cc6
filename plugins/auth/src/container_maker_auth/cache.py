"""A small thread-safe cache whose entries expire, bounded in size (oldest dropped first).

Keys are digests of credentials, never the credentials themselves (see :func:`digest`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def digest(*parts: str) -> str:
    """A SHA-256 over ``parts`` (separated, so that ("ab", "c") and ("a", "bc") differ)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class ExpiringCache(Generic[K, V]):
    """``get``/``put`` with entries living ``ttl`` seconds (None: until cleared) and at most
    ``size`` of them."""

    def __init__(
        self, size: int, ttl: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size = size
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, ttl: float | None = None) -> V | None:
        """The value of ``key`` unless missing or older than ``ttl`` (default: the cache's)."""
        ttl = self._ttl if ttl is None else ttl
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored, value = entry
            if ttl is not None and self._clock() - stored >= ttl:
                del self._entries[key]
                return None
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
