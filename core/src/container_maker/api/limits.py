"""The API's limits per caller: creates per second per tenant, open watch streams per caller.

Both are keyed by the authenticated caller of the call
(:func:`container_maker.api.callers.current_caller`), and both keep memory only for keys that
are in use, so that many tenants or callers cannot grow the server:

- :class:`CreateRate` is a token bucket per tenant: ``burst`` creates at once, then ``rate``
  per second. A bucket left alone for ``burst / rate`` seconds is full again, which is what a
  tenant without a bucket gets, so such buckets are dropped (at most ``max_tenants`` are kept
  even then; dropping an older bucket early only gives its tenant a fresh burst).
- :class:`CallerSlots` counts what each caller holds open (watchContainers streams); a caller
  that holds nothing has no entry.

Both are pure (the clock is injected) and thread-safe; the servicer turns a refusal into
RESOURCE_EXHAUSTED naming the limit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from container_maker.auth import Identity

PUSHBACK_KEY = "grpc-retry-pushback-ms"
"""Trailing metadata of a rate-limited call: milliseconds to wait before retrying (gRPC's
retry design, honoured by clients whose channel has a retry policy)."""

DEFAULT_MAX_TENANTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class CreateRate:
    """A token bucket per tenant (see the module). ``rate`` 0 means no limit."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tenants: int = DEFAULT_MAX_TENANTS,
    ) -> None:
        if rate < 0 or burst < 1 or max_tenants < 1:
            raise ValueError("rate must be >= 0, burst and max_tenants >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_tenants = max_tenants
        # Least recently updated first: a full (idle) bucket can only sit at the front.
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, tenant: str) -> float:
        """Take one create from ``tenant``'s bucket: 0.0 when allowed, else the seconds until
        one is available (nothing is taken then)."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            self._forget_idle(now)
            bucket = self._buckets.pop(tenant, None)
            if bucket is None:
                bucket = _Bucket(float(self.burst), now)
            else:
                refilled = bucket.tokens + (now - bucket.updated) * self.rate
                bucket = _Bucket(min(float(self.burst), refilled), now)
            wait = 0.0
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
            else:
                wait = (1.0 - bucket.tokens) / self.rate
            self._buckets[tenant] = bucket
            while len(self._buckets) > self._max_tenants:
                self._buckets.popitem(last=False)
            return wait

    def _forget_idle(self, now: float) -> None:
        # A bucket untouched for burst / rate seconds has refilled completely.
        idle = self.burst / self.rate
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.updated < idle:
                break
            self._buckets.popitem(last=False)

    @property
    def tenants(self) -> int:
        """How many buckets are kept (tenants that created within ``burst / rate`` seconds)."""
        with self._lock:
            return len(self._buckets)


class CallerSlots:
    """At most ``limit`` things held open per key at once (``limit`` 0: no limit)."""

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._held: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> bool:
        """Take a slot for ``key``; False (nothing taken) when it holds ``limit`` already."""
        with self._lock:
            held = self._held.get(key, 0)
            if self.limit and held >= self.limit:
                return False
            self._held[key] = held + 1
            return True

    def release(self, key: Hashable) -> None:
        with self._lock:
            held = self._held.get(key, 0) - 1
            if held > 0:
                self._held[key] = held
            else:
                self._held.pop(key, None)

    def held(self, key: Hashable) -> int:
        with self._lock:
            return self._held.get(key, 0)

    @property
    def keys(self) -> int:
        """How many keys hold a slot now."""
        with self._lock:
            return len(self._held)


def watch_key(caller: Identity) -> tuple[str, str]:
    """Who a watch stream counts against: the user as its authenticator named it (the same
    name from two authenticators is two callers)."""
    return (caller.user, caller.method)


def rate_limited_message(tenant: str, rate: float, burst: int, wait: float) -> str:
    return (
        f"createContainer: tenant {tenant!r} is over its limit of {rate:g} creates per second "
        f"(max_creates_per_second, bursts of {burst}); retry in {wait:.1f}s"
    )


def too_many_watches_message(caller: Identity, limit: int) -> str:
    return (
        f"{caller.user} (via {caller.method}) already has {limit} open watchContainers "
        f"streams, its limit (max_watches_per_caller): close one, or watch a whole namespace "
        "with one stream instead of one per container"
    )
