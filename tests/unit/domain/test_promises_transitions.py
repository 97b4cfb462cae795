"""The order state machine against a transition table written out here, by hand.

Sources: the state diagram and the state list in ``domain/state_machine.py``'s docstring,
DESIGN.md §3 and the README (``GET /api/orders/{id}`` states; hold / release / retry). The
table is NOT built from ``TRANSITIONS``: adding an illegal move to the code, or dropping a
legal one, makes these tests fail.

In words:

- the saga: received -classify-> classified -reserve-> reserved -label-> labeled -ship->
  shipped -transit-> in_transit -deliver-> delivered; shipped -deliver-> delivered;
- classified -backorder-> backordered -reserve-> reserved; reserved -hold-> on_hold
  -release-> reserved; a hold that lapsed: reserved / on_hold -backorder-> backordered;
  labeled -void_label-> reserved;
- TikTok reports a shipment made elsewhere: every open state before labeled (received,
  classified, reserved, backordered, on_hold, needs_attention) may ship, transit or deliver;
  labeled may also transit or deliver;
- cancel before shipping: every open state up to labeled, and the manual queue, -> cancelled;
- flag to the manual queue from every state that is neither final nor already there;
- needs_attention -retry-> received (the saga runs again);
- delivered and cancelled are final: nothing leaves them; no state moves to itself.
"""

from __future__ import annotations

import itertools

import pytest

from creatorflow.domain.state_machine import (
    FINAL_STATES,
    OrderEvent,
    OrderState,
    allowed_events,
    can_transition,
    transition,
)
from creatorflow.domain.tiktok_status import TikTokStatus, map_tiktok_status
from creatorflow.errors import InvalidTransition

# Plain strings on purpose: the table does not lean on the enums it checks.
TABLE: dict[tuple[str, str], str] = {
    # received
    ("received", "classify"): "classified",
    ("received", "ship"): "shipped",
    ("received", "transit"): "in_transit",
    ("received", "deliver"): "delivered",
    ("received", "cancel"): "cancelled",
    ("received", "flag"): "needs_attention",
    # classified
    ("classified", "reserve"): "reserved",
    ("classified", "backorder"): "backordered",
    ("classified", "ship"): "shipped",
    ("classified", "transit"): "in_transit",
    ("classified", "deliver"): "delivered",
    ("classified", "cancel"): "cancelled",
    ("classified", "flag"): "needs_attention",
    # reserved
    ("reserved", "hold"): "on_hold",
    ("reserved", "backorder"): "backordered",
    ("reserved", "label"): "labeled",
    ("reserved", "ship"): "shipped",
    ("reserved", "transit"): "in_transit",
    ("reserved", "deliver"): "delivered",
    ("reserved", "cancel"): "cancelled",
    ("reserved", "flag"): "needs_attention",
    # labeled
    ("labeled", "void_label"): "reserved",
    ("labeled", "ship"): "shipped",
    ("labeled", "transit"): "in_transit",
    ("labeled", "deliver"): "delivered",
    ("labeled", "cancel"): "cancelled",
    ("labeled", "flag"): "needs_attention",
    # shipped
    ("shipped", "transit"): "in_transit",
    ("shipped", "deliver"): "delivered",
    ("shipped", "flag"): "needs_attention",
    # in_transit
    ("in_transit", "deliver"): "delivered",
    ("in_transit", "flag"): "needs_attention",
    # backordered
    ("backordered", "reserve"): "reserved",
    ("backordered", "ship"): "shipped",
    ("backordered", "transit"): "in_transit",
    ("backordered", "deliver"): "delivered",
    ("backordered", "cancel"): "cancelled",
    ("backordered", "flag"): "needs_attention",
    # on_hold
    ("on_hold", "release"): "reserved",
    ("on_hold", "backorder"): "backordered",
    ("on_hold", "ship"): "shipped",
    ("on_hold", "transit"): "in_transit",
    ("on_hold", "deliver"): "delivered",
    ("on_hold", "cancel"): "cancelled",
    ("on_hold", "flag"): "needs_attention",
    # needs_attention (the manual queue)
    ("needs_attention", "retry"): "received",
    ("needs_attention", "ship"): "shipped",
    ("needs_attention", "transit"): "in_transit",
    ("needs_attention", "deliver"): "delivered",
    ("needs_attention", "cancel"): "cancelled",
    # delivered, cancelled: final, nothing
}

STATES = [
    "received", "classified", "reserved", "labeled", "shipped", "in_transit", "delivered",
    "backordered", "on_hold", "cancelled", "needs_attention",
]  # fmt: skip
EVENTS = [
    "classify", "reserve", "backorder", "hold", "release", "label", "void_label", "ship",
    "transit", "deliver", "cancel", "flag", "retry",
]  # fmt: skip
#: (from, to) pairs some event allows: what ``transition(state, target)`` accepts.
MOVES = {(src, dst) for (src, _), dst in TABLE.items()}


def test_the_names_are_the_documented_ones() -> None:
    assert sorted(s.value for s in OrderState) == sorted(STATES)
    assert sorted(e.value for e in OrderEvent) == sorted(EVENTS)
    assert len(TABLE) == 50


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, EVENTS)))
def test_every_state_and_event(state: str, event: str) -> None:
    expected = TABLE.get((state, event))
    if expected is None:
        with pytest.raises(InvalidTransition):
            transition(OrderState(state), OrderEvent(event))
        with pytest.raises(InvalidTransition):
            transition(state, OrderEvent(event))  # a state given by name
        assert not can_transition(OrderState(state), OrderEvent(event))
        assert OrderEvent(event) not in allowed_events(OrderState(state))
    else:
        assert transition(OrderState(state), OrderEvent(event)) == OrderState(expected)
        assert transition(state, OrderEvent(event)) == OrderState(expected)
        assert can_transition(OrderState(state), OrderEvent(event))
        assert OrderEvent(event) in allowed_events(OrderState(state))


@pytest.mark.parametrize(("state", "target"), list(itertools.product(STATES, STATES)))
def test_every_move_by_target(state: str, target: str) -> None:
    if (state, target) in MOVES:
        assert transition(OrderState(state), OrderState(target)) == OrderState(target)
        assert can_transition(OrderState(state), OrderState(target))
    else:
        with pytest.raises(InvalidTransition):
            transition(OrderState(state), OrderState(target))
        assert not can_transition(OrderState(state), OrderState(target))


@pytest.mark.parametrize("state", STATES)
def test_allowed_events_are_exactly_the_table_row(state: str) -> None:
    expected = sorted(event for (src, event) in TABLE if src == state)
    got = allowed_events(OrderState(state))
    assert sorted(e.value for e in got) == expected
    assert len(got) == len(expected)  # no event listed twice


def test_final_states_are_delivered_and_cancelled() -> None:
    assert {s.value for s in FINAL_STATES} == {"delivered", "cancelled"}


@pytest.mark.parametrize("name", ["", "lost", "RECEIVED", "received "])
def test_a_state_that_is_not_a_state_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidTransition, match="unknown order state"):
        transition(name, OrderEvent.CLASSIFY)


# --------------------------------------------------------------------------- TikTok statuses

#: What each TikTok status asks for (the table in ``domain/tiktok_status.py``'s docstring).
STATUS_EVENT = {
    "UNPAID": "hold",
    "ON_HOLD": "hold",
    "AWAITING_SHIPMENT": "release",
    "PARTIALLY_SHIPPING": "release",
    "AWAITING_COLLECTION": "ship",
    "IN_TRANSIT": "transit",
    "DELIVERED": "deliver",
    "COMPLETED": "deliver",
    "CANCELLED": "cancel",
    "CANCEL": "cancel",  # the webhook's spelling
}


def expected_move(state: str, status: str) -> tuple[str, str] | None:
    """(event, target) a status causes in ``state``, from the hand-written table."""
    event = STATUS_EVENT[status]
    if event == "cancel" and state in ("shipped", "in_transit"):
        event = "flag"  # a parcel is out: a human decides
    target = TABLE.get((state, event))
    return None if target is None else (event, target)


@pytest.mark.parametrize(("state", "status"), list(itertools.product(STATES, STATUS_EVENT)))
def test_every_tiktok_status_in_every_state(state: str, status: str) -> None:
    effect = map_tiktok_status(OrderState(state), status)
    assert effect.known
    assert effect.status == ("CANCELLED" if status == "CANCEL" else status)
    move = expected_move(state, status)
    if move is None:
        assert (effect.event, effect.target) == (None, None)
        assert effect.note  # says why nothing moves
    else:
        assert (effect.event, effect.target) == (OrderEvent(move[0]), OrderState(move[1]))


def test_tiktok_statuses_are_the_documented_ones() -> None:
    assert {s.value for s in TikTokStatus} == set(STATUS_EVENT) - {"CANCEL"}


@pytest.mark.parametrize("status", ["awaiting_shipment", " Cancel ", "delivered"])
def test_a_status_in_another_case_or_with_spaces_is_the_same_status(status: str) -> None:
    effect = map_tiktok_status(OrderState.ON_HOLD, status)
    assert effect.known
    assert effect.status == status.strip().upper().replace("CANCEL", "CANCELLED")


@pytest.mark.parametrize("status", ["RETURNED", "", "CANCELLEDX", "AWAITING SHIPMENT"])
def test_an_unknown_status_moves_nothing_and_is_kept_as_sent(status: str) -> None:
    effect = map_tiktok_status(OrderState.RESERVED, status)
    assert effect.known is False
    assert (effect.event, effect.target, effect.status) == (None, None, status)
