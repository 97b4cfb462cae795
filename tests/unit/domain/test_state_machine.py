"""Order state machine: the transition table, the TikTok status mapping, regressions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creatorflow.domain.state_machine import (
    FINAL_STATES,
    TRANSITIONS,
    OrderEvent,
    OrderState,
    allowed_events,
    can_transition,
    transition,
)
from creatorflow.domain.tiktok_status import (
    Freshness,
    TikTokStatus,
    holds_stock_only,
    map_tiktok_status,
    may_buy_label,
    normalize_status,
    snapshot_freshness,
)
from creatorflow.errors import DomainError, InvalidTransition

S, E = OrderState, OrderEvent
ALLOWED = {(src, event) for src, event, _ in TRANSITIONS}
PRE_SHIP = (S.RECEIVED, S.CLASSIFIED, S.RESERVED, S.LABELED, S.BACKORDERED, S.ON_HOLD)
CANCELS_BEFORE_SHIPPING = [
    (state, spelling, E.CANCEL, S.CANCELLED)
    for state in (*PRE_SHIP, S.NEEDS_ATTENTION)
    for spelling in ("CANCELLED", "CANCEL")
]
REFUSED = [p for p in itertools.product(OrderState, OrderEvent) if p not in ALLOWED]


def test_states_are_exactly_the_design() -> None:
    assert [s.value for s in OrderState] == [
        "received", "classified", "reserved", "labeled", "shipped", "in_transit", "delivered",
        "backordered", "on_hold", "cancelled", "needs_attention",
    ]  # fmt: skip


@pytest.mark.parametrize(("src", "event", "dst"), TRANSITIONS)
def test_every_listed_transition_is_allowed(
    src: OrderState, event: OrderEvent, dst: OrderState
) -> None:
    assert transition(src, event) is dst
    assert transition(src.value, dst) is dst
    assert can_transition(src, event) and can_transition(src, dst)
    assert event in allowed_events(src)


@pytest.mark.parametrize(("src", "event"), REFUSED)
def test_every_unlisted_event_is_refused(src: OrderState, event: OrderEvent) -> None:
    with pytest.raises(InvalidTransition, match=f"event {event} not allowed in state {src}"):
        transition(src, event)
    assert not can_transition(src, event)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (S.RECEIVED, S.RESERVED),  # skips classification
        (S.CLASSIFIED, S.LABELED),  # a label needs a reservation
        (S.ON_HOLD, S.LABELED),  # no label while TikTok holds the order
        (S.BACKORDERED, S.LABELED),
        (S.SHIPPED, S.CANCELLED),  # after shipping a cancel needs a human
        (S.IN_TRANSIT, S.SHIPPED),  # no going back
        (S.DELIVERED, S.NEEDS_ATTENTION),
        (S.CANCELLED, S.RECEIVED),
        (S.RESERVED, S.RESERVED),  # same state is not a transition
        (S.NEEDS_ATTENTION, S.NEEDS_ATTENTION),
    ],
)
def test_sample_of_refused_targets(src: OrderState, dst: OrderState) -> None:
    with pytest.raises(InvalidTransition, match=f"{src} -> {dst}") as info:
        transition(src, dst)
    assert isinstance(info.value, DomainError)


def test_unknown_state_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="unknown order state"):
        transition("lost", E.CLASSIFY)


def test_happy_path() -> None:
    state = S.RECEIVED
    for event in (E.CLASSIFY, E.RESERVE, E.HOLD, E.RELEASE, E.LABEL, E.SHIP, E.TRANSIT, E.DELIVER):
        state = transition(state, event)
    assert state is S.DELIVERED


def test_final_states_have_no_way_out() -> None:
    for state in FINAL_STATES:
        assert allowed_events(state) == ()
    leaving = {src for src, _, _ in TRANSITIONS}
    assert leaving == set(OrderState) - FINAL_STATES


def test_every_state_is_reachable_from_received() -> None:
    seen, todo = {S.RECEIVED}, [S.RECEIVED]
    while todo:
        src = todo.pop()
        for event in allowed_events(src):
            dst = transition(src, event)
            if dst not in seen:
                seen.add(dst)
                todo.append(dst)
    assert seen == set(OrderState)


@given(st.lists(st.sampled_from(list(OrderEvent)), max_size=40))
def test_random_event_sequences_stay_in_the_state_set(events: list[OrderEvent]) -> None:
    state = S.RECEIVED
    for event in events:
        try:
            nxt = transition(state, event)
        except InvalidTransition:
            assert not can_transition(state, event)
            continue
        assert nxt in OrderState
        assert (state, event, nxt) in TRANSITIONS
        state = nxt


# --------------------------------------------------------------------------- TikTok statuses


def test_normalize_accepts_both_cancel_spellings() -> None:
    assert normalize_status("CANCEL") is TikTokStatus.CANCELLED
    assert normalize_status("CANCELLED") is TikTokStatus.CANCELLED
    assert normalize_status("awaiting_shipment") is TikTokStatus.AWAITING_SHIPMENT
    assert normalize_status("RETURNED_TO_SENDER") is None


@pytest.mark.parametrize(
    ("state", "status", "event", "target"),
    [
        (S.RESERVED, "UNPAID", E.HOLD, S.ON_HOLD),
        (S.RESERVED, "ON_HOLD", E.HOLD, S.ON_HOLD),
        (S.ON_HOLD, "AWAITING_SHIPMENT", E.RELEASE, S.RESERVED),
        (S.ON_HOLD, "PARTIALLY_SHIPPING", E.RELEASE, S.RESERVED),
        (S.LABELED, "AWAITING_COLLECTION", E.SHIP, S.SHIPPED),
        (S.RECEIVED, "AWAITING_COLLECTION", E.SHIP, S.SHIPPED),  # shipped outside CreatorFlow
        (S.SHIPPED, "IN_TRANSIT", E.TRANSIT, S.IN_TRANSIT),
        (S.ON_HOLD, "IN_TRANSIT", E.TRANSIT, S.IN_TRANSIT),
        (S.IN_TRANSIT, "DELIVERED", E.DELIVER, S.DELIVERED),
        (S.SHIPPED, "COMPLETED", E.DELIVER, S.DELIVERED),
        (S.CLASSIFIED, "DELIVERED", E.DELIVER, S.DELIVERED),
        (S.NEEDS_ATTENTION, "DELIVERED", E.DELIVER, S.DELIVERED),
        *CANCELS_BEFORE_SHIPPING,
        (S.SHIPPED, "CANCELLED", E.FLAG, S.NEEDS_ATTENTION),  # a parcel is out: a human decides
        (S.IN_TRANSIT, "CANCEL", E.FLAG, S.NEEDS_ATTENTION),
    ],
)
def test_status_moves(
    state: OrderState, status: str, event: OrderEvent, target: OrderState
) -> None:
    effect = map_tiktok_status(state, status)
    assert (effect.event, effect.target, effect.known) == (event, target, True)
    assert transition(state, event) is target


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (S.CLASSIFIED, "AWAITING_SHIPMENT"),  # the saga carries on by itself
        (S.RESERVED, "AWAITING_SHIPMENT"),
        (S.CLASSIFIED, "UNPAID"),  # reserve first, then hold
        (S.BACKORDERED, "ON_HOLD"),
        (S.SHIPPED, "AWAITING_COLLECTION"),
        (S.DELIVERED, "CANCELLED"),  # final
        (S.CANCELLED, "AWAITING_SHIPMENT"),  # final
        (S.DELIVERED, "IN_TRANSIT"),
    ],
)
def test_statuses_that_move_nothing(state: OrderState, status: str) -> None:
    effect = map_tiktok_status(state, status)
    assert effect.event is None and effect.target is None
    assert effect.known and effect.note


def test_unknown_status_is_kept_and_reported() -> None:
    effect = map_tiktok_status(S.RESERVED, "SOMETHING_NEW")
    assert effect.status == "SOMETHING_NEW"
    assert not effect.known
    assert effect.event is None
    assert effect.note == "unknown status"
    assert map_tiktok_status(S.RESERVED, "CANCEL").status == "CANCELLED"


@given(st.sampled_from(list(OrderState)), st.text(max_size=20) | st.sampled_from(
    [*TikTokStatus, "CANCEL"]
))  # fmt: skip
def test_mapping_never_raises_and_agrees_with_the_table(state: OrderState, status: str) -> None:
    effect = map_tiktok_status(state, status)
    if effect.event is not None:
        assert effect.target is transition(state, effect.event)


def test_label_and_hold_statuses() -> None:
    assert may_buy_label("AWAITING_SHIPMENT") and may_buy_label("PARTIALLY_SHIPPING")
    for status in ("UNPAID", "ON_HOLD", "AWAITING_COLLECTION", "CANCEL", "WHATEVER"):
        assert not may_buy_label(status)
    assert holds_stock_only("UNPAID") and holds_stock_only("ON_HOLD")
    assert not holds_stock_only("AWAITING_SHIPMENT")


@pytest.mark.parametrize(
    ("current", "incoming", "expected"),
    [
        (None, 1700000000, Freshness.NEW),
        (1700000000, 1700000001, Freshness.NEWER),
        (1700000000, 1700000000, Freshness.SAME),
        (1700000000, 1699999999, Freshness.STALE),
    ],
)
def test_snapshot_freshness(current: int | None, incoming: int, expected: Freshness) -> None:
    assert snapshot_freshness(current, incoming) is expected


def test_regression_is_ignored_by_update_time() -> None:
    """Webhooks arrive reordered: DELIVERED (t=300) then AWAITING_SHIPMENT (t=100)."""
    state, applied = S.SHIPPED, None
    for status, update_time in (("IN_TRANSIT", 200), ("DELIVERED", 300), ("AWAITING_SHIPMENT", 100),
                                ("DELIVERED", 300)):  # fmt: skip
        if snapshot_freshness(applied, update_time) not in (Freshness.NEW, Freshness.NEWER):
            continue
        applied = update_time
        effect = map_tiktok_status(state, status)
        if effect.target is not None:
            state = effect.target
    assert (state, applied) == (S.DELIVERED, 300)
