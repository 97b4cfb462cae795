"""Token bucket pacing on a fake clock, and the bounded per-key holder."""

from __future__ import annotations

import anyio
import pytest

from creatorflow.runtime import KeyedLru, TokenBucket
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


async def advance_until_done(clock: FakeClock, done: anyio.Event) -> None:
    while not done.is_set():
        await wait_all_tasks_blocked()
        if done.is_set() or clock.next_deadline is None:
            break
        clock.advance(clock.next_deadline - clock.now())


@pytest.mark.parametrize(("n", "rate", "burst"), [(20, 5.0, 10), (7, 2.0, 1), (3, 1.0, 5)])
async def test_n_calls_take_n_minus_burst_over_rate(n: int, rate: float, burst: int) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst, clock=clock)
    done = anyio.Event()

    async def calls() -> None:
        for _ in range(n):
            await bucket.acquire()
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(calls)
        await advance_until_done(clock, done)
    assert clock.now() == pytest.approx(max(0, n - burst) / rate)


async def test_concurrent_waiters_get_their_own_slots() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock=clock)
    finished: list[tuple[int, float]] = []

    async def one(i: int) -> None:
        await bucket.acquire()
        finished.append((i, clock.now()))

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(one, i)
        await wait_all_tasks_blocked()
        assert clock.sleepers == 3
        for _ in range(3):
            clock.advance(0.5)
            await wait_all_tasks_blocked()
    assert sorted(t for _, t in finished) == [0.0, 0.5, 1.0, 1.5]


async def test_try_acquire_never_waits_or_books_debt() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 2, clock=clock)
    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.tokens == pytest.approx(0.0)
    assert bucket.wait_s() == pytest.approx(1.0)
    clock.advance(0.5)
    assert not bucket.try_acquire()
    clock.advance(0.5)
    assert bucket.try_acquire()
    clock.advance(100.0)
    assert bucket.tokens == 2.0  # never more than burst


async def test_cancelled_waiter_returns_its_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 1, clock=clock)
    await bucket.acquire()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await bucket.acquire()
    assert bucket.tokens == pytest.approx(0.0)


def test_bucket_validation() -> None:
    for rate, burst in ((0.0, 1), (1.0, 0)):
        with pytest.raises(ValueError, match="token bucket"):
            TokenBucket(rate, burst, clock=FakeClock())
    assert "rate_per_s=1.0" in repr(TokenBucket(1.0, 1, clock=FakeClock()))


def test_keyed_lru_builds_on_demand_and_evicts_the_least_recently_used() -> None:
    evicted: list[str] = []
    holder: KeyedLru[str, list[str]] = KeyedLru(
        2, lambda key: [key], on_evict=lambda k, _: evicted.append(k)
    )
    a = holder.get("a")
    assert holder.get("a") is a
    holder.get("b")
    holder.get("a")  # "b" is now the oldest
    holder.get("c")
    assert evicted == ["b"] and "b" not in holder and len(holder) == 2
    assert holder.peek("b") is None and holder.peek("a") == ["a"]
    assert holder.pop("a") == ["a"] and list(holder) == ["c"]
    cache: KeyedLru[str, int] = KeyedLru(1)
    with pytest.raises(KeyError):
        cache.get("x")
    cache.put("x", 1)
    cache.put("y", 2)
    assert list(cache) == ["y"]
    with pytest.raises(ValueError, match="max_keys"):
        KeyedLru(0)
