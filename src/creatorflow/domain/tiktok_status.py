"""TikTok Shop order statuses → internal state moves, and snapshot freshness (pure).

Reference: ``shared/reference/tiktok-shop-api.md`` §1.5 and §2.1. The webhook is a hint (it
spells ``CANCEL`` where the API says ``CANCELLED``); the order is re-read from the API and its
``status`` decides. What each status does to an order in each internal state:

=====================  ==================================================================
TikTok status          effect
=====================  ==================================================================
UNPAID, ON_HOLD        hold: ``reserved`` → ``on_hold`` (stock stays held, no label)
AWAITING_SHIPMENT      release: ``on_hold`` → ``reserved``; labels may be bought
PARTIALLY_SHIPPING     as AWAITING_SHIPMENT (the rest still needs a label)
AWAITING_COLLECTION    ship: any open state before ``shipped`` → ``shipped``
IN_TRANSIT             transit: ``shipped`` and every open state before it → ``in_transit``
DELIVERED, COMPLETED   deliver: every open state → ``delivered``
CANCELLED, CANCEL      cancel: every state before ``shipped`` → ``cancelled``;
                       ``shipped``/``in_transit`` → ``needs_attention`` (a parcel is out)
anything else          kept as-is on the order, reported ``known=False``, no move
=====================  ==================================================================

A status that needs no move in the current state (AWAITING_SHIPMENT while ``classified``: the
saga carries on by itself) gives ``event=None``. Final states never move.

Regressions: TikTok and our reconciler may deliver an older snapshot after a newer one.
:func:`snapshot_freshness` compares ``update_time``: older → ignore, equal → idempotent no-op.
"""

from __future__ import annotations

import enum
from typing import Final

import msgspec

from creatorflow.domain.state_machine import (
    FINAL_STATES,
    OrderEvent,
    OrderState,
    can_transition,
    transition,
)


class TikTokStatus(enum.StrEnum):
    """Order statuses of the 202309 API (plus nothing else: see :func:`normalize_status`)."""

    UNPAID = "UNPAID"
    ON_HOLD = "ON_HOLD"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    PARTIALLY_SHIPPING = "PARTIALLY_SHIPPING"
    AWAITING_COLLECTION = "AWAITING_COLLECTION"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


#: Other spellings seen on the wire → API status.
ALIASES: Final[dict[str, TikTokStatus]] = {"CANCEL": TikTokStatus.CANCELLED}

_EVENT_OF: Final[dict[TikTokStatus, OrderEvent]] = {
    TikTokStatus.UNPAID: OrderEvent.HOLD,
    TikTokStatus.ON_HOLD: OrderEvent.HOLD,
    TikTokStatus.AWAITING_SHIPMENT: OrderEvent.RELEASE,
    TikTokStatus.PARTIALLY_SHIPPING: OrderEvent.RELEASE,
    TikTokStatus.AWAITING_COLLECTION: OrderEvent.SHIP,
    TikTokStatus.IN_TRANSIT: OrderEvent.TRANSIT,
    TikTokStatus.DELIVERED: OrderEvent.DELIVER,
    TikTokStatus.COMPLETED: OrderEvent.DELIVER,
    TikTokStatus.CANCELLED: OrderEvent.CANCEL,
}

#: Statuses in which a shipping label may be bought.
LABEL_STATUSES: Final = frozenset({TikTokStatus.AWAITING_SHIPMENT, TikTokStatus.PARTIALLY_SHIPPING})

#: Statuses in which stock is held but nothing ships.
HOLD_STATUSES: Final = frozenset({TikTokStatus.UNPAID, TikTokStatus.ON_HOLD})


class StatusEffect(msgspec.Struct, frozen=True, kw_only=True):
    """What a TikTok status means for an order in a given internal state."""

    status: str  # normalised (``CANCEL`` → ``CANCELLED``); unknown values as received
    known: bool  # False: a status this version does not know; kept, logged, no move
    event: OrderEvent | None  # the event to apply, None when nothing moves
    target: OrderState | None  # the state after ``event``
    note: str = ""  # why nothing moves, for the log


def normalize_status(raw: str) -> TikTokStatus | None:
    """The API status for ``raw`` (webhook or API spelling), ``None`` when unknown."""
    value = raw.strip().upper()
    alias = ALIASES.get(value)
    if alias is not None:
        return alias
    try:
        return TikTokStatus(value)
    except ValueError:
        return None


def map_tiktok_status(state: OrderState, raw_status: str) -> StatusEffect:
    """The move, if any, that TikTok reporting ``raw_status`` causes for an order in ``state``.

    Never raises: unknown statuses and moves the table does not allow come back with
    ``event=None`` and a ``note``.
    """
    status = normalize_status(raw_status)
    if status is None:
        return StatusEffect(
            status=raw_status, known=False, event=None, target=None, note="unknown status"
        )
    if state in FINAL_STATES:
        return _stay(status, f"{state} is final")
    event = _EVENT_OF[status]
    if event is OrderEvent.CANCEL and state in (OrderState.SHIPPED, OrderState.IN_TRANSIT):
        event = OrderEvent.FLAG  # cancelled after the parcel left: a human must intercept it
    if not can_transition(state, event):
        return _stay(status, f"{event} does not apply in {state}")
    return StatusEffect(status=status, known=True, event=event, target=transition(state, event))


def _stay(status: TikTokStatus, note: str) -> StatusEffect:
    return StatusEffect(status=status, known=True, event=None, target=None, note=note)


def may_buy_label(raw_status: str) -> bool:
    """Whether TikTok's status allows buying a label (AWAITING_SHIPMENT, PARTIALLY_SHIPPING)."""
    return normalize_status(raw_status) in LABEL_STATUSES


def holds_stock_only(raw_status: str) -> bool:
    """Whether the status means "hold stock, buy no label" (UNPAID, ON_HOLD)."""
    return normalize_status(raw_status) in HOLD_STATUSES


class Freshness(enum.StrEnum):
    """How an incoming TikTok snapshot compares to the one already applied."""

    NEW = "new"  # nothing applied yet: apply
    NEWER = "newer"  # later update_time: apply
    SAME = "same"  # same update_time: idempotent no-op (a duplicate)
    STALE = "stale"  # earlier update_time: a regression, ignore


#: Life-cycle rank of each status: breaks ties between snapshots of the same second.
LIFECYCLE_RANK: Final[dict[TikTokStatus, int]] = {
    TikTokStatus.UNPAID: 0,
    TikTokStatus.ON_HOLD: 1,
    TikTokStatus.AWAITING_SHIPMENT: 2,
    TikTokStatus.PARTIALLY_SHIPPING: 3,
    TikTokStatus.AWAITING_COLLECTION: 4,
    TikTokStatus.IN_TRANSIT: 5,
    TikTokStatus.DELIVERED: 6,
    TikTokStatus.COMPLETED: 7,
    TikTokStatus.CANCELLED: 8,  # terminal: nothing follows it
}


def _rank(raw_status: str | None) -> int:
    status = normalize_status(raw_status) if raw_status else None
    return -1 if status is None else LIFECYCLE_RANK[status]


def snapshot_freshness(
    current_update_time: int | None,
    incoming_update_time: int,
    *,
    current_status: str | None = None,
    incoming_status: str | None = None,
) -> Freshness:
    """Compare the applied snapshot with an incoming one: ``update_time`` (Unix s) first.

    ``update_time`` has one-second resolution, so two changes in one second (UNPAID then
    AWAITING_SHIPMENT) share it: when the statuses are given, the one further along the life
    cycle (:data:`LIFECYCLE_RANK`) counts as newer, so the later change is not lost.

    Only :attr:`Freshness.NEW` and :attr:`Freshness.NEWER` should be applied; the order's
    status never moves backwards because an old webhook or page arrived late.
    """
    if current_update_time is None:
        return Freshness.NEW
    if incoming_update_time > current_update_time:
        return Freshness.NEWER
    if incoming_update_time == current_update_time:
        if _rank(incoming_status) > _rank(current_status):
            return Freshness.NEWER
        return Freshness.SAME
    return Freshness.STALE
