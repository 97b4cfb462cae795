"""``POST /webhooks/tiktok`` held to the README's answers, through the real ingress, store writer
and SQLite store (only the store's verdict on one row is staged):

- ``401`` for a bad or missing signature: near misses of a valid signature never reach the
  store;
- ``500`` (no ``Retry-After``) when the store refuses the row itself: ``{"error":
  "store_refused", "detail": ...}``; the webhooks beside it are stored;
- ``503`` + ``Retry-After`` when the store is down.

Written from the README's table, not from the code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from creatorflow.actors.ingress import Kick, Process, WebhookIngress
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.webhook import AppCredentials
from creatorflow.errors import StoreError, StoreUnavailable
from creatorflow.metrics import Metrics
from creatorflow.ports import InsertInbox, SystemClock, WriteOp, WriteResult
from creatorflow.runtime import Actor, Envelope, open_actor
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.webhooks import WebhookEndpoint

pytestmark = pytest.mark.anyio

APP = AppCredentials(app_key="shop-app", app_secret="shop-secret")
OTHER_APP = AppCredentials(app_key="other-app", app_secret="other-secret")
RETRY_AFTER_S = 9


def webhook_body(notification_id: str) -> bytes:
    return (
        b'{"type":1,"tts_notification_id":"' + notification_id.encode() + b'",'
        b'"shop_id":"7490000000000000001","timestamp":1700000000,"data":{"is_on_hold_order":false,'
        b'"order_id":"576000000000000001","order_status":"AWAITING_SHIPMENT",'
        b'"update_time":1700000000}}'
    )


def sign(body: bytes, key: str = APP.app_key, secret: str = APP.app_secret) -> str:
    return hmac.new(secret.encode(), key.encode() + body, hashlib.sha256).hexdigest()


class StagedStore:
    """The real store; refuses (StoreError) any write holding a refused webhook, or is down."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.refused: set[str] = set()
        self.down = False

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.down:
            raise StoreUnavailable("the database does not answer")
        for op in ops:
            if isinstance(op, InsertInbox) and op.record.notification_id in self.refused:
                raise StoreError(f"row {op.record.notification_id} refused")
        return await self.store.apply(ops)


class Sink(Actor[Kick | Process]):
    """Stands in for the inbox pump and the consumer: takes what it is told."""

    def __init__(self) -> None:
        self.got: list[Kick | Process] = []

    async def handle(self, env: Envelope[Kick | Process]) -> None:
        self.got.append(env.msg)


@dataclass
class Ingress:
    client: httpx.AsyncClient
    store: SqliteStore
    staged: StagedStore
    metrics: Metrics

    async def post(self, body: bytes, signature: str | None) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["authorization"] = signature
        return await self.client.post("/webhooks/tiktok", content=body, headers=headers)

    async def stored(self, nid: str) -> bool:
        return await self.store.get_inbox(nid) is not None


@asynccontextmanager
async def ingress(tmp_path: Path) -> AsyncIterator[Ingress]:
    metrics = Metrics()
    lifecycle = Lifecycle()
    lifecycle.ready = True
    async with open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store:
        staged = StagedStore(store)
        async with (
            open_actor(StoreWriter(staged), "store_writer", 64) as writer,
            open_actor(Sink(), "consumer", 64) as consumer,
            open_actor(Sink(), "pump", 64) as pump,  # type: ignore[arg-type]
            open_actor(
                WebhookIngress(writer=writer, consumer=consumer, pump=pump, dedupe_cache_size=64),
                "webhook_ingress",
                64,
            ) as ingress_ref,
        ):
            endpoint = WebhookEndpoint(
                apps=[APP, OTHER_APP],
                ingress=ingress_ref,
                metrics=metrics,
                clock=SystemClock(),
                lifecycle=lifecycle,
                max_body_bytes=65_536,
                retry_after_s=RETRY_AFTER_S,
                timeout_s=30.0,  # never the answer here: these tests are about the store's
            )

            async def ready() -> dict[str, str]:
                return {"store": "ok"}

            async def status() -> tuple[str, dict[str, object]]:
                return "ok", {"status": "ok"}

            app = CreatorFlowApp(
                webhooks=endpoint,
                metrics=metrics,
                lifecycle=lifecycle,
                readiness=ready,
                status=status,
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield Ingress(client, store, staged, metrics)


# --------------------------------------------------------------------------- 401


def flip(sig: str, at: int) -> str:
    return sig[:at] + ("0" if sig[at] != "0" else "1") + sig[at + 1 :]


BODY = webhook_body("n-near-miss")
GOOD = sign(BODY)
NEAR_MISSES = {
    "first digit off": flip(GOOD, 0),
    "middle digit off": flip(GOOD, 31),
    "last digit off": flip(GOOD, 63),
    "truncated": GOOD[:-1],
    "first 4 digits": GOOD[:4],
    "one digit more": GOOD + "a",
    "uppercase, one digit off": flip(GOOD, 40).upper(),
    "our key, other app's secret": sign(BODY, APP.app_key, OTHER_APP.app_secret),
    "other app's key, our secret": sign(BODY, OTHER_APP.app_key, APP.app_secret),
    "an unknown app": sign(BODY, "stranger", "stranger-secret"),
    "another body's signature": sign(webhook_body("n-other")),
    "bearer scheme": f"Bearer {GOOD}",
}


@pytest.mark.parametrize("signature", list(NEAR_MISSES.values()), ids=list(NEAR_MISSES))
async def test_a_near_miss_signature_is_401_and_nothing_is_stored(
    tmp_path: Path, signature: str
) -> None:
    async with ingress(tmp_path) as h:
        response = await h.post(BODY, signature)
        assert response.status_code == 401
        assert response.json()["error"] == "bad_signature"
        assert not await h.stored("n-near-miss")
        # The same webhook, rightly signed, is taken: the 401 was the signature's doing.
        assert (await h.post(BODY, GOOD)).status_code == 200
        assert await h.stored("n-near-miss")


@pytest.mark.parametrize("signature", [None, ""])
async def test_a_missing_signature_is_401(tmp_path: Path, signature: str | None) -> None:
    async with ingress(tmp_path) as h:
        response = await h.post(BODY, signature)
        assert response.status_code == 401
        assert response.json()["error"] == "missing_signature"
        assert not await h.stored("n-near-miss")


async def test_each_configured_app_signs_alone(tmp_path: Path) -> None:
    async with ingress(tmp_path) as h:
        other = webhook_body("n-other-app")
        response = await h.post(other, sign(other, OTHER_APP.app_key, OTHER_APP.app_secret))
        assert response.status_code == 200
        assert await h.stored("n-other-app")


# --------------------------------------------------------------------------- 500 store_refused


async def test_a_row_the_store_refuses_is_500_store_refused_without_retry_after(
    tmp_path: Path,
) -> None:
    async with ingress(tmp_path) as h:
        h.staged.refused.add("n-refused")
        body = webhook_body("n-refused")
        response = await h.post(body, sign(body))
        assert response.status_code == 500
        payload = response.json()
        assert payload["error"] == "store_refused"
        assert set(payload) == {"error", "detail"}
        assert payload["detail"]
        assert "retry-after" not in response.headers
        assert not await h.stored("n-refused")
        # Not an outage: the next webhook is stored and answered 200.
        good = webhook_body("n-good")
        assert (await h.post(good, sign(good))).status_code == 200
        assert await h.stored("n-good")
        # A retry of the refused one is refused again (nothing was remembered as stored).
        again = await h.post(body, sign(body))
        assert (again.status_code, again.json()["error"]) == (500, "store_refused")
    assert h.metrics.webhooks.outcomes["store_refused"] == 2


async def test_a_store_that_is_down_is_503_with_retry_after(tmp_path: Path) -> None:
    async with ingress(tmp_path) as h:
        h.staged.down = True
        body = webhook_body("n-down")
        response = await h.post(body, sign(body))
        assert response.status_code == 503
        assert response.headers["retry-after"] == str(RETRY_AFTER_S)
        assert response.json()["error"] == "store_unavailable"
        h.staged.down = False
        assert (await h.post(body, sign(body))).status_code == 200
        assert await h.stored("n-down")


async def test_200_has_an_empty_body_and_a_duplicate_is_200_too(tmp_path: Path) -> None:
    async with ingress(tmp_path) as h:
        body = webhook_body("n-twice")
        first = await h.post(body, sign(body))
        second = await h.post(body, sign(body))
        assert (first.status_code, first.content) == (200, b"")
        assert (second.status_code, second.content) == (200, b"")
        assert h.metrics.webhooks.outcomes["accepted"] == 1
        assert h.metrics.webhooks.outcomes["duplicate"] == 1
