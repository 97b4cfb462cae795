"""MemoryCache: the LRU bound, TTL on the fake clock, statistics."""

from __future__ import annotations

import pytest

from creatorflow.adapters.cache import MemoryCache, MemoryCacheStats
from creatorflow.runtime.testing import FakeClock

pytestmark = pytest.mark.anyio


async def test_least_recently_set_is_evicted_at_the_bound() -> None:
    cache = MemoryCache(3, clock=FakeClock())
    for key in "abcd":
        await cache.set(key, key.encode(), ttl_s=60)
    assert len(cache) == 3
    assert await cache.get("a") is None
    assert [await cache.get(k) for k in "bcd"] == [b"b", b"c", b"d"]
    assert cache.statistics().evictions == 1


async def test_a_read_makes_an_entry_recent() -> None:
    cache = MemoryCache(2, clock=FakeClock())
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    assert await cache.get("a") == b"1"  # now b is the least recently used
    await cache.set("c", b"3", ttl_s=60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"
    assert await cache.get("c") == b"3"


async def test_overwrite_does_not_grow_or_evict() -> None:
    cache = MemoryCache(2, clock=FakeClock())
    await cache.set("a", b"1", ttl_s=60)
    await cache.set("b", b"2", ttl_s=60)
    for _ in range(10):
        await cache.set("a", b"x", ttl_s=60)
    assert len(cache) == 2
    assert cache.statistics().evictions == 0
    assert await cache.get("b") == b"2"


async def test_many_keys_stay_within_the_bound() -> None:
    cache = MemoryCache(50, clock=FakeClock())
    for i in range(1000):
        await cache.set(f"k{i}", b"v", ttl_s=60)
        assert len(cache) <= 50
    assert cache.statistics() == MemoryCacheStats(
        entries=50, max_entries=50, evictions=950, expirations=0
    )


async def test_ttl_boundary_on_the_fake_clock() -> None:
    clock = FakeClock(start=1000.0)
    cache = MemoryCache(10, clock=clock)
    await cache.set("k", b"v", ttl_s=300)
    clock.advance(299.999)
    assert await cache.get("k") == b"v"
    clock.advance(0.001)
    assert await cache.get("k") is None
    assert len(cache) == 0  # dropped on read
    assert cache.statistics().expirations == 1


async def test_expired_entries_leave_through_lru_eviction_too() -> None:
    clock = FakeClock()
    cache = MemoryCache(2, clock=clock)
    await cache.set("old", b"1", ttl_s=1)
    clock.advance(5)
    await cache.set("a", b"2", ttl_s=60)
    await cache.set("b", b"3", ttl_s=60)
    assert len(cache) == 2
    assert await cache.get("old") is None


async def test_clear_and_ping() -> None:
    cache = MemoryCache(2)
    await cache.set("a", b"1", ttl_s=60)
    await cache.ping()
    cache.clear()
    assert len(cache) == 0
    assert "entries=0" in repr(cache)


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(0)
