"""The cache port's contract, run against every implementation: memory and Redis.

To add an implementation, append a ``pytest.param(factory, id=...)`` to ``FACTORIES``: a factory
takes the fixture request and returns an async context manager yielding a :class:`Harness`.
Time is driven, never waited for: memory expiry runs on a fake clock; on Redis, letting time pass
shortens the TTL of every key of the test on the server by as much (and deletes a key whose TTL
runs out, as Redis expiry would). Every Redis test uses its own random key prefix and deletes its
keys afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from backends import pair_with_backends
from creatorflow.adapters.cache import MemoryCache, open_redis_cache
from creatorflow.ports import Cache
from creatorflow.runtime.testing import FakeClock

pytestmark = pytest.mark.anyio

# Far longer than a local round trip: only elapse() runs it out, never real time.
SHORT_TTL_S = 5.0


@dataclass
class Harness:
    cache: Cache
    elapse: Callable[[float], Awaitable[None]]
    open_peer: Callable[[], AbstractAsyncContextManager[Cache]]
    """Another cache on the same backend in a separate namespace (Redis: another prefix)."""


HarnessFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Harness]]


@asynccontextmanager
async def _memory(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    clock = FakeClock()

    async def elapse(seconds: float) -> None:
        clock.advance(seconds)

    @asynccontextmanager
    async def open_peer() -> AsyncIterator[Cache]:
        yield MemoryCache(100, clock=clock)

    yield Harness(MemoryCache(100, clock=clock), elapse, open_peer)


@asynccontextmanager
async def _redis(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    url: str = request.getfixturevalue("redis_url")
    prefixes: list[str] = []
    raw = aioredis.Redis.from_url(url)

    async def elapse(seconds: float) -> None:
        """Time passes for this test's keys: each TTL shrinks by ``seconds``; a key whose TTL
        runs out is deleted (what Redis expiry does); a key without a TTL stays."""
        passed_ms = round(seconds * 1000)
        for prefix in prefixes:
            async for key in raw.scan_iter(match=f"{prefix}*"):
                left_ms = await raw.pttl(key)
                if left_ms < 0:  # -1: no TTL, -2: gone already
                    continue
                if left_ms <= passed_ms:
                    await raw.delete(key)
                else:
                    await raw.pexpire(key, left_ms - passed_ms)

    def fresh_prefix() -> str:
        prefixes.append(f"creatorflow-test:{uuid.uuid4().hex}:")
        return prefixes[-1]

    @asynccontextmanager
    async def open_peer() -> AsyncIterator[Cache]:
        async with open_redis_cache(url, prefix=fresh_prefix()) as peer:
            yield peer

    try:
        async with open_redis_cache(url, prefix=fresh_prefix()) as cache:
            yield Harness(cache, elapse, open_peer)
    finally:
        try:
            for prefix in prefixes:
                keys = [key async for key in raw.scan_iter(match=f"{prefix}*")]
                if keys:
                    await raw.delete(*keys)
        finally:
            await raw.aclose()


FACTORIES = [
    pytest.param(_memory, id="memory"),
    pytest.param(_redis, id="redis", marks=pytest.mark.asyncio_only),  # redis-py: asyncio only
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # (backend, implementation) pairs: no trio copy of Redis. A test module's hook runs before
    # pytest's own parametrization, as pair_with_backends needs.
    pair_with_backends(metafunc, "harness", FACTORIES)


@pytest.fixture
async def harness(request: pytest.FixtureRequest, anyio_backend: Any) -> AsyncIterator[Harness]:
    factory: HarnessFactory = request.param
    async with factory(request) as opened:
        yield opened


async def test_missing_key_is_none(harness: Harness) -> None:
    assert await harness.cache.get("nope") is None


@pytest.mark.parametrize(
    "value", [b"", b"v", b"\x00\xff\x00binary", bytes(range(256)) * 400], ids=len
)
async def test_bytes_round_trip(harness: Harness, value: bytes) -> None:
    await harness.cache.set("k", value, ttl_s=60)
    got = await harness.cache.get("k")
    assert got == value
    assert type(got) is bytes


async def test_keys_may_hold_any_text(harness: Harness) -> None:
    keys = ["a:b:c", "with space", "ünïcødé", "*?[glob]"]
    for i, key in enumerate(keys):
        await harness.cache.set(key, str(i).encode(), ttl_s=60)
    assert [await harness.cache.get(key) for key in keys] == [b"0", b"1", b"2", b"3"]


async def test_set_overwrites(harness: Harness) -> None:
    await harness.cache.set("k", b"one", ttl_s=60)
    await harness.cache.set("k", b"two", ttl_s=60)
    assert await harness.cache.get("k") == b"two"


async def test_delete(harness: Harness) -> None:
    await harness.cache.set("k", b"v", ttl_s=60)
    await harness.cache.set("other", b"w", ttl_s=60)
    await harness.cache.delete("k")
    assert await harness.cache.get("k") is None
    assert await harness.cache.get("other") == b"w"
    await harness.cache.delete("k")  # absent: no-op
    await harness.cache.delete("never-set")


async def test_entry_expires_after_its_ttl(harness: Harness) -> None:
    await harness.cache.set("short", b"v", ttl_s=SHORT_TTL_S)
    await harness.cache.set("long", b"w", ttl_s=60)
    assert await harness.cache.get("short") == b"v"
    await harness.elapse(SHORT_TTL_S)
    assert await harness.cache.get("short") is None, "the entry outlived its TTL"
    assert await harness.cache.get("long") == b"w"


async def test_overwrite_renews_the_ttl(harness: Harness) -> None:
    await harness.cache.set("k", b"old", ttl_s=SHORT_TTL_S)
    await harness.cache.set("k", b"new", ttl_s=60)
    await harness.elapse(SHORT_TTL_S * 2)
    assert await harness.cache.get("k") == b"new"


@pytest.mark.parametrize("ttl_s", [0, -1.0])
async def test_ttl_must_be_positive(harness: Harness, ttl_s: float) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await harness.cache.set("k", b"v", ttl_s=ttl_s)
    assert await harness.cache.get("k") is None


async def test_namespaces_are_isolated(harness: Harness) -> None:
    async with harness.open_peer() as peer:
        await harness.cache.set("shared", b"mine", ttl_s=60)
        await peer.set("shared", b"theirs", ttl_s=60)
        assert await harness.cache.get("shared") == b"mine"
        assert await peer.get("shared") == b"theirs"
        await peer.delete("shared")
        assert await harness.cache.get("shared") == b"mine"


async def test_ping(harness: Harness) -> None:
    await harness.cache.ping()


# --------------------------------------------------------------------------- Redis specifics


@pytest.mark.asyncio_only
async def test_redis_sets_ttl_with_px_and_prefix(redis_url: str) -> None:
    prefix = f"creatorflow-test:{uuid.uuid4().hex}:"
    raw = aioredis.Redis.from_url(redis_url)
    try:
        async with open_redis_cache(redis_url, prefix=prefix) as cache:
            await cache.set("k", b"v", ttl_s=30)
            await cache.set("tiny", b"v", ttl_s=0.0001)  # rounds up to 1 ms, never "no TTL"
            assert await raw.get(prefix + "k") == b"v"
            assert 29_000 < await raw.pttl(prefix + "k") <= 30_000
            assert await raw.pttl(prefix + "tiny") in (-2, 0, 1)  # gone or about to be
    finally:
        await raw.delete(prefix + "k", prefix + "tiny")
        await raw.aclose()
