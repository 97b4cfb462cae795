"""The real client wired to the sandbox TikTok Shop in-process (``httpx.ASGITransport``).

Both sides share one settable wall clock (signatures carry its timestamp); the client's
backoff, limiter and breaker run on a :class:`FakeClock`. :class:`TimeoutOnce` makes chosen
requests time out, before or after the sandbox applied them (a lost reply).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from tiktok_fakes import ZeroJitter

from creatorflow.adapters.tiktok import (
    MemoryTokenStore,
    TikTokClient,
    TikTokClientSettings,
    open_tiktok_client,
)
from creatorflow.ports import TikTokTokens
from creatorflow.runtime.testing import FakeClock
from creatorflow.sandbox.tiktok import TikTokSandbox, TikTokSandboxConfig

START_S = 1_700_000_000
SHOP = TikTokSandboxConfig().shop_id
MUG = {"lines": [{"seller_sku": "MUG-RED", "quantity": 2, "sale_price": "19.99"}], "on_hold": False}


class Wall:
    """A settable wall clock shared by the sandbox and the client."""

    def __init__(self, now_s: int = START_S) -> None:
        self.ms = now_s * 1000

    def now_ms(self) -> int:
        return self.ms


def make_sandbox(wall: Wall, **config: Any) -> TikTokSandbox:
    return TikTokSandbox(TikTokSandboxConfig(seed=11, **config), clock=wall)


class TimeoutOnce(httpx.AsyncBaseTransport):
    """Forwards to ``inner``; the first ``times`` requests that ``match`` raise ReadTimeout,
    after reaching the sandbox (``applied``: the reply is lost) or before (never sent)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        match: Callable[[httpx.Request], bool],
        *,
        applied: bool,
        times: int = 1,
    ) -> None:
        self.inner = inner
        self.match = match
        self.applied = applied
        self.left = times
        self.timed_out = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.left > 0 and self.match(request):
            self.left -= 1
            self.timed_out += 1
            if self.applied:
                response = await self.inner.handle_async_request(request)
                await response.aread()
            raise httpx.ReadTimeout("timed out", request=request)
        return await self.inner.handle_async_request(request)


@asynccontextmanager
async def open_sandbox_client(
    sandbox: TikTokSandbox,
    wall: Wall,
    *,
    clock: FakeClock | None = None,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    **settings: Any,
) -> AsyncIterator[TikTokClient]:
    """A client of ``sandbox`` holding its shop's access token."""
    config = sandbox.config
    store = MemoryTokenStore()
    await store.save(
        config.shop_id,
        TikTokTokens(
            access_token=config.access_token,
            access_expires_at=START_S + 7 * 86_400,
            refresh_token=config.refresh_token,
            refresh_expires_at=START_S + 365 * 86_400,
        ),
    )
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=sandbox)
    if wrap is not None:
        transport = wrap(transport)
    base = {"rate_per_s": 1000.0, "burst": 1000, "max_retries": 1}
    async with open_tiktok_client(
        TikTokClientSettings(
            app_key=config.app_key,
            app_secret=config.app_secret,
            base_url="http://sandbox.invalid",
            auth_base_url="http://sandbox.invalid",
            **(base | settings),
        ),
        token_store=store,
        transport=transport,
        clock=clock if clock is not None else FakeClock(),
        wall_clock=wall,
        rng=ZeroJitter(),
    ) as client:
        yield client


def api_calls(sandbox: TikTokSandbox, method: str, suffix: str) -> list[dict[str, Any]]:
    """The API calls the sandbox received whose path ends with ``suffix``."""
    return [c for c in sandbox.calls if c["method"] == method and c["path"].endswith(suffix)]
