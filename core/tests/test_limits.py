"""The API's limits per caller, pure: the token bucket per tenant (a hand-driven clock) and the
slots per caller; the settings and variables that configure them."""

from __future__ import annotations

import threading

import pytest

from container_maker.api.limits import CallerSlots, CreateRate, watch_key
from container_maker.auth import LOCAL_IDENTITY, Identity
from container_maker.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    rate = CreateRate(2.0, 3, clock=clock)
    assert [rate.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rate.take("a") == pytest.approx(0.5)  # one token comes every 1 / rate seconds
    clock.now += 0.25
    assert rate.take("a") == pytest.approx(0.25)  # refused calls take nothing
    clock.now += 0.25
    assert rate.take("a") == 0.0
    assert rate.take("a") == pytest.approx(0.5)


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    clock = Clock()
    rate = CreateRate(1.0, 2, clock=clock)
    rate.take("a")
    clock.now += 3600
    assert [rate.take("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_tenants_have_buckets_of_their_own() -> None:
    clock = Clock()
    rate = CreateRate(0.1, 1, clock=clock)
    assert rate.take("a") == 0.0
    assert rate.take("a") == pytest.approx(10.0)
    assert rate.take("b") == 0.0  # a's exhaustion is not b's
    assert rate.take("b") == pytest.approx(10.0)


def test_idle_buckets_are_forgotten_and_nothing_changes_for_their_tenants() -> None:
    clock = Clock()
    rate = CreateRate(1.0, 4, clock=clock)  # full again after 4 s alone
    for tenant in range(1000):
        rate.take(f"t{tenant}")
    assert rate.tenants == 1000
    clock.now += 3.9
    rate.take("new")
    assert rate.tenants == 1001  # none of them is full yet
    clock.now += 0.1
    rate.take("new")
    assert rate.tenants == 1  # all 1000 had refilled: dropped
    # A forgotten tenant starts again from a full bucket, which is what it had.
    assert [rate.take("t0") for _ in range(5)] == [0.0] * 4 + [pytest.approx(1.0)]


def test_at_most_max_tenants_buckets() -> None:
    clock = Clock()
    rate = CreateRate(0.001, 1, clock=clock, max_tenants=10)
    for tenant in range(100):
        rate.take(f"t{tenant}")
    assert rate.tenants == 10


def test_rate_zero_is_no_limit() -> None:
    rate = CreateRate(0.0, 1, clock=Clock())
    assert not rate.enabled
    assert all(rate.take("a") == 0.0 for _ in range(1000))
    assert rate.tenants == 0


def test_bad_rates_are_refused() -> None:
    for rate, burst in ((-1.0, 1), (1.0, 0)):
        with pytest.raises(ValueError):
            CreateRate(rate, burst)


def test_concurrent_takes_never_exceed_the_burst() -> None:
    rate = CreateRate(0.001, 50, clock=Clock())  # no refill while the threads run
    granted: list[bool] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            allowed = rate.take("a") == 0.0
            with lock:
                granted.append(allowed)

    threads = [threading.Thread(target=take) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 50 and len(granted) == 200


def test_slots_per_caller() -> None:
    slots = CallerSlots(2)
    alice = watch_key(Identity(user="alice", tenant="t", method="api-key"))
    bob = watch_key(Identity(user="bob", tenant="t", method="api-key"))
    assert slots.acquire(alice) and slots.acquire(alice)
    assert not slots.acquire(alice)
    assert slots.held(alice) == 2
    assert slots.acquire(bob)
    slots.release(alice)
    assert slots.acquire(alice)
    for _ in range(3):
        slots.release(alice)
    slots.release(bob)
    assert slots.keys == 0  # callers that hold nothing take no memory


def test_slots_limit_zero_is_no_limit() -> None:
    slots = CallerSlots(0)
    assert all(slots.acquire("a") for _ in range(100))


def test_the_same_user_from_two_authenticators_is_two_callers() -> None:
    key = watch_key(Identity(user="local", tenant="local", method="api-key"))
    assert key != watch_key(LOCAL_IDENTITY)


def test_limit_settings_defaults_and_variables() -> None:
    defaults = Settings()
    assert (defaults.max_creates_per_second, defaults.max_create_burst) == (5.0, 20)
    assert defaults.max_watches_per_caller == 8
    assert defaults.watch_queue_size == 4096
    assert defaults.health_port == 50053
    settings = Settings.from_env(
        {
            "CONTAINER_MAKER_MAX_CREATES_PER_SECOND": "0.5",
            "CONTAINER_MAKER_MAX_CREATE_BURST": "3",
            "CONTAINER_MAKER_MAX_WATCHES_PER_CALLER": "0",
            "CONTAINER_MAKER_WATCH_QUEUE_SIZE": "10",
            "CONTAINER_MAKER_HEALTH_PORT": "0",
        }
    )
    assert settings.max_creates_per_second == 0.5
    assert settings.max_create_burst == 3
    assert settings.max_watches_per_caller == 0
    assert settings.watch_queue_size == 10
    assert settings.health_port == 0
    with pytest.raises(ValueError, match="CONTAINER_MAKER_WATCH_QUEUE_SIZE"):
        Settings.from_env({"CONTAINER_MAKER_WATCH_QUEUE_SIZE": "many"})
    for bad in ({"max_creates_per_second": -1}, {"max_creates_per_second": float("inf")},
                {"watch_queue_size": 0}, {"health_port": 70000}):  # fmt: skip
        with pytest.raises(ValueError):
            Settings.model_validate(bad)
