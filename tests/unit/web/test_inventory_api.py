"""The inventory API's HTTP layer, with fakes for the SKU actors, the store and the watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from starlette.routing import Match

from creatorflow.actors.inventory import (
    Adjust,
    GetStock,
    InventoryMsg,
    SetStock,
    StockView,
    TikTokSkuRef,
)
from creatorflow.actors.stock_watcher import ContentObserved, GetSignals, SkuSignals
from creatorflow.errors import (
    ActorCrashed,
    ActorStopped,
    InventoryRefused,
    MailboxFull,
    StoreError,
    StoreUnavailable,
)
from creatorflow.ports import (
    AdjustmentKeyRow,
    PurchaseOrderRow,
    PurchaseOrderState,
    ReservationRow,
    SkuRow,
    StockEventRow,
)
from creatorflow.web._http import Receive, Scope, Send
from creatorflow.web.api import build_api
from creatorflow.web.api._wire import decode_cursor, encode_cursor
from creatorflow.web.api.content import ContentMetricsApi
from creatorflow.web.api.errors import BadParameter
from creatorflow.web.api.inventory import InventoryApi, check_sku
from creatorflow.web.api.purchase_orders import PurchaseOrdersApi

pytestmark = pytest.mark.anyio

NOW_MS = 1_700_000_000_000
REF = TikTokSkuRef(shop_id="shop-1", product_id="p-1", sku_id="s-1", warehouse_id="w-1")


# --------------------------------------------------------------------------- fakes


class FakeInventory:
    """Stands in for ``registry.ask``: SKU state in a dict, every message recorded."""

    def __init__(self) -> None:
        self.stock: dict[str, dict[str, Any]] = {}
        self.asked: list[tuple[str, InventoryMsg]] = []
        self.error: BaseException | None = None
        self.hang = False

    def add(self, sku: str, on_hand: int = 0, reserved: int = 0, **more: Any) -> None:
        self.stock[sku] = {"on_hand": on_hand, "reserved": reserved, "safety_buffer": 0} | more

    async def ask(self, sku: str, msg: InventoryMsg) -> object:
        self.asked.append((sku, msg))
        if self.hang:
            await anyio.sleep_forever()
        if self.error is not None:
            raise self.error
        match msg:
            case GetStock():
                return self.view(sku)
            case SetStock():
                state = self.stock.setdefault(
                    sku, {"on_hand": 0, "reserved": 0, "safety_buffer": 0}
                )
                if msg.on_hand is not None:
                    state["on_hand"] = msg.on_hand
                if msg.safety_buffer is not None:
                    state["safety_buffer"] = msg.safety_buffer
                if msg.tiktok is not None:
                    state["ref"] = msg.tiktok
                return self.view(sku)
            case Adjust():
                state = self.stock[sku]
                if state["on_hand"] + msg.delta < state["reserved"]:
                    raise InventoryRefused("below_reserved", f"{sku}: 2 units are reserved")
                state["on_hand"] += msg.delta
                return self.view(sku)
        raise AssertionError(f"unexpected {msg!r}")

    def view(self, sku: str) -> StockView:
        state = self.stock[sku]  # KeyError: unknown SKU, as the actor
        ref: TikTokSkuRef | None = state.get("ref")
        available = state["on_hand"] - state["reserved"]
        return StockView(
            sku=sku,
            on_hand=state["on_hand"],
            reserved=state["reserved"],
            available=available,
            sellable=max(0, available - state["safety_buffer"]),
            safety_buffer=state["safety_buffer"],
            holds=1 if state["reserved"] else 0,
            open_po_qty=state.get("open_po_qty", 0),
            **({} if ref is None else msgspec.structs.asdict(ref)),
        )


class FakeReader:
    """The read side of the store, over lists; records the calls it gets."""

    def __init__(self) -> None:
        self.skus: list[SkuRow] = []
        self.events: dict[str, list[StockEventRow]] = {}
        self.held: dict[str, list[ReservationRow]] = {}
        self.pos: list[PurchaseOrderRow] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def _call(self, name: str, **kwargs: Any) -> None:
        self.calls.append((name, kwargs))
        if self.down:
            raise StoreUnavailable("database is locked")

    async def get_sku(self, sku: str) -> SkuRow | None:
        self._call("get_sku", sku=sku)
        return next((row for row in self.skus if row.sku == sku), None)

    async def list_skus(
        self, *, after: str | None = None, available_below: int | None = None, limit: int
    ) -> list[SkuRow]:
        self._call("list_skus", after=after, available_below=available_below, limit=limit)
        rows = sorted(self.skus, key=lambda r: r.sku)
        rows = [r for r in rows if after is None or r.sku > after]
        if available_below is not None:
            rows = [r for r in rows if r.on_hand - r.reserved < available_below]
        return rows[:limit]

    async def stock_events(
        self, sku: str, *, before_seq: int | None = None, limit: int
    ) -> list[StockEventRow]:
        self._call("stock_events", sku=sku, before_seq=before_seq, limit=limit)
        return sorted(self.events.get(sku, []), key=lambda e: -e.seq)[:limit]

    async def held_reservations(self, sku: str) -> list[ReservationRow]:
        self._call("held_reservations", sku=sku)
        return self.held.get(sku, [])

    async def purchase_orders(
        self,
        *,
        sku: str | None = None,
        states: Sequence[PurchaseOrderState] = (),
        after: str | None = None,
        limit: int,
    ) -> list[PurchaseOrderRow]:
        self._call("purchase_orders", sku=sku, states=list(states), after=after, limit=limit)
        rows = [
            r
            for r in sorted(self.pos, key=lambda r: r.po_id)
            if (sku is None or r.sku == sku)
            and (not states or r.state in states)
            and (after is None or r.po_id > after)
        ]
        return rows[:limit]

    # The rest of InventoryReader: the API must not use it.

    async def order_reservations(self, order_id: str) -> list[ReservationRow]:
        raise AssertionError("not used by the API")

    async def expired_holds(self, now_ms: int, limit: int) -> list[ReservationRow]:
        raise AssertionError("not used by the API")

    async def reservation_drift(self, limit: int) -> list[tuple[str, int, int]]:
        raise AssertionError("not used by the API")

    async def get_purchase_order(self, po_id: str) -> PurchaseOrderRow | None:
        raise AssertionError("not used by the API")

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        raise AssertionError("not used by the API (the SKU's actor reads its keys)")

    async def expired_adjustment_keys(self, now_ms: int, limit: int) -> list[AdjustmentKeyRow]:
        raise AssertionError("not used by the API")


class FakeWatcher:
    """``tell_nowait`` with a capacity, and ``ask`` for signals."""

    def __init__(self, capacity: int = 1000) -> None:
        self.told: list[ContentObserved] = []
        self.asked: list[GetSignals] = []
        self.capacity = capacity
        self.stopped = False
        self.reply: object = None
        self.error: Exception | None = None
        self.hang = False

    def tell_nowait(self, msg: ContentObserved) -> None:
        if self.stopped:
            raise ActorStopped("stock_watcher")
        if len(self.told) >= self.capacity:
            raise MailboxFull("stock_watcher")
        self.told.append(msg)

    async def ask(self, msg: GetSignals) -> object:
        self.asked.append(msg)
        if self.hang:
            await anyio.sleep_forever()
        if self.error is not None:
            raise self.error
        return self.reply


class Harness(msgspec.Struct, kw_only=True):
    client: httpx.AsyncClient
    app: Any  # the /api app (ASGI), for requests httpx cannot send
    inventory: FakeInventory
    reader: FakeReader
    watcher: FakeWatcher


def app_of(
    inventory: FakeInventory, reader: FakeReader, watcher: FakeWatcher | None, **timeouts: float
) -> Any:
    """The /api app with the inventory, purchase-order and content-metrics routes (no token)."""
    api = InventoryApi(
        ask=inventory.ask,
        reader=reader,
        clock_ms=lambda: NOW_MS,
        watcher_ask=None if watcher is None else watcher.ask,
        **timeouts,
    )
    content = ContentMetricsApi(
        watcher_tell=None if watcher is None else watcher.tell_nowait, clock_ms=lambda: NOW_MS
    )
    routes = [*api.routes(), *PurchaseOrdersApi(reader).routes(), *content.routes()]
    return build_api(routes, token="")


@asynccontextmanager
async def harness(
    *, watcher: bool = True, ask_timeout_s: float = 5.0, signals_timeout_s: float = 1.0
) -> AsyncIterator[Harness]:
    inventory, reader, fake_watcher = FakeInventory(), FakeReader(), FakeWatcher()
    app = app_of(
        inventory,
        reader,
        fake_watcher if watcher else None,
        ask_timeout_s=ask_timeout_s,
        signals_timeout_s=signals_timeout_s,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Harness(
            client=client, app=app, inventory=inventory, reader=reader, watcher=fake_watcher
        )


def sku_row(sku: str, on_hand: int = 10, reserved: int = 0) -> SkuRow:
    return SkuRow(sku=sku, on_hand=on_hand, reserved=reserved, safety_buffer=1, updated_at_ms=7)


def po_row(
    po_id: str, sku: str = "MUG", state: PurchaseOrderState = "requested"
) -> PurchaseOrderRow:
    return PurchaseOrderRow(
        po_id=po_id,
        sku=sku,
        supplier_id="sup-1",
        qty=40,
        state=state,
        created_at_ms=1,
        expected_at_ms=2,
        updated_at_ms=3,
        detail=b'{"note": "viral"}',
    )


def event_row(sku: str, seq: int) -> StockEventRow:
    return StockEventRow(
        sku=sku,
        seq=seq,
        at_ms=100 + seq,
        kind="adjust",
        order_id="",
        delta_on_hand=1,
        delta_reserved=0,
        on_hand=seq,
        reserved=0,
        reason=f"r{seq}",
    )


def scope(
    method: str,
    path: str,
    raw_path: bytes | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Scope:
    result: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers or [],
    }
    if raw_path is not None:
        result["raw_path"] = raw_path
    return result


def body_receive(*chunks: bytes) -> Receive:
    """An ASGI ``receive`` giving ``chunks`` as the request body (then a disconnect)."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


def collect(sent: list[dict[str, Any]]) -> Send:
    async def send(message: Any) -> None:
        sent.append(dict(message))

    return send


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --------------------------------------------------------------------------- GET one


async def test_get_shows_the_live_view_without_tiktok_or_signals(anyio_backend: Any) -> None:
    async with harness(watcher=False) as h:
        h.inventory.add("MUG", on_hand=10, reserved=3, safety_buffer=2)
        response = await h.client.get("/api/inventory/MUG")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "sku": "MUG",
        "on_hand": 10,
        "reserved": 3,
        "available": 7,
        "sellable": 5,
        "safety_buffer": 2,
        "holds": 1,
        "open_po_qty": 0,
        "tiktok": None,
        "signals": None,
    }
    assert h.inventory.asked == [("MUG", GetStock())]
    assert h.reader.calls == []  # no history asked for: the store is not read


async def test_get_shows_tiktok_ids_and_watcher_signals(anyio_backend: Any) -> None:
    async with harness() as h:
        h.inventory.add("MUG", on_hand=5, ref=REF, open_po_qty=40)
        h.watcher.reply = SkuSignals(
            sku="MUG",
            viral=True,
            rate_per_hour=12.5,
            baseline_per_hour=2.0,
            time_to_stockout_s=90.0,
        )
        body = (await h.client.get("/api/inventory/MUG")).json()
    assert body["tiktok"] == {
        "shop_id": "shop-1",
        "product_id": "p-1",
        "sku_id": "s-1",
        "warehouse_id": "w-1",
    }
    assert body["open_po_qty"] == 40
    assert body["signals"] == {
        "viral": True,
        "rate_per_hour": 12.5,
        "baseline_per_hour": 2.0,
        "time_to_stockout_s": 90.0,
    }
    assert h.watcher.asked == [GetSignals(sku="MUG")]


@pytest.mark.parametrize("trouble", ["error", "wrong_reply", "hang"])
async def test_signals_are_null_when_the_watcher_fails(anyio_backend: Any, trouble: str) -> None:
    async with harness(signals_timeout_s=0.01) as h:
        h.inventory.add("MUG", on_hand=5)
        if trouble == "error":
            h.watcher.error = ActorCrashed("stock_watcher")
        elif trouble == "wrong_reply":
            h.watcher.reply = {"viral": True}
        else:
            h.watcher.hang = True
        response = await h.client.get("/api/inventory/MUG")
    assert response.status_code == 200
    assert response.json()["signals"] is None
    assert response.json()["on_hand"] == 5
    assert h.watcher.asked == [GetSignals(sku="MUG")]


async def test_history_adds_the_newest_journal_entries(anyio_backend: Any) -> None:
    async with harness(watcher=False) as h:
        h.inventory.add("MUG", on_hand=5)
        h.reader.events["MUG"] = [event_row("MUG", seq) for seq in range(1, 6)]
        body = (await h.client.get("/api/inventory/MUG?history=3")).json()
        none = (await h.client.get("/api/inventory/MUG?history=0")).json()
        most = await h.client.get("/api/inventory/MUG?history=200")
    assert [e["seq"] for e in body["history"]] == [5, 4, 3]
    assert body["history"][0] == {
        "seq": 5,
        "at_ms": 105,
        "kind": "adjust",
        "order_id": "",
        "delta_on_hand": 1,
        "delta_reserved": 0,
        "on_hand": 5,
        "reserved": 0,
        "reason": "r5",
    }
    assert "history" not in none
    assert most.status_code == 200 and len(most.json()["history"]) == 5
    assert [c for c in h.reader.calls if c[0] == "stock_events"] == [
        ("stock_events", {"sku": "MUG", "before_seq": None, "limit": 3}),
        ("stock_events", {"sku": "MUG", "before_seq": None, "limit": 200}),
    ]


@pytest.mark.parametrize("value", ["-1", "201", "ten", "1.5"])
async def test_bad_history_is_400_before_asking(anyio_backend: Any, value: str) -> None:
    async with harness() as h:
        h.inventory.add("MUG")
        response = await h.client.get(f"/api/inventory/MUG?history={value}")
    body = assert_error(response, 400, "invalid_parameter")
    assert body["parameter"] == "history"
    assert h.inventory.asked == []


async def test_history_with_the_store_down_is_503(anyio_backend: Any) -> None:
    async with harness(watcher=False) as h:
        h.inventory.add("MUG")
        h.reader.down = True
        response = await h.client.get("/api/inventory/MUG?history=5")
    assert_error(response, 503, "store_unavailable")
    assert response.headers["retry-after"] == "1"


async def test_unknown_sku_is_404(anyio_backend: Any) -> None:
    async with harness() as h:
        response = await h.client.get("/api/inventory/NOPE")
    body = assert_error(response, 404, "not_found")
    assert "NOPE" in body["detail"]
    assert h.watcher.asked == []  # no signals for a SKU that does not exist


# --------------------------------------------------------------------------- PUT


async def test_put_creates_the_sku_with_every_field(anyio_backend: Any) -> None:
    async with harness(watcher=False) as h:
        response = await h.client.put(
            "/api/inventory/MUG",
            json={
                "on_hand": 12,
                "safety_buffer": 2,
                "reason": "initial count",
                "tiktok": {"shop_id": "shop-1", "product_id": "p-1", "sku_id": "s-1"},
            },
        )
        again = await h.client.get("/api/inventory/MUG")
    assert response.status_code == 200
    assert h.inventory.asked[0] == (
        "MUG",
        SetStock(
            on_hand=12,
            safety_buffer=2,
            reason="initial count",
            tiktok=TikTokSkuRef(shop_id="shop-1", product_id="p-1", sku_id="s-1"),
        ),
    )
    body = response.json()
    assert (body["sku"], body["on_hand"], body["safety_buffer"], body["sellable"]) == (
        "MUG",
        12,
        2,
        10,
    )
    assert body["tiktok"] == {
        "shop_id": "shop-1",
        "product_id": "p-1",
        "sku_id": "s-1",
        "warehouse_id": "",
    }
    assert "signals" not in body  # only the GET shows signals
    assert again.json()["on_hand"] == 12


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"on_hand": 0}, SetStock(on_hand=0)),
        ({"safety_buffer": 3}, SetStock(safety_buffer=3)),
        ({"on_hand": 5, "reason": "cycle count"}, SetStock(on_hand=5, reason="cycle count")),
        (
            {"tiktok": {"shop_id": "a", "product_id": "b", "sku_id": "c", "warehouse_id": "d"}},
            SetStock(
                tiktok=TikTokSkuRef(shop_id="a", product_id="b", sku_id="c", warehouse_id="d")
            ),
        ),
    ],
)
async def test_put_sends_only_what_is_given(
    anyio_backend: Any, body: dict[str, Any], expected: SetStock
) -> None:
    async with harness() as h:
        response = await h.client.put("/api/inventory/MUG", json=body)
    assert response.status_code == 200
    assert h.inventory.asked == [("MUG", expected)]
    assert expected.reason == "count" or body.get("reason") == expected.reason


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"[]",
        b"{}",
        b'{"reason": "count"}',
        b'{"on_hand": -1}',
        b'{"on_hand": 1000000001}',
        b'{"on_hand": "5"}',
        b'{"on_hand": 1.5}',
        b'{"on_hand": true}',
        b'{"safety_buffer": -2}',
        b'{"on_hand": 1, "colour": "red"}',
        b'{"on_hand": 1, "reason": ""}',
        b'{"on_hand": 1, "reason": "' + b"x" * 201 + b'"}',
        b'{"tiktok": {"shop_id": "a", "product_id": "b"}}',
        b'{"tiktok": {"shop_id": "a", "product_id": "", "sku_id": "c"}}',
        b'{"tiktok": {"shop_id": "a", "product_id": "b", "sku_id": "c", "x": 1}}',
        b'{"tiktok": null}',
    ],
)
async def test_bad_put_body_is_400_and_asks_nothing(anyio_backend: Any, content: bytes) -> None:
    async with harness() as h:
        response = await h.client.put(
            "/api/inventory/MUG", content=content, headers={"content-type": "application/json"}
        )
    assert_error(response, 400, "bad_body")
    assert h.inventory.asked == []


async def test_put_reason_of_200_characters_is_accepted(anyio_backend: Any) -> None:
    async with harness() as h:
        response = await h.client.put(
            "/api/inventory/MUG", json={"on_hand": 1, "reason": "x" * 200}
        )
    assert response.status_code == 200
    assert h.inventory.asked == [("MUG", SetStock(on_hand=1, reason="x" * 200))]


async def test_content_type_must_be_json_when_given(anyio_backend: Any) -> None:
    async with harness() as h:
        form = await h.client.put(
            "/api/inventory/MUG",
            content=b'{"on_hand": 1}',
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        charset = await h.client.put(
            "/api/inventory/MUG",
            content=b'{"on_hand": 2}',
            headers={"content-type": "application/json; charset=utf-8"},
        )
        bare = await h.client.put("/api/inventory/MUG", content=b'{"on_hand": 3}')
    assert_error(form, 415, "unsupported_media_type")
    assert "content-type" not in bare.request.headers
    assert charset.status_code == bare.status_code == 200
    assert [msg for _, msg in h.inventory.asked] == [SetStock(on_hand=2), SetStock(on_hand=3)]


async def test_bodies_over_8_kib_are_413(anyio_backend: Any) -> None:
    big = b'{"on_hand": 1, "reason": "' + b"x" * 8200 + b'"}'
    async with harness() as h:
        declared = await h.client.put("/api/inventory/MUG", content=big)
        # No Content-Length: the bytes are counted as they arrive.
        sent: list[dict[str, Any]] = []
        await h.app(
            scope("POST", "/api/inventory/MUG/adjustments"),
            body_receive(big[:4000], big[4000:]),
            collect(sent),
        )
    assert_error(declared, 413, "too_large")
    assert sent[0]["status"] == 413
    assert msgspec.json.decode(sent[1]["body"])["error"] == "too_large"
    assert h.inventory.asked == []


async def test_bad_content_length_is_400(anyio_backend: Any) -> None:
    async with harness() as h:
        sent: list[dict[str, Any]] = []
        await h.app(
            scope("PUT", "/api/inventory/MUG", headers=[(b"content-length", b"many")]),
            body_receive(b'{"on_hand": 1}'),
            collect(sent),
        )
    assert sent[0]["status"] == 400
    assert msgspec.json.decode(sent[1]["body"])["error"] == "bad_content_length"
    assert h.inventory.asked == []


# --------------------------------------------------------------------------- adjustments


async def test_adjustment_changes_on_hand(anyio_backend: Any) -> None:
    async with harness() as h:
        h.inventory.add("MUG", on_hand=10, reserved=2)
        up = await h.client.post(
            "/api/inventory/MUG/adjustments", json={"delta": 5, "reason": "receipt"}
        )
        down = await h.client.post(
            "/api/inventory/MUG/adjustments", json={"delta": -3, "reason": "damaged"}
        )
    assert up.status_code == down.status_code == 200
    assert up.json()["on_hand"] == 15
    assert (down.json()["on_hand"], down.json()["available"]) == (12, 10)
    assert h.inventory.asked == [
        ("MUG", Adjust(delta=5, reason="receipt")),
        ("MUG", Adjust(delta=-3, reason="damaged")),
    ]


async def test_the_idempotency_key_reaches_the_actor_whole(anyio_backend: Any) -> None:
    long_key = "k" * 200 + "-tail"
    async with harness() as h:
        h.inventory.add("MUG", on_hand=10)
        for key in (long_key, "  spaced key\t", "x" * 255):
            response = await h.client.post(
                "/api/inventory/MUG/adjustments",
                json={"delta": 1, "reason": "receipt"},
                headers={"Idempotency-Key": key},
            )
            assert response.status_code == 200, response.text
    assert [msg.key for _, msg in h.inventory.asked if isinstance(msg, Adjust)] == [
        long_key,
        "spaced key",
        "x" * 255,
    ]


@pytest.mark.parametrize("key", ["x" * 256, "k\x00", "é"])
async def test_a_bad_idempotency_key_is_400_before_the_body_and_asks_nothing(
    anyio_backend: Any, key: str
) -> None:
    sent: list[dict[str, Any]] = []
    headers = [(b"idempotency-key", key.encode()), (b"content-type", b"application/json")]
    async with harness() as h:
        h.inventory.add("MUG", on_hand=10)
        await h.app(
            scope("POST", "/api/inventory/MUG/adjustments", headers=headers),
            body_receive(b"not even JSON"),
            collect(sent),
        )
    assert sent[0]["status"] == 400
    body = msgspec.json.decode(sent[1]["body"])
    assert body["error"] == "invalid_idempotency_key" and body["detail"]
    assert h.inventory.asked == []


async def test_adjustment_refused_is_409_with_the_rule(anyio_backend: Any) -> None:
    async with harness() as h:
        h.inventory.add("MUG", on_hand=3, reserved=2)
        response = await h.client.post(
            "/api/inventory/MUG/adjustments", json={"delta": -2, "reason": "lost"}
        )
    body = assert_error(response, 409, "below_reserved")
    assert body["detail"] == "MUG: 2 units are reserved"
    assert h.inventory.stock["MUG"]["on_hand"] == 3


async def test_adjustment_of_unknown_sku_is_404(anyio_backend: Any) -> None:
    async with harness() as h:
        response = await h.client.post(
            "/api/inventory/NOPE/adjustments", json={"delta": 1, "reason": "found"}
        )
    assert_error(response, 404, "not_found")
    assert h.inventory.asked == [("NOPE", Adjust(delta=1, reason="found"))]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"delta": 0, "reason": "noop"}',
        b'{"delta": 1}',
        b'{"reason": "x"}',
        b'{"delta": 1, "reason": ""}',
        b'{"delta": 1.0, "reason": "x"}',
        b'{"delta": "1", "reason": "x"}',
        b'{"delta": 1, "reason": "x", "by": "me"}',
        b'{"delta": -1000000001, "reason": "x"}',
        b'{"delta": 1, "reason": "' + b"x" * 201 + b'"}',
    ],
)
async def test_bad_adjustment_body_is_400(anyio_backend: Any, content: bytes) -> None:
    async with harness() as h:
        h.inventory.add("MUG", on_hand=10)
        response = await h.client.post("/api/inventory/MUG/adjustments", content=content)
    assert_error(response, 400, "bad_body")
    assert h.inventory.asked == []


# --------------------------------------------------------------------------- actor errors

ERRORS = [
    (InventoryRefused("negative", "MUG: on hand would be -1"), 409, "negative"),
    (InventoryRefused("bad_quantity", "MUG: bad"), 409, "bad_quantity"),
    (InventoryRefused("closed", "MUG: closed"), 409, "closed"),
    (KeyError("MUG"), 404, "not_found"),
    (StoreUnavailable("database is locked"), 503, "store_unavailable"),
    (StoreError("constraint failed"), 503, "store_unavailable"),
    (ActorStopped("inventory"), 503, "inventory_unavailable"),
    (ActorCrashed("inventory"), 503, "inventory_unavailable"),
    (MailboxFull("inventory"), 503, "inventory_unavailable"),
]
REQUESTS = [
    ("GET", "/api/inventory/MUG", None),
    ("PUT", "/api/inventory/MUG", {"on_hand": 4}),
    ("POST", "/api/inventory/MUG/adjustments", {"delta": 1, "reason": "r"}),
]


@pytest.mark.parametrize(("error", "status", "code"), ERRORS)
@pytest.mark.parametrize(("method", "url", "body"), REQUESTS)
async def test_actor_errors_map_to_statuses(
    anyio_backend: Any,
    error: Exception,
    status: int,
    code: str,
    method: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    async with harness() as h:
        h.inventory.add("MUG", on_hand=10)
        h.inventory.error = error
        response = await h.client.request(method, url, json=body)
    detail = assert_error(response, status, code)["detail"]
    if isinstance(error, InventoryRefused):
        assert detail == error.detail  # the rule's text, without the code prefix
    assert (response.headers.get("retry-after") == "1") == (status == 503)
    assert len(h.inventory.asked) == 1


@pytest.mark.parametrize(("method", "url", "body"), REQUESTS)
async def test_actor_deadline_is_503(
    anyio_backend: Any, method: str, url: str, body: dict[str, Any] | None
) -> None:
    async with harness(ask_timeout_s=0.01) as h:
        h.inventory.hang = True
        response = await h.client.request(method, url, json=body)
    assert_error(response, 503, "inventory_timeout")
    assert response.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- reservations


async def test_reservations_lists_the_held_rows(anyio_backend: Any) -> None:
    async with harness() as h:
        h.reader.held["MUG"] = [
            ReservationRow(
                order_id="o1",
                sku="MUG",
                qty=2,
                state="held",
                expires_at_ms=None,
                created_at_ms=10,
                updated_at_ms=11,
            ),
            ReservationRow(
                order_id="o2",
                sku="MUG",
                qty=1,
                state="held",
                expires_at_ms=NOW_MS + 99,
                created_at_ms=12,
                updated_at_ms=12,
            ),
            ReservationRow(  # past its expiry: no longer counts, even before the sweep
                order_id="o3",
                sku="MUG",
                qty=5,
                state="held",
                expires_at_ms=NOW_MS,
                created_at_ms=12,
                updated_at_ms=12,
            ),
        ]
        response = await h.client.get("/api/inventory/MUG/reservations")
    assert response.status_code == 200
    assert response.json() == {
        "sku": "MUG",
        "reservations": [
            {"order_id": "o1", "qty": 2, "expires_at_ms": None, "created_at_ms": 10},
            {"order_id": "o2", "qty": 1, "expires_at_ms": NOW_MS + 99, "created_at_ms": 12},
        ],
    }
    assert [name for name, _ in h.reader.calls] == ["held_reservations"]
    assert h.inventory.asked == []  # a store read, not an actor's


async def test_reservations_of_known_sku_without_holds_and_of_unknown_sku(
    anyio_backend: Any,
) -> None:
    async with harness() as h:
        h.reader.skus = [sku_row("MUG")]
        known = await h.client.get("/api/inventory/MUG/reservations")
        unknown = await h.client.get("/api/inventory/NOPE/reservations")
        h.reader.down = True
        down = await h.client.get("/api/inventory/MUG/reservations")
    assert known.json() == {"sku": "MUG", "reservations": []}
    assert_error(unknown, 404, "not_found")
    assert_error(down, 503, "store_unavailable")
    assert down.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- list SKUs


async def test_list_pages_with_cursor_until_null(anyio_backend: Any) -> None:
    names = [f"SKU-{i}" for i in range(5)]
    async with harness() as h:
        h.reader.skus = [sku_row(name, on_hand=10, reserved=i) for i, name in enumerate(names)]
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params = {"limit": "2"} | ({} if cursor is None else {"cursor": cursor})
            response = await h.client.get("/api/inventory", params=params)
            assert response.status_code == 200
            body = response.json()
            pages += 1
            assert len(body["skus"]) <= 2
            seen += [s["sku"] for s in body["skus"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert decode_cursor(cursor) == seen[-1]
    assert pages == 3
    assert seen == names
    assert body["skus"][0] == {
        "sku": "SKU-4",
        "on_hand": 10,
        "reserved": 4,
        "available": 6,
        "safety_buffer": 1,
        "updated_at_ms": 7,
    }
    assert [c[1]["limit"] for c in h.reader.calls] == [3, 3, 3]  # one extra row per page


async def test_list_filters_below_and_defaults(anyio_backend: Any) -> None:
    async with harness() as h:
        h.reader.skus = [sku_row(f"S{i:03d}", on_hand=i) for i in range(51)]
        default = (await h.client.get("/api/inventory")).json()
        low = (await h.client.get("/api/inventory?below=3&limit=&cursor=")).json()
        negative = await h.client.get("/api/inventory?below=-5")
        most = await h.client.get("/api/inventory?limit=500")
    assert len(default["skus"]) == 50
    assert default["next_cursor"] == encode_cursor("S049")
    assert [s["sku"] for s in low["skus"]] == ["S000", "S001", "S002"]
    assert low["next_cursor"] is None
    assert negative.json() == {"skus": [], "next_cursor": None}
    assert len(most.json()["skus"]) == 51
    calls = [c[1] for c in h.reader.calls]
    assert calls[0] == {"after": None, "available_below": None, "limit": 51}
    assert calls[1] == {"after": None, "available_below": 3, "limit": 51}
    assert calls[2]["available_below"] == -5
    assert calls[3]["limit"] == 501


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("below=few", "below"),
        ("below=1.5", "below"),
        ("below=99999999999999999999", "below"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=", None),
    ],
)
async def test_bad_list_query_is_400_naming_the_parameter(
    anyio_backend: Any, query: str, parameter: str | None
) -> None:
    async with harness() as h:
        response = await h.client.get(f"/api/inventory?{query}")
    if parameter is None:  # empty parameters count as absent
        assert response.status_code == 200
        return
    body = assert_error(response, 400, "invalid_parameter")
    assert body["parameter"] == parameter
    assert body["detail"].startswith(f"{parameter}:")
    assert h.reader.calls == []


async def test_list_with_the_store_down_is_503(anyio_backend: Any) -> None:
    async with harness() as h:
        h.reader.down = True
        skus = await h.client.get("/api/inventory")
        pos = await h.client.get("/api/purchase-orders")
    for response in (skus, pos):
        assert_error(response, 503, "store_unavailable")
        assert response.headers["retry-after"] == "1"


# --------------------------------------------------------------------------- purchase orders


async def test_purchase_orders_page_and_filter(anyio_backend: Any) -> None:
    async with harness() as h:
        h.reader.pos = [
            po_row("po-1", state="requested"),
            po_row("po-2", state="received"),
            po_row("po-3", sku="CUP", state="confirmed"),
            po_row("po-4", state="failed"),
        ]
        first = (await h.client.get("/api/purchase-orders?limit=2")).json()
        rest = (await h.client.get(f"/api/purchase-orders?cursor={first['next_cursor']}")).json()
        mug_open = await h.client.get(
            "/api/purchase-orders?sku=MUG&state=requested,confirmed&state=RECEIVED&state=requested"
        )
    assert [p["po_id"] for p in first["purchase_orders"]] == ["po-1", "po-2"]
    assert decode_cursor(first["next_cursor"]) == "po-2"
    assert [p["po_id"] for p in rest["purchase_orders"]] == ["po-3", "po-4"]
    assert rest["next_cursor"] is None
    assert [p["po_id"] for p in mug_open.json()["purchase_orders"]] == ["po-1", "po-2"]
    assert first["purchase_orders"][0] == {
        "po_id": "po-1",
        "sku": "MUG",
        "supplier_id": "sup-1",
        "qty": 40,
        "state": "requested",
        "created_at_ms": 1,
        "expected_at_ms": 2,
        "updated_at_ms": 3,
        "detail": {"note": "viral"},
    }
    assert h.reader.calls[-1][1] == {
        "sku": "MUG",
        "states": ["requested", "confirmed", "received"],
        "after": None,
        "limit": 51,
    }


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("state=lost", "state"),
        ("state=requested,", "state"),
        ("sku=" + "x" * 129, "sku"),
        ("limit=0", "limit"),
        ("cursor=%%%", "cursor"),
    ],
)
async def test_bad_purchase_order_query_is_400(
    anyio_backend: Any, query: str, parameter: str
) -> None:
    async with harness() as h:
        response = await h.client.get(f"/api/purchase-orders?{query}")
    body = assert_error(response, 400, "invalid_parameter")
    assert body["parameter"] == parameter
    assert h.reader.calls == []


# --------------------------------------------------------------------------- content metrics


async def test_one_metric_is_told_with_now_as_default_time(anyio_backend: Any) -> None:
    async with harness() as h:
        response = await h.client.post(
            "/api/content-metrics", json={"sku": "MUG", "video_id": "v1", "views": 1000}
        )
    assert response.status_code == 202
    assert response.json() == {"accepted": 1}
    assert h.watcher.told == [
        ContentObserved(sku="MUG", video_id="v1", views=1000, likes=0, shares=0, at_ms=NOW_MS)
    ]


async def test_a_list_of_metrics_is_told_in_order(anyio_backend: Any) -> None:
    metrics = [
        {"sku": f"S{i}", "video_id": f"v{i}", "views": i, "likes": 2, "shares": 1, "at_ms": i}
        for i in range(500)
    ]
    async with harness() as h:
        response = await h.client.post("/api/content-metrics", json=metrics)
    assert response.status_code == 202
    assert response.json() == {"accepted": 500}
    assert [m.sku for m in h.watcher.told] == [f"S{i}" for i in range(500)]
    assert h.watcher.told[7] == ContentObserved(
        sku="S7", video_id="v7", views=7, likes=2, shares=1, at_ms=7
    )


async def test_full_watcher_is_503_saying_how_many_were_accepted(anyio_backend: Any) -> None:
    metrics = [{"sku": "MUG", "video_id": f"v{i}", "views": i} for i in range(5)]
    async with harness() as h:
        h.watcher.capacity = 2
        full = await h.client.post("/api/content-metrics", json=metrics)
        h.watcher.stopped = True
        stopped = await h.client.post("/api/content-metrics", json=metrics)
    body = assert_error(full, 503, "watcher_busy")
    assert body["accepted"] == 2
    assert full.headers["retry-after"] == "1"
    assert [m.video_id for m in h.watcher.told] == ["v0", "v1"]
    assert assert_error(stopped, 503, "watcher_unavailable")["accepted"] == 0


async def test_no_watcher_is_503(anyio_backend: Any) -> None:
    async with harness(watcher=False) as h:
        response = await h.client.post(
            "/api/content-metrics", json={"sku": "MUG", "video_id": "v1", "views": 1}
        )
        h.inventory.add("MUG")
        stock = await h.client.get("/api/inventory/MUG")
    assert_error(response, 503, "watcher_unavailable")
    assert stock.json()["signals"] is None


@pytest.mark.parametrize(
    "content",
    [
        b"[]",
        b"3",
        b'{"sku": "MUG", "video_id": "v1"}',
        b'{"sku": "MUG", "views": 1}',
        b'{"sku": "MUG", "video_id": "", "views": 1}',
        b'{"sku": "", "video_id": "v1", "views": 1}',
        b'{"sku": "a\\u0007", "video_id": "v1", "views": 1}',
        b'{"sku": "MUG", "video_id": "v1", "views": -1}',
        b'{"sku": "MUG", "video_id": "v1", "views": 1, "likes": -1}',
        b'{"sku": "MUG", "video_id": "v1", "views": 1, "at_ms": -5}',
        b'{"sku": "MUG", "video_id": "v1", "views": 1, "comments": 3}',
        b'[{"sku": "MUG", "video_id": "v1", "views": 1}, {"sku": "MUG"}]',
        b"[" + b",".join([b'{"sku":"M","video_id":"v","views":1}'] * 501) + b"]",
    ],
)
async def test_bad_metrics_are_400_and_nothing_is_told(anyio_backend: Any, content: bytes) -> None:
    async with harness() as h:
        response = await h.client.post("/api/content-metrics", content=content)
    assert_error(response, 400, "bad_body")
    assert h.watcher.told == []


async def test_metrics_body_limit_is_128_kib(anyio_backend: Any) -> None:
    item = b'{"sku":"MUG","video_id":"' + b"v" * 100 + b'","views":1}'
    fits = b"[" + b",".join([item] * 500) + b"]"  # ~66 KiB: over the 8 KiB of the other routes
    too_big = b'{"sku": "MUG", "video_id": "v", "views": 1, "x": "' + b"x" * 131072 + b'"}'
    async with harness() as h:
        ok = await h.client.post("/api/content-metrics", content=fits)
        big = await h.client.post("/api/content-metrics", content=too_big)
    assert len(fits) > 65536
    assert ok.status_code == 202
    assert_error(big, 413, "too_large")
    assert len(h.watcher.told) == 500


# --------------------------------------------------------------------------- SKU ids in paths


@pytest.mark.parametrize(
    ("segment", "sku"),
    [
        ("MUG%20RED", "MUG RED"),
        ("caf%C3%A9", "café"),
        ("a%25b", "a%b"),  # decoded once only
        ("a+b", "a+b"),
        ("x" * 128, "x" * 128),
    ],
)
async def test_sku_segment_is_percent_decoded_once(
    anyio_backend: Any, segment: str, sku: str
) -> None:
    async with harness() as h:
        put = await h.client.put(f"/api/inventory/{segment}", json={"on_hand": 1})
        post = await h.client.post(
            f"/api/inventory/{segment}/adjustments", json={"delta": 1, "reason": "r"}
        )
    assert put.status_code == post.status_code == 200
    assert put.json()["sku"] == sku
    assert [asked for asked, _ in h.inventory.asked] == [sku, sku]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/inventory/a%00b"),
        ("GET", "/api/inventory/a%1Fb"),
        ("GET", "/api/inventory/a%7Fb"),
        ("GET", "/api/inventory/a%C2%85b"),  # NEL, a C1 control
        ("GET", "/api/inventory/%FF"),  # not UTF-8
        ("GET", "/api/inventory/" + "x" * 129),
        ("GET", "/api/inventory/"),
        ("PUT", "/api/inventory/%0A%2F"),
        ("POST", "/api/inventory//adjustments"),
    ],
)
async def test_bad_sku_in_path_is_400(anyio_backend: Any, method: str, path: str) -> None:
    async with harness() as h:
        body = {"on_hand": 1} if method == "PUT" else {"delta": 1, "reason": "r"}
        response = await h.client.request(method, path, json=None if method == "GET" else body)
    assert response.request.url.raw_path == path.encode()  # httpx sent it as written
    assert assert_error(response, 400, "invalid_parameter")["parameter"] == "sku"
    assert h.inventory.asked == []
    assert h.reader.calls == []


async def test_a_slash_in_a_sku_travels_as_2f(anyio_backend: Any) -> None:
    async with harness() as h:
        h.inventory.add("TEE/RED/L", on_hand=4)
        response = await h.client.get("/api/inventory/TEE%2FRED%2FL")
    assert response.status_code == 200, response.text
    assert response.json()["sku"] == "TEE/RED/L"
    assert [sku for sku, _ in h.inventory.asked] == ["TEE/RED/L"]


async def test_without_raw_path_the_decoded_path_is_used(anyio_backend: Any) -> None:
    async with harness() as h:
        h.inventory.add("MUG RED", on_hand=4)
        ok: list[dict[str, Any]] = []
        await h.app(scope("GET", "/api/inventory/MUG RED"), body_receive(b""), collect(ok))
        # A server that gives no raw_path has already turned %2F into "/": two segments.
        split: list[dict[str, Any]] = []
        await h.app(scope("GET", "/api/inventory/a/b"), body_receive(b""), collect(split))
        # A raw path that does not start with the prefix (mounted under a root path).
        mounted: list[dict[str, Any]] = []
        await h.app(
            scope("GET", "/api/inventory/MUG RED", raw_path=b"/shop/api/inventory/MUG%20RED"),
            body_receive(b""),
            collect(mounted),
        )
    assert ok[0]["status"] == 200
    assert msgspec.json.decode(ok[1]["body"])["on_hand"] == 4
    assert split[0]["status"] == 404
    assert mounted[0]["status"] == 200
    assert [sku for sku, _ in h.inventory.asked] == ["MUG RED", "MUG RED"]


def test_check_sku() -> None:
    assert check_sku("MUG-RED") == "MUG-RED"
    assert check_sku("x" * 128) == "x" * 128
    assert check_sku("TEE/RED/L") == "TEE/RED/L"  # seller SKUs may hold a "/"
    for bad in ["", "a\nb", "a\tb", "x" * 129, "a\x9fb"]:
        with pytest.raises(BadParameter) as info:
            check_sku(bad)
        assert info.value.parameter == "sku"


# --------------------------------------------------------------------------- routing


def test_the_routes_claim_their_paths_only() -> None:
    routes = app_of(FakeInventory(), FakeReader(), FakeWatcher()).routes

    def handles(path: str) -> bool:
        scope = {"type": "http", "method": "GET", "path": path}
        return any(route.matches(scope)[0] is not Match.NONE for route in routes)

    for path in [
        "/api/inventory",
        "/api/inventory/MUG",
        "/api/inventory/MUG/adjustments",
        "/api/purchase-orders",
        "/api/content-metrics",
    ]:
        assert handles(path), path
    for path in [
        "/api/inventoryx",
        "/api/orders",
        "/api/purchase-orders/po-1",
        "/api/content-metrics/x",
        "/inventory",
    ]:
        assert not handles(path), path


async def test_wrong_method_and_unknown_routes(anyio_backend: Any) -> None:
    cases = [
        ("POST", "/api/inventory", 405),
        ("DELETE", "/api/inventory/MUG", 405),
        ("POST", "/api/inventory/MUG", 405),
        ("GET", "/api/inventory/MUG/adjustments", 405),
        ("PUT", "/api/inventory/MUG/adjustments", 405),
        ("POST", "/api/inventory/MUG/reservations", 405),
        ("POST", "/api/purchase-orders", 405),
        ("GET", "/api/content-metrics", 405),
        ("GET", "/api/inventory/MUG/history", 404),
        ("GET", "/api/inventory/MUG/reservations/o1", 404),
        ("GET", "/api/purchase-orders/po-1", 404),  # not claimed: the app's 404
    ]
    async with harness() as h:
        h.inventory.add("MUG")
        for method, url, status in cases:
            response = await h.client.request(method, url)
            assert response.status_code == status, (method, url)
            assert set(response.json()) == {"error", "detail"}
            code = "method_not_allowed" if status == 405 else "not_found"
            assert response.json()["error"] == code
    assert h.inventory.asked == []
    assert h.reader.calls == []


async def test_content_metrics_from_the_future_are_400(anyio_backend: Any) -> None:
    async with harness() as h:
        response = await h.client.post(
            "/api/content-metrics",
            json=[
                {"sku": "MUG", "video_id": "v1", "views": 1},
                {"sku": "MUG", "video_id": "v1", "views": 2, "at_ms": NOW_MS + 3_600_000},
            ],
        )
    assert_error(response, 400, "bad_body")
    assert h.watcher.told == []  # none of the list is taken


@pytest.mark.parametrize(
    "tiktok",
    [
        {"shop_id": "a b", "product_id": "p", "sku_id": "s"},
        {"shop_id": "a", "product_id": "p/1", "sku_id": "s"},
        {"shop_id": "a", "product_id": "p", "sku_id": "s\x0b"},
        {"shop_id": "a", "product_id": "p" * 65, "sku_id": "s"},
        {"shop_id": "a", "product_id": "p", "sku_id": "s", "warehouse_id": "w?"},
    ],
)
async def test_tiktok_ids_tiktok_would_refuse_are_400(
    anyio_backend: Any, tiktok: dict[str, str]
) -> None:
    # Found by the schemathesis run: such an id was stored, then every stock push of the SKU
    # raised in the stock sync actor (a crash and a restart each time).
    async with harness() as h:
        response = await h.client.put("/api/inventory/MUG", json={"tiktok": tiktok})
    assert_error(response, 400, "bad_body")
    assert h.inventory.asked == []


@pytest.mark.parametrize(
    ("method", "url", "allow"),
    [
        ("DELETE", "/api/inventory/MUG", "GET, HEAD, PUT"),
        ("GET", "/api/inventory/MUG/adjustments", "POST"),
        ("POST", "/api/inventory", "GET, HEAD"),
        ("GET", "/api/content-metrics", "POST"),
    ],
)
async def test_every_405_says_what_is_allowed(
    anyio_backend: Any, method: str, url: str, allow: str
) -> None:
    async with harness() as h:
        response = await h.client.request(method, url)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow


async def test_a_tiktok_id_with_a_trailing_newline_is_400(anyio_backend: Any) -> None:
    tiktok = {"shop_id": "a", "product_id": "p\n", "sku_id": "s"}
    async with harness() as h:
        response = await h.client.put("/api/inventory/MUG", json={"tiktok": tiktok})
    assert_error(response, 400, "bad_body")
