"""LayeredCache degraded mode (a cache that raises CacheUnavailable) and msgspec values."""

from __future__ import annotations

import logging

import msgspec
import pytest

from creatorflow.adapters.cache import MemoryCache
from creatorflow.caching import CacheHealth, Codec, open_layered_cache
from creatorflow.config import CacheConfig
from creatorflow.errors import CacheUnavailable

pytestmark = pytest.mark.anyio


class FlakyCache(MemoryCache):
    """A memory cache that raises CacheUnavailable on every call while ``down``."""

    def __init__(self) -> None:
        super().__init__(100)
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise CacheUnavailable("flaky: connection refused")

    async def get(self, key: str) -> bytes | None:
        self._check()
        return await super().get(key)

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self._check()
        await super().set(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        self._check()
        await super().delete(key)

    async def ping(self) -> None:
        self._check()


class Product(msgspec.Struct, frozen=True):
    sku: str
    price_minor: int
    tags: list[str] = []


async def test_unavailable_cache_is_a_miss_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    flaky = FlakyCache()
    calls = 0

    async def loader() -> bytes:
        nonlocal calls
        calls += 1
        return b"fresh"

    async with open_layered_cache(flaky, CacheConfig()) as layered:
        assert layered.health() == CacheHealth(status="ok", last_error=None, errors=0)
        flaky.down = True
        with caplog.at_level(logging.WARNING, logger="creatorflow.cache"):
            assert await layered.get_or_load("product", "p", loader) == b"fresh"
            assert await layered.get_or_load("product", "p", loader) == b"fresh"
        assert calls == 2  # nothing could be cached
        await layered.put("session", "s", b"x")
        await layered.invalidate("session", "s")
        assert await layered.get("session", "s") is None
        stats = layered.statistics()
        assert (stats.errors, stats.hits, stats.misses) == (7, 0, 0)  # 2x(get+set) + put/del/get
        health = layered.health()
        assert health.status == "degraded"
        assert health.last_error == "flaky: connection refused"
        assert len([r for r in caplog.records if "unavailable" in r.message]) == 1

        # Still degraded while the probe fails; ok again once it answers.
        assert (await layered.probe()).status == "degraded"
        flaky.down = False
        assert layered.health().status == "degraded"  # only a probe clears it
        assert await layered.probe() == CacheHealth(status="ok", last_error=None, errors=8)
        assert await layered.get_or_load("product", "p", loader) == b"fresh"
        assert await layered.get_or_load("product", "p", loader) == b"fresh"
        assert calls == 3  # cached again


def test_codec_round_trip() -> None:
    codec = Codec(Product)
    value = Product(sku="SKU-1", price_minor=1999, tags=["viral"])
    data = codec.encode(value)
    assert isinstance(data, bytes)
    assert codec.decode(data) == value
    with pytest.raises(msgspec.DecodeError):
        codec.decode(b"\xc1")
    assert Codec(list[int]).decode(Codec(list[int]).encode([1, 2])) == [1, 2]


async def test_get_or_load_as_caches_typed_values() -> None:
    codec = Codec(Product)
    calls = 0

    async def loader() -> Product:
        nonlocal calls
        calls += 1
        return Product(sku="SKU-1", price_minor=500)

    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        first = await layered.get_or_load_as("product", "SKU-1", loader, codec)
        second = await layered.get_or_load_as("product", "SKU-1", loader, codec)
        assert first == second == Product(sku="SKU-1", price_minor=500)
        assert calls == 1
        assert codec.decode(await layered.get("product", "SKU-1") or b"") == first


async def test_a_value_of_an_old_schema_is_reloaded() -> None:
    async def loader() -> Product:
        return Product(sku="SKU-2", price_minor=7)

    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        await layered.put("product", "SKU-2", msgspec.msgpack.encode({"sku": 2}))
        got = await layered.get_or_load_as("product", "SKU-2", loader, Codec(Product))
        assert got == Product(sku="SKU-2", price_minor=7)
        assert layered.statistics().decode_errors == 1
        cached = await layered.get("product", "SKU-2")
        assert cached is not None
        assert Codec(Product).decode(cached) == got
