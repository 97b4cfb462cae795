"""The order saga's label step: buy the label, tell TikTok the order shipped, void a label no
longer needed. Runs after the reservation step inside the scheduler's saga (``SagaStep``).

=======================  ===================================================================
state                    step
=======================  ===================================================================
reserved                 when TikTok allows a label (AWAITING_SHIPMENT, not on hold): ask the
                         carrier pool for one, within ``label_deadline_s`` → ``LABEL``; no
                         label in time: nothing (the shipment waits ``awaiting_label`` and the
                         saga runs again: the step retry, or the poller's requeue)
labeled                  tell TikTok it shipped (tracking number, carrier) → ``SHIP``, and
                         the pool starts following the tracker; an order TikTok refuses for
                         good (after-sale pending, tracking refused) → ``FLAG``
cancelled                void the unused label (the reservation step releases the stock)
others                   nothing (UNPAID / ON_HOLD orders never get a label)
=======================  ===================================================================

Idempotent like every step: the pool answers a labeled order's label again, TikTok's "already
shipped with this tracking number" is success, a voided label is not voided twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, Literal

import anyio
import msgspec

from creatorflow.actors.order_scheduler import Moves, OrderDoc
from creatorflow.actors.shipping.messages import (
    BuyLabel,
    CarrierPoolMsg,
    LabelOutcome,
    MarkShipped,
    VoidLabel,
    VoidOutcome,
)
from creatorflow.domain.order import DeliveryType, Order
from creatorflow.domain.priority import PriorityLevel
from creatorflow.domain.shipping import Address, LabelType, Parcel, ShipmentRequest
from creatorflow.domain.shipping.selection import Preferences
from creatorflow.domain.state_machine import OrderEvent, OrderState
from creatorflow.domain.tiktok_status import holds_stock_only, may_buy_label
from creatorflow.errors import CarrierError

log = logging.getLogger("creatorflow.shipping")

#: Transit days the delivery promise of each delivery type allows (STANDARD / LOW orders buy
#: the cheapest service within it).
PROMISE_DAYS: Final[dict[DeliveryType, int]] = {
    DeliveryType.EXPRESS: 2,
    DeliveryType.STANDARD: 5,
    DeliveryType.ECONOMY: 8,
}
#: The heaviest parcel one order becomes (grams); more is clamped (one parcel per order).
MAX_PARCEL_G: Final = 70_000


class Shipped(msgspec.Struct, frozen=True, kw_only=True):
    """What telling TikTok came to: ``shipped`` (``package_id``), ``cancelled`` (TikTok
    cancelled it: the snapshot will say so), ``attention`` (a human must look: ``why``), or
    ``retry`` (not now: TikTok unreachable)."""

    outcome: Literal["shipped", "cancelled", "attention", "retry"]
    package_id: str = ""
    why: str = ""


#: Tells TikTok the order shipped: (shop id, order, tracking number, carrier) → Shipped.
ShipToTikTok = Callable[[str, Order, str, str], Awaitable[Shipped]]


class ShippingSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where parcels ship from, the parcel assumed per unit, the label format, the deadline."""

    ship_from: Address
    unit_parcel: Parcel
    label_type: LabelType = "PDF"
    label_deadline_s: float = 2.0
    ask_timeout_s: float = 30.0


class LabelStep:
    """The saga step (see the module docstring)."""

    name = "label"

    def __init__(
        self,
        *,
        ask: Callable[[CarrierPoolMsg], Awaitable[object]],
        settings: ShippingSettings,
        ship: ShipToTikTok,
    ) -> None:
        """``ask``: asks the carrier pool (with the caller's deadline around it)."""
        self._ask = ask
        self._settings = settings
        self._ship = ship

    async def run(self, order_id: str, doc: OrderDoc, state: OrderState) -> Moves:
        order = doc.order
        if state is OrderState.RESERVED:
            # TikTok's status decides (AWAITING_SHIPMENT / PARTIALLY_SHIPPING); its
            # ``is_on_hold_order`` flag can outlive the hold, and TikTok refuses to ship an order
            # still on hold anyway (the step then retries, and a cancel voids the label).
            if not may_buy_label(order.tiktok_status) or holds_stock_only(order.tiktok_status):
                return ()
            return await self._label(order_id, doc)
        if state is OrderState.LABELED:
            return await self._tell_tiktok(order_id, doc)
        if state is OrderState.CANCELLED:
            await self._void(order_id)
        return ()

    def _buy(self, order_id: str, doc: OrderDoc) -> BuyLabel:
        order = doc.order
        return BuyLabel(
            order_id=order_id,
            shop_id=order.shop_id,
            level=_level(doc.priority.level),
            request=self.request_for(order),
            promise_days=PROMISE_DAYS.get(order.delivery_type),
            preferences=Preferences(
                prefer_carrier=doc.decision.carrier, prefer_service=doc.decision.service
            ),
        )

    async def _label(self, order_id: str, doc: OrderDoc) -> Moves:
        try:
            msg = self._buy(order_id, doc)
        except ValueError as exc:  # an address or parcel no carrier can take
            return ((OrderEvent.FLAG, f"cannot ship to this address: {exc}"),)
        with anyio.move_on_after(self._settings.label_deadline_s):
            outcome = await self._ask(msg)
            assert isinstance(outcome, LabelOutcome)
            if outcome.state == "labeled":
                why = f"label: {outcome.carrier} {outcome.service} {outcome.tracking_number}"
                return ((OrderEvent.LABEL, why),)
            return ()
        # The deadline passed: the purchase goes on in the pool; the next run finds its label.
        log.info("order %s: no label within %.1f s", order_id, self._settings.label_deadline_s)
        return ()

    async def _tell_tiktok(self, order_id: str, doc: OrderDoc) -> Moves:
        order = doc.order
        # The pool answers a labeled order's label (nothing is bought again).
        outcome = await self._ask(self._buy(order_id, doc))
        assert isinstance(outcome, LabelOutcome)
        if outcome.state != "labeled":
            return ()  # shipped already (the pool follows the tracker) or voided
        shipped = await self._ship(order.shop_id, order, outcome.tracking_number, outcome.carrier)
        if shipped.outcome == "shipped":
            await self._ask(MarkShipped(order_id=order_id, package_id=shipped.package_id))
            why = f"tiktok: shipped with {outcome.carrier} {outcome.tracking_number}"
            return ((OrderEvent.SHIP, why),)
        if shipped.outcome == "attention":
            return ((OrderEvent.FLAG, f"tiktok refused the shipment: {shipped.why}"),)
        if shipped.outcome == "retry":
            raise CarrierError(f"tiktok not told yet: {shipped.why}")  # the step runs again
        return ()  # cancelled: the next snapshot cancels the order, and the label is voided

    async def _void(self, order_id: str) -> None:
        outcome = await self._ask(VoidLabel(order_id=order_id))
        assert isinstance(outcome, VoidOutcome)
        if outcome.state == "retry":
            raise CarrierError(f"label of {order_id} not voided yet: {outcome.why}")

    def request_for(self, order: Order) -> ShipmentRequest:
        """The shipment of ``order``: from the warehouse to the buyer, one parcel."""
        units = max(1, order.units)
        unit = self._settings.unit_parcel
        parcel = msgspec.structs.replace(unit, weight_g=min(unit.weight_g * units, MAX_PARCEL_G))
        recipient = order.recipient
        address = Address(
            person_name=(recipient.name or "Customer")[:50],
            phone_number=recipient.phone[:20],
            address_line1=(recipient.line1 or "Address on file")[:50],
            address_line2=recipient.line2[:50],
            city=(recipient.city or order.region_code or "City")[:30],
            postal_code=order.postal_code[:10],
            country_code=(order.region_code or "US")[:2].upper(),
        )
        return ShipmentRequest(
            shipper=self._settings.ship_from,
            recipient=address,
            parcels=(parcel,),
            label_type=self._settings.label_type,
        )


def _level(level: PriorityLevel) -> Literal["HIGH", "STANDARD", "LOW"]:
    return level.value


__all__ = ["PROMISE_DAYS", "LabelStep", "ShipToTikTok", "Shipped", "ShippingSettings"]
