"""Shipping end to end with the built-in sandboxes (issue 12, "Done when").

One real service on 127.0.0.1:0 (uvicorn, SQLite) with the sandbox TikTok Shop and the sandbox
carriers mounted in-process. Orders of every priority, with stock, flow webhook → label →
TikTok shipped → delivered: exactly one purchase per order at the carriers, each TikTok order
shows the package with the purchased tracking number, ON_HOLD and UNPAID orders get no label.
Then one carrier in a full outage: its breaker opens and every order still ships through the
others.

Time: the service and both sandboxes share one ``ShiftedClock`` (real time that the test moves
ahead): the saga's step retry, the tracking poller's passes and the trackers' walk to
``delivered`` happen when the test advances it, never by sleeping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.actors.shipping.tracking import PollNow
from creatorflow.app import Service, open_service
from creatorflow.runtime.testing import ShiftedClock
from creatorflow.wiring import keys
from helpers import API, make_config, settle

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SKUS = ("MUG-RED", "TEE-BLUE", "CAP-GREEN")
ENV = {
    "CREATORFLOW_ORDERS__SYNC_COALESCE_MS": "0",  # no coalescing window: orders go at once
    "CREATORFLOW_SHIPPING__POLL_INTERVAL_S": "3600",  # passes are asked for (PollNow)
}


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


async def create(client: httpx.AsyncClient, sku: str, kind: str, **extra: Any) -> str:
    body = {"lines": [{"seller_sku": sku, "quantity": 1, "sale_price": "25.00"}]}
    body |= {"delivery_type": kind, "on_hold": False} | extra
    answer = await client.post("/sandbox/tiktok/orders", json=body, headers=API)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["order_id"])


async def states(client: httpx.AsyncClient, ids: list[str]) -> dict[str, str]:
    found = {}
    for oid in ids:
        answer = await client.get(f"/api/orders/{oid}", headers=API)
        found[oid] = answer.json()["state"] if answer.status_code == 200 else "missing"
    return found


async def run_until(
    service: Service,
    client: httpx.AsyncClient,
    clock: ShiftedClock,
    ids: list[str],
    wanted: set[str],
    *,
    step_s: float = 5.0,
    max_steps: int = 60,
) -> dict[str, str]:
    """Settle, move the clock one step (the saga's retries, the poller), until every order is
    in one of ``wanted``; fails with the states after ``max_steps``."""
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    for _ in range(max_steps):
        await sandbox.wait_webhooks_idle()
        await settle(service)
        now = await states(client, ids)
        if set(now.values()) <= wanted:
            return now
        clock.advance(step_s)
        await service.assembly.refs.get(keys.TRACKING_POLLER).ask(PollNow())
    pytest.fail(f"not all in {wanted}: {now}")


async def test_orders_of_every_priority_ship_once_and_are_delivered(tmp_path: Path) -> None:
    clock = ShiftedClock()
    config = make_config(tmp_path, ("asyncio", {"use_uvloop": True}), **ENV)
    async with (
        open_service(config, clock=clock, timer=clock) as service,
        httpx.AsyncClient(base_url=service.url, timeout=15.0) as client,
    ):
        for sku in SKUS:
            put = await client.put(f"/api/inventory/{sku}", json={"on_hand": 100}, headers=API)
            assert put.status_code == 200
        shippable = [
            await create(client, SKUS[0], "EXPRESS"),
            await create(client, SKUS[1], "STANDARD"),
            await create(client, SKUS[2], "ECONOMY"),
            await create(client, SKUS[0], "STANDARD"),
        ]
        held = [
            await create(client, SKUS[1], "STANDARD", on_hold=True, status="ON_HOLD"),
            await create(client, SKUS[2], "STANDARD", status="UNPAID"),
        ]
        shipped = await run_until(service, client, clock, shippable, {"shipped"})
        assert set(shipped.values()) == {"shipped"}
        assert set((await states(client, held)).values()) == {"on_hold"}

        purchases = (await client.get("/sandbox/carriers/purchases", headers=API)).json()
        by_order = {p["reference"]: p for p in purchases["purchases"]}
        assert sorted(p["reference"] for p in purchases["purchases"]) == sorted(shippable)
        for oid in shippable:
            view = (await client.get(f"/sandbox/tiktok/orders/{oid}", headers=API)).json()
            assert view["status"] == "AWAITING_COLLECTION"
            numbers = [p["tracking_number"] for p in view["packages"]]
            assert numbers == [by_order[oid]["tracking_number"]]
            row = await service.store.get_shipment(oid)
            assert row is not None and row.tracking_number == by_order[oid]["tracking_number"]
            label = await service.store.get_label(oid)
            assert label is not None and label.data.startswith(b"%PDF")
        express = await service.store.get_shipment(shippable[0])
        assert express is not None and express.service.endswith(("express", "priority"))

        # The API: the shipment, its label, and the order's summary of it.
        shipment = (await client.get(f"/api/shipments/{shippable[1]}", headers=API)).json()
        assert shipment["state"] == "shipped"
        assert shipment["tracking_number"] == by_order[shippable[1]]["tracking_number"]
        assert shipment["cost"]["amount_minor"] == by_order[shippable[1]]["total_charge"]
        assert shipment["selection"] and shipment["attempts"][-1]["outcome"] == "labeled"
        label = await client.get(f"/api/shipments/{shippable[1]}/label", headers=API)
        assert label.headers["content-type"] == "application/pdf"
        assert label.content.startswith(b"%PDF")
        order = (await client.get(f"/api/orders/{shippable[1]}", headers=API)).json()
        assert order["shipment"]["tracking_number"] == shipment["tracking_number"]
        assert (await client.get(f"/api/shipments/{held[0]}", headers=API)).status_code == 404

        # The carriers' trackers walk to delivered; the poller follows them.
        for oid in shippable:
            number = by_order[oid]["tracking_number"]
            moved = await client.post(
                f"/sandbox/carriers/trackers/{number}/advance",
                json={"status": "delivered"},
                headers=API,
            )
            assert moved.status_code == 200, moved.text
        delivered = await run_until(
            service, client, clock, shippable, {"delivered"}, step_s=3600.0, max_steps=10
        )
        assert set(delivered.values()) == {"delivered"}
        # Still exactly one label per order, and none for the held ones.
        purchases = (await client.get("/sandbox/carriers/purchases", headers=API)).json()
        assert len(purchases["purchases"]) == len(shippable)
        # Delivered orders have committed their stock: on hand went down by one per order.
        stock = (await client.get(f"/api/inventory/{SKUS[0]}", headers=API)).json()
        assert stock["on_hand"] == 98


async def test_one_carrier_down_every_order_still_ships(tmp_path: Path) -> None:
    clock = ShiftedClock()
    config = make_config(tmp_path, ("asyncio", {"use_uvloop": True}), **ENV)
    async with (
        open_service(config, clock=clock, timer=clock) as service,
        httpx.AsyncClient(base_url=service.url, timeout=15.0) as client,
    ):
        await client.put(f"/api/inventory/{SKUS[0]}", json={"on_hand": 100}, headers=API)
        down = await client.post(
            "/sandbox/carriers/faults", json={"carrier": "terra", "outage": True}, headers=API
        )
        assert down.status_code == 200
        ids = [await create(client, SKUS[0], "ECONOMY") for _ in range(6)]
        done = await run_until(service, client, clock, ids, {"shipped"})
        assert set(done.values()) == {"shipped"}
        purchases = (await client.get("/sandbox/carriers/purchases", headers=API)).json()
        assert sorted(p["reference"] for p in purchases["purchases"]) == sorted(ids)
        assert all(p["carrier"] != "terra" for p in purchases["purchases"])
        carriers = (await client.get("/api/carriers", headers=API)).json()["carriers"]
        assert {c["name"]: c["breaker"] for c in carriers}["terra"] == "open"
