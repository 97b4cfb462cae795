"""The client on the wire: signing, common params, cipher mapping, typed answers."""

from __future__ import annotations

import json

import httpx
import pytest
from tiktok_fakes import (
    APP_KEY,
    APP_SECRET,
    CIPHER,
    NOW_S,
    SHOP_ID,
    FakeTikTok,
    envelope,
    open_fake_client,
)

from creatorflow.adapters.tiktok.signing import verify_request
from creatorflow.errors import ConfigError, TikTokAuthError, TikTokError
from creatorflow.ports import TikTokSkuInventory

pytestmark = pytest.mark.anyio

ORDER = {
    "id": "576000000000000001",
    "status": "AWAITING_SHIPMENT",
    "is_on_hold_order": False,
    "create_time": 1700000000,
    "paid_time": 1700000060,
    "update_time": 1700000100,
    "rts_sla_time": 1700259200,
    "shipping_due_time": 1700345600,
    "shipping_type": "SELLER",
    "delivery_option_id": "7000000000000000001",
    "delivery_option_name": "Standard shipping",
    "delivery_type": "HOME_DELIVERY",
    "fulfillment_type": "FULFILLMENT_BY_SELLER",
    "warehouse_id": "7000000000000000003",
    "user_id": "7000000000000000009",
    "buyer_email": "xxxx@scs.tiktokw.us",
    "buyer_message": "",
    "is_cod": False,
    "payment": {
        "currency": "USD",
        "sub_total": "39.98",
        "shipping_fee": "0",
        "tax": "3.20",
        "total_amount": "43.18",
        "something_new": {"x": 1},
    },
    "recipient_address": {
        "name": "J*** D***",
        "phone_number": "(+1)555*****12",
        "full_address": "...",
        "postal_code": "10001",
        "region_code": "US",
        "district_info": [{"address_level": "L0", "address_name": "US"}],
    },
    "packages": [{"id": "1150000000000000001"}],
    "line_items": [
        {
            "id": "577000000000000001",
            "sku_id": "1729000000000000002",
            "seller_sku": "MUG-RED",
            "product_id": "1729000000000000001",
            "sale_price": "19.99",
            "display_status": "AWAITING_SHIPMENT",
            "item_tax": [{"tax_amount": "1.60"}],
        },
        {
            "id": "577000000000000002",
            "sku_id": "1729000000000000002",
            "seller_sku": "MUG-RED",
            "product_id": "1729000000000000001",
            "sale_price": "19.99",
            "display_status": "AWAITING_SHIPMENT",
            "rts_time": "1700000200",
        },
    ],
    "a_field_from_the_future": True,
}


def _signed_ok(request: httpx.Request) -> bool:
    query = dict(request.url.params)
    sign = query.pop("sign")
    return verify_request(APP_SECRET, request.url.path, query, request.content, sign)


async def test_get_request_is_signed_with_common_params_and_cipher() -> None:
    fake = FakeTikTok()
    async with open_fake_client(fake) as client:
        orders = await client.get_orders(SHOP_ID, ["1", "2", "3"])
    assert [o.id for o in orders] == ["1", "2", "3"]
    shops_call, orders_call = fake.api_requests()
    # Get Authorized Shops: no cipher; the order call: the cipher it taught us.
    assert shops_call.url.path == "/authorization/202309/shops"
    assert "shop_cipher" not in shops_call.url.params
    params = orders_call.url.params
    assert params["ids"] == "1,2,3"
    assert params["shop_cipher"] == CIPHER
    assert params["app_key"] == APP_KEY
    assert params["timestamp"] == str(NOW_S) and len(params["timestamp"]) == 10
    assert orders_call.headers["x-tts-access-token"] == "AT0"
    assert "access_token" not in params
    assert all(_signed_ok(r) for r in (shops_call, orders_call))
    assert orders_call.content == b""


async def test_post_body_is_serialized_once_and_signed_as_sent() -> None:
    fake = FakeTikTok()
    fake.script(
        "/product/202309/products/1729000000000000001/inventory/update",
        envelope(
            {
                "errors": [
                    {
                        "code": 12019001,
                        "message": "frozen",
                        "detail": {"sku_id": "1729000000000000009"},
                    }
                ]
            }
        ),
    )
    async with open_fake_client(fake) as client:
        result = await client.update_inventory(
            SHOP_ID,
            "1729000000000000001",
            [
                TikTokSkuInventory(
                    sku_id="1729000000000000002", quantities={"7000000000000000003": 12}
                ),
                TikTokSkuInventory(sku_id="1729000000000000009", quantities={"": 3}),
            ],
        )
    request = fake.api_requests()[-1]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    assert _signed_ok(request)
    assert json.loads(request.content) == {
        "skus": [
            {
                "id": "1729000000000000002",
                "inventory": [{"warehouse_id": "7000000000000000003", "quantity": 12}],
            },
            {"id": "1729000000000000009", "inventory": [{"quantity": 3}]},
        ]
    }
    assert b" " not in request.content  # compact: the exact bytes that were signed
    assert not result.ok
    assert [(e.code, e.sku_id) for e in result.errors] == [(12019001, "1729000000000000009")]


async def test_order_is_decoded_leniently_with_typed_fields() -> None:
    fake = FakeTikTok()
    fake.script("/order/202309/orders", envelope({"orders": [ORDER]}))
    async with open_fake_client(fake) as client:
        [order] = await client.get_orders(SHOP_ID, ["576000000000000001"])
    assert order.id == "576000000000000001"
    assert order.status == "AWAITING_SHIPMENT"
    assert order.update_time == 1700000100 and order.rts_sla_time == 1700259200
    assert order.cancel_time is None
    assert order.payment.total_amount == "43.18" and order.payment.currency == "USD"
    assert order.payment.retail_delivery_fee == "0"
    assert order.recipient_address.postal_code == "10001"
    assert order.recipient_address.region_code == "US"
    assert [li.seller_sku for li in order.line_items] == ["MUG-RED", "MUG-RED"]
    assert order.line_items[1].rts_time == 1700000200  # a number sent as a string
    assert order.packages[0].id == "1150000000000000001"
    assert order.warehouse_id == "7000000000000000003"


async def test_get_orders_bounds() -> None:
    fake = FakeTikTok()
    async with open_fake_client(fake) as client:
        assert await client.get_orders(SHOP_ID, []) == []
        with pytest.raises(ValueError, match="at most 50"):
            await client.get_orders(SHOP_ID, [str(i) for i in range(51)])
        assert len(await client.get_orders(SHOP_ID, [str(i) for i in range(50)])) == 50
    assert len(fake.api_requests("/order/202309/orders")) == 1


async def test_cipher_mapping_is_learned_once_and_cached() -> None:
    fake = FakeTikTok()
    fake.shops.append({"id": "7490000000000000002", "cipher": "ROW_two"})
    async with open_fake_client(fake) as client:
        assert client.cipher_of(SHOP_ID) is None
        shops = await client.get_authorized_shops(SHOP_ID)
        assert [s.cipher for s in shops] == [CIPHER, "ROW_two"]
        assert client.cipher_of("7490000000000000002") == "ROW_two"
        await client.get_orders(SHOP_ID, ["1"])
        await client.get_orders("7490000000000000002", ["1"])  # same token, other shop
        with pytest.raises(TikTokAuthError, match="no tokens"):
            await client.get_orders("7490000000000000099", ["1"])
    assert len(fake.api_requests("/authorization/202309/shops")) == 1
    other = fake.api_requests("/order/202309/orders")[1]
    assert other.url.params["shop_cipher"] == "ROW_two"
    assert other.headers["x-tts-access-token"] == "AT0"


async def test_search_orders_params_and_body() -> None:
    fake = FakeTikTok()
    fake.script(
        "/order/202309/orders/search",
        envelope({"orders": [ORDER], "next_page_token": "tok2", "total_count": 7}),
    )
    async with open_fake_client(fake) as client:
        page = await client.search_orders(
            SHOP_ID, update_time_ge=100, update_time_lt=200, page_size=20, page_token="tok1"
        )
        with pytest.raises(ValueError, match="page_size"):
            await client.search_orders(SHOP_ID, update_time_ge=0, update_time_lt=1, page_size=0)
    assert page.next_page_token == "tok2" and page.total_count == 7 and len(page.orders) == 1
    request = fake.api_requests("/order/202309/orders/search")[0]
    assert request.method == "POST"
    assert dict(request.url.params) | {"sign": ""} == {
        "app_key": APP_KEY,
        "timestamp": str(NOW_S),
        "shop_cipher": CIPHER,
        "page_size": "20",
        "sort_field": "update_time",
        "sort_order": "ASC",
        "page_token": "tok1",
        "sign": "",
    }
    assert json.loads(request.content) == {"update_time_ge": 100, "update_time_lt": 200}


async def test_fulfillment_and_logistics_calls() -> None:
    fake = FakeTikTok()
    fake.script(
        "/fulfillment/202309/orders/576000000000000001/packages",
        envelope(
            {"order_id": "576000000000000001", "package_id": "115", "warning": {"message": "late"}}
        ),
    )
    async with open_fake_client(fake) as client:
        marked = await client.mark_package_shipped(
            SHOP_ID,
            "576000000000000001",
            tracking_number="1Z9",
            shipping_provider_id="7",
            line_item_ids=["577000000000000001"],
        )
        shipped = await client.ship_package(
            SHOP_ID, "1150000000000000001", tracking_number="1Z9", shipping_provider_id="7"
        )
        options = await client.get_delivery_options(SHOP_ID, "7000000000000000003")
        with pytest.raises(ValueError, match="not a TikTok id"):
            await client.ship_package(SHOP_ID, "../../authorization")
    assert marked.package_id == "115" and marked.warning == "late" and marked.ok
    assert shipped.ok
    assert [(o.id, o.type) for o in options] == [("d1", "STANDARD")]
    mark, ship = fake.api_requests()[1:3]
    assert json.loads(mark.content) == {
        "tracking_number": "1Z9",
        "shipping_provider_id": "7",
        "order_line_item_ids": ["577000000000000001"],
    }
    assert ship.url.path == "/fulfillment/202309/packages/1150000000000000001/ship"
    assert json.loads(ship.content) == {
        "handover_method": "DROP_OFF",
        "self_shipment": {"tracking_number": "1Z9", "shipping_provider_id": "7"},
    }
    assert all(_signed_ok(r) for r in fake.api_requests())


async def test_business_error_and_unexpected_data_are_tiktok_errors() -> None:
    fake = FakeTikTok()
    fake.script(
        "/fulfillment/202309/packages/1/ship", envelope(code=21011002, message="not shippable")
    )
    fake.script("/order/202309/orders", envelope({"orders": [{"status": "X"}]}))  # no id
    async with open_fake_client(fake) as client:
        with pytest.raises(TikTokError, match="not shippable") as info:
            await client.ship_package(SHOP_ID, "1")
        assert info.value.code == 21011002 and not info.value.retryable
        with pytest.raises(TikTokError, match="unexpected data"):
            await client.get_orders(SHOP_ID, ["1"])


def test_settings_from_config() -> None:
    from creatorflow.adapters.tiktok import TikTokClientSettings
    from creatorflow.config import load_config

    real = "https://open-api.tiktokglobalshop.com"
    config = load_config(
        environ={"CREATORFLOW_TIKTOK__BURST": "3", "CREATORFLOW_TIKTOK_BASE_URL": real}
    )
    made = TikTokClientSettings.from_config(config.tiktok, app_key="k", app_secret="s")
    assert made.burst == 3 and made.app_key == "k" and made.base_url == real
    assert made.breaker_open_s == 60.0 and made.refresh_before_s == 86400.0
    sandbox = TikTokClientSettings.from_config(
        config.tiktok, app_key="k", app_secret="s", base_url="http://sandbox/sandbox/tiktok"
    )
    assert sandbox.base_url == "http://sandbox/sandbox/tiktok"
    with pytest.raises(ConfigError, match=r"tiktok\.base_url"):
        TikTokClientSettings.from_config(
            load_config(environ={}).tiktok, app_key="k", app_secret="s"
        )
