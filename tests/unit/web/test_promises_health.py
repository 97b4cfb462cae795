"""``/readyz``, ``/status`` and ``POST /api/tiktok/authorize`` held to the README's answers:

- ``GET /readyz``: ``200`` when ready to accept (tree running, store answers), else ``503``,
  with the checks;
- ``GET /status``: ``{"status": "ok" | "degraded" | "down", "components": {store, cache, tree,
  inbox}}``, ``503`` only when something is down;
- ``POST /api/tiktok/authorize``: ``{"shop_key", "shops": [{"id", "name", "region"}],
  "access_expires_at"}``; ``400`` refused code or bad body, ``503`` TikTok unreachable; bearer
  token.

The store is the real SQLite store, made to stop answering; the status document is built by
the real reporter. Written from the README's table, not from the code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.adapters.cache.memory import MemoryCache
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.caching import open_layered_cache
from creatorflow.config import CacheConfig
from creatorflow.domain.webhook import AppCredentials
from creatorflow.errors import (
    CircuitOpen,
    StoreUnavailable,
    TikTokAuthError,
    TikTokRequestRejected,
    TikTokUnavailable,
)
from creatorflow.metrics import Metrics
from creatorflow.ports import InboxCursor, InboxRecord, SystemClock, TikTokShop, TikTokTokens
from creatorflow.runtime import ActorRef, Mailbox, SupervisorStats
from creatorflow.web.api import build_api
from creatorflow.web.api.tiktok_auth import AuthorizeApi
from creatorflow.web.api.webhook_status import WebhookStatusApi
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.status import StatusReporter
from creatorflow.web.webhooks import WebhookEndpoint

pytestmark = pytest.mark.anyio

TOKEN = "health-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}


class SwitchableStore:
    """The real store, whose reads fail with StoreUnavailable while ``down`` is set."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("the database does not answer")

    async def ping(self) -> None:
        self._check()
        await self.store.ping()

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        self._check()
        return await self.store.list_unprocessed(after, limit)

    async def get_inbox(self, notification_id: str) -> Any:
        self._check()
        return await self.store.get_inbox(notification_id)


class FakeAuthorize:
    """Stands in for the TikTok side of ``authorize``: answers, or fails with ``error``."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls: list[tuple[str, str]] = []

    async def __call__(
        self, shop_key: str, auth_code: str
    ) -> tuple[TikTokTokens, list[TikTokShop]]:
        self.calls.append((shop_key, auth_code))
        if self.error is not None:
            raise self.error
        tokens = TikTokTokens(
            access_token="a", access_expires_at=1_800_000_000, refresh_token="r",
            refresh_expires_at=1_900_000_000,
        )  # fmt: skip
        return tokens, [TikTokShop(id="shop-1", cipher="c", name="My Shop", region="GB")]


@dataclass
class Harness:
    client: httpx.AsyncClient
    store: SwitchableStore
    lifecycle: Lifecycle
    authorize: FakeAuthorize


@asynccontextmanager
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    lifecycle = Lifecycle()
    lifecycle.ready = True
    metrics = Metrics()
    authorize = FakeAuthorize()
    mailbox: Mailbox[Any] = Mailbox("webhook_ingress", 4)
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as sqlite,
        open_layered_cache(MemoryCache(100), CacheConfig()) as cache,
    ):
        store = SwitchableStore(sqlite)
        reporter = StatusReporter(
            store=store,  # type: ignore[arg-type]
            cache=cache,
            lifecycle=lifecycle,
            tree=lambda: SupervisorStats(name="root", strategy="one_for_one", children=()),
            clock=SystemClock(),
        )

        async def readiness() -> dict[str, str]:
            await store.ping()
            return {"store": "ok"}

        app = CreatorFlowApp(
            webhooks=WebhookEndpoint(
                apps=[AppCredentials(app_key="k", app_secret="s")],
                ingress=ActorRef(mailbox),
                metrics=metrics,
                clock=SystemClock(),
                lifecycle=lifecycle,
                max_body_bytes=4096,
                retry_after_s=1,
            ),
            metrics=metrics,
            lifecycle=lifecycle,
            readiness=readiness,
            status=reporter.report,
            api=build_api(
                [*AuthorizeApi(authorize).routes(), *WebhookStatusApi(store).routes()],
                token=TOKEN,
            ),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Harness(client, store, lifecycle, authorize)
    mailbox.close()


# --------------------------------------------------------------------------- /readyz


async def test_ready_is_200_with_the_checks(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"tree": "running", "store": "ok"}


async def test_not_ready_while_the_store_does_not_answer(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.store.down = True
        response = await h.client.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["ready"] is False
        assert body["checks"]["tree"] == "running"
        assert "does not answer" in body["checks"]["store"]
        h.store.down = False
        assert (await h.client.get("/readyz")).status_code == 200


async def test_not_ready_before_the_tree_runs(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.lifecycle.ready = False
        response = await h.client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["tree"] == "starting"


# --------------------------------------------------------------------------- /status


async def test_status_ok_is_200_with_every_component(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get("/status")
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == "ok"
    assert set(doc["components"]) == {"store", "cache", "tree", "inbox"}
    assert doc["components"]["inbox"]["oldest_unprocessed_age_s"] is None


async def test_status_is_503_down_when_the_store_is_down(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.store.down = True
        response = await h.client.get("/status")
        assert response.status_code == 503
        doc = response.json()
        assert doc["status"] == "down"
        assert doc["components"]["store"]["status"] == "down"
        h.store.down = False
        again = await h.client.get("/status")
    assert (again.status_code, again.json()["status"]) == (200, "ok")


async def test_status_degraded_is_200(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        h.lifecycle.draining = True  # the tree no longer runs as usual: degraded, not down
        response = await h.client.get("/status")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


# --------------------------------------------------------------------------- authorize


async def authorize(h: Harness, body: object, headers: dict[str, str] = BEARER) -> httpx.Response:
    return await h.client.post("/api/tiktok/authorize", json=body, headers=headers)


GOOD = {"auth_code": "code-1", "shop_key": "my-seller"}


async def test_authorize_answers_the_shops_and_the_expiry(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        response = await authorize(h, GOOD)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "shop_key": "my-seller",
        "shops": [{"id": "shop-1", "name": "My Shop", "region": "GB"}],
        "access_expires_at": 1_800_000_000,
    }
    assert h.authorize.calls == [("my-seller", "code-1")]


@pytest.mark.parametrize(
    "error",
    [
        TikTokUnavailable("connect timeout", http_status=0),
        TikTokUnavailable("bad gateway", http_status=502),
        CircuitOpen("tiktok.auth", 12.0),
    ],
    ids=["timeout", "5xx", "breaker_open"],
)
async def test_authorize_with_tiktok_unreachable_is_503(tmp_path: Path, error: Exception) -> None:
    async with harness(tmp_path) as h:
        h.authorize.error = error
        response = await authorize(h, GOOD)
    assert response.status_code == 503
    assert response.json()["error"]


@pytest.mark.parametrize(
    "error",
    [
        TikTokAuthError("auth code invalid", code=36004004),
        TikTokRequestRejected("bad sign", code=106001),
    ],
    ids=["code_refused", "request_refused"],
)
async def test_authorize_with_a_refused_code_is_400(tmp_path: Path, error: Exception) -> None:
    async with harness(tmp_path) as h:
        h.authorize.error = error
        response = await authorize(h, GOOD)
    assert response.status_code == 400
    assert response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"auth_code": "code-1"},
        {"shop_key": "my-seller"},
        {"auth_code": "", "shop_key": "my-seller"},
        {"auth_code": "code-1", "shop_key": ""},
        {"auth_code": 1, "shop_key": "my-seller"},
        [GOOD],
    ],
)
async def test_authorize_with_a_bad_body_is_400_and_asks_nothing(
    tmp_path: Path, body: object
) -> None:
    async with harness(tmp_path) as h:
        response = await authorize(h, body)
    assert response.status_code == 400
    assert h.authorize.calls == []


async def test_authorize_needs_the_bearer_token(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        missing = await authorize(h, GOOD, headers={})
        wrong = await authorize(h, GOOD, headers={"authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert h.authorize.calls == []
