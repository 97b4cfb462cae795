"""The order model, built from a TikTok Shop order (Get Order Detail, API 202309) (pure).

Reference: ``shared/reference/tiktok-shop-api.md`` §2.3-2.7. What the rest of CreatorFlow needs
from an order, normalised once:

- **Quantity.** Line items carry no quantity: one line item per unit. :class:`OrderLine`
  aggregates them per ``seller_sku`` (``sku_id`` when the seller left it empty), so
  ``quantity`` is the count of line items and ``line_item_ids`` lists them (Mark Package As
  Shipped takes them).
- **Money.** Integer minor units (:mod:`creatorflow.domain.money`); the order total is
  ``payment.total_amount`` in ``payment.currency``.
- **Delivery type.** The order has no EXPRESS/STANDARD field; the caller resolves
  ``delivery_option_id`` through the warehouse's delivery options (a mapping it passes in).
- **Times.** Unix seconds as TikTok sends them; ``0`` when TikTok sent none.

Lenient with optional fields (absent or ``null`` → empty / zero / ``False``); a missing ``id``
or ``status``, a value of the wrong type, or a malformed amount raises
:class:`~creatorflow.errors.InvalidOrder` naming the order and the field.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec

from creatorflow.domain.limits import MAX_ID_CHARS, Int64, OptionalId, is_valid_id
from creatorflow.domain.money import parse_amount
from creatorflow.errors import InvalidAmount, InvalidOrder


class DeliveryType(enum.StrEnum):
    """Delivery-option type (``GET /logistics/202309/warehouses/{id}/delivery_options``)."""

    EXPRESS = "EXPRESS"
    STANDARD = "STANDARD"
    ECONOMY = "ECONOMY"
    SEND_BY_SELLER = "SEND_BY_SELLER"
    UNKNOWN = "UNKNOWN"  # the option id is not in the caller's mapping (or the order has none)


#: ``order_type`` of a standard order: TikTok sends an empty string or ``NORMAL``.
NORMAL_ORDER_TYPE: Final = "NORMAL"


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    """Every unit of one ``seller_sku`` in an order (TikTok: one line item per unit)."""

    seller_sku: str
    sku_id: str
    product_id: str
    quantity: int  # number of line items of this SKU
    unit_price_minor: int  # ``sale_price`` of the first line item of this SKU
    total_minor: int  # sum of ``sale_price`` over the SKU's line items
    cancelled_quantity: int = 0  # line items whose ``display_status`` is CANCELLED
    line_item_ids: tuple[str, ...] = ()


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """Where the parcel goes, as TikTok gives it (masked for platform-shipped orders); the
    region and postal code are the order's own fields."""

    name: str = ""
    phone: str = ""
    line1: str = ""
    line2: str = ""
    city: str = ""


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """A TikTok Shop order as CreatorFlow ranks, reserves and ships it."""

    order_id: str
    shop_id: str
    tiktok_status: str  # as TikTok sent it; see ``state_machine.map_tiktok_status``
    update_time: int
    create_time: int = 0
    paid_time: int = 0
    rts_sla_time: int = 0  # latest ship time set by TikTok; 0 = unknown
    delivery_option_id: str = ""
    delivery_type: DeliveryType = DeliveryType.UNKNOWN
    shipping_type: str = ""  # TIKTOK (platform label) | SELLER (own carrier) | ...
    warehouse_id: str = ""
    is_cod: bool = False
    order_type: str = NORMAL_ORDER_TYPE
    is_on_hold_order: bool = False
    buyer_user_id: str = ""
    buyer_message: str = ""
    region_code: str = ""
    postal_code: str = ""
    total_minor: int = 0
    currency: str = ""
    lines: tuple[OrderLine, ...] = ()
    recipient: Recipient = Recipient()

    @property
    def units(self) -> int:
        """Units in the order: the sum of line quantities."""
        return sum(line.quantity for line in self.lines)


# --------------------------------------------------------------------------- wire shapes
# Only the fields we read. ``None`` defaults make absent and ``null`` the same; unknown fields
# are ignored. Converted with ``strict=False`` so ``"1700000000"`` is accepted as a time.
# Bounded like every edge (``domain.limits``): an order whose values could not be stored is
# unreadable (the scheduler parks it), never a failed write.

#: Most line items read in one order (TikTok sends one per unit).
MAX_LINE_ITEMS: Final = 10_000
_Short = Annotated[str, msgspec.Meta(max_length=64)]
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_Name = Annotated[str, msgspec.Meta(max_length=128)]
_Line = Annotated[str, msgspec.Meta(max_length=512)]


class _Payment(msgspec.Struct, kw_only=True):
    currency: _Short | None = None
    total_amount: _Short | None = None


class _Address(msgspec.Struct, kw_only=True):
    region_code: _Short | None = None
    postal_code: _Short | None = None
    name: _Name | None = None
    phone_number: _Short | None = None
    full_address: _Line | None = None
    address_detail: _Line | None = None
    address_line1: _Line | None = None
    address_line2: _Line | None = None
    address_line3: _Line | None = None
    post_town: _Name | None = None


class _LineItem(msgspec.Struct, kw_only=True):
    id: OptionalId | None = None
    sku_id: OptionalId | None = None
    seller_sku: OptionalId | None = None
    product_id: OptionalId | None = None
    sale_price: _Short | None = None
    currency: _Short | None = None
    display_status: _Short | None = None


class _Order(msgspec.Struct, kw_only=True):
    id: str  # checked in _decode (names the problem: empty, too long, control characters)
    status: _Short
    update_time: Int64 | None = None
    create_time: Int64 | None = None
    paid_time: Int64 | None = None
    rts_sla_time: Int64 | None = None
    delivery_option_id: OptionalId | None = None
    shipping_type: _Short | None = None
    warehouse_id: OptionalId | None = None
    is_cod: bool | None = None
    order_type: _Short | None = None
    is_on_hold_order: bool | None = None
    user_id: OptionalId | None = None
    buyer_message: _Text | None = None
    payment: _Payment | None = None
    recipient_address: _Address | None = None
    line_items: Annotated[list[_LineItem], msgspec.Meta(max_length=MAX_LINE_ITEMS)] | None = None


def order_from_tiktok(
    raw: Mapping[str, Any],
    *,
    shop_id: str,
    delivery_types: Mapping[str, DeliveryType | str] | None = None,
) -> Order:
    """Build an :class:`Order` from one decoded order of Get Order Detail (``data.orders[i]``).

    Args:
        raw: the order object as msgspec/json decoded it (a plain mapping).
        shop_id: the shop the order belongs to (not part of the order object).
        delivery_types: ``delivery_option_id`` → delivery-option type, from the warehouse's
            delivery options; ids not in it (or no mapping) resolve to ``UNKNOWN``.

    Raises:
        InvalidOrder: ``id`` or ``status`` is missing or empty, a field has the wrong type,
            or an amount is malformed; the message names the order and the field.
    """
    wire = _decode(raw)
    payment = wire.payment or _Payment()
    currency = (payment.currency or "").upper()
    address = wire.recipient_address or _Address()
    option = wire.delivery_option_id or ""
    resolved = (delivery_types or {}).get(option, DeliveryType.UNKNOWN) if option else None
    return Order(
        order_id=wire.id,
        shop_id=shop_id,
        tiktok_status=wire.status,
        update_time=wire.update_time or 0,
        create_time=wire.create_time or 0,
        paid_time=wire.paid_time or 0,
        rts_sla_time=wire.rts_sla_time or 0,
        delivery_option_id=option,
        delivery_type=_delivery_type(resolved),
        shipping_type=wire.shipping_type or "",
        warehouse_id=wire.warehouse_id or "",
        is_cod=bool(wire.is_cod),
        order_type=(wire.order_type or NORMAL_ORDER_TYPE).upper(),
        is_on_hold_order=bool(wire.is_on_hold_order),
        buyer_user_id=wire.user_id or "",
        buyer_message=wire.buyer_message or "",
        region_code=(address.region_code or "").upper(),
        postal_code=address.postal_code or "",
        recipient=Recipient(
            name=address.name or "",
            phone=address.phone_number or "",
            line1=address.address_line1 or address.address_detail or address.full_address or "",
            line2=address.address_line2 or "",
            city=address.post_town or address.address_line3 or "",
        ),
        total_minor=_money(wire.id, "payment.total_amount", payment.total_amount, currency),
        currency=currency,
        lines=_aggregate(wire.id, wire.line_items or [], currency),
    )


def _decode(raw: Mapping[str, Any]) -> _Order:
    try:
        wire = msgspec.convert(raw, _Order, strict=False)
    except msgspec.ValidationError as exc:
        order_id = raw.get("id") if isinstance(raw, Mapping) else None
        who = f"order {order_id}" if isinstance(order_id, str) and order_id else "order"
        raise InvalidOrder(f"{who}: {exc}") from None
    if not wire.id:
        raise InvalidOrder("order: empty `id`")
    if not is_valid_id(wire.id):
        raise InvalidOrder(
            f"order: `id` is over {MAX_ID_CHARS} characters or holds control characters"
        )
    if not wire.status:
        raise InvalidOrder(f"order {wire.id}: empty `status`")
    return wire


def _delivery_type(value: DeliveryType | str | None) -> DeliveryType:
    if value is None:
        return DeliveryType.UNKNOWN
    try:
        return DeliveryType(str(value).upper())
    except ValueError:
        return DeliveryType.UNKNOWN


def _money(order_id: str, field: str, amount: str | None, currency: str) -> int:
    if amount is None or amount == "":
        return 0
    try:
        return parse_amount(amount, currency)
    except InvalidAmount as exc:
        raise InvalidOrder(f"order {order_id}: {field}: {exc}") from exc


def _aggregate(order_id: str, items: list[_LineItem], currency: str) -> tuple[OrderLine, ...]:
    """One :class:`OrderLine` per seller SKU, in order of first appearance."""
    groups: dict[str, list[_LineItem]] = {}
    for item in items:
        key = item.seller_sku or item.sku_id or ""
        groups.setdefault(key, []).append(item)
    lines: list[OrderLine] = []
    for key, group in groups.items():
        first = group[0]
        prices = [
            _money(
                order_id,
                f"line_items[{key}].sale_price",
                item.sale_price,
                (item.currency or currency).upper(),
            )
            for item in group
        ]
        lines.append(
            OrderLine(
                seller_sku=key,
                sku_id=first.sku_id or "",
                product_id=first.product_id or "",
                quantity=len(group),
                unit_price_minor=prices[0],
                total_minor=sum(prices),
                cancelled_quantity=sum(1 for i in group if i.display_status == "CANCELLED"),
                line_item_ids=tuple(item.id for item in group if item.id),
            )
        )
    return tuple(lines)
