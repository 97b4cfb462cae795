"""The sandbox supplier: its HTTP API, life cycle, faults, admin endpoints, bounds and CLI."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from sandbox_helpers import START_S, FakeWallClock, RecordingSleep

from creatorflow import cli
from creatorflow.sandbox.supplier import (
    SupplierFaultConfig,
    SupplierSandbox,
    SupplierSandboxConfig,
)

pytestmark = pytest.mark.anyio

KEY = "k-supplier"
AUTH = {"authorization": f"Bearer {KEY}"}
ORDERS = "/v1/purchase-orders"
START_MS = START_S * 1000


def make(**config: Any) -> SupplierSandbox:
    sleep = config.pop("sleep", None)
    fields: dict[str, Any] = {"api_key": KEY, "seed": 1} | config
    return SupplierSandbox(SupplierSandboxConfig(**fields), clock=FakeWallClock(), sleep=sleep)


def client(app: SupplierSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://supplier")


async def place(
    http: httpx.AsyncClient, po_id: str, sku: str = "MUG", qty: int = 10, key: str | None = None
) -> httpx.Response:
    headers = AUTH | {"idempotency-key": po_id if key is None else key}
    return await http.post(ORDERS, json={"po_id": po_id, "sku": sku, "qty": qty}, headers=headers)


# ------------------------------------------------------------------ the API


async def test_post_creates_then_repeats_the_same_order_and_get_reads_it() -> None:
    app = make()
    async with client(app) as http:
        created = await place(http, "po-1")
        again = await place(http, "po-1")
        read = await http.get(f"{ORDERS}/po-1", headers=AUTH)
        missing = await http.get(f"{ORDERS}/po-2", headers=AUTH)
    assert created.status_code == 201 and again.status_code == 200 and read.status_code == 200
    assert (
        created.json()
        == again.json()
        == read.json()
        == {
            "po_id": "po-1",
            "supplier_ref": "SR-1-000001",
            "sku": "MUG",
            "qty": 10,
            "state": "accepted",
            "created_at_ms": START_MS,
            "expected_at_ms": START_MS + 300_000,
            "delivered_qty": 0,
            "reason": "",
        }
    )
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert len(app.book) == 1


async def test_the_api_key_is_required() -> None:
    app = make()
    async with client(app) as http:
        none = await http.get(f"{ORDERS}/po-1")
        wrong = await http.get(f"{ORDERS}/po-1", headers={"authorization": "Bearer nope"})
        posted = await http.post(ORDERS, json={"po_id": "p", "sku": "s", "qty": 1})
    for response in (none, wrong, posted):
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert len(app.book) == 0


@pytest.mark.parametrize(
    ("body", "headers", "status", "error"),
    [
        ({"po_id": "po-1", "sku": "A", "qty": 1}, {}, 400, "missing_idempotency_key"),
        ({"po_id": "po-1", "sku": "A", "qty": 1}, {"idempotency-key": "x"}, 400,
         "idempotency_key_mismatch"),
        (b"{not json", {"idempotency-key": "po-1"}, 400, "invalid_json"),
        ({"po_id": "po-1", "sku": "A"}, {"idempotency-key": "po-1"}, 422, "invalid_order"),
        ({"po_id": "po-1", "sku": "A", "qty": 0}, {"idempotency-key": "po-1"}, 422,
         "invalid_order"),
        ({"po_id": "po-1", "sku": "A", "qty": 1001}, {"idempotency-key": "po-1"}, 422,
         "invalid_order"),
        ({"po_id": "po 1", "sku": "A", "qty": 1}, {"idempotency-key": "po 1"}, 422,
         "invalid_order"),
        ({"po_id": "po-1", "sku": "", "qty": 1}, {"idempotency-key": "po-1"}, 422,
         "invalid_order"),
    ],
)  # fmt: skip
async def test_bad_requests_are_refused_and_create_nothing(
    body: Any, headers: dict[str, str], status: int, error: str
) -> None:
    app = make(max_qty=1000)
    async with client(app) as http:
        if isinstance(body, bytes):
            response = await http.post(ORDERS, content=body, headers=AUTH | headers)
        else:
            response = await http.post(ORDERS, json=body, headers=AUTH | headers)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert len(app.book) == 0


async def test_a_known_po_id_with_other_terms_is_a_conflict() -> None:
    app = make()
    async with client(app) as http:
        await place(http, "po-1", qty=10)
        other_qty = await place(http, "po-1", qty=11)
        other_sku = await place(http, "po-1", sku="CAP")
    for response in (other_qty, other_sku):
        assert response.status_code == 409
        assert response.json()["error"] == "idempotency_conflict"
    assert len(app.book) == 1 and app.book.get("po-1").qty == 10  # type: ignore[union-attr]


async def test_catalog_routes_methods_and_body_size() -> None:
    app = make(catalog=frozenset({"MUG"}), max_body_bytes=64)
    async with client(app) as http:
        unknown = await place(http, "po-1", sku="CAP")
        listed = await place(http, "po-2", sku="MUG")
        get_collection = await http.get(ORDERS, headers=AUTH)
        put_one = await http.put(f"{ORDERS}/po-2", headers=AUTH)
        nowhere = await http.get("/v2/things", headers=AUTH)
        too_big = await http.post(ORDERS, content=b"x" * 65, headers=AUTH)
    assert (unknown.status_code, unknown.json()["error"]) == (422, "unknown_sku")
    assert listed.status_code == 201
    assert (get_collection.status_code, get_collection.headers["allow"]) == (405, "POST")
    assert (put_one.status_code, put_one.headers["allow"]) == (405, "GET")
    assert nowhere.status_code == 404
    assert too_big.status_code == 413


# ------------------------------------------------------------------ life cycle


async def test_life_cycle_per_sku_lead_time_and_rejection_follow_the_admin_clock() -> None:
    app = make(
        confirm_after_s=10,
        transit_s=100,
        sku_lead_time_s={"SLOW": 1000.0},
        reject_skus=frozenset({"GONE"}),
    )
    async with client(app) as http:
        await place(http, "po-slow", sku="SLOW", qty=7)
        await place(http, "po-std", sku="MUG", qty=3)
        rejected = (await place(http, "po-gone", sku="GONE")).json()
        states = []
        for advance_s in (0, 10, 190, 700, 100):
            clock = await http.post("/_admin/clock", json={"advance_s": advance_s})
            slow = (await http.get(f"{ORDERS}/po-slow", headers=AUTH)).json()
            std = (await http.get(f"{ORDERS}/po-std", headers=AUTH)).json()
            states.append((slow["state"], slow["delivered_qty"], std["state"]))
        backwards = await http.post("/_admin/clock", json={"advance_s": -1})
    assert states == [
        ("accepted", 0, "accepted"),
        ("confirmed", 0, "confirmed"),
        ("confirmed", 0, "shipped"),  # MUG: lead 300 s, shipped for its last 100 s
        ("shipped", 0, "delivered"),
        ("delivered", 7, "delivered"),
    ]
    assert clock.json() == {"now_ms": START_MS + 1_000_000, "offset_ms": 1_000_000}
    assert slow["expected_at_ms"] == START_MS + 1_000_000
    assert rejected["state"] == "rejected" and rejected["reason"]
    assert rejected["expected_at_ms"] == 0 and rejected["delivered_qty"] == 0
    assert backwards.status_code == 400


# ------------------------------------------------------------------ faults


async def test_429_and_500_bursts_hit_exactly_the_next_calls() -> None:
    app = make()
    async with client(app) as http:
        plan = await http.post("/_admin/faults", json={"burst_429": 2, "retry_after_s": 3})
        assert plan.json()["burst_429_left"] == 2
        limited = [await http.get(f"{ORDERS}/x", headers=AUTH) for _ in range(3)]
        await http.post("/_admin/faults", json={"burst_500": 1})
        failed = await place(http, "po-1")
        ok = await place(http, "po-1")
        snapshot = (await http.get("/_admin/faults")).json()
    assert [r.status_code for r in limited] == [429, 429, 404]
    assert limited[0].headers["retry-after"] == "3"
    assert (failed.status_code, ok.status_code) == (500, 201)
    assert snapshot["injected"] == {"latency": 0, "429": 2, "500": 1, "503": 0, "lost": 0}


async def test_outage_window_follows_the_sandbox_clock() -> None:
    app = make(faults=SupplierFaultConfig(outage_s=30))
    async with client(app) as http:
        first = await place(http, "po-1")
        app.advance(29)
        last = await place(http, "po-1")
        app.advance(1)
        after = await place(http, "po-1")
    assert first.status_code == 503 and first.headers["retry-after"] == "30"
    assert last.status_code == 503 and last.headers["retry-after"] == "1"
    assert after.status_code == 201


async def test_lost_answer_creates_the_order_and_answers_500_after_the_delay() -> None:
    sleep = RecordingSleep()
    faults = SupplierFaultConfig(lost_responses=1, lost_response_delay_s=30)
    app = make(faults=faults, sleep=sleep)
    async with client(app) as http:
        lost = await place(http, "po-1")
        retried = await place(http, "po-1")
    assert lost.status_code == 500 and retried.status_code == 200
    assert retried.json()["po_id"] == "po-1" and len(app.book) == 1
    assert sleep.delays == [30]
    assert [(c["status"], c["lost"]) for c in app.calls] == [(201, True), (200, False)]


async def test_error_rate_lost_rate_and_latency_are_deterministic_with_the_seed() -> None:
    runs = []
    for _ in range(2):
        sleep = RecordingSleep()
        plan = SupplierFaultConfig(error_rate=0.3, lost_response_rate=0.3, latency_ms=(10, 50))
        app = make(seed=4, faults=plan, sleep=sleep)
        async with client(app) as http:
            statuses = [(await place(http, f"po-{i}")).status_code for i in range(20)]
        runs.append((statuses, sleep.delays, app.faults.snapshot()["injected"]))
    assert runs[0] == runs[1]
    statuses, delays, injected = runs[0]
    assert 0 < injected["500"] < 20 and 0 < injected["lost"] < 20
    assert statuses.count(500) == injected["500"] + injected["lost"]
    assert len(delays) == 20 and all(0.010 <= d <= 0.050 for d in delays)


async def test_fault_admin_validates_and_resets() -> None:
    app = make()
    async with client(app) as http:
        unknown = await http.post("/_admin/faults", json={"explode": True})
        bad = await http.post("/_admin/faults", json={"error_rate": 2})
        await http.post("/_admin/faults", json={"error_rate": 0.5, "outage_s": 60})
        kept = (await http.post("/_admin/faults", json={"burst_429": 1})).json()
        reset = (await http.post("/_admin/faults", json={"reset": True})).json()
    assert unknown.status_code == 400 and bad.status_code == 400
    assert kept["plan"]["error_rate"] == 0.5 and kept["in_outage"]
    assert msgspec.convert(reset["plan"], SupplierFaultConfig) == SupplierFaultConfig()
    assert app.faults.plan == SupplierFaultConfig()
    assert not reset["in_outage"] and reset["outages"] == []


async def test_admin_is_never_faulted() -> None:
    app = make(faults=SupplierFaultConfig(error_rate=1.0))
    async with client(app) as http:
        assert (await http.get("/_admin/orders")).status_code == 200
        assert (await place(http, "po-1")).status_code == 500


# ------------------------------------------------------------------ admin views, reset


async def test_admin_lists_orders_and_calls() -> None:
    app = make(reject_skus=frozenset({"GONE"}), confirm_after_s=1)
    async with client(app) as http:
        for i, sku in enumerate(("MUG", "CAP", "GONE")):
            await place(http, f"po-{i}", sku=sku)
        everything = (await http.get("/_admin/orders")).json()
        rejected = (await http.get("/_admin/orders", params={"state": "rejected"})).json()
        caps = (await http.get("/_admin/orders", params={"sku": "CAP"})).json()
        newest = (await http.get("/_admin/orders", params={"limit": "1"})).json()
        one = (await http.get("/_admin/orders/po-0")).json()
        missing = await http.get("/_admin/orders/po-9")
        calls = (await http.get("/_admin/calls", params={"limit": "2"})).json()["calls"]
        nowhere = await http.get("/_admin/nothing")
    assert everything["count"] == 3 and [o["po_id"] for o in everything["orders"]] == [
        "po-0",
        "po-1",
        "po-2",
    ]
    assert [o["po_id"] for o in rejected["orders"]] == ["po-2"]
    assert [o["po_id"] for o in caps["orders"]] == ["po-1"]
    assert [o["po_id"] for o in newest["orders"]] == ["po-2"]
    assert one["confirmed_at_ms"] == START_MS + 1000 and "shipped_at_ms" in one
    assert missing.status_code == 404 and nowhere.status_code == 404
    assert [(c["idempotency_key"], c["status"]) for c in calls] == [("po-1", 201), ("po-2", 201)]


async def test_admin_token_is_required_when_set() -> None:
    app = make(admin_token="adm")
    async with client(app) as http:
        without = await http.get("/_admin/orders")
        with_api_key = await http.get("/_admin/orders", headers=AUTH)
        ok = await http.get("/_admin/orders", headers={"authorization": "Bearer adm"})
    assert without.status_code == 401 and with_api_key.status_code == 401
    assert ok.status_code == 200


async def test_reset_forgets_everything() -> None:
    app = make(faults=SupplierFaultConfig(burst_500=1))
    async with client(app) as http:
        await place(http, "po-1")  # the 500 of the configured burst
        await place(http, "po-1")
        await http.post("/_admin/clock", json={"advance_s": 50})
        assert (await http.post("/_admin/reset")).json() == {"reset": True}
        assert (app.clock.offset_ms, len(app.book), len(app.calls)) == (0, 0, 0)
        burst_again = await place(http, "po-1")
        fresh = await place(http, "po-1")
    assert burst_again.status_code == 500  # the configured plan is back in force
    assert fresh.json()["supplier_ref"] == "SR-1-000001"


# ------------------------------------------------------------------ bounds


async def test_a_full_book_forgets_finished_orders_only() -> None:
    app = make(max_orders=2, lead_time_s=100, reject_skus=frozenset({"GONE"}))
    async with client(app) as http:
        await place(http, "po-1")
        await place(http, "po-2")
        full = await place(http, "po-3")
        app.advance(100)  # po-1 and po-2 delivered
        third = await place(http, "po-3")
        fourth = await place(http, "po-4", sku="GONE")  # forgets po-2, then is itself finished
        fifth = await place(http, "po-5")  # forgets po-4 (rejected), not po-3 (open)
    assert (full.status_code, full.json()["error"]) == (507, "book_full")
    assert (third.status_code, fourth.status_code, fifth.status_code) == (201, 201, 201)
    assert [o.po_id for o in app.book.orders()] == ["po-3", "po-5"]
    assert app.book.forgotten == 3


async def test_calls_are_a_bounded_ring() -> None:
    app = make(max_calls=3)
    async with client(app) as http:
        for i in range(5):
            await http.get(f"{ORDERS}/po-{i}", headers=AUTH)
    assert [c["path"] for c in app.calls] == [f"{ORDERS}/po-{i}" for i in (2, 3, 4)]


def test_config_is_validated() -> None:
    for bad, match in (
        ({"api_key": ""}, "api_key"),
        ({"max_orders": 0}, "max_orders"),
        ({"lead_time_s": -1}, "lead_time_s"),
        ({"sku_lead_time_s": {"A": -1.0}}, "sku_lead_time_s"),
    ):
        with pytest.raises(ValueError, match=match):
            SupplierSandboxConfig(**bad)
    with pytest.raises(ValueError, match="latency_ms"):
        SupplierFaultConfig(latency_ms=(5, 1))
    with pytest.raises(ValueError, match="lost_response_rate"):
        SupplierFaultConfig(lost_response_rate=1.5)
    assert "sandbox-supplier-key" not in repr(SupplierSandboxConfig())


# ------------------------------------------------------------------ ASGI lifespan and CLI


async def test_lifespan_is_answered() -> None:
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await make()({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_cli_flags_build_the_supplier_sandbox_served_by_uvicorn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: dict[str, Any] = {}

    def fake_run(app: Any, **kwargs: Any) -> None:
        served.update(kwargs, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    code = cli.main(
        ["sandbox", "supplier", "--port", "9998", "--api-key", "k", "--lead-time-s", "60",
         "--seed", "5"]
    )  # fmt: skip
    assert code == 0
    app = served["app"]
    assert isinstance(app, SupplierSandbox)
    assert (app.config.api_key, app.config.lead_time_s, app.config.seed) == ("k", 60.0, 5)
    assert (served["host"], served["port"], served["lifespan"]) == ("127.0.0.1", 9998, "on")


def test_cli_defaults_and_a_bad_lead_time(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(kwargs, app=app))
    assert cli.main(["sandbox", "supplier"]) == 0
    assert served["app"].config == SupplierSandboxConfig()
    assert (served["host"], served["port"]) == ("127.0.0.1", 8091)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("must not serve"))
    assert cli.main(["sandbox", "supplier", "--lead-time-s", "-5"]) == cli.EXIT_CONFIG
