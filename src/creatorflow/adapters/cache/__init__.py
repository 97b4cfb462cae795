"""Cache adapters: in-process memory (embedded default) and Redis; both implement ``ports.Cache``.

Open one with :func:`open_cache_from_config` (or the adapter's own ``open_*``) in ``app.py``;
nothing connects at import time. Callers normally go through :mod:`creatorflow.caching`, which
adds named layers, single-flight loading and degraded mode on top of the port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from creatorflow.adapters.cache.memory import MemoryCache, MemoryCacheStats
from creatorflow.adapters.cache.redis import DEFAULT_PREFIX, RedisCache, open_redis_cache
from creatorflow.config import CacheConfig
from creatorflow.ports import Cache
from creatorflow.runtime import MonotonicClock

__all__ = [
    "DEFAULT_PREFIX",
    "MemoryCache",
    "MemoryCacheStats",
    "RedisCache",
    "open_cache_from_config",
    "open_redis_cache",
]


@asynccontextmanager
async def open_cache_from_config(
    config: CacheConfig, *, clock: MonotonicClock | None = None
) -> AsyncIterator[Cache]:
    """The configured cache: Redis when ``redis_url`` is set, else a :class:`MemoryCache`.

    ``clock`` is used by the memory cache only.

    Raises:
        ConfigError: Redis is configured but the backend is not asyncio, or the URL is bad.
    """
    if config.redis_url:
        async with open_redis_cache(
            config.redis_url,
            prefix=config.key_prefix,
            socket_timeout_s=config.redis_socket_timeout_s,
            max_connections=config.redis_max_connections,
        ) as redis_cache:
            yield redis_cache
    else:
        yield MemoryCache(config.memory_max_entries, clock=clock)
