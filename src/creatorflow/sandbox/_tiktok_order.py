"""One sandbox order: what the admin asks for, the status life cycle, the API shape (§2.3-§2.7).

Life cycle (reference §2.1), each step one ORDER_STATUS_CHANGE webhook::

    UNPAID → ON_HOLD → AWAITING_SHIPMENT → [PARTIALLY_SHIPPING] → AWAITING_COLLECTION
           → IN_TRANSIT → DELIVERED → COMPLETED;   any non-final status → CANCELLED

ON_HOLD is skipped for an order created with ``on_hold: false``; PARTIALLY_SHIPPING is visited
only when asked for. Line items carry no quantity: one line item per unit, like the real API.
Money is kept in integer minor units and rendered as strings with two decimals.

Packages: an order is created with one package holding every line (its ``package_id``, which
Ship Package takes); Mark Package As Shipped of a subset of lines moves them to a new package.
A line's ``package_status`` follows the order: TO_FULFILL → PROCESSING (shipped, awaiting
collection) → FULFILLING (IN_TRANSIT) → COMPLETED (DELIVERED), or CANCELLED.
"""

from __future__ import annotations

import dataclasses
import zlib
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final, Literal

import msgspec

from creatorflow.sandbox._tiktok_shipping import provider_name

DeliveryKind = Literal["STANDARD", "EXPRESS", "ECONOMY"]

STATUS_RANK: Final[dict[str, int]] = {
    "UNPAID": 0,
    "ON_HOLD": 1,
    "AWAITING_SHIPMENT": 2,
    "PARTIALLY_SHIPPING": 3,
    "AWAITING_COLLECTION": 4,
    "IN_TRANSIT": 5,
    "DELIVERED": 6,
    "COMPLETED": 7,
}
CANCELLED: Final = "CANCELLED"
FINAL: Final = frozenset({CANCELLED, "COMPLETED"})
SHIPPABLE: Final = frozenset({"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"})

#: Delivery options of the sandbox warehouse (``GET …/delivery_options``): id, name, type.
DELIVERY_OPTIONS: Final[dict[DeliveryKind, tuple[str, str]]] = {
    "STANDARD": ("7000000000000000101", "Standard shipping"),
    "EXPRESS": ("7000000000000000102", "Express shipping"),
    "ECONOMY": ("7000000000000000103", "Economy shipping"),
}
_SHIPPING_FEE_CENTS: Final[dict[DeliveryKind, int]] = {"STANDARD": 0, "EXPRESS": 999, "ECONOMY": 0}


#: Bounds of an order the sandbox makes (one line item per unit, as TikTok sends them).
MAX_LINES: Final = 100
MAX_UNITS_PER_LINE: Final = 1000
_Text = Annotated[str, msgspec.Meta(max_length=512)]
_Short = Annotated[str, msgspec.Meta(max_length=64)]


class LineSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One requested line: ``quantity`` units of ``seller_sku`` at ``sale_price`` each.

    ``seller_sku`` is free text (up to 256 characters) so tests can make orders CreatorFlow
    must refuse to read; ``sale_price`` likewise (up to 64 characters).
    """

    seller_sku: Annotated[str, msgspec.Meta(max_length=256)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=MAX_UNITS_PER_LINE)] = 1
    sale_price: _Short = "10.00"


class OrderSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /sandbox/tiktok/orders``; all but ``lines`` optional."""

    lines: Annotated[list[LineSpec], msgspec.Meta(max_length=MAX_LINES)]  # none: 409
    delivery_type: DeliveryKind = "STANDARD"
    status: _Short = "AWAITING_SHIPMENT"
    on_hold: bool = True
    is_cod: bool = False
    user_id: _Text | None = None
    buyer_message: _Text = ""
    order_type: _Short = ""
    postal_code: _Short = "10001"
    region_code: _Short = "US"


def parse_money(text: str) -> int:
    """``"19.99"`` → 1999.

    Raises:
        ValueError: not a non-negative amount with at most two decimals.
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    cents = value * 100
    if not value.is_finite() or value < 0 or cents != cents.to_integral_value():
        raise ValueError(f"not an amount with at most two decimals: {text!r}")
    return int(cents)


def money(cents: int) -> str:
    """1999 → ``"19.99"`` (money is a string on the wire, reference §2.3)."""
    return f"{cents // 100}.{cents % 100:02d}"


def sku_ids(seller_sku: str) -> tuple[str, str]:
    """Stable ``(sku_id, product_id)`` of a seller SKU; ``MUG-RED`` and ``MUG-BLUE`` share the
    product ``MUG`` (so one inventory call may carry both, as the real API demands)."""
    product_key = seller_sku.rsplit("-", 1)[0] if "-" in seller_sku else seller_sku
    sku = 1_729_000_000_000_000_000 + zlib.crc32(seller_sku.encode()) * 1000 + 2
    product = 1_729_000_000_000_000_000 + zlib.crc32(product_key.encode()) * 1000 + 1
    return str(sku), str(product)


@dataclasses.dataclass(slots=True)
class LineItem:
    """One unit of one SKU."""

    id: str
    seller_sku: str
    sku_id: str
    product_id: str
    price_cents: int
    package_status: str = "TO_FULFILL"
    tracking_number: str = ""
    shipping_provider_id: str = ""
    package_id: str = ""


_LINE_PACKAGE_STATUS: Final = {
    "IN_TRANSIT": "FULFILLING",
    "DELIVERED": "COMPLETED",
    "COMPLETED": "COMPLETED",
}


@dataclasses.dataclass(slots=True)
class SandboxOrder:
    """An order as the sandbox keeps it; :meth:`to_api` renders the 202309 shape."""

    id: str
    status: str
    create_time: int
    update_time: int
    delivery_kind: DeliveryKind
    package_id: str
    lines: list[LineItem]
    user_id: str
    on_hold: bool = True
    is_cod: bool = False
    buyer_message: str = ""
    order_type: str = ""
    postal_code: str = "10001"
    region_code: str = "US"
    paid_time: int | None = None
    rts_time: int | None = None
    cancel_time: int | None = None
    tracking_number: str = ""
    shipping_provider_id: str = ""
    history: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    def path_to(self, target: str) -> list[str]:
        """The statuses from here to ``target``, each a step with its webhook.

        Raises:
            ValueError: unknown status, a final order, or a move backwards.
        """
        if self.status in FINAL:
            raise ValueError(f"order {self.id} is {self.status}: it cannot move any more")
        if target == CANCELLED:
            return [CANCELLED]
        if target not in STATUS_RANK:
            raise ValueError(f"unknown order status {target!r}")
        here, there = STATUS_RANK[self.status], STATUS_RANK[target]
        if there <= here:
            raise ValueError(f"order {self.id} cannot go from {self.status} back to {target}")
        return [
            status
            for status, rank in STATUS_RANK.items()
            if here < rank <= there
            and (status != "ON_HOLD" or self.on_hold)
            and (status != "PARTIALLY_SHIPPING" or target == status)
        ]

    def apply(self, status: str, at: int) -> None:
        """Enter ``status`` at Unix second ``at`` (the path was checked by :meth:`path_to`)."""
        self.status = status
        self.update_time = at
        self.history.append((status, at))
        if status in ("ON_HOLD", "AWAITING_SHIPMENT") and self.paid_time is None:
            self.paid_time = at
        elif status == CANCELLED:
            self.cancel_time = at
            for line in self.lines:
                line.package_status = "CANCELLED"
        elif status in ("AWAITING_COLLECTION", "IN_TRANSIT") and self.rts_time is None:
            self.rts_time = at
        if status in _LINE_PACKAGE_STATUS:
            for line in self.lines:
                if line.tracking_number:
                    line.package_status = _LINE_PACKAGE_STATUS[status]

    def package_ids(self) -> list[str]:
        """Every package of the order, the first one first."""
        return list(dict.fromkeys([self.package_id, *(line.package_id for line in self.lines)]))

    def lines_of(self, package_id: str) -> list[LineItem]:
        """The lines in one package."""
        return [line for line in self.lines if (line.package_id or self.package_id) == package_id]

    def shipped_packages(self) -> list[dict[str, str]]:
        """``[{"package_id", "tracking_number", "shipping_provider_id"}]`` of the packages
        that carry a tracking number (none before the order is shipped)."""
        shipped = []
        for package_id in self.package_ids():
            tracked = [line for line in self.lines_of(package_id) if line.tracking_number]
            if tracked:
                shipped.append(
                    {"package_id": package_id, "tracking_number": tracked[0].tracking_number,
                     "shipping_provider_id": tracked[0].shipping_provider_id}
                )  # fmt: skip
        return shipped

    def package_view(self, package_id: str) -> dict[str, Any]:
        """Get Package Detail of one of the order's packages (shipping-apis §2.6)."""
        lines = self.lines_of(package_id)
        first = lines[0] if lines else LineItem("", "", "", "", 0)
        option_id, _ = DELIVERY_OPTIONS[self.delivery_kind]
        return {
            "package_id": package_id,
            "orders": [{"id": self.id}],
            "order_line_item_ids": [line.id for line in lines],
            "package_status": _package_status(first.package_status),
            "shipping_type": "SELLER",
            "shipping_provider_id": first.shipping_provider_id,
            "shipping_provider_name": provider_name(first.shipping_provider_id),
            "tracking_number": first.tracking_number,
            "delivery_option_id": option_id,
            "handover_method": "DROP_OFF",
            "split_and_combine_tag": "DEFAULT" if package_id == self.package_id else "SPLIT",
            "create_time": self.create_time,
            "update_time": self.update_time,
        }

    def tracking_events(self) -> list[dict[str, Any]]:
        """Get Order Tracking: one event per status since shipping (times in milliseconds)."""
        if not self.tracking_number:
            return []
        shipped = False
        events = []
        for status, at in self.history:
            shipped = shipped or status in ("PARTIALLY_SHIPPING", "AWAITING_COLLECTION")
            if shipped and status in _TRACKING_TEXT:
                events.append({"description": _TRACKING_TEXT[status],
                               "update_time_millis": at * 1000})  # fmt: skip
        return events

    def to_api(self, currency: str, warehouse_id: str) -> dict[str, Any]:
        """The order as Get Order Detail / Get Order List return it (reference §2.3-§2.7)."""
        option_id, option_name = DELIVERY_OPTIONS[self.delivery_kind]
        sub_total = sum(line.price_cents for line in self.lines)
        shipping = _SHIPPING_FEE_CENTS[self.delivery_kind]
        order: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "order_type": self.order_type,
            "is_on_hold_order": self.on_hold,
            "is_sample_order": False,
            "is_replacement_order": False,
            "is_exchange_order": False,
            "is_cod": self.is_cod,
            "is_buyer_request_cancel": False,
            "user_id": self.user_id,
            "buyer_email": f"{self.user_id[-8:]}@scs.tiktokw.us",
            "buyer_message": self.buyer_message,
            "create_time": self.create_time,
            "update_time": self.update_time,
            "rts_sla_time": self.create_time + 2 * 86400,
            "tts_sla_time": self.create_time + 3 * 86400,
            "shipping_due_time": self.create_time + 3 * 86400,
            "shipping_type": "SELLER",
            "delivery_option_id": option_id,
            "delivery_option_name": option_name,
            "delivery_type": "HOME_DELIVERY",
            "fulfillment_type": "FULFILLMENT_BY_SELLER",
            "warehouse_id": warehouse_id,
            "tracking_number": self.tracking_number,
            "shipping_provider_id": self.shipping_provider_id,
            "shipping_provider": provider_name(self.shipping_provider_id),
            "payment": {
                "currency": currency,
                "original_total_product_price": money(sub_total),
                "seller_discount": "0.00",
                "platform_discount": "0.00",
                "sub_total": money(sub_total),
                "original_shipping_fee": money(shipping),
                "shipping_fee": money(shipping),
                "tax": "0.00",
                "total_amount": money(sub_total + shipping),
            },
            "recipient_address": {
                "name": "J*** D***",
                "phone_number": "(+1)555*****12",
                "full_address": f"1 Sandbox Way, {self.postal_code}",
                "postal_code": self.postal_code,
                "region_code": self.region_code,
            },
            "packages": [{"id": package_id} for package_id in self.package_ids()],
            "line_items": [self._line(line, currency) for line in self.lines],
        }
        for name in ("paid_time", "rts_time", "cancel_time"):
            if (value := getattr(self, name)) is not None:
                order[name] = value
        return order

    def _line(self, line: LineItem, currency: str) -> dict[str, Any]:
        return {
            "id": line.id,
            "sku_id": line.sku_id,
            "seller_sku": line.seller_sku,
            "product_id": line.product_id,
            "product_name": line.seller_sku,
            "sku_name": line.seller_sku,
            "original_price": money(line.price_cents),
            "sale_price": money(line.price_cents),
            "currency": currency,
            "display_status": self.status,
            "package_id": line.package_id or self.package_id,
            "package_status": line.package_status,
            "tracking_number": line.tracking_number,
            "shipping_provider_id": line.shipping_provider_id,
            "shipping_provider_name": provider_name(line.shipping_provider_id),
        }


_TRACKING_TEXT: Final = {
    "PARTIALLY_SHIPPING": "Part of the order was handed to the carrier",
    "AWAITING_COLLECTION": "Shipped by the seller, awaiting collection",
    "IN_TRANSIT": "In transit",
    "DELIVERED": "Delivered",
}


def _package_status(line_status: str) -> str:
    # Line statuses map onto package statuses; TO_FULFILL lines are in an unshipped package.
    return "PROCESSING" if line_status == "TO_FULFILL" else line_status
