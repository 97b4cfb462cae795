"""Wire shapes of TikTok Shop answers: the envelope and each endpoint's ``data``.

The records callers receive (``TikTokOrder``, ``TikTokShop``, …) are defined in
:mod:`creatorflow.ports` so actors can use them without importing this adapter; this module
holds the containers around them. Decoding is lenient (``strict=False``: numbers sent as
strings are accepted; unknown fields are ignored; missing optional fields default) and done in
two steps: the envelope first, with ``data`` kept raw, then ``data`` into the endpoint's type,
only when ``code`` is 0.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from creatorflow.ports import TikTokDeliveryOption, TikTokOrder, TikTokOrderPage, TikTokShop
from creatorflow.ports.tiktok import TikTokShippingProvider, TikTokTrackingEvent

T = TypeVar("T")

_NULL = msgspec.Raw(b"null")


class Envelope(msgspec.Struct, kw_only=True):
    """``{code, message, request_id, data}``; ``code`` 0 is success (reference §3.3)."""

    code: int = -1
    message: str = ""
    request_id: str = ""
    data: msgspec.Raw = _NULL


class OrdersData(msgspec.Struct, kw_only=True):
    """``data`` of Get Order Detail."""

    orders: list[TikTokOrder] = msgspec.field(default_factory=list)


class ShopsData(msgspec.Struct, kw_only=True):
    """``data`` of Get Authorized Shops."""

    shops: list[TikTokShop] = msgspec.field(default_factory=list)


class DeliveryOptionsData(msgspec.Struct, kw_only=True):
    """``data`` of Get Warehouse Delivery Options."""

    delivery_options: list[TikTokDeliveryOption] = msgspec.field(default_factory=list)


class ShippingProvidersData(msgspec.Struct, kw_only=True):
    """``data`` of Get Shipping Providers (shipping-apis §2.2)."""

    shipping_providers: list[TikTokShippingProvider] = msgspec.field(default_factory=list)


class TrackingData(msgspec.Struct, kw_only=True):
    """``data`` of Get Order Tracking (shipping-apis §2.6; times in milliseconds)."""

    tracking: list[TikTokTrackingEvent] = msgspec.field(default_factory=list)


class ErrorDetail(msgspec.Struct, kw_only=True):
    """``detail`` of one batch-write error (inventory update names the SKU)."""

    sku_id: str = ""


class ItemError(msgspec.Struct, kw_only=True):
    """One entry of ``data.errors[]`` of a batch write."""

    code: int = -1
    message: str = ""
    detail: ErrorDetail = msgspec.field(default_factory=ErrorDetail)
    id: str = ""  # batch ship names the package here


class WriteData(msgspec.Struct, kw_only=True):
    """``data`` of the write endpoints we call (inventory update, ship, mark shipped)."""

    errors: list[ItemError] = msgspec.field(default_factory=list)
    order_id: str = ""
    package_id: str = ""
    warning: Any = None  # a string or an object, depending on the market: kept as sent


class TokenData(msgspec.Struct, kw_only=True):
    """``data`` of token get / refresh (reference §4.4); expiries are absolute Unix seconds."""

    access_token: str
    access_token_expire_in: int
    refresh_token: str
    refresh_token_expire_in: int
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""
    user_type: int = 0
    granted_scopes: list[str] = msgspec.field(default_factory=list)


class DataDecoder(Generic[T]):
    """Decodes an envelope's raw ``data`` into ``T``; ``null``/absent reads as ``{}``.

    Raises msgspec.DecodeError (including ValidationError) on a body that does not fit.
    """

    __slots__ = ("_decoder",)

    def __init__(self, type_: type[T]) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type_, strict=False)

    def decode(self, raw: msgspec.Raw) -> T:
        payload = bytes(raw)
        if payload in (b"", b"null"):
            payload = b"{}"
        return self._decoder.decode(payload)


ENVELOPE = msgspec.json.Decoder(Envelope, strict=False)
ORDERS = DataDecoder(OrdersData)
ORDER_PAGE = DataDecoder(TikTokOrderPage)
SHOPS = DataDecoder(ShopsData)
DELIVERY_OPTIONS = DataDecoder(DeliveryOptionsData)
SHIPPING_PROVIDERS = DataDecoder(ShippingProvidersData)
TRACKING = DataDecoder(TrackingData)
WRITE = DataDecoder(WriteData)
TOKENS = DataDecoder(TokenData)

encode = msgspec.json.Encoder().encode
