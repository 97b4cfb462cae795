"""Fault injection (429 bursts, outages, 5xx, latency) and the admin contract."""

from __future__ import annotations

from typing import Any

import pytest
from sandbox_helpers import (
    Collector,
    FakeWallClock,
    RecordingSleep,
    client_for,
    make_config,
    signed,
)

from creatorflow.sandbox.tiktok import FaultConfig, TikTokSandbox, open_tiktok_sandbox

pytestmark = pytest.mark.anyio

SHOPS = "/authorization/202309/shops"


async def _codes(app: TikTokSandbox, clock: FakeWallClock, n: int) -> list[tuple[int, int]]:
    out = []
    async with client_for(app) as client:
        for _ in range(n):
            response = await signed(client, clock, "GET", SHOPS, cipher=None)
            out.append((response.status_code, response.json()["code"]))
    return out


async def test_429_burst_hits_exactly_the_next_n_calls() -> None:
    clock = FakeWallClock()
    app = TikTokSandbox(make_config(faults=FaultConfig(burst_429=3, retry_after_s=2)), clock=clock)
    async with client_for(app) as client:
        first = await signed(client, clock, "GET", SHOPS, cipher=None)
    assert first.headers["retry-after"] == "2"
    assert await _codes(app, clock, 3) == [(429, 36009002)] * 2 + [(200, 0)]
    assert [c["code"] for c in app.calls] == [36009002] * 3 + [0]


async def test_outage_window_follows_the_fake_clock() -> None:
    clock = FakeWallClock()
    app = TikTokSandbox(make_config(faults=FaultConfig(outage_s=30)), clock=clock)
    assert await _codes(app, clock, 1) == [(503, 36009003)]
    clock.advance(29)
    async with client_for(app) as client:
        response = await signed(client, clock, "GET", SHOPS, cipher=None)
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    clock.advance(1)
    assert await _codes(app, clock, 1) == [(200, 0)]


async def test_error_rate_and_latency_are_deterministic_with_the_seed() -> None:
    runs = []
    for _ in range(2):
        clock, sleep = FakeWallClock(), RecordingSleep()
        faults = FaultConfig(error_rate=0.3, latency_ms=(10, 50))
        app = TikTokSandbox(make_config(seed=4, faults=faults), clock=clock, sleep=sleep)
        codes = await _codes(app, clock, 30)
        runs.append((codes, sleep.delays))
    assert runs[0] == runs[1]
    codes, delays = runs[0]
    assert {c for c in codes} == {(500, 36009003), (200, 0)}
    assert len(delays) == 30 and all(0.010 <= d <= 0.050 for d in delays)


async def test_fixed_latency() -> None:
    clock, sleep = FakeWallClock(), RecordingSleep()
    app = TikTokSandbox(
        make_config(faults=FaultConfig(latency_ms=(20, 20))), clock=clock, sleep=sleep
    )
    await _codes(app, clock, 2)
    assert sleep.delays == [0.02, 0.02]


async def test_faults_admin_endpoint_sets_burst_outage_and_reset() -> None:
    clock = FakeWallClock()
    app = TikTokSandbox(make_config(), clock=clock)
    async with client_for(app) as client:
        burst = await client.post("/sandbox/tiktok/faults", json={"burst_429": 2})
        assert burst.json()["burst_429_left"] == 2
        assert await _codes(app, clock, 3) == [(429, 36009002)] * 2 + [(200, 0)]
        outage = await client.post("/sandbox/tiktok/faults", json={"outage_s": 10})
        assert outage.json()["in_outage"] is True
        assert await _codes(app, clock, 1) == [(503, 36009003)]
        await client.post("/sandbox/tiktok/faults", json={"reset": True})
        assert await _codes(app, clock, 1) == [(200, 0)]
        bad = await client.post("/sandbox/tiktok/faults", json={"error_rate": 2})
        unknown = await client.post("/sandbox/tiktok/faults", json={"nope": 1})
        snapshot = (await client.get("/sandbox/tiktok/faults")).json()
    assert bad.status_code == 400 and unknown.status_code == 400
    assert snapshot["injected"]["429"] == 2 and snapshot["injected"]["503"] == 1


MUGS = {"lines": [{"seller_sku": "MUG-RED", "quantity": 2, "sale_price": "19.99"}],
        "delivery_type": "EXPRESS", "status": "AWAITING_SHIPMENT"}  # fmt: skip


async def test_admin_create_and_move_send_webhooks() -> None:
    clock, collector = FakeWallClock(), Collector()
    config = make_config()
    async with (
        open_tiktok_sandbox(config, clock=clock, deliver=collector.deliver) as app,
        client_for(app) as client,
    ):
        created = await client.post("/sandbox/tiktok/orders", json=MUGS)
        order_id = created.json()["order_id"]
        moved = await client.post(
            f"/sandbox/tiktok/orders/{order_id}/status", json={"status": "CANCELLED"}
        )
        again = await client.post(
            f"/sandbox/tiktok/orders/{order_id}/status", json={"status": "IN_TRANSIT"}
        )
        missing = await client.post("/sandbox/tiktok/orders/1/status", json={"status": "CANCELLED"})
        view = (await client.get(f"/sandbox/tiktok/orders/{order_id}")).json()
        bad = await client.post("/sandbox/tiktok/orders", json={"lines": []})
        junk = await client.post("/sandbox/tiktok/orders", content=b"{")
        await app.wait_webhooks_idle()
        hooks = (await client.get("/sandbox/tiktok/webhooks")).json()
    assert created.status_code == 200 and set(created.json()) == {"order_id"}
    assert moved.status_code == 200
    assert again.status_code == 409 and missing.status_code == 404
    assert bad.status_code == 409 and junk.status_code == 400
    assert view["order"]["status"] == "CANCELLED"
    assert [s for s, _ in view["history"]] == [
        "UNPAID",
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "CANCELLED",
    ]
    assert len(view["order"]["line_items"]) == 2
    assert collector.statuses(order_id)[:3] == ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"]
    assert collector.statuses(order_id)[3] in ("CANCEL", "CANCELLED")
    assert hooks["stats"]["delivered"] == 4


async def test_admin_bearer_token_when_configured() -> None:
    app = TikTokSandbox(make_config(admin_token="s3cret"))
    async with client_for(app) as client:
        anonymous = await client.get("/sandbox/tiktok/calls")
        wrong = await client.get("/sandbox/tiktok/calls", headers={"authorization": "Bearer x"})
        right = await client.get(
            "/sandbox/tiktok/calls", headers={"authorization": "Bearer s3cret"}
        )
        create = await client.post("/sandbox/tiktok/orders", json=MUGS)
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert create.status_code == 401
    assert right.status_code == 200 and right.json() == {"calls": []}


async def test_generator_is_seeded_and_bounded() -> None:
    def specs(app: TikTokSandbox, ids: list[str]) -> list[Any]:
        return [
            (o["status"], o["delivery_option_id"], [li["seller_sku"] for li in o["line_items"]])
            for o in (app.book.render(app.book.require(i)) for i in ids)
        ]

    first, second = TikTokSandbox(make_config()), TikTokSandbox(make_config())
    ids_a = await first.generate_orders(50, seed=1)
    ids_b = await second.generate_orders(50, seed=1)
    assert ids_a == ids_b and specs(first, ids_a) == specs(second, ids_b)
    statuses = {s for s, _, _ in specs(first, ids_a)}
    assert "AWAITING_SHIPMENT" in statuses and len(statuses) > 1
    async with client_for(first) as client:
        more = await client.post("/sandbox/tiktok/generate", json={"count": 5})
        too_many = await client.post("/sandbox/tiktok/generate", json={"count": 10**6})
    assert len(more.json()["order_ids"]) == 5 and too_many.status_code == 409
    capped = TikTokSandbox(make_config(max_orders=10))
    await capped.generate_orders(25)
    assert len(capped.book) == 10


async def test_tokens_expire_admin_endpoint() -> None:
    clock = FakeWallClock()
    app = TikTokSandbox(make_config(), clock=clock)
    async with client_for(app) as client:
        await client.post("/sandbox/tiktok/tokens/expire")
    assert await _codes(app, clock, 1) == [(401, 105002)]
