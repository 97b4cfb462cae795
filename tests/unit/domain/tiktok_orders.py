"""TikTok Shop orders shaped like the reference's §2.7 example, for domain tests."""

from __future__ import annotations

import copy
from typing import Any

from creatorflow.domain.order import DeliveryType, Order, order_from_tiktok

SHOP = "7490000000000000001"
STANDARD_OPTION = "7000000000000000001"
EXPRESS_OPTION = "7000000000000000002"
ECONOMY_OPTION = "7000000000000000004"
DELIVERY_TYPES: dict[str, DeliveryType | str] = {
    STANDARD_OPTION: DeliveryType.STANDARD,
    EXPRESS_OPTION: "EXPRESS",
    ECONOMY_OPTION: DeliveryType.ECONOMY,
}
NOW = 1_700_000_200

#: The reference §2.7 order: 2 x MUG-RED at 19.99, total 43.18 USD.
REFERENCE_ORDER: dict[str, Any] = {
    "id": "576000000000000001",
    "status": "AWAITING_SHIPMENT",
    "is_on_hold_order": False,
    "create_time": 1700000000,
    "paid_time": 1700000060,
    "update_time": 1700000100,
    "rts_sla_time": 1700259200,
    "shipping_due_time": 1700345600,
    "shipping_type": "SELLER",
    "delivery_option_id": STANDARD_OPTION,
    "delivery_option_name": "Standard shipping",
    "delivery_type": "HOME_DELIVERY",
    "fulfillment_type": "FULFILLMENT_BY_SELLER",
    "warehouse_id": "7000000000000000003",
    "user_id": "7000000000000000009",
    "buyer_email": "xxxx@scs.tiktokw.us",
    "buyer_message": "",
    "payment": {
        "currency": "USD",
        "sub_total": "39.98",
        "shipping_fee": "0",
        "tax": "3.20",
        "total_amount": "43.18",
    },
    "recipient_address": {
        "name": "J*** D***",
        "phone_number": "(+1)555*****12",
        "full_address": "...",
        "postal_code": "10001",
        "region_code": "US",
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
        },
        {
            "id": "577000000000000002",
            "sku_id": "1729000000000000002",
            "seller_sku": "MUG-RED",
            "product_id": "1729000000000000001",
            "sale_price": "19.99",
            "display_status": "AWAITING_SHIPMENT",
        },
    ],
}


def line_item(n: int, sku: str, price: str = "19.99", **extra: Any) -> dict[str, Any]:
    """One TikTok line item (one unit) of ``sku``."""
    return {
        "id": f"5770000000000{n:05d}",
        "sku_id": f"sku-{sku}",
        "seller_sku": sku,
        "product_id": f"prod-{sku}",
        "sale_price": price,
        "display_status": "AWAITING_SHIPMENT",
        **extra,
    }


def raw_order(
    *, units: dict[str, int] | None = None, price: str = "19.99", **fields: Any
) -> dict[str, Any]:
    """The reference order with ``fields`` replaced; ``units`` rebuilds the line items."""
    raw = copy.deepcopy(REFERENCE_ORDER)
    if units is not None:
        items: list[dict[str, Any]] = []
        for sku, count in units.items():
            items.extend(line_item(len(items) + 1, sku, price) for _ in range(count))
        raw["line_items"] = items
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def make_order(*, units: dict[str, int] | None = None, **fields: Any) -> Order:
    """An :class:`Order` built the production way from a reference-shaped payload."""
    return order_from_tiktok(
        raw_order(units=units, **fields), shop_id=SHOP, delivery_types=DELIVERY_TYPES
    )
