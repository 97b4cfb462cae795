"""The order state machine: internal states, every allowed transition, one table (pure).

States (DESIGN.md §3)::

    received ─▶ classified ─▶ reserved ─▶ labeled ─▶ shipped ─▶ in_transit ─▶ delivered
                    │            ▲  │         │
                    ▼            │  ▼         └─▶ reserved (label voided)
               backordered ──────┘ on_hold
    + cancelled (end), needs_attention (manual queue)

- ``received``: the order was read from TikTok and stored; nothing decided yet.
- ``classified``: priority scored and the seller's rules evaluated (decision log stored).
- ``reserved``: every line holds stock (all-or-nothing); waiting for a label.
- ``labeled``: a shipping label was bought; only ever while TikTok says AWAITING_SHIPMENT
  (or PARTIALLY_SHIPPING), see :func:`~creatorflow.domain.tiktok_status.may_buy_label`.
- ``shipped``: tracking pushed to TikTok / TikTok reports AWAITING_COLLECTION.
- ``in_transit``: the carrier has it (TikTok IN_TRANSIT).
- ``delivered``: TikTok DELIVERED or COMPLETED. Final.
- ``backordered``: classified, but a line could not be reserved; waits for stock.
- ``on_hold``: stock is held but TikTok does not allow shipping yet (UNPAID, ON_HOLD): no label.
- ``cancelled``: cancelled before it shipped; reservations released, unused label voided. Final.
- ``needs_attention``: the manual queue: retries exhausted, a rule's ``hold_for_review``, an
  operator hold, or TikTok cancelled an order that already shipped. Leaves by ``retry``
  (back to ``received``: the saga runs again), or when TikTok settles it (cancel, ship).

TikTok is the authority on what physically happened: an order shipped outside CreatorFlow
(Seller Center, another tool) may jump from any open state to shipped / in_transit /
delivered. Which TikTok status moves which state where lives in
:mod:`creatorflow.domain.tiktok_status`. A transition to the same state is not listed:
callers detect no-ops before calling (see ``tiktok_status.snapshot_freshness``).
"""

from __future__ import annotations

import enum
from typing import Final

from creatorflow.errors import InvalidTransition


class OrderState(enum.StrEnum):
    """Internal order states (DESIGN.md §3)."""

    RECEIVED = "received"
    CLASSIFIED = "classified"
    RESERVED = "reserved"
    LABELED = "labeled"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    BACKORDERED = "backordered"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"
    NEEDS_ATTENTION = "needs_attention"


class OrderEvent(enum.StrEnum):
    """What happened to an order; with the current state it picks the next state."""

    CLASSIFY = "classify"  # priority scored, rules evaluated
    RESERVE = "reserve"  # every line reserved
    BACKORDER = "backorder"  # a line could not be reserved (or a hold's reservation expired)
    HOLD = "hold"  # TikTok says UNPAID / ON_HOLD: keep stock, no label
    RELEASE = "release"  # TikTok says AWAITING_SHIPMENT again
    LABEL = "label"  # label bought
    VOID_LABEL = "void_label"  # label voided before shipping; buy another
    SHIP = "ship"  # tracking pushed / TikTok AWAITING_COLLECTION
    TRANSIT = "transit"  # TikTok IN_TRANSIT
    DELIVER = "deliver"  # TikTok DELIVERED / COMPLETED
    CANCEL = "cancel"  # TikTok CANCELLED before shipping
    FLAG = "flag"  # to the manual queue
    RETRY = "retry"  # operator release / retry: run the saga again


S = OrderState
E = OrderEvent

_OPEN_BEFORE_LABEL: Final = (
    S.RECEIVED,
    S.CLASSIFIED,
    S.RESERVED,
    S.BACKORDERED,
    S.ON_HOLD,
    S.NEEDS_ATTENTION,
)

#: Every allowed transition: (from, event, to). The only place transitions are defined.
TRANSITIONS: Final[tuple[tuple[OrderState, OrderEvent, OrderState], ...]] = (
    # the saga, step by step
    (S.RECEIVED, E.CLASSIFY, S.CLASSIFIED),
    (S.CLASSIFIED, E.RESERVE, S.RESERVED),
    (S.CLASSIFIED, E.BACKORDER, S.BACKORDERED),
    (S.BACKORDERED, E.RESERVE, S.RESERVED),
    (S.RESERVED, E.HOLD, S.ON_HOLD),
    (S.ON_HOLD, E.RELEASE, S.RESERVED),
    (S.ON_HOLD, E.BACKORDER, S.BACKORDERED),
    (S.RESERVED, E.BACKORDER, S.BACKORDERED),  # a hold expired before TikTok released it
    (S.RESERVED, E.LABEL, S.LABELED),
    (S.LABELED, E.VOID_LABEL, S.RESERVED),
    (S.LABELED, E.SHIP, S.SHIPPED),
    (S.SHIPPED, E.TRANSIT, S.IN_TRANSIT),
    (S.SHIPPED, E.DELIVER, S.DELIVERED),
    (S.IN_TRANSIT, E.DELIVER, S.DELIVERED),
    # TikTok reports a shipment CreatorFlow did not make (shipped outside, or seen late)
    *((s, E.SHIP, S.SHIPPED) for s in _OPEN_BEFORE_LABEL),
    *((s, E.TRANSIT, S.IN_TRANSIT) for s in (*_OPEN_BEFORE_LABEL, S.LABELED)),
    *((s, E.DELIVER, S.DELIVERED) for s in (*_OPEN_BEFORE_LABEL, S.LABELED)),
    # cancelled before it shipped (after shipping TikTok's cancel is a FLAG)
    *((s, E.CANCEL, S.CANCELLED) for s in (*_OPEN_BEFORE_LABEL, S.LABELED)),
    # the manual queue, from every state that is neither final nor already there
    *(
        (s, E.FLAG, S.NEEDS_ATTENTION)
        for s in (*_OPEN_BEFORE_LABEL[:-1], S.LABELED, S.SHIPPED, S.IN_TRANSIT)
    ),
    (S.NEEDS_ATTENTION, E.RETRY, S.RECEIVED),
)

#: States no transition leaves.
FINAL_STATES: Final = frozenset({S.DELIVERED, S.CANCELLED})

_BY_EVENT: Final[dict[tuple[OrderState, OrderEvent], OrderState]] = {
    (src, event): dst for src, event, dst in TRANSITIONS
}
_BY_TARGET: Final[frozenset[tuple[OrderState, OrderState]]] = frozenset(
    (src, dst) for src, _, dst in TRANSITIONS
)
assert len(_BY_EVENT) == len(TRANSITIONS), "an (event, state) pair is listed twice"


def transition(state: OrderState | str, event_or_target: OrderEvent | OrderState) -> OrderState:
    """The state after ``event_or_target`` happens to an order in ``state``.

    Given an :class:`OrderEvent`, the table picks the next state; given an
    :class:`OrderState`, the move must be listed in :data:`TRANSITIONS`.

    Raises:
        InvalidTransition: the table does not list the move (including a move to the same
            state), or ``state`` is not a state name.
    """
    try:
        current = OrderState(state)
    except ValueError:
        raise InvalidTransition(f"unknown order state {state!r}") from None
    if isinstance(event_or_target, OrderEvent):
        nxt = _BY_EVENT.get((current, event_or_target))
        if nxt is None:
            raise InvalidTransition(f"event {event_or_target} not allowed in state {current}")
        return nxt
    target = OrderState(event_or_target)
    if (current, target) not in _BY_TARGET:
        raise InvalidTransition(f"transition {current} -> {target} not allowed")
    return target


def can_transition(state: OrderState, event_or_target: OrderEvent | OrderState) -> bool:
    """Whether :func:`transition` would accept the move (never raises)."""
    if isinstance(event_or_target, OrderEvent):
        return (state, event_or_target) in _BY_EVENT
    return (state, event_or_target) in _BY_TARGET


def allowed_events(state: OrderState) -> tuple[OrderEvent, ...]:
    """Events the table allows in ``state``, in table order (for the API and dashboard)."""
    return tuple(event for src, event, _ in TRANSITIONS if src == state)
