"""A scripted fake TikTok Shop (API + auth host) on ``httpx.MockTransport``, and clock drivers.

The fake verifies every API request's signature like the real gateway (106001 otherwise),
records what it received, answers from per-path scripts first, then with sensible defaults.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx
import msgspec

from creatorflow.adapters.tiktok import (
    MemoryTokenStore,
    TikTokClient,
    TikTokClientSettings,
    open_tiktok_client,
)
from creatorflow.adapters.tiktok.signing import verify_request
from creatorflow.ports import TikTokTokens
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

T = TypeVar("T")

APP_KEY = "myappkey"
APP_SECRET = "s3cr3t"
API = "https://api.test"
AUTH = "https://auth.test"
NOW_S = 1_700_000_000
SHOP_ID = "7490000000000000001"
CIPHER = "ROW_abc"
DAY = 86_400

Reply = httpx.Response | Callable[[httpx.Request], Awaitable[httpx.Response]]


def envelope(
    data: Any = None,
    code: int = 0,
    message: str = "Success",
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    payload: dict[str, Any] = {"code": code, "message": message, "request_id": "req-1"}
    if data is not None:
        payload["data"] = data
    return httpx.Response(status, content=msgspec.json.encode(payload), headers=headers)


class FakeWall:
    """A settable wall clock (``ports.Clock``)."""

    def __init__(self, now_s: int = NOW_S) -> None:
        self.now_s = now_s

    def now_ms(self) -> int:
        return self.now_s * 1000


class ZeroJitter(random.Random):
    """An rng whose ``uniform`` returns the low end: backoff delays become exact."""

    def uniform(self, a: float, b: float) -> float:
        return a


def tokens(access: str = "AT0", refresh: str = "RT0", expires_in: int = 7 * DAY) -> TikTokTokens:
    return TikTokTokens(
        access_token=access,
        access_expires_at=NOW_S + expires_in,
        refresh_token=refresh,
        refresh_expires_at=NOW_S + 365 * DAY,
    )


class FakeTikTok:
    """The fake server. ``script(path, *replies)`` queues answers for a path (API or auth)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.refreshes = 0
        self.valid_tokens = {"AT0"}
        self.refresh_gate: anyio.Event | None = None
        self.shops = [{"id": SHOP_ID, "cipher": CIPHER, "name": "Mugs", "region": "US"}]

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts.setdefault(path, []).extend(replies)

    def api_requests(self, path: str | None = None) -> list[httpx.Request]:
        return [
            r
            for r in self.requests
            if r.url.host == "api.test" and (path is None or r.url.path == path)
        ]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        queue = self.scripts.get(path)
        if request.url.host == "auth.test":
            if queue:
                reply = queue.pop(0)
                return reply if isinstance(reply, httpx.Response) else await reply(request)
            return await self._auth(request)
        query = dict(request.url.params)
        sign = query.pop("sign", "")
        if not verify_request(APP_SECRET, path, query, request.content, sign):
            return envelope(code=106001, message="invalid sign", status=401)
        if queue:
            reply = queue.pop(0)
            return reply if isinstance(reply, httpx.Response) else await reply(request)
        if request.headers.get("x-tts-access-token") not in self.valid_tokens:
            return envelope(code=105002, message="access token expired", status=401)
        return self._default(path, query)

    async def _auth(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/token/refresh":
            self.refreshes += 1
            if self.refresh_gate is not None:
                await self.refresh_gate.wait()
            n = self.refreshes
        else:
            n = 100
        self.valid_tokens.add(f"AT{n}")
        return envelope(
            {
                "access_token": f"AT{n}",
                "access_token_expire_in": NOW_S + 7 * DAY,
                "refresh_token": f"RT{n}",
                "refresh_token_expire_in": NOW_S + 365 * DAY,
                "open_id": "open-1",
                "seller_name": "Mugs",
                "seller_base_region": "US",
                "user_type": 0,
                "granted_scopes": ["seller.order.info"],
            }
        )

    def _default(self, path: str, query: dict[str, str]) -> httpx.Response:
        if path == "/authorization/202309/shops":
            return envelope({"shops": self.shops})
        if path == "/order/202309/orders":
            ids = query["ids"].split(",")
            return envelope({"orders": [{"id": i, "status": "AWAITING_SHIPMENT"} for i in ids]})
        if path == "/order/202309/orders/search":
            return envelope({"orders": [{"id": "1"}], "next_page_token": "", "total_count": 1})
        if path.endswith("/delivery_options"):
            return envelope({"delivery_options": [{"id": "d1", "name": "Std", "type": "STANDARD"}]})
        return envelope({})


def settings(**over: Any) -> TikTokClientSettings:
    base: dict[str, Any] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "base_url": API,
        "auth_base_url": AUTH,
        "rate_per_s": 1000.0,
        "burst": 1000,
    }
    return TikTokClientSettings(**(base | over))


@asynccontextmanager
async def open_fake_client(
    fake: FakeTikTok,
    *,
    clock: FakeClock | None = None,
    wall: FakeWall | None = None,
    store: MemoryTokenStore | None = None,
    initial: TikTokTokens | None = None,
    **over: Any,
) -> AsyncIterator[TikTokClient]:
    """A client wired to ``fake``, with AT0/RT0 stored for the test shop unless told."""
    store = store if store is not None else MemoryTokenStore()
    if initial is not None or not len(store):
        await store.save(SHOP_ID, initial if initial is not None else tokens())
    observers = {k: over.pop(k) for k in ("observer", "on_breaker_change") if k in over}
    async with open_tiktok_client(
        settings(**over),
        token_store=store,
        transport=httpx.MockTransport(fake.handler),
        clock=clock if clock is not None else FakeClock(),
        wall_clock=wall if wall is not None else FakeWall(),
        rng=ZeroJitter(),
        **observers,
    ) as client:
        yield client


async def drive(clock: FakeClock, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` and keep advancing ``clock`` to the next sleeper's deadline until it ends."""
    box: list[tuple[bool, Any]] = []
    done = anyio.Event()

    async def run() -> None:
        try:
            box.append((True, await fn()))
        except Exception as exc:
            box.append((False, exc))
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while not done.is_set():
            await wait_all_tasks_blocked()
            if done.is_set():
                break
            deadline = clock.next_deadline
            if deadline is None:
                raise RuntimeError("drive: the call is blocked on something other than the clock")
            clock.advance(deadline - clock.now())
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
