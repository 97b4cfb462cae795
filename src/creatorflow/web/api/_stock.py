"""The inventory API's wire shapes: request bodies, response Structs, the SKU id and
Idempotency-Key rules, and the conversions from what the actors and the store return.

Kept apart from the handlers (``inventory.py``) so each stays readable; ``purchase_orders.py``
shares :func:`check_sku`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Final, Literal

import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request

from creatorflow.actors.inventory import StockView
from creatorflow.domain.inventory import MAX_ON_HAND
from creatorflow.domain.limits import MAX_ID_CHARS, SKU_FORBIDDEN, is_valid_sku
from creatorflow.ports import MAX_ADJUSTMENT_KEY_CHARS, SkuRow, StockEventRow
from creatorflow.web.api.errors import ApiError, BadParameter

MAX_QUANTITY: Final = MAX_ON_HAND  # units; far below the store's 64-bit columns
#: Longest Idempotency-Key accepted (characters; printable ASCII, so also bytes). Longer keys are
#: refused, never cut: a cut key would make two different keys one.
MAX_IDEMPOTENCY_KEY_CHARS: Final = MAX_ADJUSTMENT_KEY_CHARS
_IDEMPOTENCY_KEY: Final = b"idempotency-key"
_KEY_RE: Final = re.compile(rb"[\x20-\x7e]+")
SKU_RULE: Final = (
    "1 to 128 characters; no control or bidirectional-override characters; not blank; "
    'not "." or ".."'
)

Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: A TikTok id (shop, product, SKU, warehouse): what TikTok's API takes in a path
#: (``adapters/tiktok/_fulfillment.py``). Anything else would make every stock push of the SKU
#: fail, so it is refused here (400 ``bad_body``). ``(?!\n)``: Python's ``$`` also matches before
#: a final newline (JSON Schema's does not).
TikTokId = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_-]{1,64}$(?!\n)")]
#: A SKU id as the OpenAPI document states it (the code checks ``domain.limits.is_valid_sku``;
#: this pattern is the same rule in a syntax JSON Schema validators read).
SkuPath = Annotated[
    str,
    msgspec.Meta(
        max_length=MAX_ID_CHARS,
        pattern=f"^(?!\\.{{1,2}}$)(?=.*\\S)[^{SKU_FORBIDDEN}]+$",
    ),
]


# --------------------------------------------------------------------------- bodies


class TikTokBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the SKU lives on TikTok: ids of letters, digits, ``_`` and ``-`` (1 to 64)."""

    shop_id: TikTokId
    product_id: TikTokId
    sku_id: TikTokId
    warehouse_id: TikTokId | Literal[""] = ""


class SetStockBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/inventory/{sku}``: what to set (absent fields are left as they are)."""

    json_schema_extra: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
            for name in ("on_hand", "safety_buffer", "tiktok")
        ]
    }

    on_hand: Quantity | None = None
    safety_buffer: Quantity | None = None
    reason: Reason = "count"
    tiktok: TikTokBody | None = None


class AdjustBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inventory/{sku}/adjustments``: ``delta`` (nonzero) units, and why."""

    delta: Annotated[
        int,
        msgspec.Meta(ge=-MAX_QUANTITY, le=MAX_QUANTITY, extra_json_schema={"not": {"const": 0}}),
    ]
    reason: Reason


class TikTokIds(msgspec.Struct, kw_only=True):
    """Where the SKU lives on TikTok."""

    shop_id: str
    product_id: str
    sku_id: str
    warehouse_id: str


class Stock(msgspec.Struct, kw_only=True):
    """A SKU's stock: ``available`` = on hand - reserved, ``sellable`` = available - buffer."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    sellable: int
    safety_buffer: int
    holds: int
    open_po_qty: int
    tiktok: TikTokIds | None


class Signals(msgspec.Struct, kw_only=True):
    """What the stock watcher knows of the SKU."""

    viral: bool
    rate_per_hour: float
    baseline_per_hour: float
    time_to_stockout_s: float | None


class StockEvent(msgspec.Struct, kw_only=True):
    """One journal entry, with the counts after it."""

    seq: int
    at_ms: int
    kind: str
    order_id: str
    delta_on_hand: int
    delta_reserved: int
    on_hand: int
    reserved: int
    reason: str


class StockDetail(Stock, kw_only=True):
    """``GET /api/inventory/{sku}``: the stock, the watcher's signals, the journal if asked."""

    signals: Signals | None
    history: list[StockEvent] | UnsetType = UNSET


class SkuSummary(msgspec.Struct, kw_only=True):
    sku: str
    on_hand: int
    reserved: int
    available: int
    safety_buffer: int
    updated_at_ms: int


class SkuPage(msgspec.Struct, kw_only=True):
    skus: list[SkuSummary]
    next_cursor: str | None


class Hold(msgspec.Struct, kw_only=True):
    """Stock one order holds; ``expires_at_ms`` null: a firm hold."""

    order_id: str
    qty: int
    expires_at_ms: int | None
    created_at_ms: int


class Holds(msgspec.Struct, kw_only=True):
    sku: str
    reservations: list[Hold]


def check_sku(sku: str) -> str:
    """``sku`` if this API accepts it as a SKU id. Raises BadParameter (``sku``)."""
    if not is_valid_sku(sku):
        raise BadParameter("sku", SKU_RULE)
    return sku


def idempotency_key(request: Request) -> str:
    """The request's ``Idempotency-Key`` (surrounding spaces and tabs removed), ``""`` without
    one. Raises ApiError (400 ``invalid_idempotency_key``): sent more than once, empty, longer
    than :data:`MAX_IDEMPOTENCY_KEY_CHARS`, or not printable ASCII."""
    values = [value for name, value in request.scope["headers"] if name == _IDEMPOTENCY_KEY]
    if not values:
        return ""
    if len(values) > 1:
        raise _bad_key("send one Idempotency-Key header")
    key: bytes = values[0].strip(b" \t")
    if not key:
        raise _bad_key("Idempotency-Key is empty")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise _bad_key(f"Idempotency-Key is {len(key)} bytes; at most {MAX_IDEMPOTENCY_KEY_CHARS}")
    if _KEY_RE.fullmatch(key) is None:
        raise _bad_key(
            "Idempotency-Key must be printable ASCII (space to '~'), no control characters"
        )
    return key.decode("ascii")


def _bad_key(detail: str) -> ApiError:
    return ApiError(400, "invalid_idempotency_key", detail)


# --------------------------------------------------------------------------- conversions


def stock_of(view: StockView) -> Stock:
    tiktok = None
    if view.product_id:  # as the actor: a ref without a product id was never set
        tiktok = TikTokIds(
            shop_id=view.shop_id,
            product_id=view.product_id,
            sku_id=view.sku_id,
            warehouse_id=view.warehouse_id,
        )
    return Stock(
        sku=view.sku,
        on_hand=view.on_hand,
        reserved=view.reserved,
        available=view.available,
        sellable=view.sellable,
        safety_buffer=view.safety_buffer,
        holds=view.holds,
        open_po_qty=view.open_po_qty,
        tiktok=tiktok,
    )


def sku_summary_of(row: SkuRow) -> SkuSummary:
    return SkuSummary(
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.on_hand - row.reserved,
        safety_buffer=row.safety_buffer,
        updated_at_ms=row.updated_at_ms,
    )


def event_of(event: StockEventRow) -> StockEvent:
    return StockEvent(
        seq=event.seq,
        at_ms=event.at_ms,
        kind=event.kind,
        order_id=event.order_id,
        delta_on_hand=event.delta_on_hand,
        delta_reserved=event.delta_reserved,
        on_hand=event.on_hand,
        reserved=event.reserved,
        reason=event.reason,
    )
