"""Telling TikTok an order shipped with our label: :meth:`Shipper.ship_order` (issue 12 §4).

Steps (reference shipping-apis §2.1-§2.7)::

    read the order (Get Order Detail), unless the caller passed a fresh one
      settled already? our tracking number on it → already_shipped; CANCELLED → cancelled;
      another number / past AWAITING_COLLECTION → needs_attention; UNPAID, ON_HOLD, a
      pending cancel request → held
    provider = Get Shipping Providers(order.delivery_option_id) (cached), matched by name
    region in MARK_SHIPPED_REGIONS → Mark Package As Shipped (the whole order)
    otherwise                     → Ship Package(order's package, self_shipment)
      21008106 (not in this region) on Mark → Ship Package once
      already shipped / delivered   → re-read: ours → already_shipped, else needs_attention
      cancelled                     → cancelled
      timeout, 5xx, internal error  → back off, re-read, settled? done : write again
                                      (at most ``attempts`` writes; never a blind repeat)

Region: the shop's (``TikTokShop.region`` from Get Authorized Shops): TikTok picks the call
by shop location, not by where the buyer lives. When the shop's region is unknown (""), the
order's ``recipient_address.region_code`` stands in; when both are, Mark is tried and the
21008106 fallback takes over. The caller may force one with ``region=``.

Provider matching (:func:`match_provider`), names compared case- and punctuation-blind:
equal names; else the longest provider name the carrier name starts with ("dhl_express" →
"DHL", "terra-sandbox" → "Terra"); else the one provider whose name starts with the carrier
name; else TikTok's catch-all provider "Other"/"Others" when the option lists one (the outcome
says so in ``detail``; TikTok may answer with a warning); else needs_attention
``no_shipping_provider``.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import msgspec

from creatorflow.errors import (
    TikTokAfterSalePending,
    TikTokAlreadyShipped,
    TikTokAuthError,
    TikTokError,
    TikTokNoShippingProviders,
    TikTokOrderCancelled,
    TikTokOrderDelivered,
    TikTokRateLimited,
    TikTokRequestRejected,
    TikTokTrackingDuplicate,
    TikTokTrackingRejected,
    TikTokUnavailable,
    TikTokWrongFlow,
    TikTokWrongRegion,
)
from creatorflow.ports import TikTokOrder, TikTokWriteResult
from creatorflow.ports.tiktok import (
    MARK_SHIPPED_REGIONS,
    ShipCall,
    ShipOutcome,
    ShipOutcomeKind,
    ShipReason,
    TikTokShippingProvider,
)
from creatorflow.runtime import DelayPolicy, MonotonicClock

__all__ = ["Shipper", "ShipperApi", "match_provider", "settled"]

logger = logging.getLogger("creatorflow.tiktok")

#: Writes ``ship_order`` makes at most per call (each after a re-read).
DEFAULT_SHIP_ATTEMPTS: Final = 3
#: Names of TikTok's catch-all provider, the documented fallback of :func:`match_provider`.
CATCH_ALL_PROVIDERS: Final = ("other", "others")

_SHIPPED: Final = frozenset({"AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"})
_SHIPPABLE: Final = frozenset({"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"})
_NOT_YET: Final = frozenset({"UNPAID", "ON_HOLD"})


class ShipperApi(Protocol):
    """The client calls :class:`Shipper` uses (``TikTokClient`` implements them)."""

    async def shop_region(self, shop_id: str) -> str: ...

    async def get_orders(self, shop_id: str, ids: list[str]) -> list[TikTokOrder]: ...

    async def get_shipping_providers(
        self, shop_id: str, delivery_option_id: str
    ) -> list[TikTokShippingProvider]: ...

    async def mark_package_shipped(
        self, shop_id: str, order_id: str, *, tracking_number: str, shipping_provider_id: str
    ) -> TikTokWriteResult: ...

    async def ship_package(
        self, shop_id: str, package_id: str, *, tracking_number: str, shipping_provider_id: str
    ) -> TikTokWriteResult: ...


def _norm(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def _same_tracking(a: str, b: str) -> bool:
    return bool(a) and a.strip().upper() == b.strip().upper()


def match_provider(
    carrier_name: str, providers: list[TikTokShippingProvider]
) -> tuple[TikTokShippingProvider | None, bool]:
    """The provider for ``carrier_name`` by the rules in the module docstring, and whether it
    is the catch-all fallback. ``(None, False)`` when nothing fits. Never blocks."""
    carrier = _norm(carrier_name)
    named = [(p, _norm(p.name)) for p in providers if _norm(p.name)]
    if carrier:
        for provider, name in named:
            if name == carrier:
                return provider, False
        inside = [(len(name), p) for p, name in named if carrier.startswith(name)]
        if inside:
            longest = max(length for length, _ in inside)
            best = [p for length, p in inside if length == longest]
            if len(best) == 1:
                return best[0], False
        longer = [p for p, name in named if name.startswith(carrier)]
        if len(longer) == 1:
            return longer[0], False
    for provider, name in named:
        if name in CATCH_ALL_PROVIDERS:
            return provider, True
    return None, False


def _numbers(order: TikTokOrder) -> list[tuple[str, str, str]]:
    """(tracking number, package id, provider id) on the order and its line items."""
    found = [
        (li.tracking_number, li.package_id, li.shipping_provider_id) for li in order.line_items
    ]
    package = order.packages[0].id if order.packages else ""
    found.append((order.tracking_number, package, order.shipping_provider_id))
    return [entry for entry in found if entry[0]]


def settled(order: TikTokOrder, tracking_number: str) -> ShipOutcome | None:
    """What the order's state says already, or None when it is ready to be shipped by us.

    Pure; the order should be fresh (just read).
    """

    def outcome(
        kind: ShipOutcomeKind,
        reason: ShipReason = "",
        detail: str = "",
        package_id: str = "",
        provider_id: str = "",
    ) -> ShipOutcome:
        return ShipOutcome(
            kind=kind,
            order_id=order.id,
            tracking_number=tracking_number,
            reason=reason,
            detail=detail,
            package_id=package_id,
            shipping_provider_id=provider_id,
        )

    numbers = _numbers(order)
    if order.status == "CANCELLED":
        return outcome("cancelled", detail="order is CANCELLED")
    ours = [n for n in numbers if _same_tracking(n[0], tracking_number)]
    if ours:
        _, package_id, provider_id = ours[0]
        package_id = package_id or next((p for _, p, _ in numbers if p), "")
        return outcome("already_shipped", package_id=package_id, provider_id=provider_id)
    if numbers or order.status in _SHIPPED:
        others = sorted({n for n, _, _ in numbers})
        detail = f"order is {order.status} with tracking {others or 'none of ours'}"
        return outcome("needs_attention", "shipped_with_other_tracking", detail)
    if order.status in _NOT_YET:
        return outcome("held", "not_awaiting_shipment", f"order is {order.status}")
    if order.is_buyer_request_cancel:
        return outcome("held", "after_sale_pending", "the buyer asked to cancel")
    if order.shipping_type == "TIKTOK" or order.fulfillment_type == "FULFILLMENT_BY_TIKTOK":
        detail = f"shipping_type {order.shipping_type}, fulfillment_type {order.fulfillment_type}"
        return outcome("needs_attention", "wrong_flow", detail)
    if order.status not in _SHIPPABLE:
        return outcome("needs_attention", "refused", f"order is {order.status!r}")
    return None


class Shipper:
    """The ``ship_order`` algorithm over a :class:`ShipperApi`; owned by ``TikTokClient``.

    ``clock`` and ``backoff`` pace the writes after a timeout (``backoff.delay(n)`` before
    re-read number ``n``).
    """

    def __init__(self, api: ShipperApi, clock: MonotonicClock, backoff: DelayPolicy) -> None:
        self._api = api
        self._clock = clock
        self._backoff = backoff

    async def ship_order(
        self,
        shop_id: str,
        order: TikTokOrder | str,
        *,
        tracking_number: str,
        carrier_name: str,
        region: str = "",
        attempts: int = DEFAULT_SHIP_ATTEMPTS,
    ) -> ShipOutcome:
        """See ``TikTokClient.ship_order``."""
        if not tracking_number.strip():
            raise ValueError("ship_order needs a tracking number")
        if attempts < 1:
            raise ValueError(f"ship_order needs attempts >= 1, got {attempts}")
        order_id = order if isinstance(order, str) else order.id
        fresh = await self._read(shop_id, order_id) if isinstance(order, str) else order
        if fresh is None:
            return _attention(order_id, tracking_number, "order_not_found", "no such order")
        early = settled(fresh, tracking_number)
        if early is not None:
            return early

        try:
            providers = await self._api.get_shipping_providers(shop_id, fresh.delivery_option_id)
        except TikTokNoShippingProviders as exc:
            return _attention(order_id, tracking_number, "no_shipping_provider", exc.detail, exc)
        except ValueError as exc:  # no or a malformed delivery option id on the order
            return _attention(order_id, tracking_number, "no_shipping_provider", str(exc))
        provider, fallback = match_provider(carrier_name, providers)
        if provider is None:
            names = [p.name for p in providers]
            detail = f"carrier {carrier_name!r} matches none of {names}"
            return _attention(order_id, tracking_number, "no_shipping_provider", detail)
        note = f"carrier {carrier_name!r} matched no provider; sent {provider.name!r}"

        where = region or await self._api.shop_region(shop_id)
        where = (where or fresh.recipient_address.region_code).upper()
        call: ShipCall = (
            "mark_package_shipped" if not where or where in MARK_SHIPPED_REGIONS else "ship_package"
        )
        writes = 0
        while True:
            package_id = ""
            if call == "ship_package":
                if len(fresh.packages) != 1:
                    detail = f"Ship Package needs one package, the order has {len(fresh.packages)}"
                    reason: ShipReason = "no_package" if not fresh.packages else "wrong_flow"
                    return _attention(order_id, tracking_number, reason, detail)
                package_id = fresh.packages[0].id
            writes += 1
            try:
                if call == "mark_package_shipped":
                    result = await self._api.mark_package_shipped(
                        shop_id, order_id, tracking_number=tracking_number,
                        shipping_provider_id=provider.id,
                    )  # fmt: skip
                else:
                    result = await self._api.ship_package(
                        shop_id, package_id, tracking_number=tracking_number,
                        shipping_provider_id=provider.id,
                    )  # fmt: skip
            except TikTokWrongRegion as exc:
                if call == "ship_package":
                    return _attention(order_id, tracking_number, "wrong_flow", exc.detail, exc)
                call = "ship_package"  # 21008106: Mark is not offered here (a region we guessed)
                writes -= 1  # nothing was applied
                continue
            except TikTokUnavailable as exc:
                if writes >= attempts:
                    raise
                delay = self._backoff.delay(writes - 1)
                logger.info("tiktok ship %s: %s; re-read in %.2f s", order_id, exc, delay)
                await self._clock.sleep(delay)
                again = await self._read(shop_id, order_id)
                if again is None:
                    return _attention(order_id, tracking_number, "order_not_found", str(exc))
                fresh = again
                outcome = settled(fresh, tracking_number)
                if outcome is not None:
                    return outcome
                continue
            except (TikTokAlreadyShipped, TikTokOrderDelivered) as exc:
                return await self._after_refusal(shop_id, order_id, tracking_number, exc)
            except TikTokOrderCancelled as exc:
                return ShipOutcome(
                    kind="cancelled", order_id=order_id, tracking_number=tracking_number,
                    detail=exc.detail, code=exc.code, call=call,
                )  # fmt: skip
            except TikTokError as exc:
                refusal = _refusal(order_id, tracking_number, exc)
                if refusal is None:
                    raise
                return refusal
            return ShipOutcome(
                kind="shipped",
                order_id=order_id,
                tracking_number=tracking_number,
                package_id=package_id or result.package_id,
                shipping_provider_id=provider.id,
                call=call,
                warning=result.warning,
                detail=note if fallback else "",
            )

    async def _read(self, shop_id: str, order_id: str) -> TikTokOrder | None:
        orders = await self._api.get_orders(shop_id, [order_id])
        return next((o for o in orders if o.id == order_id), None)

    async def _after_refusal(
        self, shop_id: str, order_id: str, tracking_number: str, exc: TikTokError
    ) -> ShipOutcome:
        # "Already shipped" (or delivered): ours when our number is on the order now.
        order = await self._read(shop_id, order_id)
        outcome = None if order is None else settled(order, tracking_number)
        if outcome is not None and outcome.ok:
            return outcome
        if outcome is not None and outcome.kind != "held":
            return msgspec.structs.replace(outcome, code=exc.code)
        detail = f"TikTok says {exc.detail!r} but the order shows no tracking number of ours"
        return _attention(order_id, tracking_number, "shipped_with_other_tracking", detail, exc)


def _attention(
    order_id: str,
    tracking_number: str,
    reason: ShipReason,
    detail: str,
    exc: TikTokError | None = None,
    *,
    kind: ShipOutcomeKind = "needs_attention",
) -> ShipOutcome:
    return ShipOutcome(
        kind=kind,
        order_id=order_id,
        tracking_number=tracking_number,
        reason=reason,
        detail=detail,
        code=0 if exc is None else exc.code,
    )


def _refusal(order_id: str, tracking_number: str, exc: TikTokError) -> ShipOutcome | None:
    """The outcome of a business refusal; None for errors the caller must see (outages,
    auth, configuration)."""
    if isinstance(exc, TikTokUnavailable | TikTokRateLimited | TikTokAuthError):
        return None
    if isinstance(exc, TikTokRequestRejected):
        return None
    if isinstance(exc, TikTokAfterSalePending):
        return _attention(
            order_id, tracking_number, "after_sale_pending", exc.detail, exc, kind="held"
        )
    reason: ShipReason
    if isinstance(exc, TikTokTrackingDuplicate):
        reason = "tracking_duplicate"
    elif isinstance(exc, TikTokTrackingRejected):
        reason = "tracking_rejected"
    elif isinstance(exc, TikTokWrongFlow):
        reason = "wrong_flow"
    elif isinstance(exc, TikTokNoShippingProviders):
        reason = "no_shipping_provider"
    else:
        reason = "refused"
    return _attention(order_id, tracking_number, reason, exc.detail, exc)
