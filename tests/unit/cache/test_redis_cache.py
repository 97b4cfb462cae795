"""RedisCache at its edges: unreachable server, backend check, bad URL, recovery after an outage."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import pytest
from redis.exceptions import RedisError

from backends import TRIO, on_backends
from creatorflow.adapters.cache import open_cache_from_config, open_redis_cache
from creatorflow.caching import open_layered_cache
from creatorflow.config import CacheConfig
from creatorflow.errors import CacheUnavailable, ConfigError

pytestmark = pytest.mark.anyio


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.asyncio_only
async def test_unreachable_redis_raises_cache_unavailable(anyio_backend: Any) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    async with open_redis_cache(url, socket_timeout_s=0.25) as cache:
        for call in (cache.get("k"), cache.set("k", b"v", 1.0), cache.delete("k"), cache.ping()):
            with pytest.raises(CacheUnavailable) as info:
                await call
            assert isinstance(info.value.__cause__, RedisError | OSError)
            assert info.value.retryable


@pytest.mark.asyncio_only
async def test_a_failing_redis_is_given_up_at_the_first_try(anyio_backend: Any) -> None:
    # A Redis error is a miss for the caller at once: one connection per call, no retry loop
    # (and no backoff) inside the cache. The server hangs up on every connection.
    dials = 0

    async def hang_up(client: anyio.abc.SocketStream) -> None:
        nonlocal dials
        dials += 1
        await client.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, hang_up)
        async with open_redis_cache(f"redis://127.0.0.1:{port}/0") as cache:
            calls = (cache.get("k"), cache.set("k", b"v", 1.0), cache.delete("k"), cache.ping())
            for number, call in enumerate(calls, start=1):
                with pytest.raises(CacheUnavailable):
                    await call
                assert dials == number
        tg.cancel_scope.cancel()


@pytest.mark.asyncio_only
async def test_layered_cache_over_a_dead_redis_serves_from_the_loader(anyio_backend: Any) -> None:
    config = CacheConfig(redis_url=f"redis://127.0.0.1:{closed_port()}/0")

    async def loader() -> bytes:
        return b"from-db"

    async with (
        open_cache_from_config(config) as cache,
        open_layered_cache(cache, config) as layered,
    ):
        assert await layered.get_or_load("product", "p", loader) == b"from-db"
        assert layered.health().status == "degraded"
        # The failed GET counts now; the SET runs after the caller was answered.
        assert layered.statistics().errors >= 1
        assert layered.statistics().loads == 1


@on_backends(TRIO)
async def test_redis_needs_asyncio(anyio_backend: Any) -> None:
    with pytest.raises(ConfigError, match=r"cache\.redis_url: the Redis cache needs the asyncio"):
        async with open_redis_cache("redis://127.0.0.1:6379/0"):
            pass


async def test_memory_cache_from_config_on_every_backend() -> None:
    async with open_cache_from_config(CacheConfig(memory_max_entries=3)) as cache:
        await cache.set("k", b"v", 1.0)
        assert await cache.get("k") == b"v"


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "redis://127.0.0.1:notaport/0"])
@pytest.mark.asyncio_only
async def test_bad_url_is_a_config_error(anyio_backend: Any, url: str) -> None:
    with pytest.raises(ConfigError, match=r"cache\.redis_url"):
        async with open_redis_cache(url):
            pass


@asynccontextmanager
async def tcp_proxy(port: int, target: tuple[str, int]) -> AsyncIterator[None]:
    """Forward 127.0.0.1:``port`` to ``target`` until the block ends (then drop every link)."""

    async def pipe(src: anyio.abc.SocketStream, dst: anyio.abc.SocketStream) -> None:
        try:
            async for chunk in src:
                await dst.send(chunk)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        finally:
            await dst.aclose()

    async def handle(client: anyio.abc.SocketStream) -> None:
        upstream = await anyio.connect_tcp(*target)
        async with client, upstream, anyio.create_task_group() as tg:
            tg.start_soon(pipe, client, upstream)
            tg.start_soon(pipe, upstream, client)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield
        tg.cancel_scope.cancel()


@pytest.mark.asyncio_only
async def test_client_recovers_after_redis_comes_back(anyio_backend: Any, redis_url: str) -> None:
    parts = urlsplit(redis_url)
    target = (parts.hostname or "127.0.0.1", parts.port or 6379)
    port = closed_port()
    prefix = f"creatorflow-test:{uuid.uuid4().hex}:"
    async with open_redis_cache(f"redis://127.0.0.1:{port}{parts.path}", prefix=prefix) as cache:
        async with tcp_proxy(port, target):
            await cache.set("k", b"v", ttl_s=10)
            assert await cache.get("k") == b"v"
        # Outage: the pooled connection is dead and nothing listens.
        with pytest.raises(CacheUnavailable):
            await cache.get("k")
        with pytest.raises(CacheUnavailable):
            await cache.ping()
        async with tcp_proxy(port, target):
            await cache.ping()  # no reopen: the pool dials again by itself
            assert await cache.get("k") == b"v"
            await cache.delete("k")
