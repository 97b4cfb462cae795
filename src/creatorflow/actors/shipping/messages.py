"""Messages of the carrier pool and the shipment document it stores (see ``carrier_pool``).

The pool is the single writer of shipments: the label step asks it for a label and to void
one, the tracking poller and the carrier push endpoint tell it what trackers say, the API asks
for the carriers' health.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from creatorflow.domain.shipping import Money, ShipmentRequest, Tracker, TrackingEvent
from creatorflow.domain.shipping.selection import Level, Preferences
from creatorflow.ports.shipments import ShipmentState

#: Most purchase attempts and tracking events kept in a shipment's document.
MAX_ATTEMPTS_KEPT = 20
MAX_EVENTS_KEPT = 50


class BuyLabel(msgspec.Struct, frozen=True, kw_only=True, tag="buy_label"):
    """Buy the order's label (asked). Reply: :class:`LabelOutcome`.

    Idempotent by ``order_id``: a labeled order answers its label, a purchase in flight is
    joined, an interrupted one is looked up at the gateway before anything is bought.
    """

    order_id: str
    shop_id: str
    level: Level
    request: ShipmentRequest
    promise_days: int | None = None
    preferences: Preferences = Preferences()


class LabelOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """``labeled`` (with the carrier, service and tracking number), or ``awaiting_label``
    (``why``: every carrier failed or the deadline passed; retried with backoff)."""

    state: ShipmentState
    carrier: str = ""
    service: str = ""
    tracking_number: str = ""
    why: str = ""


class VoidLabel(msgspec.Struct, frozen=True, kw_only=True, tag="void_label"):
    """Void the order's unused label (asked): the order was cancelled before it shipped.
    Reply: :class:`VoidOutcome`."""

    order_id: str


class VoidOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """``voided`` (or nothing to void: ``none``), ``void_failed`` after the last attempt, or
    ``retry`` (the gateway failed this time)."""

    state: Literal["voided", "none", "void_failed", "retry"]
    why: str = ""


class MarkShipped(msgspec.Struct, frozen=True, kw_only=True, tag="mark_shipped"):
    """TikTok accepted the shipment (asked): start following the tracker. Reply: None."""

    order_id: str
    package_id: str = ""


class TrackingSeen(msgspec.Struct, frozen=True, kw_only=True, tag="tracking_seen"):
    """What the gateway says of a parcel (told by the poller and the push endpoint)."""

    order_id: str
    tracker: Tracker


class GetCarriers(msgspec.Struct, frozen=True, kw_only=True, tag="get_carriers"):
    """The carriers' health (asked by the API). Reply: ``list[CarrierView]``."""


class CarrierView(msgspec.Struct, frozen=True, kw_only=True):
    """One carrier as ``GET /api/carriers`` shows it."""

    name: str
    breaker: Literal["closed", "open", "half_open"]
    error_rate: float
    latency_ms: dict[str, float]  # p50, p99 of the last calls
    labels: int


CarrierPoolMsg = BuyLabel | VoidLabel | MarkShipped | TrackingSeen | GetCarriers


# --------------------------------------------------------------------------- the stored doc


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    """One purchase attempt: which rate, with which request id, and how it ended."""

    attempt: int
    request_id: str
    carrier: str
    service: str
    outcome: Literal["started", "labeled", "adopted", "failed"]
    error: str = ""
    latency_ms: int = 0
    at_ms: int


class ShipmentDoc(msgspec.Struct, frozen=True, kw_only=True):
    """The document stored with a shipment row (what ``GET /api/shipments/{id}`` shows)."""

    selection: tuple[str, ...] = ()  # why this rate (selection reasons)
    attempts: tuple[Attempt, ...] = ()
    cost: Money | None = None
    transit_days: int | None = None
    label_type: str = "PDF"
    package_id: str = ""
    tracking_events: tuple[TrackingEvent, ...] = ()
    void_failures: int = 0
    label_failures: int = 0  # rounds that ended with no label (backoff)
    last_error: str = ""
