"""The sandbox's signed API: gateway checks, orders, search paging, fulfilment, tokens."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sandbox_helpers import (
    ACCESS,
    APP_KEY,
    APP_SECRET,
    REFRESH,
    FakeWallClock,
    client_for,
    make_config,
    signed,
)

from creatorflow.sandbox.tiktok import TikTokSandbox

pytestmark = pytest.mark.anyio

MUGS = {"lines": [{"seller_sku": "MUG-RED", "quantity": 2, "sale_price": "19.99"}]}


def sandbox(clock: FakeWallClock, **overrides: Any) -> TikTokSandbox:
    return TikTokSandbox(make_config(**overrides), clock=clock)


async def test_signed_call_is_accepted_and_bad_sign_is_106001() -> None:
    clock = FakeWallClock()
    async with client_for(sandbox(clock)) as client:
        ok = await signed(client, clock, "GET", "/authorization/202309/shops", cipher=None)
        bad = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None, secret="wrong"
        )
    assert ok.status_code == 200
    body = ok.json()
    assert body["code"] == 0 and body["request_id"]
    assert body["data"]["shops"][0]["cipher"] == "ROW_test"
    assert bad.status_code == 401
    assert bad.json()["code"] == 106001 and "data" not in bad.json()


async def test_a_body_changed_after_signing_is_rejected() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    async with client_for(app) as client:
        query = {"app_key": APP_KEY, "timestamp": str(clock.now_ms() // 1000),
                 "shop_cipher": "ROW_test", "page_size": "10"}  # fmt: skip
        from creatorflow.adapters.tiktok.signing import sign_request

        query["sign"] = sign_request(APP_SECRET, "/order/202309/orders/search", query, b"{}")
        response = await client.post(
            "/order/202309/orders/search",
            params=query,
            content=b'{"order_status":"UNPAID"}',
            headers={"x-tts-access-token": ACCESS},
        )
    assert response.json()["code"] == 106001


async def test_gateway_checks_answer_like_the_real_api() -> None:
    clock = FakeWallClock()
    async with client_for(sandbox(clock)) as client:
        old = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None,
            timestamp=clock.now_ms() // 1000 - 301,
        )  # fmt: skip
        no_token = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None, token=None
        )
        unknown = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None, token="nope"
        )
        no_cipher = await signed(
            client, clock, "GET", "/order/202309/orders", params={"ids": "1"}, cipher=None
        )
        unexpected = await signed(client, clock, "GET", "/authorization/202309/shops")
        wrong_cipher = await signed(
            client, clock, "GET", "/order/202309/orders", params={"ids": "1"}, cipher="ROW_x"
        )
        no_path = await signed(client, clock, "GET", "/order/202309/nothing")
        bad_method = await signed(client, clock, "DELETE", "/order/202309/orders")
    assert (old.status_code, old.json()["code"]) == (400, 36009004)
    assert "timestamp" in old.json()["message"]
    assert (no_token.status_code, no_token.json()["code"]) == (400, 36009004)
    assert (unknown.status_code, unknown.json()["code"]) == (401, 105001)
    assert (no_cipher.status_code, no_cipher.json()["code"]) == (400, 106013)
    assert unexpected.json()["code"] == 36009004
    assert "Unexpected identifier" in unexpected.json()["message"]
    assert (wrong_cipher.status_code, wrong_cipher.json()["code"]) == (403, 101000)
    assert (no_path.status_code, no_path.json()["code"]) == (404, 36009009)
    assert (bad_method.status_code, bad_method.json()["code"]) == (405, 36009010)


async def test_expired_access_token_is_105002_and_refresh_gives_absolute_expiries() -> None:
    clock = FakeWallClock()
    app = sandbox(clock, access_token_ttl_s=3600)
    async with client_for(app) as client:
        clock.advance(3600)
        expired = await signed(client, clock, "GET", "/authorization/202309/shops", cipher=None)
        refreshed = await client.get(
            "/api/v2/token/refresh",
            params={"app_key": APP_KEY, "app_secret": APP_SECRET,
                    "refresh_token": REFRESH, "grant_type": "refresh_token"},
        )  # fmt: skip
        data = refreshed.json()["data"]
        fresh = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None,
            token=data["access_token"],
        )  # fmt: skip
        reused = await client.get(
            "/api/v2/token/refresh",
            params={"app_key": APP_KEY, "app_secret": APP_SECRET,
                    "refresh_token": REFRESH, "grant_type": "refresh_token"},
        )  # fmt: skip
    assert (expired.status_code, expired.json()["code"]) == (401, 105002)
    now = clock.now_ms() // 1000
    assert data["access_token_expire_in"] == now + 3600  # absolute, not a duration
    assert data["refresh_token_expire_in"] > now
    assert data["refresh_token"] != REFRESH
    assert fresh.json()["code"] == 0
    assert reused.json()["code"] == 36004004  # the old refresh token is spent


async def test_token_get_takes_a_single_use_auth_code() -> None:
    clock = FakeWallClock()
    params = {"app_key": APP_KEY, "app_secret": APP_SECRET, "auth_code": "code-1",
              "grant_type": "authorized_code"}  # fmt: skip
    async with client_for(sandbox(clock)) as client:
        first = await client.get("/api/v2/token/get", params=params)
        second = await client.get("/api/v2/token/get", params=params)
    assert first.json()["code"] == 0
    assert first.json()["data"]["access_token"].startswith("TTP_")
    assert second.json()["code"] == 36004004


async def test_get_orders_takes_at_most_50_ids() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    ids = [await app.create_order(MUGS) for _ in range(3)]
    async with client_for(app) as client:
        got = await signed(
            client, clock, "GET", "/order/202309/orders", params={"ids": ",".join(ids)}
        )
        fifty = ",".join(ids + [str(n) for n in range(47)])
        ok = await signed(client, clock, "GET", "/order/202309/orders", params={"ids": fifty})
        too_many = await signed(
            client, clock, "GET", "/order/202309/orders", params={"ids": fifty + ",9"}
        )
    orders = got.json()["data"]["orders"]
    assert [o["id"] for o in orders] == ids
    assert len(ok.json()["data"]["orders"]) == 3  # unknown ids are simply absent
    assert (too_many.status_code, too_many.json()["code"]) == (400, 36009004)


async def test_order_has_one_line_item_per_unit_and_the_reference_fields() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    order_id = await app.create_order(
        {"lines": [{"seller_sku": "MUG-RED", "quantity": 2, "sale_price": "19.99"},
                   {"seller_sku": "TEE-M", "quantity": 1, "sale_price": "24.00"}],
         "delivery_type": "EXPRESS", "is_cod": True}
    )  # fmt: skip
    async with client_for(app) as client:
        response = await signed(
            client, clock, "GET", "/order/202309/orders", params={"ids": order_id}
        )
        options = await signed(
            client,
            clock,
            "GET",
            "/logistics/202309/warehouses/7000000000000000003/delivery_options",
        )
    order = response.json()["data"]["orders"][0]
    assert order["status"] == "AWAITING_SHIPMENT" and order["is_cod"] is True
    assert Counter(line["seller_sku"] for line in order["line_items"]) == {"MUG-RED": 2, "TEE-M": 1}
    assert all("quantity" not in line for line in order["line_items"])
    assert len({line["id"] for line in order["line_items"]}) == 3
    assert {line["sale_price"] for line in order["line_items"]} == {"19.99", "24.00"}
    assert order["payment"]["sub_total"] == "63.98"
    assert order["payment"]["total_amount"] == "73.97"  # + 9.99 express shipping
    for name in ("create_time", "update_time", "paid_time", "rts_sla_time"):
        assert isinstance(order[name], int)
    assert order["create_time"] < order["update_time"] == clock.now_ms() // 1000
    assert order["packages"] == [{"id": order["line_items"][0]["package_id"]}]
    by_type = {o["type"]: o["id"] for o in options.json()["data"]["delivery_options"]}
    assert set(by_type) == {"STANDARD", "EXPRESS", "ECONOMY"}
    assert order["delivery_option_id"] == by_type["EXPRESS"]


async def test_search_by_update_time_pages_with_tokens() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    ids = []
    for _ in range(7):
        clock.advance(10)
        ids.append(await app.create_order(MUGS))
    since = START = FakeWallClock().now_ms() // 1000 + 25  # skips the first two orders
    del START
    seen: list[str] = []
    token = ""
    pages = 0
    async with client_for(app) as client:
        while True:
            params = {"page_size": "2", "sort_field": "update_time", "sort_order": "ASC"}
            if token:
                params["page_token"] = token
            page = await signed(
                client, clock, "POST", "/order/202309/orders/search", params=params,
                json={"update_time_ge": since},
            )  # fmt: skip
            data = page.json()["data"]
            assert data["total_count"] == 5
            seen.extend(o["id"] for o in data["orders"])
            pages += 1
            token = data["next_page_token"]
            if not token:
                break
        bad_size = await signed(
            client, clock, "POST", "/order/202309/orders/search", params={"page_size": "101"},
            json={},
        )  # fmt: skip
        by_status = await signed(
            client, clock, "POST", "/order/202309/orders/search", params={"page_size": "100"},
            json={"order_status": "UNPAID"},
        )  # fmt: skip
    assert seen == ids[2:] and pages == 3
    assert bad_size.json()["code"] == 36009004
    assert by_status.json()["data"]["total_count"] == 0


async def test_ship_mark_and_inventory_calls_are_recorded_and_move_orders() -> None:
    clock = FakeWallClock()
    app = sandbox(clock)
    first = await app.create_order(MUGS)
    second = await app.create_order(MUGS)
    third = await app.create_order(MUGS)
    package = app.book.render(app.book.require(first))["packages"][0]["id"]
    other = app.book.render(app.book.require(second))["packages"][0]["id"]
    async with client_for(app) as client:
        ship = await signed(
            client, clock, "POST", f"/fulfillment/202309/packages/{package}/ship",
            json={"handover_method": "DROP_OFF",
                  "self_shipment": {"tracking_number": "1Z999", "shipping_provider_id": "7"}},
        )  # fmt: skip
        batch = await signed(
            client, clock, "POST", "/fulfillment/202309/packages/ship",
            json={"packages": [{"id": other}, {"id": package}, {"id": "404"}]},
        )  # fmt: skip
        mark = await signed(
            client, clock, "POST", f"/fulfillment/202309/orders/{third}/packages",
            json={"tracking_number": "TRK1", "shipping_provider_id": "9"},
        )  # fmt: skip
        product_id = app.book.require(third).lines[0].product_id
        sku_id = app.book.require(third).lines[0].sku_id
        inventory = await signed(
            client, clock, "POST", f"/product/202309/products/{product_id}/inventory/update",
            json={"skus": [{"id": sku_id, "inventory": [{"quantity": 12}]},
                           {"id": sku_id, "inventory": [{"quantity": -1}]}]},
        )  # fmt: skip
        calls = (await client.get("/sandbox/tiktok/calls")).json()["calls"]
    assert ship.json()["code"] == 0
    assert app.book.require(first).status == "AWAITING_COLLECTION"
    errors = batch.json()["data"]["errors"]
    assert [e["detail"]["package_id"] for e in errors] == [package, "404"]  # shipped / unknown
    assert app.book.require(second).status == "AWAITING_COLLECTION"
    assert mark.json()["data"]["order_id"] == third
    assert app.book.require(third).status == "AWAITING_COLLECTION"  # issue 12 §4 (was IN_TRANSIT)
    assert len(inventory.json()["data"]["errors"]) == 1
    assert app.book.inventory[(sku_id, "7000000000000000003")] == 12
    paths = [c["path"] for c in calls]
    assert paths[0] == f"/fulfillment/202309/packages/{package}/ship"
    assert paths[-1].endswith("/inventory/update")
    assert calls[0]["body"]["self_shipment"]["tracking_number"] == "1Z999"
    assert calls[0]["method"] == "POST" and calls[0]["code"] == 0
    assert calls[0]["time_ms"] == clock.now_ms()


async def test_mounted_under_the_prefix_the_api_path_is_what_is_signed() -> None:
    clock = FakeWallClock()
    async with client_for(sandbox(clock)) as client:
        response = await signed(
            client, clock, "GET", "/authorization/202309/shops", cipher=None,
            prefix="/sandbox/tiktok",
        )  # fmt: skip
    assert response.json()["code"] == 0


async def test_calls_ring_is_bounded() -> None:
    clock = FakeWallClock()
    app = sandbox(clock, max_calls=3)
    async with client_for(app) as client:
        for _ in range(5):
            await signed(client, clock, "GET", "/authorization/202309/shops", cipher=None)
    assert len(app.calls) == 3
