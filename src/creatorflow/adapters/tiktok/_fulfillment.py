"""The write and logistics calls of :class:`~creatorflow.adapters.tiktok.TikTokClient`.

Ship Package, Mark Package As Shipped and Update Inventory change state at TikTok: after a 5xx
or a timeout they may have been applied, so they are not retried unless the caller passes
``idempotent=True`` (a repeat is harmless: it reconciles first, or the write sets an absolute
value). A 429 and a connection that never opened are retried (nothing was processed).
Batch answers may refuse single items under ``code`` 0: they come back in
:attr:`~creatorflow.ports.TikTokWriteResult.errors`.

Get Shipping Providers answers are cached per (shop, delivery option) in a bounded LRU with a
time to live (:class:`ProviderCache`); a refusal is not cached.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from creatorflow.adapters.tiktok import _wire
from creatorflow.adapters.tiktok._types import Endpoint
from creatorflow.errors import TikTokNoShippingProviders
from creatorflow.ports import (
    TikTokDeliveryOption,
    TikTokItemError,
    TikTokSkuInventory,
    TikTokWriteResult,
)
from creatorflow.ports.tiktok import TikTokShippingProvider, TikTokTrackingEvent
from creatorflow.runtime import KeyedLru, MonotonicClock

_PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_SHIP = Endpoint("ship_package", "POST", "fulfillment", idempotent=False)
_MARK_SHIPPED = Endpoint("mark_package_shipped", "POST", "fulfillment", idempotent=False)
_INVENTORY = Endpoint("update_inventory", "POST", "product", idempotent=False)
_DELIVERY = Endpoint("get_delivery_options", "GET", "logistics", idempotent=True)
_PROVIDERS = Endpoint("get_shipping_providers", "GET", "logistics", idempotent=True)
_TRACKING = Endpoint("get_order_tracking", "GET", "fulfillment", idempotent=True)


def _path_id(value: str, what: str) -> str:
    if not _PATH_ID.match(value):
        raise ValueError(f"{what} {value!r} is not a TikTok id")
    return value


def _write_result(data: _wire.WriteData) -> TikTokWriteResult:
    errors = [
        TikTokItemError(code=e.code, message=e.message, sku_id=e.detail.sku_id or e.id)
        for e in data.errors
    ]
    # ``warning`` is ``{"message": ...}`` (an empty message: no warning) or, in some markets,
    # a plain string; another object is kept as its JSON so nothing is lost.
    warning = data.warning
    if isinstance(warning, dict):
        if "message" in warning:
            warning = warning["message"]
        elif warning:
            warning = msgspec.json.encode(warning).decode()
    return TikTokWriteResult(errors=errors, package_id=data.package_id, warning=str(warning or ""))


class ProviderCache:
    """Shipping providers per (shop, delivery option): at most ``max_keys`` lists, each kept
    ``ttl_s`` seconds on ``clock``. Never blocks."""

    def __init__(self, max_keys: int, ttl_s: float, clock: MonotonicClock) -> None:
        self._lists: KeyedLru[tuple[str, str], tuple[float, tuple[TikTokShippingProvider, ...]]]
        self._lists = KeyedLru(max_keys)
        self._ttl_s = ttl_s
        self._clock = clock

    def get(self, shop_id: str, option_id: str) -> list[TikTokShippingProvider] | None:
        """The cached list, or None when absent or expired."""
        entry = self._lists.peek((shop_id, option_id))
        if entry is None or entry[0] <= self._clock.now():
            return None
        return list(entry[1])

    def put(self, shop_id: str, option_id: str, providers: list[TikTokShippingProvider]) -> None:
        """Remember ``providers`` (the oldest list goes beyond the bound)."""
        expires = self._clock.now() + self._ttl_s
        self._lists.put((shop_id, option_id), (expires, tuple(providers)))

    def __len__(self) -> int:
        return len(self._lists)


class FulfillmentCalls:
    """Mixin of the client: needs its ``_shop_call`` and a ``_provider_cache``."""

    _provider_cache: ProviderCache

    async def _shop_call(
        self,
        endpoint: Endpoint,
        path: str,
        decoder: _wire.DataDecoder[Any],
        shop_id: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        raise NotImplementedError

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
        """Ship Package; ``self_shipment`` is sent when ``tracking_number`` is given.

        Not retried after a 5xx/timeout unless ``idempotent`` (the caller guarantees a repeat
        is harmless, e.g. it checks the package status first).
        """
        body: dict[str, Any] = {"handover_method": handover_method}
        if tracking_number:
            body["self_shipment"] = {
                "tracking_number": tracking_number,
                "shipping_provider_id": shipping_provider_id,
            }
        path = f"/fulfillment/202309/packages/{_path_id(package_id, 'package_id')}/ship"
        data = await self._shop_call(
            _SHIP, path, _wire.WRITE, shop_id, body=body, idempotent=idempotent
        )
        return _write_result(data)

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
        """Mark Package As Shipped (seller's own carrier; US, UK and some EU markets).

        Empty ``line_item_ids`` ships the whole order. ``package_id`` of the result is the
        package TikTok created. Retries as :meth:`ship_package`.
        """
        body: dict[str, Any] = {
            "tracking_number": tracking_number,
            "shipping_provider_id": shipping_provider_id,
        }
        if line_item_ids:
            body["order_line_item_ids"] = list(line_item_ids)
        path = f"/fulfillment/202309/orders/{_path_id(order_id, 'order_id')}/packages"
        data = await self._shop_call(
            _MARK_SHIPPED, path, _wire.WRITE, shop_id, body=body, idempotent=idempotent
        )
        return _write_result(data)

    async def update_inventory(
        self,
        shop_id: str,
        product_id: str,
        skus: Sequence[TikTokSkuInventory],
        *,
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Update Inventory of SKUs of one product; every warehouse of a SKU must be listed
        (an empty warehouse id is omitted: the SKU's only warehouse).

        A success may still refuse some SKUs: they come back in ``errors`` (with ``sku_id``);
        check ``result.ok``. Retries as :meth:`ship_package`.

        Raises:
            ValueError: no SKUs, or a SKU without quantities.
        """
        if not skus or any(not sku.quantities for sku in skus):
            raise ValueError("update_inventory needs SKUs, each with at least one quantity")
        body = {
            "skus": [
                {
                    "id": sku.sku_id,
                    "inventory": [
                        {"warehouse_id": wh, "quantity": qty} if wh else {"quantity": qty}
                        for wh, qty in sku.quantities.items()
                    ],
                }
                for sku in skus
            ]
        }
        path = f"/product/202309/products/{_path_id(product_id, 'product_id')}/inventory/update"
        data = await self._shop_call(
            _INVENTORY, path, _wire.WRITE, shop_id, body=body, idempotent=idempotent
        )
        return _write_result(data)

    async def get_delivery_options(
        self, shop_id: str, warehouse_id: str
    ) -> list[TikTokDeliveryOption]:
        """The delivery options (STANDARD, EXPRESS, …) of one warehouse."""
        path = (
            f"/logistics/202309/warehouses/{_path_id(warehouse_id, 'warehouse_id')}"
            "/delivery_options"
        )
        data: _wire.DeliveryOptionsData = await self._shop_call(
            _DELIVERY, path, _wire.DELIVERY_OPTIONS, shop_id
        )
        return data.delivery_options

    async def get_shipping_providers(
        self, shop_id: str, delivery_option_id: str
    ) -> list[TikTokShippingProvider]:
        """Get Shipping Providers of a delivery option (the order's ``delivery_option_id``):
        the carriers whose ``id`` Mark Package As Shipped / Ship Package take. Cached per
        (shop, option) for the client's ``providers_ttl_s``; a cached answer makes no call.

        Raises:
            TikTokNoShippingProviders: the seller has no subscription to that option
                (21008116) or TikTok fulfils it (21008117); the message names the option.
            ValueError: ``delivery_option_id`` is not a TikTok id.
        """
        option = _path_id(delivery_option_id, "delivery_option_id")
        cached = self._provider_cache.get(shop_id, option)
        if cached is not None:
            return cached
        path = f"/logistics/202309/delivery_options/{option}/shipping_providers"
        try:
            data: _wire.ShippingProvidersData = await self._shop_call(
                _PROVIDERS, path, _wire.SHIPPING_PROVIDERS, shop_id
            )
        except TikTokNoShippingProviders as exc:
            why = (
                "is fulfilled by TikTok: it has no seller shipping providers"
                if exc.code == 21008117
                else "has no shipping provider subscription for this seller"
            )
            raise TikTokNoShippingProviders(
                f"delivery option {option} {why}: {exc.detail}",
                code=exc.code,
                http_status=exc.http_status,
                request_id=exc.request_id,
            ) from exc
        self._provider_cache.put(shop_id, option, data.shipping_providers)
        return data.shipping_providers

    async def get_order_tracking(self, shop_id: str, order_id: str) -> list[TikTokTrackingEvent]:
        """Get Order Tracking: TikTok's tracking events of a shipped order (times in ms)."""
        path = f"/fulfillment/202309/orders/{_path_id(order_id, 'order_id')}/tracking"
        data: _wire.TrackingData = await self._shop_call(_TRACKING, path, _wire.TRACKING, shop_id)
        return data.tracking
