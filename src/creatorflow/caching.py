"""The caching layer callers use: named layers, single-flight loads, degraded mode.

Built on any :class:`~creatorflow.ports.Cache` (memory or Redis) and opened with
:func:`open_layered_cache`. Keys are namespaced per layer (``"product:<key>"``); each layer has
its TTL from config: ``product`` (product data, 300 s), ``api`` (TikTok API responses, 60 s),
``query`` (query results, 60 s), ``session`` (sessions, 1800 s). Values are bytes; :class:`Codec`
encodes a given type with msgspec (MessagePack) and :meth:`LayeredCache.get_or_load_as` uses it.

Single flight: concurrent :meth:`LayeredCache.get_or_load` calls for one key share **one**
loader call. The load runs in a task of the layered cache's own task group, not in the first
caller's task, so cancelling any caller (the first included) never strands the others: each
caller only waits on an event. When the *last* waiting caller is cancelled the load is cancelled
too (nobody wants it). A loader exception reaches every waiter and nothing is cached. The
in-flight table is bounded (``max_inflight_loads`` distinct keys); when it is full, a caller for a
new key loads in its own task without coalescing (counted as ``uncoalesced``): memory stays
bounded and the caller is never refused. If the layered cache closes while a load is in flight,
its waiters load for themselves. ``put``/``invalidate`` detach an in-flight load of the key, so
its (older) result reaches its waiters but is not written over the newer state.

Degraded mode: CacheUnavailable from the port is never raised to callers. A read that fails is
a miss (the loader runs), a write that fails is skipped; both count in ``errors``, and
:meth:`LayeredCache.health` says ``degraded`` with the last error until :meth:`LayeredCache.probe`
(the health supervisor's ping) succeeds. A lookup counts once, as a hit, a miss or an error.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Generic, Literal, Protocol, TypeVar

import anyio
import msgspec
from anyio.abc import TaskGroup

from creatorflow.errors import CacheUnavailable
from creatorflow.ports import Cache

__all__ = [
    "CacheHealth",
    "CacheSettings",
    "CacheStats",
    "Codec",
    "Layer",
    "LayeredCache",
    "open_layered_cache",
]

log = logging.getLogger("creatorflow.cache")

T = TypeVar("T")
Layer = Literal["product", "api", "query", "session"]
Loader = Callable[[], Awaitable[bytes]]

# A caller re-joins at most this many abandoned flights (only at close) before loading itself.
_MAX_JOINS = 3


class CacheSettings(Protocol):
    """What the layered cache reads from config (``config.CacheConfig`` fits)."""

    product_ttl_s: float
    api_ttl_s: float
    query_ttl_s: float
    session_ttl_s: float
    max_inflight_loads: int


class CacheStats(msgspec.Struct, kw_only=True):
    """Counters since start (for ``/metrics``); ``inflight`` is the current table size.

    ``errors``: cache calls that raised CacheUnavailable; ``coalesced``: callers that joined a
    load in flight; ``uncoalesced``: loads run without coalescing (table full, or closed).
    """

    hits: int = 0
    misses: int = 0
    errors: int = 0
    coalesced: int = 0
    loads: int = 0
    load_errors: int = 0
    uncoalesced: int = 0
    decode_errors: int = 0
    inflight: int = 0


class CacheHealth(msgspec.Struct, frozen=True, kw_only=True):
    """``ok``, or ``degraded`` with the last cache error (the service still answers)."""

    status: Literal["ok", "degraded"]
    last_error: str | None
    errors: int


class Codec(Generic[T]):
    """msgspec MessagePack encoding of values of one type (``Codec(Product)``)."""

    def __init__(self, type_: type[T]) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[T] = msgspec.msgpack.Decoder(type_)

    def encode(self, value: T) -> bytes:
        """The value as bytes."""
        return self._encoder.encode(value)

    def decode(self, data: bytes) -> T:
        """The value back. Raises msgspec.DecodeError (or its ValidationError) on bad bytes."""
        return self._decoder.decode(data)


class _Flight:
    """One in-flight load shared by every caller of a key."""

    __slots__ = ("done", "error", "scope", "state", "store", "tb", "value", "waiters")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.waiters = 0
        self.state: Literal["loading", "ok", "failed", "abandoned"] = "loading"
        self.store = True  # False once put/invalidate detached it: result not written
        self.value = b""
        self.error: Exception | None = None
        self.tb: TracebackType | None = None


class LayeredCache:
    """Named cache layers over one :class:`~creatorflow.ports.Cache`. Made by
    :func:`open_layered_cache`; safe to share between the tasks of one event loop. No method
    raises CacheUnavailable."""

    def __init__(self, cache: Cache, settings: CacheSettings, task_group: TaskGroup) -> None:
        self._cache = cache
        self._tg = task_group
        self._ttls: dict[Layer, float] = {
            "product": settings.product_ttl_s,
            "api": settings.api_ttl_s,
            "query": settings.query_ttl_s,
            "session": settings.session_ttl_s,
        }
        self._max_inflight = settings.max_inflight_loads
        self._flights: dict[str, _Flight] = {}  # bounded: len <= max_inflight_loads
        self._closed = False
        self._stats = CacheStats()  # mutated in place; statistics() hands out copies
        self._last_error: str | None = None

    def ttl_s(self, layer: Layer) -> float:
        """The TTL of ``layer`` in seconds."""
        return self._ttls[layer]

    # ------------------------------------------------------------------ reads and writes

    async def get(self, layer: Layer, key: str) -> bytes | None:
        """The cached value, or None (absent, expired, or the cache is unavailable)."""
        return await self._read(f"{layer}:{key}")

    async def put(self, layer: Layer, key: str, value: bytes) -> None:
        """Cache ``value`` for the layer's TTL (skipped, and counted, if the cache fails)."""
        full = f"{layer}:{key}"
        self._detach(full)
        await self._write(layer, full, value)

    async def invalidate(self, layer: Layer, key: str) -> None:
        """Drop ``key``; a load in flight for it still answers its waiters but is not cached."""
        full = f"{layer}:{key}"
        self._detach(full)
        try:
            await self._cache.delete(full)
        except CacheUnavailable as exc:
            self._failed(exc)

    async def get_or_load(self, layer: Layer, key: str, loader: Loader) -> bytes:
        """The cached value, or the loader's result (then cached for the layer's TTL).

        Concurrent callers for one key share one loader call (see the module docstring). Blocks
        until the value is there; cancelling this caller does not cancel the shared load unless
        it was the last one waiting.

        Raises:
            Exception: whatever the loader raised (every waiter gets it; nothing is cached).
        """
        full = f"{layer}:{key}"
        cached = await self._read(full)
        if cached is not None:
            return cached
        for _ in range(_MAX_JOINS):
            flight = self._flights.get(full)
            if flight is None:
                if self._closed or len(self._flights) >= self._max_inflight:
                    break
                flight = self._flights[full] = _Flight()
                self._tg.start_soon(self._fly, layer, full, flight, loader)
            else:
                self._stats.coalesced += 1
            if await self._wait(full, flight):
                return flight.value
        self._stats.uncoalesced += 1
        value = await loader()
        self._stats.loads += 1
        await self._write(layer, full, value)
        return value

    async def get_or_load_as(
        self, layer: Layer, key: str, loader: Callable[[], Awaitable[T]], codec: Codec[T]
    ) -> T:
        """:meth:`get_or_load` for typed values: the loader's result is stored as
        ``codec.encode(value)``; each caller gets its own decoded copy. A cached value that no
        longer decodes (written by an older schema) is dropped and loaded afresh."""

        async def load_encoded() -> bytes:
            return codec.encode(await loader())

        data = await self.get_or_load(layer, key, load_encoded)
        try:
            return codec.decode(data)
        except msgspec.DecodeError:
            self._stats.decode_errors += 1
            value = await loader()
            await self.put(layer, key, codec.encode(value))
            return value

    # ------------------------------------------------------------------ health and metrics

    def health(self) -> CacheHealth:
        """``degraded`` since the last cache error until a :meth:`probe` succeeds. Never blocks."""
        status: Literal["ok", "degraded"] = "ok" if self._last_error is None else "degraded"
        return CacheHealth(status=status, last_error=self._last_error, errors=self._stats.errors)

    async def probe(self) -> CacheHealth:
        """Ping the cache; a success clears ``degraded``. Never raises CacheUnavailable."""
        try:
            await self._cache.ping()
        except CacheUnavailable as exc:
            self._failed(exc)
        else:
            if self._last_error is not None:
                log.warning("cache: reachable again")
            self._last_error = None
        return self.health()

    def statistics(self) -> CacheStats:
        """The counters (see :class:`CacheStats`). Never blocks."""
        return msgspec.structs.replace(self._stats, inflight=len(self._flights))

    # ------------------------------------------------------------------ internals

    async def _read(self, full: str) -> bytes | None:
        try:
            value = await self._cache.get(full)
        except CacheUnavailable as exc:
            self._failed(exc)
            return None
        if value is None:
            self._stats.misses += 1
        else:
            self._stats.hits += 1
        return value

    async def _write(self, layer: Layer, full: str, value: bytes) -> None:
        try:
            await self._cache.set(full, value, self._ttls[layer])
        except CacheUnavailable as exc:
            self._failed(exc)

    def _failed(self, exc: CacheUnavailable) -> None:
        self._stats.errors += 1
        if self._last_error is None:
            log.warning("cache: unavailable, serving without it: %s", exc)
        self._last_error = str(exc)

    def _detach(self, full: str) -> None:
        flight = self._flights.pop(full, None)
        if flight is not None:
            flight.store = False

    def _forget(self, full: str, flight: _Flight) -> None:
        if self._flights.get(full) is flight:
            del self._flights[full]

    async def _fly(self, layer: Layer, full: str, flight: _Flight, loader: Loader) -> None:
        """The shared load: runs in the layered cache's task group, owned by no caller."""
        try:
            with flight.scope:  # cancelled when the last waiter leaves
                try:
                    flight.value = await loader()
                    flight.state = "ok"
                    self._stats.loads += 1
                except Exception as exc:
                    flight.error, flight.tb = exc, exc.__traceback__
                    flight.state = "failed"
                    self._stats.load_errors += 1
        finally:
            if flight.state != "ok":
                flight.state = "failed" if flight.error is not None else "abandoned"
                self._forget(full, flight)
            flight.done.set()
        # Waiters are already answered; until the write lands, new callers still find this
        # finished flight in the table and take its value instead of loading again.
        if flight.state != "ok":
            return
        try:
            if flight.store:
                await self._write(layer, full, flight.value)
        finally:
            self._forget(full, flight)

    async def _wait(self, full: str, flight: _Flight) -> bool:
        """Wait for ``flight``: True with a value, False if abandoned; raises its error."""
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.done.is_set():
                flight.scope.cancel()  # the last caller gave up: nobody wants the value
                self._forget(full, flight)
        if flight.state == "failed" and flight.error is not None:
            raise flight.error.with_traceback(flight.tb)
        return flight.state == "ok"


@asynccontextmanager
async def open_layered_cache(cache: Cache, settings: CacheSettings) -> AsyncIterator[LayeredCache]:
    """Open a :class:`LayeredCache` over ``cache`` with its own task group for shared loads.

    On exit, loads still in flight are cancelled; their waiters (if any still wait) load for
    themselves, and calls made after exit load without coalescing. The port is not closed here:
    whoever opened it closes it.
    """
    async with anyio.create_task_group() as tg:
        layered = LayeredCache(cache, settings, tg)
        try:
            yield layered
        finally:
            layered._closed = True
            tg.cancel_scope.cancel()
