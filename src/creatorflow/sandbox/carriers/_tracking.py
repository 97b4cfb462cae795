"""Trackers: the status walk on the injected clock, admin moves, Karrio tracker objects.

A tracker is made when a label is bought (``pending``, one ``CREATED`` event) and walks
``pending → picked_up → in_transit → out_for_delivery → delivered`` at the purchase time plus
``tracker_schedule_s``. Each step passed adds an event dated when it was due (so a reader who
comes late still sees the real history), newest first, at most ``max_events_per_tracker``.

The admin move (``advance``) jumps forward along the walk (the automatic walk then carries on
from there, never backwards), or to an exception status (``delivery_failed``,
``return_to_sender``, ``on_hold``, ``delivery_delayed``, ``ready_for_pickup``, ``unknown``),
which stops the automatic walk until an admin move puts the tracker back on it. ``delivered``
is final.

Invariants: every tracker lives in ``_trackers`` (insertion order = age; the oldest is
forgotten beyond ``max_trackers``); an automatic tracker not yet delivered has exactly one
live entry in the ``_due`` heap (``queued``); stale entries (forgotten trackers) are skipped
when popped, and the heap is compacted when it outgrows twice the tracker bound.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from creatorflow.sandbox.carriers._config import CarrierSandboxConfig, CarrierSpec
from creatorflow.sandbox.carriers._wire import clock_time, day, iso

if TYPE_CHECKING:
    from creatorflow.sandbox.carriers._shipments import Shipment

WALK: Final = ("pending", "picked_up", "in_transit", "out_for_delivery", "delivered")
EXCEPTIONS: Final = frozenset(
    {"delivery_failed", "return_to_sender", "on_hold", "delivery_delayed", "ready_for_pickup",
     "unknown"}
)  # fmt: skip
#: Where the admin move can send a tracker.
MOVES: Final = frozenset(WALK[1:]) | EXCEPTIONS
#: Event code, description and reason of each status a tracker can reach.
_EVENTS: Final = {
    "created": ("CREATED", "Shipment label created", None),
    "picked_up": ("PU", "Picked up by the carrier", None),
    "in_transit": ("IT", "In transit to the destination facility", None),
    "out_for_delivery": ("OD", "Out for delivery", None),
    "delivered": ("DL", "Delivered", None),
    "delivery_failed": ("DF", "Delivery attempt failed: recipient not available",
                        "consignee_not_home"),
    "return_to_sender": ("RS", "Returned to sender", None),
    "on_hold": ("OH", "Held at the carrier facility", None),
    "delivery_delayed": ("DD", "Delivery delayed", None),
    "ready_for_pickup": ("RP", "Ready for pickup at the carrier location", None),
    "unknown": ("UN", "Status unknown", None),
}  # fmt: skip
_DAY_MS: Final = 86_400_000


class TrackerMoveError(ValueError):
    """An admin move the tracker cannot make (answered 409)."""


@dataclass(slots=True)
class Tracker:
    """One tracker; mutable, owned by :class:`TrackerBook`."""

    id: str
    tracking_number: str
    carrier: CarrierSpec
    shipment_id: str
    origin_ms: int
    estimated_delivery: str
    cities: tuple[str, str]
    meta: dict[str, Any]
    status: str = "pending"
    walk_index: int = 0
    auto: bool = True
    queued: bool = False
    #: ``(at_ms, status)``, newest first; rendered into Karrio events when read.
    events: list[tuple[int, str]] = field(default_factory=list)


class TrackerBook:
    """Bounded trackers by tracking number, the due heap, and the moves."""

    def __init__(self, config: CarrierSandboxConfig, on_move: Callable[[Tracker], None]) -> None:
        self._config = config
        self._on_move = on_move
        self._trackers: OrderedDict[str, Tracker] = OrderedDict()
        self._by_id: dict[str, str] = {}
        self._due: list[tuple[int, int, str]] = []  # bounded: compacted at 2 * max_trackers
        self._seq = 0

    def __len__(self) -> int:
        return len(self._trackers)

    def add(
        self, tracker_id: str, tracking_number: str, carrier: CarrierSpec, shipment: Shipment,
        transit_days: int, now_ms: int,
    ) -> Tracker:  # fmt: skip
        """Start tracking a bought label (``pending`` with a ``CREATED`` event)."""
        tracker = Tracker(
            id=tracker_id, tracking_number=tracking_number, carrier=carrier,
            shipment_id=shipment.id, origin_ms=now_ms,
            estimated_delivery=day(now_ms + transit_days * _DAY_MS),
            cities=(shipment.shipper.get("city", ""), shipment.recipient.get("city", "")),
            meta={"carrier": carrier.name, "request_id": shipment.meta.get("request_id")},
        )  # fmt: skip
        tracker.events.append((now_ms, "created"))
        self._trackers[tracking_number] = tracker
        self._by_id[tracker_id] = tracking_number
        while len(self._trackers) > self._config.max_trackers:
            _, old = self._trackers.popitem(last=False)
            self._by_id.pop(old.id, None)
        self._queue(tracker)
        return tracker

    def get(self, id_or_number: str) -> Tracker | None:
        """A tracker by its ``trk_`` id or its tracking number."""
        number = self._by_id.get(id_or_number, id_or_number)
        return self._trackers.get(number)

    def remove(self, tracking_number: str) -> None:
        """Forget a tracker (its label was voided)."""
        tracker = self._trackers.pop(tracking_number, None)
        if tracker is not None:
            self._by_id.pop(tracker.id, None)

    def all(self) -> list[Tracker]:
        """Every tracker, oldest first."""
        return list(self._trackers.values())

    # ------------------------------------------------------------------ the walk

    def _queue(self, tracker: Tracker) -> None:
        if tracker.queued or not tracker.auto or tracker.walk_index >= len(WALK) - 1:
            return
        due = tracker.origin_ms + int(self._config.tracker_schedule_s[tracker.walk_index] * 1000)
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, tracker.tracking_number))
        tracker.queued = True
        if len(self._due) > 2 * self._config.max_trackers + 16:
            self._due = [e for e in self._due if e[2] in self._trackers]
            heapq.heapify(self._due)

    def tick(self, now_ms: int) -> int:
        """Move every tracker whose next step is due by ``now_ms``; how many moved."""
        moved = 0
        while self._due and self._due[0][0] <= now_ms:
            _, _, number = heapq.heappop(self._due)
            tracker = self._trackers.get(number)
            if tracker is None:
                continue  # forgotten or voided
            tracker.queued = False
            if self._walk(tracker, now_ms):
                moved += 1
            self._queue(tracker)
        return moved

    def _walk(self, tracker: Tracker, now_ms: int) -> bool:
        if not tracker.auto:
            return False
        schedule = self._config.tracker_schedule_s
        start = tracker.walk_index
        while (
            tracker.walk_index < len(WALK) - 1
            and tracker.origin_ms + int(schedule[tracker.walk_index] * 1000) <= now_ms
        ):
            at_ms = tracker.origin_ms + int(schedule[tracker.walk_index] * 1000)
            tracker.walk_index += 1
            self._record(tracker, WALK[tracker.walk_index], max(at_ms, _last_ms(tracker)))
        if tracker.walk_index == start:
            return False
        self._on_move(tracker)
        return True

    def advance(self, tracking_number: str, status: str, now_ms: int) -> Tracker:
        """The admin move: ``status`` now, with an event.

        Raises:
            KeyError: no such tracker.
            ValueError: ``status`` is not one a tracker can be moved to.
            TrackerMoveError: the tracker cannot go there (delivered, or backwards).
        """
        tracker = self._trackers.get(tracking_number)
        if tracker is None:
            raise KeyError(tracking_number)
        if status not in MOVES:
            raise ValueError(f"status must be one of {sorted(MOVES)}")
        if tracker.status == "delivered":
            raise TrackerMoveError("the tracker is 'delivered' (final)")
        if status in EXCEPTIONS:
            tracker.auto = False
        else:
            index = WALK.index(status)
            back = index < tracker.walk_index
            if back or (index == tracker.walk_index and tracker.status in WALK):
                raise TrackerMoveError(
                    f"the tracker is '{tracker.status}' and cannot go back to '{status}'"
                )
            tracker.walk_index = max(index, tracker.walk_index)
            tracker.auto = True
        self._record(tracker, status, max(now_ms, _last_ms(tracker)))
        self._queue(tracker)
        self._on_move(tracker)
        return tracker

    def _record(self, tracker: Tracker, status: str, at_ms: int) -> None:
        tracker.status = status
        tracker.events.insert(0, (at_ms, status))
        del tracker.events[self._config.max_events_per_tracker :]


def _last_ms(tracker: Tracker) -> int:
    return tracker.events[0][0] if tracker.events else tracker.origin_ms


def _render_event(tracker: Tracker, at_ms: int, status: str) -> dict[str, Any]:
    code, description, reason = _EVENTS[status]
    origin, destination = tracker.cities
    location = {"created": "", "picked_up": origin, "in_transit": ""}.get(status, destination)
    event = {
        "date": day(at_ms),
        "time": clock_time(at_ms),
        "timestamp": iso(at_ms),
        "code": code,
        "description": description,
        "location": location,
        "status": status,
        "latitude": None,
        "longitude": None,
    }
    if reason:
        event["reason"] = reason
    return event


def render_tracker(tracker: Tracker, *, test_mode: bool) -> dict[str, Any]:
    """The Karrio tracker object."""
    carrier = tracker.carrier
    delivered = tracker.status == "delivered"
    signed_by = "SANDBOX RECIPIENT" if delivered else None
    return {
        "id": tracker.id,
        "object_type": "tracker",
        "tracking_number": tracker.tracking_number,
        "carrier_name": carrier.name,
        "carrier_id": carrier.carrier_id,
        "status": tracker.status,
        "delivered": delivered,
        "estimated_delivery": tracker.estimated_delivery,
        "events": [_render_event(tracker, at_ms, status) for at_ms, status in tracker.events],
        "info": {
            "carrier_tracking_link": f"https://track.sandbox/{carrier.name}/{tracker.tracking_number}",
            "carrier_name": carrier.name,
            "shipment_service": None,
            "signed_by": signed_by,
        },
        "meta": dict(tracker.meta),
        "metadata": {},
        "messages": [],
        "test_mode": test_mode,
        "delivery_image_url": None,
        "shipment_id": tracker.shipment_id,
    }
