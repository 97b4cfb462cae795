"""The sandbox's seller-shipping endpoints (shipping-apis §2.2-§2.7): providers, Mark Package
As Shipped, Ship Package, package detail, tracking, their error codes, the admin view of an
order's packages, and the webhooks that follow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sandbox_helpers import (
    APP_KEY,
    APP_SECRET,
    Collector,
    FakeWallClock,
    client_for,
    make_config,
    signed,
)

from creatorflow.domain.webhook import sign_webhook
from creatorflow.sandbox._tiktok_order import DELIVERY_OPTIONS
from creatorflow.sandbox._tiktok_shipping import PLATFORM_OPTION_ID, PROVIDERS
from creatorflow.sandbox.tiktok import TikTokSandbox, open_tiktok_sandbox

pytestmark = pytest.mark.anyio

MUGS = {"lines": [{"seller_sku": "MUG-RED", "quantity": 2, "sale_price": "19.99"}],
        "on_hold": False}  # fmt: skip
ZOOM = next(p.id for p in PROVIDERS if p.name == "Zoom")
STANDARD = DELIVERY_OPTIONS["STANDARD"][0]


def sandbox(clock: FakeWallClock, **overrides: Any) -> TikTokSandbox:
    return TikTokSandbox(make_config(**overrides), clock=clock)


async def mark(
    client: httpx.AsyncClient, clock: FakeWallClock, order_id: str, tracking: str, **more: Any
) -> dict[str, Any]:
    body = {"tracking_number": tracking, "shipping_provider_id": ZOOM, **more}
    path = f"/fulfillment/202309/orders/{order_id}/packages"
    response = await signed(client, clock, "POST", path, json=body)
    payload: dict[str, Any] = response.json()
    payload["http"] = response.status_code
    return payload


async def ship(
    client: httpx.AsyncClient, clock: FakeWallClock, package_id: str, tracking: str
) -> dict[str, Any]:
    shipment = {"tracking_number": tracking, "shipping_provider_id": ZOOM}
    body = {"handover_method": "DROP_OFF", "self_shipment": shipment}
    path = f"/fulfillment/202309/packages/{package_id}/ship"
    return (await signed(client, clock, "POST", path, json=body)).json()  # type: ignore[no-any-return]


async def test_shipping_providers_of_a_delivery_option_and_their_errors() -> None:
    clock = FakeWallClock()
    async with client_for(sandbox(clock)) as client:

        async def providers(option: str) -> dict[str, Any]:
            path = f"/logistics/202309/delivery_options/{option}/shipping_providers"
            return (await signed(client, clock, "GET", path)).json()  # type: ignore[no-any-return]

        listed = await providers(STANDARD)
        unknown = await providers("7000000000000000999")
        platform = await providers(PLATFORM_OPTION_ID)
        unsigned = await client.get(
            f"/logistics/202309/delivery_options/{STANDARD}/shipping_providers"
        )
    names = [p["name"] for p in listed["data"]["shipping_providers"]]
    assert listed["code"] == 0
    assert names == ["USPS", "UPS", "FedEx", "Terra", "Swift", "Zoom"]
    assert unknown["code"] == 21008116 and "data" not in unknown
    assert platform["code"] == 21008117
    assert unsigned.json()["code"] != 0


async def test_mark_shipped_validates_the_tracking_number() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    order_id = await app.create_order(MUGS)
    async with client_for(app) as client:
        empty = await mark(client, clock, order_id, " ")
        long = await mark(client, clock, order_id, "Z" * 65)
        spaces = await mark(client, clock, order_id, "ZX 1")
        assert app.book.require(order_id).status == "AWAITING_SHIPMENT"
        ok = await mark(client, clock, order_id, "ZX" + "1" * 62)
    assert (empty["http"], empty["code"]) == (400, 36009004)
    assert long["code"] == 21004012 and spaces["code"] == 21004012
    order = app.book.require(order_id)
    assert ok["code"] == 0
    assert ok["data"] == {
        "order_id": order_id,
        "package_id": order.package_id,
        "order_line_item_ids": [line.id for line in order.lines],
        "warning": {"message": ""},
    }
    assert order.status == "AWAITING_COLLECTION"
    assert {line.package_status for line in order.lines} == {"PROCESSING"}


async def test_mark_warns_when_number_and_provider_disagree() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    first, second = await app.create_order(MUGS), await app.create_order(MUGS)
    async with client_for(app) as client:
        wrong_prefix = await mark(client, clock, first, "TG123")
        unknown = await mark(client, clock, second, "ZX123", shipping_provider_id="42")
    assert wrong_prefix["code"] == 0
    assert "does not match shipping provider Zoom" in wrong_prefix["data"]["warning"]["message"]
    assert unknown["code"] == 0
    assert "not offered" in unknown["data"]["warning"]["message"]


async def test_refusals_carry_the_documented_codes() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    cancelled = await app.create_order(MUGS)
    await app.set_status(cancelled, "CANCELLED")
    delivered = await app.create_order({**MUGS, "status": "DELIVERED"})
    on_hold = await app.create_order({**MUGS, "on_hold": True, "status": "ON_HOLD"})
    shipped = await app.create_order(MUGS)
    other = await app.create_order(MUGS)
    async with client_for(app) as client:
        codes = {
            "cancelled": (await mark(client, clock, cancelled, "ZX1"))["code"],
            "delivered": (await mark(client, clock, delivered, "ZX1"))["code"],
            "on_hold": (await mark(client, clock, on_hold, "ZX1"))["code"],
            "first": (await mark(client, clock, shipped, "ZX1"))["code"],
            "same_again": (await mark(client, clock, shipped, "ZX1"))["code"],
            "another_number": (await mark(client, clock, shipped, "ZX2"))["code"],
            "duplicate": (await mark(client, clock, other, "zx1"))["code"],
        }
    assert codes == {
        "cancelled": 21011041,
        "delivered": 21011027,
        "on_hold": 21011002,
        "first": 0,
        "same_again": 21011006,
        "another_number": 21011006,
        "duplicate": 21011025,
    }
    assert app.book.require(shipped).tracking_number == "ZX1"
    assert app.book.require(other).status == "AWAITING_SHIPMENT"
    assert app.book.require(other).tracking_number == ""


async def test_outside_mark_regions_mark_is_refused_and_ship_package_works() -> None:
    clock = FakeWallClock()
    app = sandbox(clock, shop_region="ID")
    order_id = await app.create_order({**MUGS, "region_code": "ID"})
    package_id = app.book.require(order_id).package_id
    async with client_for(app) as client:
        refused = await mark(client, clock, order_id, "ZX1")
        bad = await ship(client, clock, package_id, "ZX 1")
        ok = await ship(client, clock, package_id, "ZX1")
        again = await ship(client, clock, package_id, "ZX1")
    assert refused["code"] == 21008106
    assert bad["code"] == 21004012
    assert ok["code"] == 0 and ok["data"] == {}
    assert again["code"] == 21011006
    order = app.book.require(order_id)
    assert order.status == "AWAITING_COLLECTION"
    assert {(line.tracking_number, line.shipping_provider_id) for line in order.lines} == {
        ("ZX1", ZOOM)
    }


async def test_admin_view_shows_status_and_shipped_packages() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    order_id = await app.create_order(MUGS)
    package_id = app.book.require(order_id).package_id
    async with client_for(app) as client:
        before = (await client.get(f"/sandbox/tiktok/orders/{order_id}")).json()
        await mark(client, clock, order_id, "ZX1")
        after = (await client.get(f"/sandbox/tiktok/orders/{order_id}")).json()
    assert before["order_id"] == order_id
    assert (before["status"], before["packages"]) == ("AWAITING_SHIPMENT", [])
    assert after["status"] == "AWAITING_COLLECTION"
    assert after["packages"] == [
        {"package_id": package_id, "tracking_number": "ZX1", "shipping_provider_id": ZOOM}
    ]
    rendered = after["order"]
    assert rendered["status"] == "AWAITING_COLLECTION" and rendered["shipping_provider"] == "Zoom"
    assert {li["tracking_number"] for li in rendered["line_items"]} == {"ZX1"}
    assert [status for status, _ in after["history"]][-1] == "AWAITING_COLLECTION"


async def test_marking_some_lines_makes_a_package_of_their_own() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    order_id = await app.create_order(MUGS)
    order = app.book.require(order_id)
    first_line, second_line = (line.id for line in order.lines)
    async with client_for(app) as client:
        part = await mark(client, clock, order_id, "ZX1", order_line_item_ids=[first_line])
        assert order.status == "PARTIALLY_SHIPPING"
        rest = await mark(client, clock, order_id, "ZX2", order_line_item_ids=[second_line])
        unknown = await mark(client, clock, order_id, "ZX3", order_line_item_ids=["1"])
        view = (await client.get(f"/sandbox/tiktok/orders/{order_id}")).json()
    split = part["data"]["package_id"]
    assert split != order.package_id and part["data"]["order_line_item_ids"] == [first_line]
    assert rest["data"]["package_id"] == order.package_id
    assert unknown["code"] == 21011002
    assert order.status == "AWAITING_COLLECTION"
    assert sorted((p["package_id"], p["tracking_number"]) for p in view["packages"]) == sorted(
        [(order.package_id, "ZX2"), (split, "ZX1")]
    )
    assert [p["id"] for p in view["order"]["packages"]] == [order.package_id, split]


async def test_shipping_sends_signed_webhooks_and_later_moves_are_driven() -> None:
    clock, collector = FakeWallClock(), Collector()
    config = make_config()
    async with open_tiktok_sandbox(config, clock=clock, deliver=collector.deliver) as app:
        order_id = await app.create_order(MUGS)
        package_id = app.book.require(order_id).package_id
        async with client_for(app) as client:
            await mark(client, clock, order_id, "ZX1")
            await app.wait_webhooks_idle()
            shipped_hooks = collector.statuses(order_id)
            detail = f"/fulfillment/202309/packages/{package_id}"
            processing = (await signed(client, clock, "GET", detail)).json()["data"]
            clock.advance(3600)
            await app.set_status(order_id, "IN_TRANSIT")
            fulfilling = (await signed(client, clock, "GET", detail)).json()["data"]
            await app.set_status(order_id, "DELIVERED")
            completed = (await signed(client, clock, "GET", detail)).json()["data"]
            tracking = await signed(
                client, clock, "GET", f"/fulfillment/202309/orders/{order_id}/tracking"
            )
            missing = await signed(client, clock, "GET", "/fulfillment/202309/packages/404")
        await app.wait_webhooks_idle()
    assert shipped_hooks == ["UNPAID", "AWAITING_SHIPMENT", "AWAITING_COLLECTION"]
    assert collector.statuses(order_id)[3:] == ["IN_TRANSIT", "DELIVERED"]
    for body, headers in collector.received:
        assert headers["authorization"] == sign_webhook(APP_KEY, APP_SECRET, body)
    assert processing["package_status"] == "PROCESSING"
    assert processing["tracking_number"] == "ZX1"
    assert processing["shipping_provider_name"] == "Zoom"
    assert processing["orders"] == [{"id": order_id}] and processing["delivery_option_id"]
    assert fulfilling["package_status"] == "FULFILLING"
    assert completed["package_status"] == "COMPLETED"
    events = tracking.json()["data"]["tracking"]
    assert [e["description"] for e in events][-2:] == ["In transit", "Delivered"]
    assert all(e["update_time_millis"] % 1000 == 0 and e["update_time_millis"] > 10**12
               for e in events)  # fmt: skip
    assert missing.json()["code"] == 21011001
