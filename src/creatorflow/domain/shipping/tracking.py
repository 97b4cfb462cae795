"""Trackers: normalised statuses and events in time order (pure).

Karrio's tracker statuses (``shipping-apis.md`` §1.5) are kept as they are, since they
already are the normalised vocabulary of 50 carriers; a status this code does not know is
read as ``UNKNOWN`` rather than refused (a new carrier status must not stop polling).

Event times come as ``date`` (``YYYY-MM-DD``) + ``time`` (``HH:MM``, ``HH:MM:SS`` or
``HH:MM AM/PM``), and since December 2025 also as an ISO 8601 ``timestamp``, which wins. A
time without a zone is read as UTC (carriers mean their local time and do not say which).
Carriers list events in either order: :func:`sort_events` puts them oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

import msgspec

from creatorflow.domain.shipping.types import MAX_ID_CHARS, MAX_TEXT_CHARS

__all__ = [
    "MAX_EVENTS",
    "Tracker",
    "TrackingEvent",
    "TrackingStatus",
    "event_time_ms",
    "sort_events",
]

#: Events kept per tracker (the newest ones).
MAX_EVENTS: Final = 200

_TIME_FORMATS: Final = ("%H:%M", "%H:%M:%S", "%I:%M %p", "%I:%M:%S %p", "%I:%M%p")


class TrackingStatus(StrEnum):
    """Where a parcel is, as the gateway says it."""

    PENDING = "pending"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERED = "delivered"
    ON_HOLD = "on_hold"
    DELIVERY_DELAYED = "delivery_delayed"
    DELIVERY_FAILED = "delivery_failed"
    RETURN_TO_SENDER = "return_to_sender"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: str | None) -> TrackingStatus:
        """The status of a gateway string; anything unknown (or none) is ``UNKNOWN``."""
        try:
            return cls(raw or "unknown")
        except ValueError:
            return cls.UNKNOWN

    @property
    def final(self) -> bool:
        """No further movement is expected (delivered, returned, cancelled)."""
        return self in (
            TrackingStatus.DELIVERED,
            TrackingStatus.RETURN_TO_SENDER,
            TrackingStatus.CANCELLED,
        )

    @property
    def exception(self) -> bool:
        """Someone has to look at it (the issue's ``needs_attention``)."""
        return self in (TrackingStatus.DELIVERY_FAILED, TrackingStatus.RETURN_TO_SENDER)


class TrackingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One scan or status change; ``at_ms`` is epoch milliseconds (None: no usable time)."""

    at_ms: int | None
    status: TrackingStatus | None = None
    code: str = ""
    description: str = ""
    location: str = ""

    def __post_init__(self) -> None:
        if len(self.code) > MAX_ID_CHARS:
            raise ValueError("tracking_event.code: too long")
        for field in ("description", "location"):
            if len(getattr(self, field)) > MAX_TEXT_CHARS * 5:
                raise ValueError(f"tracking_event.{field}: too long")


class Tracker(msgspec.Struct, frozen=True, kw_only=True):
    """A parcel's tracking: current status, whether delivered, events oldest first."""

    tracking_number: str
    carrier: str = ""
    status: TrackingStatus
    delivered: bool = False
    estimated_delivery: str = ""
    events: tuple[TrackingEvent, ...] = ()

    def __post_init__(self) -> None:
        if not self.tracking_number or len(self.tracking_number) > MAX_ID_CHARS:
            raise ValueError("tracker.tracking_number: 1..128 characters")
        if len(self.events) > MAX_EVENTS:
            raise ValueError(f"tracker.events: at most {MAX_EVENTS}")


def event_time_ms(date: str | None, time: str | None, timestamp: str | None) -> int | None:
    """Epoch milliseconds of an event from its ``timestamp``, else ``date`` + ``time``.

    Returns None when neither gives a readable time (the event is kept, unsorted).
    """
    if timestamp:
        try:
            moment = datetime.fromisoformat(timestamp.strip())
        except ValueError:
            moment = None
        if moment is not None:
            return _ms(moment)
    if not date:
        return None
    try:
        day = datetime.strptime(date.strip(), "%Y-%m-%d")
    except ValueError:
        return None
    clock = (time or "").strip().upper()
    if not clock:
        return _ms(day)
    for fmt in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(clock, fmt)
        except ValueError:
            continue
        return _ms(day.replace(hour=parsed.hour, minute=parsed.minute, second=parsed.second))
    return _ms(day)


def sort_events(events: Iterable[TrackingEvent]) -> tuple[TrackingEvent, ...]:
    """Events oldest first, at most the newest :data:`MAX_EVENTS`; those without a time
    keep their order, after the timed ones.

    Events at the same time keep the gateway's order read oldest first: the list is turned
    around first when it runs newest first (Karrio's usual order), or when its times cannot
    tell (all equal).
    """
    listed = list(events)
    timed = [e for e in listed if e.at_ms is not None]
    if timed and (timed[0].at_ms or 0) >= (timed[-1].at_ms or 0):
        timed.reverse()
    timed.sort(key=lambda e: e.at_ms or 0)  # stable: ties stay as turned above
    untimed = [e for e in listed if e.at_ms is None]
    return tuple([*timed, *untimed][-MAX_EVENTS:])


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
