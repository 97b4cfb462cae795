"""Redis adapter of :class:`~creatorflow.ports.Cache` (redis-py's asyncio client).

Open it with :func:`open_redis_cache`; nothing connects at import time, and opening does not
connect either: the first command does. So a Redis that is down at start-up makes the service
degraded (every call raises CacheUnavailable, callers treat it as a miss), not unable to start.

Backend: **asyncio only** (also uvloop). redis-py is built on asyncio streams; under trio
:func:`open_redis_cache` raises :class:`~creatorflow.errors.ConfigError`.

Timeouts: connect and read/write timeouts are short (0.25 s by default), the pool waits at most
as long for a free connection, and redis-py's own retries are off, so a dead or black-holed Redis
costs a caller at most about one timeout per call. Recovery needs nothing: a broken connection is
dropped from the pool and the next call dials again.

Errors: every ``redis.exceptions.RedisError`` (``ConnectionError``, ``TimeoutError``,
``ResponseError``, ...) and ``OSError`` becomes :class:`~creatorflow.errors.CacheUnavailable`
chained ``from`` the original; no redis exception leaves this module.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from creatorflow.errors import CacheUnavailable, ConfigError

__all__ = ["DEFAULT_PREFIX", "RedisCache", "open_redis_cache"]

DEFAULT_PREFIX = "creatorflow:"


@contextmanager
def _translated(op: str) -> Iterator[None]:
    """Turn any redis/socket failure inside the block into CacheUnavailable."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CacheUnavailable(f"redis cache: {op} failed: {exc}") from exc


class RedisCache:
    """The cache port on one Redis server (implements ``ports.Cache``).

    Made by :func:`open_redis_cache`, which also closes it. Every key is stored as
    ``prefix + key``, so several apps (or tests) can share a server. TTLs are set atomically
    with ``SET key value PX <ms>``. Safe to share between tasks of one event loop.
    """

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self.prefix = prefix

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired. A checkpoint (one round trip).

        Raises:
            CacheUnavailable: Redis cannot be reached, timed out or refused the command.
        """
        with _translated("GET"):
            value = await self._client.get(self.prefix + key)
        if value is None or isinstance(value, bytes):
            return value
        raise CacheUnavailable(f"redis cache: GET returned {type(value).__name__}, not bytes")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (rounded up to whole milliseconds).

        Raises:
            ValueError: ``ttl_s`` <= 0.
            CacheUnavailable: as for :meth:`get`.
        """
        if not ttl_s > 0:
            raise ValueError("ttl_s must be > 0")
        ttl_ms = max(1, math.ceil(ttl_s * 1000))
        with _translated("SET"):
            await self._client.set(self.prefix + key, value, px=ttl_ms)

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent). Raises CacheUnavailable as for :meth:`get`."""
        with _translated("DEL"):
            await self._client.delete(self.prefix + key)

    async def ping(self) -> None:
        """Return when Redis answers ``PING``. Raises CacheUnavailable."""
        with _translated("PING"):
            await self._client.ping()

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self.prefix!r})"


def _require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigError(
            "config: cache.redis_url: the Redis cache needs the asyncio backend"
        ) from None


@asynccontextmanager
async def open_redis_cache(
    url: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    socket_timeout_s: float = 0.25,
    max_connections: int = 64,
) -> AsyncIterator[RedisCache]:
    """Open a :class:`RedisCache` on ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    Does not connect: connections are dialled on first use, at most ``max_connections`` at once
    (a caller waits up to ``socket_timeout_s`` for a free one, then gets CacheUnavailable).
    On exit every connection is closed.

    Args:
        url: the server; the database number may be given as the path (``redis://h:6379/0``).
        prefix: prepended to every key.
        socket_timeout_s: connect, read and pool-wait timeout in seconds (> 0).
        max_connections: pool bound (>= 1).

    Raises:
        ConfigError: not running on asyncio, a malformed URL, or a bad timeout/bound.
    """
    _require_asyncio()
    if not socket_timeout_s > 0 or max_connections < 1:
        raise ConfigError(
            "config: cache.redis_socket_timeout_s / cache.redis_max_connections: must be > 0"
        )
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout_s,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            # Our callers degrade on the first failure; a retry would only double the stall.
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        raise ConfigError(f"config: cache.redis_url: {exc}") from None
    client = aioredis.Redis.from_pool(pool)  # the client owns (and closes) the pool
    try:
        yield RedisCache(client, prefix)
    finally:
        try:
            await client.aclose()
        except (RedisError, OSError):
            pass  # closing sockets to a dead server: nothing left to release
