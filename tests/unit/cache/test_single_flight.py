"""LayeredCache single flight: one loader per key, errors to all, cancellation, the bound."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from creatorflow.adapters.cache import MemoryCache
from creatorflow.caching import LayeredCache, open_layered_cache
from creatorflow.config import CacheConfig
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


class GatedLoader:
    """A loader that counts its calls and returns only once ``release`` is set."""

    def __init__(self, value: bytes = b"loaded", error: Exception | None = None) -> None:
        self.value = value
        self.error = error
        self.calls = 0
        self.cancelled = 0
        self.release = anyio.Event()

    async def __call__(self) -> bytes:
        self.calls += 1
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return self.value


async def collect(
    tg: anyio.abc.TaskGroup, results: list[bytes], call: Callable[[], Awaitable[bytes]]
) -> None:
    async def run() -> None:
        results.append(await call())

    tg.start_soon(run)


async def test_concurrent_callers_share_one_load() -> None:
    loader = GatedLoader()
    results: list[bytes] = []
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                await collect(tg, results, lambda: layered.get_or_load("product", "p1", loader))
            await wait_all_tasks_blocked()
            assert loader.calls == 1
            assert layered.statistics().inflight == 1
            loader.release.set()
        assert results == [b"loaded"] * 20
        stats = layered.statistics()
        assert (stats.loads, stats.coalesced, stats.misses, stats.inflight) == (1, 19, 20, 0)
        # Cached now: the next caller does not load.
        assert await layered.get_or_load("product", "p1", loader) == b"loaded"
        assert loader.calls == 1
        assert layered.statistics().hits == 1


async def test_different_keys_and_layers_load_separately() -> None:
    loader = GatedLoader()
    loader.release.set()
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        await layered.get_or_load("product", "x", loader)
        await layered.get_or_load("api", "x", loader)
        await layered.get_or_load("product", "y", loader)
        assert loader.calls == 3


async def test_loader_error_reaches_every_waiter_and_is_not_cached() -> None:
    loader = GatedLoader(error=LookupError("tiktok said no"))
    errors: list[BaseException] = []

    async def call(layered: LayeredCache) -> None:
        try:
            await layered.get_or_load("api", "o1", loader)
        except LookupError as exc:
            errors.append(exc)

    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call, layered)
            await wait_all_tasks_blocked()
            loader.release.set()
        assert len(errors) == 5
        assert all(str(e) == "tiktok said no" for e in errors)
        assert loader.calls == 1
        assert layered.statistics().load_errors == 1
        assert layered.statistics().inflight == 0
        # Not cached: the next call loads again (and fails again).
        with pytest.raises(LookupError):
            await layered.get_or_load("api", "o1", loader)
        assert loader.calls == 2


async def test_cancelling_the_first_caller_does_not_strand_the_others() -> None:
    loader = GatedLoader()
    results: list[bytes] = []
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            with anyio.CancelScope() as first:
                async with anyio.create_task_group() as first_tg:
                    await collect(
                        first_tg, results, lambda: layered.get_or_load("query", "q", loader)
                    )
                    await wait_all_tasks_blocked()
                    for _ in range(3):
                        await collect(
                            tg, results, lambda: layered.get_or_load("query", "q", loader)
                        )
                    await wait_all_tasks_blocked()
                    first.cancel()
            assert first.cancelled_caught
            await wait_all_tasks_blocked()
            assert loader.cancelled == 0  # the shared load goes on for the others
            loader.release.set()
        assert results == [b"loaded"] * 3
        assert loader.calls == 1
        assert await layered.get("query", "q") == b"loaded"


async def test_first_caller_deadline_does_not_fail_the_others() -> None:
    loader = GatedLoader()
    results: list[bytes] = []
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            await collect(tg, results, lambda: layered.get_or_load("query", "q", loader))
            await wait_all_tasks_blocked()
            with anyio.move_on_after(0):  # the caller's own deadline, already past
                await layered.get_or_load("query", "q", loader)
            loader.release.set()
        assert results == [b"loaded"]
        assert loader.calls == 1


async def test_when_every_caller_leaves_the_load_is_cancelled() -> None:
    loader = GatedLoader()
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(layered.get_or_load, "product", "p", loader)
            await wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        await wait_all_tasks_blocked()
        assert loader.cancelled == 1
        assert layered.statistics().inflight == 0
        # A later caller starts a fresh load.
        fresh = GatedLoader(b"fresh")
        fresh.release.set()
        assert await layered.get_or_load("product", "p", fresh) == b"fresh"


async def test_full_inflight_table_loads_without_coalescing() -> None:
    blocker, other = GatedLoader(b"a"), GatedLoader(b"b")
    other.release.set()
    config = CacheConfig(max_inflight_loads=1)
    async with open_layered_cache(MemoryCache(100), config) as layered:
        async with anyio.create_task_group() as tg:
            tg.start_soon(layered.get_or_load, "product", "a", blocker)
            await wait_all_tasks_blocked()
            assert layered.statistics().inflight == 1
            assert await layered.get_or_load("product", "b", other) == b"b"
            assert layered.statistics().uncoalesced == 1
            assert layered.statistics().inflight == 1  # never above the bound
            blocker.release.set()
        assert await layered.get("product", "b") == b"b"  # still cached


async def test_invalidate_during_a_load_keeps_the_old_result_out() -> None:
    loader = GatedLoader(b"old")
    results: list[bytes] = []
    async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
        async with anyio.create_task_group() as tg:
            await collect(tg, results, lambda: layered.get_or_load("product", "p", loader))
            await wait_all_tasks_blocked()
            await layered.invalidate("product", "p")
            loader.release.set()
        assert results == [b"old"]  # the waiter asked before the invalidation
        assert await layered.get("product", "p") is None


async def test_closing_with_a_load_in_flight_lets_waiters_load_themselves() -> None:
    loader = GatedLoader()
    results: list[bytes] = []
    async with anyio.create_task_group() as tg:
        async with open_layered_cache(MemoryCache(100), CacheConfig()) as layered:
            await collect(tg, results, lambda: layered.get_or_load("product", "p", loader))
            await wait_all_tasks_blocked()
        assert loader.cancelled == 1  # the shared load died with the layered cache
        await wait_all_tasks_blocked()
        assert loader.calls == 2  # the waiter now loads in its own task
        loader.release.set()
    assert results == [b"loaded"]
    assert layered.statistics().uncoalesced == 1


async def test_layer_ttls_come_from_config() -> None:
    clock = FakeClock()
    loader = GatedLoader()
    loader.release.set()
    config = CacheConfig(product_ttl_s=300, session_ttl_s=1800)
    async with open_layered_cache(MemoryCache(100, clock=clock), config) as layered:
        assert [layered.ttl_s(layer) for layer in ("product", "api", "query", "session")] == [
            300,
            60,
            60,
            1800,
        ]
        await layered.get_or_load("product", "p", loader)
        await layered.put("session", "s", b"sess")
        clock.advance(299)
        assert await layered.get("product", "p") == b"loaded"
        clock.advance(1)
        assert await layered.get("product", "p") is None
        assert await layered.get("session", "s") == b"sess"
        clock.advance(1500)
        assert await layered.get("session", "s") is None
