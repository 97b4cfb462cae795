"""The order model built from TikTok's Get Order Detail payload (reference §2.3-2.7)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from creatorflow.domain.order import DeliveryType, Order, OrderLine, order_from_tiktok
from creatorflow.errors import DomainError, InvalidOrder
from unit.domain.tiktok_orders import (
    DELIVERY_TYPES,
    EXPRESS_OPTION,
    REFERENCE_ORDER,
    SHOP,
    line_item,
    make_order,
    raw_order,
)


def test_reference_example() -> None:
    order = order_from_tiktok(REFERENCE_ORDER, shop_id=SHOP, delivery_types=DELIVERY_TYPES)
    assert order.order_id == "576000000000000001"
    assert order.shop_id == SHOP
    assert order.tiktok_status == "AWAITING_SHIPMENT"
    assert (order.create_time, order.paid_time, order.update_time) == (
        1700000000,
        1700000060,
        1700000100,
    )
    assert order.rts_sla_time == 1700259200
    assert order.delivery_type is DeliveryType.STANDARD
    assert order.total_minor == 4318
    assert order.currency == "USD"
    assert order.buyer_user_id == "7000000000000000009"
    assert (order.region_code, order.postal_code) == ("US", "10001")
    assert order.order_type == "NORMAL"
    assert order.lines == (
        OrderLine(
            seller_sku="MUG-RED",
            sku_id="1729000000000000002",
            product_id="1729000000000000001",
            quantity=2,
            unit_price_minor=1999,
            total_minor=3998,
            line_item_ids=("577000000000000001", "577000000000000002"),
        ),
    )
    assert order.units == 2


def test_quantity_is_the_count_of_line_items_per_sku() -> None:
    order = make_order(units={"MUG-RED": 3, "MUG-BLUE": 1, "CAP": 2})
    assert [(line.seller_sku, line.quantity) for line in order.lines] == [
        ("MUG-RED", 3),
        ("MUG-BLUE", 1),
        ("CAP", 2),
    ]
    assert order.units == 6


def test_interleaved_items_aggregate_and_keep_first_price() -> None:
    items = [
        line_item(1, "A", "10.00"),
        line_item(2, "B", "5.00"),
        line_item(3, "A", "8.00"),  # a discounted second unit
    ]
    order = make_order(line_items=items)
    a, b = order.lines
    assert (a.seller_sku, a.quantity, a.unit_price_minor, a.total_minor) == ("A", 2, 1000, 1800)
    assert a.line_item_ids == (items[0]["id"], items[2]["id"])
    assert (b.seller_sku, b.quantity) == ("B", 1)


def test_missing_seller_sku_falls_back_to_sku_id() -> None:
    item = line_item(1, "X")
    del item["seller_sku"]
    order = make_order(line_items=[item, {**item, "seller_sku": ""}])
    assert [(line.seller_sku, line.quantity) for line in order.lines] == [("sku-X", 2)]


def test_cancelled_units_are_counted_separately() -> None:
    items = [line_item(1, "A"), line_item(2, "A", display_status="CANCELLED")]
    (line,) = make_order(line_items=items).lines
    assert (line.quantity, line.cancelled_quantity) == (2, 1)


def test_delivery_type_resolution() -> None:
    assert make_order(delivery_option_id=EXPRESS_OPTION).delivery_type is DeliveryType.EXPRESS
    assert make_order(delivery_option_id="nope").delivery_type is DeliveryType.UNKNOWN
    bare = order_from_tiktok(REFERENCE_ORDER, shop_id=SHOP)
    assert bare.delivery_type is DeliveryType.UNKNOWN
    odd = order_from_tiktok(REFERENCE_ORDER, shop_id=SHOP, delivery_types={
        REFERENCE_ORDER["delivery_option_id"]: "TELEPORT"
    })  # fmt: skip
    assert odd.delivery_type is DeliveryType.UNKNOWN


def test_minimal_order_is_lenient() -> None:
    order = order_from_tiktok({"id": "1", "status": "UNPAID"}, shop_id=SHOP)
    assert order == Order(order_id="1", shop_id=SHOP, tiktok_status="UNPAID", update_time=0)
    nulls: dict[str, Any] = {
        "id": "2",
        "status": "ON_HOLD",
        "payment": None,
        "line_items": None,
        "recipient_address": None,
        "is_cod": None,
        "order_type": "",
        "rts_sla_time": None,
    }
    order = order_from_tiktok(nulls, shop_id=SHOP)
    assert (order.total_minor, order.lines, order.is_cod, order.order_type) == (
        0,
        (),
        False,
        "NORMAL",
    )


def test_numeric_strings_and_flags() -> None:
    order = make_order(update_time="1700000999", is_cod=True, order_type="pre_order")
    assert order.update_time == 1700000999
    assert order.is_cod is True
    assert order.order_type == "PRE_ORDER"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"status": "UNPAID"}, "missing required field `id`"),
        ({"id": "9"}, "order 9: Object missing required field `status`"),
        ({"id": "", "status": "UNPAID"}, "empty `id`"),
        ({"id": "9", "status": ""}, "order 9: empty `status`"),
        ({"id": "9", "status": "UNPAID", "update_time": "soon"}, "$.update_time"),
        ({"id": "9", "status": "UNPAID", "line_items": {}}, "$.line_items"),
    ],
)
def test_unreadable_orders(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidOrder) as info:
        order_from_tiktok(raw, shop_id=SHOP)
    assert needle in str(info.value)
    assert isinstance(info.value, DomainError)


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"payment": {"total_amount": "43.185"}}, "payment.total_amount: '43.185' has 3 decimals"),
        ({"payment": {"total_amount": "-1"}}, "negative"),
        ({"payment": {"currency": "ZZZ"}}, "unknown currency"),
        ({"line_items": [line_item(1, "A", "abc")]}, "line_items[A].sale_price"),
    ],
)
def test_bad_amounts_name_order_and_field(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(InvalidOrder, match="order 576000000000000001") as info:
        order_from_tiktok(raw_order(**fields), shop_id=SHOP)
    assert needle in str(info.value)


def test_zero_decimal_currency() -> None:
    order = make_order(
        payment={"currency": "JPY", "total_amount": "3980"},
        line_items=[line_item(1, "A", "1990"), line_item(2, "A", "1990")],
    )
    assert (order.total_minor, order.lines[0].unit_price_minor) == (3980, 1990)


def test_round_trips_through_json() -> None:
    order = make_order(units={"A": 2, "B": 1})
    assert msgspec.json.decode(msgspec.json.encode(order), type=Order) == order
