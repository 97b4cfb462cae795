"""The orders API in-process: real SQLite store, StoreWriter and OrderScheduler behind the app."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from creatorflow.actors.ingress import IngressMsg
from creatorflow.actors.order_scheduler import Observe, OrderScheduler, SchedulerMsg
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import open_sqlite_store
from creatorflow.domain.automation import load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.errors import StoreUnavailable
from creatorflow.metrics import Metrics
from creatorflow.ports import OrderReader, SystemClock, TikTokOrder
from creatorflow.runtime import ActorRef, Mailbox, open_actor
from creatorflow.web.api import build_api
from creatorflow.web.api._wire import decode_cursor, encode_cursor
from creatorflow.web.api.orders import OrdersApi
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.webhooks import WebhookEndpoint

pytestmark = pytest.mark.anyio

TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
FIRST = "576000000000000001"
RULES = """
[[rules]]
name = "big mugs"
match = "first"
when = { skus_any = ["MUG-BIG"] }
then = { add_tags = ["big"] }
"""
BASE: dict[str, Any] = {
    "id": FIRST,
    "status": "AWAITING_SHIPMENT",
    "create_time": 1700000000,
    "update_time": 1700000100,
    "rts_sla_time": 1700259200,
    "delivery_option_id": "opt-express",
    "user_id": "buyer-1",
    "payment": {"currency": "USD", "total_amount": "43.18"},
    "recipient_address": {"postal_code": "10001", "region_code": "US"},
    "line_items": [
        {"id": "l1", "sku_id": "s1", "seller_sku": "MUG-RED", "sale_price": "19.99"},
        {"id": "l2", "sku_id": "s1", "seller_sku": "MUG-RED", "sale_price": "19.99"},
        {"id": "l3", "sku_id": "s2", "seller_sku": "MUG-BIG", "sale_price": "3.20"},
    ],
}
DELIVERY = {"opt-express": "EXPRESS", "opt-economy": "ECONOMY"}


def snapshot(**changes: Any) -> TikTokOrder:
    """A Get Order Detail order, as TikTok shapes it, with ``changes`` applied."""
    raw = copy.deepcopy(BASE) | changes
    return msgspec.convert(raw, TikTokOrder)


class Clock:
    def now_ms(self) -> int:
        return 1_700_000_200_000


class Harness(msgspec.Struct, kw_only=True):
    client: httpx.AsyncClient
    scheduler: ActorRef[SchedulerMsg]

    async def observe(self, *orders: TikTokOrder) -> None:
        for order in orders:
            await self.scheduler.tell(Observe(shop_id="shop-1", order=order))
        await self.scheduler.flush()


@asynccontextmanager
async def app_client(
    orders: OrdersApi | None, token: str = TOKEN
) -> AsyncIterator[httpx.AsyncClient]:
    ingress: ActorRef[IngressMsg] = ActorRef(Mailbox("webhook_ingress", 1))
    metrics = Metrics()
    lifecycle = Lifecycle()
    endpoint = WebhookEndpoint(
        apps=[],
        ingress=ingress,
        metrics=metrics,
        clock=SystemClock(),
        lifecycle=lifecycle,
        max_body_bytes=4096,
        retry_after_s=1,
    )

    async def ready() -> dict[str, str]:
        return {}

    async def status() -> tuple[str, dict[str, object]]:
        return "ok", {}

    app = CreatorFlowApp(
        webhooks=endpoint,
        metrics=metrics,
        lifecycle=lifecycle,
        readiness=ready,
        status=status,
        api=build_api([] if orders is None else orders.routes(), token=token),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        ingress.mailbox.close()


@asynccontextmanager
async def harness(
    tmp_path: Path, viral_skus: frozenset[str] = frozenset()
) -> AsyncIterator[Harness]:
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 256) as writer,
    ):
        actor = OrderScheduler(
            writer=writer,
            orders=store,
            clock=Clock(),
            rules=load_rules(RULES),
            settings=PrioritySettings(),
            delivery_types=lambda shop: DELIVERY,  # type: ignore[arg-type,return-value]
            viral_skus=lambda: viral_skus,
        )
        async with open_actor(actor, "scheduler", 256) as ref:
            api = OrdersApi(orders=store, scheduler=ref)
            async with app_client(api) as client:
                yield Harness(client=client, scheduler=ref)
            await ref.flush()
        await writer.flush()


def ids(n: int) -> list[str]:
    return [f"5760000000000001{i:02d}" for i in range(n)]


# --------------------------------------------------------------------------- GET one


async def test_get_order_shows_priority_lines_history_and_decisions(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with harness(tmp_path) as h:
        await h.observe(snapshot())
        response = await h.client.get(f"/api/orders/{FIRST}", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["order_id"] == FIRST
    assert body["shop_id"] == "shop-1"
    assert body["state"] == "classified"
    assert body["tiktok_status"] == "AWAITING_SHIPMENT"
    assert body["priority"] == "HIGH"  # EXPRESS
    assert isinstance(body["score"], int) and body["score"] >= 60
    assert body["reasons"][0] == {"reason": "base", "weight": 30}
    assert all(set(r) == {"reason", "weight"} for r in body["reasons"])
    assert sum(r["weight"] for r in body["reasons"]) == body["score"]
    lines = {line["seller_sku"]: line for line in body["lines"]}
    assert lines["MUG-RED"]["quantity"] == 2
    assert lines["MUG-RED"]["unit_price_minor"] == 1999
    assert lines["MUG-RED"]["currency"] == "USD"
    assert lines["MUG-BIG"]["quantity"] == 1
    assert body["total_minor"] == 4318
    assert body["updated_at_ms"] == Clock().now_ms()
    transitions = [e for e in body["history"] if e["kind"] == "transition"]
    assert [(e["from_state"], e["to_state"]) for e in transitions] == [
        (None, "received"),
        ("received", "classified"),
    ]
    assert [e["seq"] for e in body["history"]] == list(range(1, len(body["history"]) + 1))
    assert all(e["at_ms"] == Clock().now_ms() for e in body["history"])
    assert [hit["rule"] for hit in body["decisions"]] == ["big mugs"]
    assert body["decisions"][0]["actions"] == ["add_tags=big"]
    assert body["automation"]["tags"] == ["big"]


async def test_reasons_add_up_to_a_capped_score(tmp_path: Path, anyio_backend: Any) -> None:
    # README: "score ... clamped to 0-100", reasons "add up to the score". Express (30), overdue
    # (40), high value (10) and a viral SKU (15) on the base (30) make 125: the cap is a reason.
    overdue = Clock().now_ms() // 1000 - 60
    order = snapshot(rts_sla_time=overdue, payment={"currency": "USD", "total_amount": "150.00"})
    async with harness(tmp_path, viral_skus=frozenset({"MUG-RED"})) as h:
        await h.observe(order)
        response = await h.client.get(f"/api/orders/{FIRST}", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["score"], body["priority"]) == (100, "HIGH")
    assert sum(r["weight"] for r in body["reasons"]) == body["score"]
    assert body["reasons"] == [
        {"reason": "base", "weight": 30},
        {"reason": "delivery_express", "weight": 30},
        {"reason": "sla_overdue", "weight": 40},
        {"reason": "value_high", "weight": 10},
        {"reason": "viral_sku:MUG-RED", "weight": 15},
        {"reason": "capped_at_100", "weight": -25},
    ]


async def test_unknown_order_is_404(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get("/api/orders/nope", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "nope" in response.json()["detail"]


# --------------------------------------------------------------------------- GET list


async def test_list_pages_with_cursor_until_null(tmp_path: Path, anyio_backend: Any) -> None:
    wanted = ids(5)
    async with harness(tmp_path) as h:
        await h.observe(*(snapshot(id=oid) for oid in reversed(wanted)))
        seen: list[str] = []
        pages = 0
        cursor: str | None = None
        while True:
            params = {"limit": "2"} | ({} if cursor is None else {"cursor": cursor})
            response = await h.client.get("/api/orders", params=params, headers=AUTH)
            assert response.status_code == 200
            body = response.json()
            pages += 1
            assert len(body["orders"]) <= 2
            seen += [o["order_id"] for o in body["orders"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert decode_cursor(cursor) == seen[-1]
    assert pages == 3
    assert seen == wanted  # ids ascending, each once
    summary = body["orders"][0]
    assert set(summary) >= {"order_id", "state", "tiktok_status", "priority", "score"}


async def test_exact_last_page_has_null_cursor(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        await h.observe(*(snapshot(id=oid) for oid in ids(2)))
        body = (await h.client.get("/api/orders?limit=2", headers=AUTH)).json()
        empty = (await h.client.get("/api/orders?state=cancelled", headers=AUTH)).json()
    assert [o["order_id"] for o in body["orders"]] == ids(2)
    assert body["next_cursor"] is None
    assert empty == {"orders": [], "next_cursor": None}


async def test_limit_defaults_to_50_and_accepts_500(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        await h.observe(*(snapshot(id=oid) for oid in ids(51)))
        default = (await h.client.get("/api/orders", headers=AUTH)).json()
        most = await h.client.get("/api/orders?limit=500&state=&priority=", headers=AUTH)
    assert len(default["orders"]) == 50
    assert default["next_cursor"] == encode_cursor(ids(51)[49])
    assert most.status_code == 200
    assert len(most.json()["orders"]) == 51
    assert most.json()["next_cursor"] is None


async def test_filters_by_state_and_priority(tmp_path: Path, anyio_backend: Any) -> None:
    express, economy, plain = ids(3)
    async with harness(tmp_path) as h:
        await h.observe(  # three buyers: a repeat buyer would score higher
            snapshot(id=express, user_id="b-express"),
            snapshot(id=economy, delivery_option_id="opt-economy", user_id="b-economy"),
            snapshot(id=plain, delivery_option_id="", user_id="b-plain"),
        )
        held = await h.client.post(f"/api/orders/{economy}/hold", headers=AUTH)
        assert held.status_code == 200

        async def listed(query: str) -> list[tuple[str, str, str]]:
            response = await h.client.get(f"/api/orders?{query}", headers=AUTH)
            assert response.status_code == 200, response.text
            return [(o["order_id"], o["state"], o["priority"]) for o in response.json()["orders"]]

        assert await listed("priority=HIGH") == [(express, "classified", "HIGH")]
        assert await listed("priority=low") == [(economy, "needs_attention", "LOW")]
        assert await listed("priority=STANDARD") == [(plain, "classified", "STANDARD")]
        assert await listed("state=needs_attention") == [(economy, "needs_attention", "LOW")]
        assert [oid for oid, _, _ in await listed("state=classified")] == [express, plain]
        assert await listed("state=classified&priority=LOW") == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("state=lost", "state"),
        ("priority=URGENT", "priority"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
async def test_bad_query_is_400_naming_the_parameter(
    tmp_path: Path, anyio_backend: Any, query: str, parameter: str
) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.get(f"/api/orders?{query}", headers=AUTH)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_parameter"
    assert body["parameter"] == parameter
    assert body["detail"].startswith(f"{parameter}:")


# --------------------------------------------------------------------------- commands


async def test_hold_release_retry_and_refusals(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        await h.observe(snapshot())
        url = f"/api/orders/{FIRST}"
        held = await h.client.post(f"{url}/hold", json={"reason": "check address"}, headers=AUTH)
        assert held.status_code == 200
        assert held.json() == {"order_id": FIRST, "state": "needs_attention"}

        again = await h.client.post(f"{url}/hold", headers=AUTH)
        assert again.status_code == 409
        assert again.json()["error"] == "invalid_transition"

        released = await h.client.post(f"{url}/release", headers=AUTH)
        assert released.json() == {"order_id": FIRST, "state": "classified"}
        not_held = await h.client.post(f"{url}/retry", headers=AUTH)
        assert not_held.status_code == 409

        await h.client.post(f"{url}/hold", headers=AUTH)
        retried = await h.client.post(f"{url}/retry", json={"reason": "fixed"}, headers=AUTH)
        assert retried.status_code == 200
        assert retried.json()["state"] == "classified"

        detail = (await h.client.get(url, headers=AUTH)).json()
    assert detail["state"] == "classified"
    whys = [e["detail"]["why"] for e in detail["history"] if e["kind"] == "transition"]
    assert "operator hold: check address" in whys
    assert "operator retry: fixed" in whys
    assert [e["to_state"] for e in detail["history"] if e["kind"] == "transition"][-2:] == [
        "received",
        "classified",
    ]


async def test_command_on_unknown_order_is_404(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        response = await h.client.post("/api/orders/nope/hold", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


@pytest.mark.parametrize("body", [b"{", b'{"reason": 3}', b'{"why": "x"}', b"[]"])
async def test_bad_command_body_is_400(tmp_path: Path, anyio_backend: Any, body: bytes) -> None:
    async with harness(tmp_path) as h:
        await h.observe(snapshot())
        headers = AUTH | {"content-type": "application/json"}
        response = await h.client.post(f"/api/orders/{FIRST}/hold", content=body, headers=headers)
        state = (await h.client.get(f"/api/orders/{FIRST}", headers=AUTH)).json()["state"]
    assert response.status_code == 400
    assert response.json()["error"] == "bad_body"
    assert state == "classified"  # nothing was sent to the scheduler


async def test_scheduler_deadline_is_503(anyio_backend: Any) -> None:
    silent: ActorRef[SchedulerMsg] = ActorRef(Mailbox("scheduler", 4))  # nobody answers
    api = OrdersApi(orders=FailingStore(), scheduler=silent, ask_timeout_s=0.05)
    async with app_client(api) as client:
        response = await client.post(f"/api/orders/{FIRST}/hold", headers=AUTH)
    silent.mailbox.close()
    assert response.status_code == 503
    assert response.json()["error"] == "scheduler_timeout"
    assert response.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- routing, auth


class FailingStore:
    async def get_order(self, order_id: str) -> None:
        raise StoreUnavailable("database is locked")

    async def list_orders(self, **kwargs: Any) -> list[Any]:
        raise StoreUnavailable("database is locked")

    async def order_events(self, order_id: str, limit: int) -> list[Any]:
        raise StoreUnavailable("database is locked")


async def test_store_down_is_503(anyio_backend: Any) -> None:
    reader: OrderReader = FailingStore()
    silent: ActorRef[SchedulerMsg] = ActorRef(Mailbox("scheduler", 4))
    async with app_client(OrdersApi(orders=reader, scheduler=silent)) as client:
        one = await client.get(f"/api/orders/{FIRST}", headers=AUTH)
        many = await client.get("/api/orders", headers=AUTH)
    silent.mailbox.close()
    assert (one.status_code, one.json()["error"]) == (503, "store_unavailable")
    assert (many.status_code, many.json()["error"]) == (503, "store_unavailable")


async def test_token_is_required_when_configured(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        await h.observe(snapshot())
        for method, url in [
            ("GET", "/api/orders"),
            ("GET", f"/api/orders/{FIRST}"),
            ("POST", f"/api/orders/{FIRST}/hold"),
        ]:
            missing = await h.client.request(method, url)
            wrong = await h.client.request(method, url, headers={"authorization": "Bearer no"})
            assert missing.status_code == wrong.status_code == 401
            assert missing.json()["error"] == "unauthorized"
            assert missing.headers["www-authenticate"] == "Bearer"
        state = (await h.client.get(f"/api/orders/{FIRST}", headers=AUTH)).json()["state"]
    assert state == "classified"  # the unauthorized hold did nothing


async def test_no_token_configured_means_open(anyio_backend: Any) -> None:
    silent: ActorRef[SchedulerMsg] = ActorRef(Mailbox("scheduler", 4))
    api = OrdersApi(orders=FailingStore(), scheduler=silent)
    async with app_client(api, token="") as client:
        response = await client.get("/api/orders")
    silent.mailbox.close()
    assert response.status_code == 503  # past the token check, into the (failing) store


async def test_wrong_method_and_unknown_routes(tmp_path: Path, anyio_backend: Any) -> None:
    async with harness(tmp_path) as h:
        cases = [
            ("POST", "/api/orders", 405),
            ("DELETE", f"/api/orders/{FIRST}", 405),
            ("GET", f"/api/orders/{FIRST}/hold", 405),
            ("POST", f"/api/orders/{FIRST}/ship", 404),
            ("GET", "/api/orders/", 404),
            ("GET", f"/api/orders/{FIRST}/hold/more", 404),
        ]
        for method, url, status in cases:
            response = await h.client.request(method, url, headers=AUTH)
            assert response.status_code == status, (method, url)
            assert set(response.json()) == {"error", "detail"}


async def test_orders_routes_are_404_without_the_api(anyio_backend: Any) -> None:
    async with app_client(None) as client:
        response = await client.get("/api/orders", headers=AUTH)
        one = await client.get(f"/api/orders/{FIRST}", headers=AUTH)
    assert response.status_code == one.status_code == 404
    assert response.json()["error"] == "not_found"
