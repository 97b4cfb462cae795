"""Carrier gateway: rate shopping, labels bought exactly once, voids, tracking.

One gateway fronts many carriers (Karrio's REST API v1: ``adapters/carriers/karrio.py``; the
built-in sandbox carriers speak the same API). The gateway holds shipments; the caller holds
the truth about which one it means to buy, persisted *before* each call:

1. ``rate`` → usable rates, and the carriers that failed (they drop out; the call fails only
   when every carrier failed: :class:`~creatorflow.errors.AllCarriersFailed`);
2. ``create_shipment(request, request_id=K, reference=order_id)`` → a draft with its own
   rates (rate ids are fresh on every rating: buy with one of the draft's);
3. ``purchase(shipment_id, rate_id, request_id=K, label_type=...)`` → the label. Send the
   **same** ``K`` on create and purchase: Karrio stores the ``X-Request-ID`` of the create on
   the shipment and replaces it with the purchase's, so one id finds it in both states;
4. after a lost reply (:class:`~creatorflow.errors.CarrierUnavailable` with
   ``maybe_applied``, or a crash), ``find_by_request_id(K)`` before anything else: a
   shipment whose ``status.labelled`` is true was bought, adopt it (its bytes through
   ``label``); a draft can be bought; nothing found means nothing was created.
   ``find_by_reference(order_id)`` lists every attempt for an order (cancelled ones too).
   Buying a bought shipment again is refused (:class:`~creatorflow.errors.CarrierStateError`).
   But Karrio checks the state without a lock: a purchase whose reply was lost may still be
   running there, so a draft found *right after* a timeout is no proof that nothing will be
   bought. Look again after the gateway's own request timeout before buying that draft (or
   any other for the order).

Every method blocks on the network (a checkpoint) and raises only
:class:`~creatorflow.errors.CarrierError` subclasses (``retryable`` says whether to repeat)
and ``ValueError`` for arguments that are never sent. Callers own timeouts
(``anyio.fail_after``); a cancelled call may or may not have reached the gateway, exactly
like ``CarrierUnavailable`` with ``maybe_applied``.
"""

from __future__ import annotations

from typing import Protocol

from creatorflow.domain.shipping import (
    Label,
    LabelType,
    RateQuote,
    Shipment,
    ShipmentRequest,
    Tracker,
)

__all__ = [
    "CarrierGateway",
    "CarrierRating",
    "CarrierShipping",
    "CarrierTracking",
    "ShipmentLookup",
]


class CarrierRating(Protocol):
    """Quotes from every carrier the request allows."""

    async def rate(self, request: ShipmentRequest) -> RateQuote:
        """Rates for ``request`` from its ``carrier_ids`` (all active carriers when empty).

        Carriers that failed are in ``failures``; both tuples are empty when no carrier
        serves the route. Raises AllCarriersFailed when every carrier asked failed,
        CarrierRejected for a request no carrier can rate (bad address, no parcel).
        """
        ...


class CarrierShipping(Protocol):
    """Shipments that cost money: create a draft, buy its label, void it."""

    async def create_shipment(
        self, request: ShipmentRequest, *, request_id: str, reference: str
    ) -> Shipment:
        """A ``DRAFT`` shipment with its rates; nothing is bought.

        ``request_id`` (``[A-Za-z0-9_.-]{1,200}``, ``ValueError`` otherwise) is sent as
        ``X-Request-ID``; ``reference`` (1-35 characters) is ours, e.g. the order id.
        """
        ...

    async def purchase(
        self, shipment_id: str, rate_id: str, *, request_id: str, label_type: LabelType = "PDF"
    ) -> Shipment:
        """Buy the label of a draft at one of its rates; the answer carries the label bytes.

        ``label_type`` is the format bought: Karrio takes it from the purchase, not from the
        draft (a draft created for ZPL, bought without it, prints a PDF).

        Raises CarrierStateError when the shipment was bought (or cancelled) already,
        CarrierRejected for a rate id that is not the draft's, CarrierNotFound for an
        unknown shipment, AllCarriersFailed when the carrier failed (nothing bought).
        """
        ...

    async def cancel(self, shipment_id: str) -> Shipment:
        """Void the label (or drop the draft): the shipment, ``CANCELLED``. Idempotent.

        Raises CarrierStateError when it is too late (the parcel moved), CarrierNotFound
        for an unknown shipment.
        """
        ...


class ShipmentLookup(Protocol):
    """Reading shipments back: after a lost reply, a crash, or to fetch a label again."""

    async def get_shipment(self, shipment_id: str) -> Shipment:
        """The shipment (without label bytes). Raises CarrierNotFound when unknown."""
        ...

    async def find_by_request_id(self, request_id: str) -> tuple[Shipment, ...]:
        """Shipments whose last create/purchase carried this ``X-Request-ID``, newest first
        (normally one; empty when none). No label bytes."""
        ...

    async def find_by_reference(self, reference: str) -> tuple[Shipment, ...]:
        """Shipments with exactly this reference, newest first, cancelled ones included
        (bounded by the adapter's page size). No label bytes."""
        ...

    async def label(self, shipment_id: str) -> Label:
        """The label of a bought shipment. Raises CarrierNotFound (unknown shipment or no
        label yet)."""
        ...


class CarrierTracking(Protocol):
    """Where a parcel is."""

    async def track(self, tracking_number: str) -> Tracker:
        """The tracker of a bought label. Raises CarrierNotFound when the gateway has none
        (Karrio's generic carrier never has one)."""
        ...


class CarrierGateway(CarrierRating, CarrierShipping, ShipmentLookup, CarrierTracking, Protocol):
    """The whole gateway, as one adapter implements it; callers take the part they need."""
