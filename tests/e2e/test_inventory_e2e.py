"""Inventory end to end through ``creatorflow serve`` with the built-in sandboxes: the HTTP
API sets stock, TikTok orders reserve it through the saga, cancels release it, shipments take it
off the shelf, and every change of sellable stock reaches TikTok's inventory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.app import Service, open_service
from creatorflow.sandbox._tiktok_order import LineSpec, OrderSpec, sku_ids
from helpers import API_TOKEN, make_config, settle

# asyncio and uvloop: no trio copy of these end-to-end runs (trio has its own e2e tests).
pytestmark = [pytest.mark.anyio, pytest.mark.asyncio_only]

WAREHOUSE = "7000000000000000003"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ENV = {
    "CREATORFLOW_ORDERS__SYNC_COALESCE_MS": "0",
    "CREATORFLOW_STOCK_SYNC__DEBOUNCE_MS": "0",
    # Inventory only: orders stay reserved (shipping commits their stock; it has its own e2e).
    "CREATORFLOW_SHIPPING__ENABLED": "false",
}


@pytest.fixture
async def service(tmp_path: Path, anyio_backend: Any) -> AsyncIterator[Service]:
    async with open_service(make_config(tmp_path, anyio_backend, **ENV)) as svc:
        yield svc


async def settle_all(service: Service) -> None:
    """Webhooks through the pipeline and the saga, then TikTok stock pushes done."""
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    await sandbox.wait_webhooks_idle()
    await settle(service)
    await service.supervisor.ref("stock_sync").flush()


def tiktok_quantity(service: Service, seller_sku: str) -> int | None:
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    sku_id, _ = sku_ids(seller_sku)
    return sandbox.book.inventory.get((sku_id, WAREHOUSE))


async def test_orders_reserve_release_and_ship_stock_set_through_the_api(
    service: Service,
) -> None:
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    sku_id, product_id = sku_ids("MUG-RED")
    async with httpx.AsyncClient(base_url=service.url, headers=AUTH) as api:
        put = await api.put(
            "/api/inventory/MUG-RED",
            json={
                "on_hand": 5,
                "safety_buffer": 1,
                "tiktok": {
                    "shop_id": sandbox.config.shop_id,
                    "product_id": product_id,
                    "sku_id": sku_id,
                    "warehouse_id": WAREHOUSE,
                },
            },
        )
        assert put.status_code == 200, put.text
        assert put.json()["available"] == 5 and put.json()["sellable"] == 4
        await settle_all(service)
        assert tiktok_quantity(service, "MUG-RED") == 4  # sellable pushed to TikTok

        # A paid order for 3 reserves 3; a second for 2 finds 1 sellable: backordered.
        first = await sandbox.create_order(
            OrderSpec(lines=[LineSpec(seller_sku="MUG-RED", quantity=3, sale_price="9.99")])
        )
        await settle_all(service)
        second = await sandbox.create_order(
            OrderSpec(lines=[LineSpec(seller_sku="MUG-RED", quantity=2, sale_price="9.99")])
        )
        await settle_all(service)
        view = (await api.get("/api/inventory/MUG-RED")).json()
        assert (view["on_hand"], view["reserved"], view["sellable"]) == (5, 3, 1)
        assert (await api.get(f"/api/orders/{first}")).json()["state"] == "reserved"
        assert (await api.get(f"/api/orders/{second}")).json()["state"] == "backordered"
        assert tiktok_quantity(service, "MUG-RED") == 1

        # Stock that cannot disappear: reserved units are protected.
        refused = await api.post(
            "/api/inventory/MUG-RED/adjustments", json={"delta": -3, "reason": "damaged"}
        )
        assert refused.status_code == 409 and refused.json()["error"] == "below_reserved"

        # A receipt wakes the backordered order, which now reserves.
        got = await api.post(
            "/api/inventory/MUG-RED/adjustments", json={"delta": 4, "reason": "receipt"}
        )
        assert got.status_code == 200, got.text
        await settle_all(service)
        assert (await api.get(f"/api/orders/{second}")).json()["state"] == "reserved"
        view = (await api.get("/api/inventory/MUG-RED")).json()
        assert (view["on_hand"], view["reserved"]) == (9, 5)

        # Cancel one, ship the other.
        await sandbox.set_status(first, "CANCELLED")
        await sandbox.set_status(second, "AWAITING_COLLECTION")
        await settle_all(service)
        assert (await api.get(f"/api/orders/{first}")).json()["state"] == "cancelled"
        assert (await api.get(f"/api/orders/{second}")).json()["state"] == "shipped"
        view = (await api.get("/api/inventory/MUG-RED?history=20")).json()
        assert (view["on_hand"], view["reserved"], view["sellable"]) == (7, 0, 6)
        kinds = [entry["kind"] for entry in view["history"]]
        assert kinds.count("reserve") == 2 and "release" in kinds and "commit" in kinds
        assert tiktok_quantity(service, "MUG-RED") == 6

        listed = (await api.get("/api/inventory", params={"below": 10})).json()
        assert [row["sku"] for row in listed["skus"]] == ["MUG-RED"]
        assert (await api.get("/api/inventory/NOPE")).status_code == 404

        metrics = (await api.get("/metrics")).text
        assert 'creatorflow_reservations_total{outcome="reserved"} 2.0' in metrics
        assert 'creatorflow_reservations_total{outcome="refused"}' in metrics


async def test_content_metrics_are_accepted_and_signals_shown(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url, headers=AUTH) as api:
        assert (await api.put("/api/inventory/TEE-S", json={"on_hand": 10})).status_code == 200
        posted = await api.post(
            "/api/content-metrics",
            json=[{"sku": "TEE-S", "video_id": "v1", "views": 1000, "likes": 10, "shares": 1}],
        )
        assert posted.status_code == 202 and posted.json() == {"accepted": 1}
        await service.supervisor.ref("stock_watcher").flush()
        view = (await api.get("/api/inventory/TEE-S")).json()
        assert view["signals"] is not None and view["signals"]["viral"] is False
        # The built-in sandbox supplier is mounted for operators to look at.
        pos = await api.get("/api/purchase-orders")
        assert pos.status_code == 200 and pos.json()["purchase_orders"] == []


async def test_an_adjustment_key_is_applied_once_across_a_restart(
    tmp_path: Path, anyio_backend: Any
) -> None:
    # README: a 503 means "outcome unknown"; repeated with the same Idempotency-Key it is
    # applied once, here after `creatorflow serve` stopped and started again on the same data.
    config = make_config(tmp_path, anyio_backend, **ENV)
    key = {"Idempotency-Key": "receipt-7f3c"}
    body = {"delta": 5, "reason": "receipt"}
    async with open_service(config) as first:
        api = httpx.AsyncClient(base_url=first.url, headers=AUTH)
        async with api:
            assert (await api.put("/api/inventory/MUG", json={"on_hand": 10})).status_code == 200
            sent = await api.post("/api/inventory/MUG/adjustments", json=body, headers=key)
            assert sent.status_code == 200 and sent.json()["on_hand"] == 15
    async with open_service(config) as second:
        api = httpx.AsyncClient(base_url=second.url, headers=AUTH)
        async with api:
            again = await api.post("/api/inventory/MUG/adjustments", json=body, headers=key)
            assert again.status_code == 200, again.text
            assert again.json()["on_hand"] == 15
            other = {"delta": 50, "reason": "receipt"}
            conflict = await api.post("/api/inventory/MUG/adjustments", json=other, headers=key)
            assert conflict.status_code == 409 and conflict.json()["error"] == "key_conflict"
            view = (await api.get("/api/inventory/MUG?history=10")).json()
            assert view["on_hand"] == 15
            assert [e["kind"] for e in view["history"]].count("adjust") == 1
