"""The bounded key/value cache port (memory or Redis)."""

from __future__ import annotations

from typing import Protocol

# --------------------------------------------------------------------------- cache


class Cache(Protocol):
    """A bounded key/value cache with per-entry TTL (memory or Redis).

    Values are bytes (callers encode with msgspec). Every method may raise CacheUnavailable;
    callers treat that as a miss and carry on (the service is degraded, not down).
    """

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (> 0)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent)."""
        ...

    async def ping(self) -> None:
        """Return when the cache answers. Raises CacheUnavailable."""
        ...
