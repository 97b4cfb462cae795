"""TikTok Shop: the wire records the client returns and the ports actors call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, Protocol

import msgspec

# --------------------------------------------------------------------------- TikTok

#: Most order ids one Get Order Detail call takes (reference §2.2).
MAX_ORDER_IDS_PER_CALL: Final = 50
#
# What the TikTok Shop API answers (reference §2.3-§2.6, §4.4, §4.5, §5), as the client returns
# it: ids are strings, money the decimal strings TikTok sends (the domain converts them to minor
# units), timestamps Unix seconds. Decoding is lenient: unknown fields are ignored, optional ones
# default ("" / "0" / None / empty list). Implemented by ``adapters/tiktok`` (``TikTokClient``).


class TikTokLineItem(msgspec.Struct, frozen=True, kw_only=True):
    """One unit of one SKU (there is no quantity field: count line items per SKU)."""

    id: str
    sku_id: str = ""
    seller_sku: str = ""
    product_id: str = ""
    product_name: str = ""
    sku_name: str = ""
    sku_type: str = ""
    original_price: str = "0"
    sale_price: str = "0"
    seller_discount: str = "0"
    platform_discount: str = "0"
    currency: str = ""
    display_status: str = ""
    package_id: str = ""
    package_status: str = ""
    tracking_number: str = ""
    shipping_provider_id: str = ""
    shipping_provider_name: str = ""
    rts_time: int | None = None
    cancel_reason: str = ""
    is_gift: bool = False
    is_dangerous_good: bool = False


class TikTokPayment(msgspec.Struct, frozen=True, kw_only=True):
    """Order money (strings in ``currency``); see reference §2.5 for how they add up."""

    currency: str = ""
    sub_total: str = "0"
    shipping_fee: str = "0"
    tax: str = "0"
    total_amount: str = "0"
    original_total_product_price: str = "0"
    original_shipping_fee: str = "0"
    seller_discount: str = "0"
    platform_discount: str = "0"
    shipping_fee_seller_discount: str = "0"
    shipping_fee_platform_discount: str = "0"
    product_tax: str = "0"
    shipping_fee_tax: str = "0"
    retail_delivery_fee: str = "0"


class TikTokAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Recipient address; name and phone are masked for platform-shipped orders."""

    name: str = ""
    first_name: str = ""
    last_name: str = ""
    phone_number: str = ""
    full_address: str = ""
    address_detail: str = ""
    address_line1: str = ""
    address_line2: str = ""
    address_line3: str = ""
    address_line4: str = ""
    postal_code: str = ""
    region_code: str = ""
    post_town: str = ""


class TikTokPackage(msgspec.Struct, frozen=True, kw_only=True):
    """A package of an order (its id is what Ship Package takes)."""

    id: str


class TikTokOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as Get Order Detail / Get Order List return it (202309)."""

    id: str
    status: str = ""
    order_type: str = ""
    is_on_hold_order: bool = False
    is_sample_order: bool = False
    is_replacement_order: bool = False
    replaced_order_id: str = ""
    is_exchange_order: bool = False
    is_cod: bool = False
    is_buyer_request_cancel: bool = False
    split_or_combine_tag: str = ""
    user_id: str = ""
    buyer_email: str = ""
    buyer_message: str = ""
    seller_note: str = ""
    create_time: int = 0
    update_time: int = 0
    paid_time: int | None = None
    rts_time: int | None = None
    rts_sla_time: int | None = None
    tts_sla_time: int | None = None
    shipping_due_time: int | None = None
    collection_due_time: int | None = None
    delivery_due_time: int | None = None
    cancel_time: int | None = None
    shipping_type: str = ""
    delivery_option_id: str = ""
    delivery_option_name: str = ""
    delivery_type: str = ""
    fulfillment_type: str = ""
    fulfillment_priority_level: int | None = None
    shipping_provider: str = ""
    shipping_provider_id: str = ""
    tracking_number: str = ""
    warehouse_id: str = ""
    cancel_reason: str = ""
    cancellation_initiator: str = ""
    payment_method_name: str = ""
    payment: TikTokPayment = msgspec.field(default_factory=TikTokPayment)
    recipient_address: TikTokAddress = msgspec.field(default_factory=TikTokAddress)
    packages: list[TikTokPackage] = msgspec.field(default_factory=list)
    line_items: list[TikTokLineItem] = msgspec.field(default_factory=list)


class TikTokOrderPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of Get Order List; ``next_page_token`` is "" on the last page."""

    orders: list[TikTokOrder] = msgspec.field(default_factory=list)
    next_page_token: str = ""
    total_count: int = 0


class TikTokShop(msgspec.Struct, frozen=True, kw_only=True):
    """An authorized shop: ``id`` is the webhook's ``shop_id``, ``cipher`` its ``shop_cipher``."""

    id: str
    cipher: str
    code: str = ""
    name: str = ""
    region: str = ""
    seller_type: str = ""


class TikTokDeliveryOption(msgspec.Struct, frozen=True, kw_only=True):
    """A warehouse's delivery option; ``type`` is STANDARD / EXPRESS / ECONOMY / SEND_BY_SELLER."""

    id: str
    name: str = ""
    type: str = ""
    description: str = ""


class TikTokSkuInventory(msgspec.Struct, frozen=True, kw_only=True):
    """New stock of one SKU: ``{warehouse_id: quantity}`` for every warehouse it has."""

    sku_id: str
    quantities: dict[str, int]


class TikTokItemError(msgspec.Struct, frozen=True, kw_only=True):
    """One per-item failure of a batch write (``data.errors[]``); ``sku_id`` may be ""."""

    code: int
    message: str = ""
    sku_id: str = ""


class TikTokWriteResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of a write: TikTok said ``code`` 0, but items in ``errors`` were refused.

    ``package_id``/``warning`` are filled by Mark Package As Shipped.
    """

    errors: list[TikTokItemError] = msgspec.field(default_factory=list)
    package_id: str = ""
    warning: str = ""

    @property
    def ok(self) -> bool:
        """True when no item was refused."""
        return not self.errors


class TikTokShippingProvider(msgspec.Struct, frozen=True, kw_only=True):
    """A carrier TikTok knows for a delivery option (Get Shipping Providers): its ``id`` is
    the ``shipping_provider_id`` of Mark Package As Shipped and Ship Package."""

    id: str
    name: str = ""


class TikTokTrackingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event of Get Order Tracking; its time is in **milliseconds** (unlike the rest)."""

    description: str = ""
    update_time_millis: int = 0


#: Shop regions where a seller-shipped order is reported with Mark Package As Shipped
#: (shipping-apis §2.1: US, EMEA — GB/UK, ES, IE, IT, DE, FR — and JP). Elsewhere (SEA,
#: LATAM) Ship Package with ``self_shipment`` on the package the order has from payment.
MARK_SHIPPED_REGIONS: Final = frozenset({"US", "GB", "UK", "ES", "IE", "IT", "DE", "FR", "JP"})

#: What ``ship_order`` concluded (see :class:`ShipOutcome`).
ShipOutcomeKind = Literal["shipped", "already_shipped", "cancelled", "held", "needs_attention"]
#: Why an outcome is ``held`` or ``needs_attention`` ("" otherwise).
ShipReason = Literal[
    "",
    # held: nothing shipped; try again later (and alert when it lasts)
    "after_sale_pending",  # a cancel/return request is pending (21011007, 21008044)
    "not_awaiting_shipment",  # UNPAID / ON_HOLD: TikTok does not take a shipment yet
    # needs_attention: nothing more will happen by itself
    "shipped_with_other_tracking",  # shipped (or delivered) with another tracking number
    "tracking_duplicate",  # our number is on another order / used too often: never reuse it
    "tracking_rejected",  # unmatchable, bad characters, provider mismatch: fix the mapping
    "no_shipping_provider",  # the delivery option has no provider for the carrier
    "wrong_flow",  # platform-fulfilled, TikTok shipping, several packages, …
    "no_package",  # Ship Package region, but the order has no package to ship
    "order_not_found",
    "refused",  # another refusal (see ``code`` and ``detail``)
]
ShipCall = Literal["mark_package_shipped", "ship_package"]


class ShipOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What telling TikTok "this order shipped" came to (``TikTokShipping.ship_order``).

    ``kind``:

    - ``shipped``: TikTok took our tracking number now; ``package_id`` is the package
      (created by Mark Package As Shipped in US/EMEA/JP), ``warning`` TikTok's
      ``warning.message`` (code 0, but the number matched no or another provider: alert).
    - ``already_shipped``: the order carries our tracking number already (an earlier call,
      or a call whose reply was lost): success, nothing was sent twice.
    - ``cancelled``: the order is cancelled: stop, void the label.
    - ``held``: not shipped, may be later (``reason``); try again after a while.
    - ``needs_attention``: not shipped and will not be by retrying (``reason``, ``detail``,
      TikTok's ``code`` when one said so).
    """

    kind: ShipOutcomeKind
    order_id: str
    tracking_number: str
    package_id: str = ""
    shipping_provider_id: str = ""
    call: ShipCall | None = None
    warning: str = ""
    reason: ShipReason = ""
    detail: str = ""
    code: int = 0

    @property
    def ok(self) -> bool:
        """True when the order is shipped with our tracking number."""
        return self.kind in ("shipped", "already_shipped")


class TikTokTokens(msgspec.Struct, frozen=True, kw_only=True):
    """A shop's OAuth tokens; expiries are absolute Unix seconds. Saved and loaded as one."""

    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""


class TokenStore(Protocol):
    """Where TikTok tokens live between restarts (memory now; the SQL store later).

    ``shop_key`` is the key the app authorized under (a shop id, or a seller key covering
    several shops). ``save`` replaces both tokens at once: a reader sees the old pair or the new
    pair, never one of each.
    """

    async def load(self, shop_key: str) -> TikTokTokens | None:
        """The tokens of ``shop_key``, or None when it was never authorized."""
        ...

    async def save(self, shop_key: str, tokens: TikTokTokens) -> None:
        """Store ``tokens`` for ``shop_key`` atomically (both tokens or neither).

        Raises:
            StoreUnavailable: nothing was saved.
        """
        ...


class TikTokOrders(Protocol):
    """Reading orders (order sync and the reconciler). Raises TikTokError, CircuitOpen."""

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        """Get Order Detail for up to 50 ids in one call (unknown ids are simply absent)."""
        ...

    async def search_orders(
        self,
        shop_id: str,
        *,
        update_time_ge: int,
        update_time_lt: int,
        page_size: int = 50,
        page_token: str = "",
    ) -> TikTokOrderPage:
        """One page of orders updated in ``[update_time_ge, update_time_lt)``, oldest first."""
        ...


class TikTokFulfillment(Protocol):
    """Pushing shipments and stock to TikTok. Raises TikTokError, CircuitOpen.

    Writes are not retried after a 5xx or timeout (they may have been applied) unless the
    caller passes ``idempotent=True``: it guarantees a repeat is harmless.
    """

    async def ship_package(
        self,
        shop_id: str,
        package_id: str,
        *,
        handover_method: str = "DROP_OFF",
        tracking_number: str = "",
        shipping_provider_id: str = "",
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Ship an existing package (with ``self_shipment`` when a tracking number is given)."""
        ...

    async def mark_package_shipped(
        self,
        shop_id: str,
        order_id: str,
        *,
        tracking_number: str,
        shipping_provider_id: str,
        line_item_ids: Sequence[str] = (),
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Mark the order's line items shipped with the seller's own carrier."""
        ...

    async def update_inventory(
        self,
        shop_id: str,
        product_id: str,
        skus: Sequence[TikTokSkuInventory],
        *,
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Set the stock of SKUs of one product; refused SKUs come back in ``errors``."""
        ...


class TikTokLogistics(Protocol):
    """Warehouse delivery options (map an order's ``delivery_option_id`` to its type)."""

    async def get_delivery_options(
        self, shop_id: str, warehouse_id: str
    ) -> list[TikTokDeliveryOption]:
        """The delivery options of one warehouse. Raises TikTokError, CircuitOpen."""
        ...


class TikTokShipping(Protocol):
    """Telling TikTok an order shipped with our label (issue 12 §4).

    Raises (besides the outcomes): TikTokUnavailable / TikTokRateLimited / CircuitOpen when
    TikTok could not be reached (retry later: a repeat re-reads first and never ships twice),
    TikTokAuthError / TikTokRequestRejected (configuration), ValueError for an empty tracking
    number.
    """

    async def ship_order(
        self,
        shop_id: str,
        order: TikTokOrder | str,
        *,
        tracking_number: str,
        carrier_name: str,
        region: str = "",
    ) -> ShipOutcome:
        """Report the order shipped (Mark Package As Shipped or Ship Package by region)."""
        ...

    async def get_shipping_providers(
        self, shop_id: str, delivery_option_id: str
    ) -> list[TikTokShippingProvider]:
        """The providers of a delivery option (cached). Raises TikTokNoShippingProviders."""
        ...
