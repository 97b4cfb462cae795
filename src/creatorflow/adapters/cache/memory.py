"""In-process cache: the embedded default behind :class:`~creatorflow.ports.Cache`.

A bounded LRU map of ``key -> (value, expires_at)``. Expiry is checked on read against an
injectable :class:`~creatorflow.runtime.MonotonicClock` (tests pass
:class:`~creatorflow.runtime.testing.FakeClock`), so no background sweeper task exists: an expired
entry is dropped when it is read, or when it reaches the least-recently-used end and is evicted.

Bound: at most ``max_entries`` entries; a ``set`` beyond that evicts the least recently used
entry (reads and writes both count as use). Values are not copied (``bytes`` are immutable).

Concurrency: the methods never await anything, so each runs atomically with respect to other
tasks of the loop; they are **not** checkpoints (a cache hit costs no event-loop pass). No
loop-specific state is kept, so one instance works on asyncio, uvloop and trio. It never raises
:class:`~creatorflow.errors.CacheUnavailable`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from creatorflow.runtime import MonotonicClock, SystemMonotonicClock

__all__ = ["MemoryCache", "MemoryCacheStats"]


@dataclass(frozen=True, slots=True)
class MemoryCacheStats:
    """A snapshot of a :class:`MemoryCache` (for metrics and tests)."""

    entries: int
    max_entries: int
    evictions: int
    expirations: int


class MemoryCache:
    """A bounded, TTL-aware LRU cache in process memory (implements ``ports.Cache``).

    Args:
        max_entries: most entries kept (>= 1); the least recently used goes first.
        clock: where expiry reads time; the real monotonic clock by default.

    Raises:
        ValueError: ``max_entries`` < 1.
    """

    def __init__(self, max_entries: int, clock: MonotonicClock | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._max = max_entries
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonicClock()
        # Invariant: len(self._entries) <= self._max; order = least recently used first.
        self._entries: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._evictions = 0
        self._expirations = 0

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, or None when absent or expired. Never blocks; not a checkpoint."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if self._clock.now() >= expires_at:
            del self._entries[key]
            self._expirations += 1
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds, evicting the least recently used when full.

        Raises:
            ValueError: ``ttl_s`` <= 0.
        """
        if not ttl_s > 0:
            raise ValueError("ttl_s must be > 0")
        self._entries[key] = (value, self._clock.now() + ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
            self._evictions += 1

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent)."""
        self._entries.pop(key, None)

    async def ping(self) -> None:
        """Always answers: the memory cache cannot be unreachable."""

    def clear(self) -> None:
        """Drop every entry (counters are kept)."""
        self._entries.clear()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    def statistics(self) -> MemoryCacheStats:
        """Entry count, bound, and how many entries were evicted or found expired so far."""
        return MemoryCacheStats(
            entries=len(self._entries),
            max_entries=self._max,
            evictions=self._evictions,
            expirations=self._expirations,
        )

    def __repr__(self) -> str:
        return f"MemoryCache(entries={len(self._entries)}, max_entries={self._max})"
