"""Reservation rules of one SKU (domain/inventory.py): examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creatorflow.domain.inventory import Hold, SkuStock, reservation_plan
from creatorflow.errors import InventoryRefused

NOW = 1_700_000_000_000


def test_reserve_within_stock_then_refuse_beyond() -> None:
    stock = SkuStock("MUG", on_hand=5)
    first = stock.reserve("o1", 3, NOW)
    assert first.outcome == "reserved" and first.ok
    assert (stock.on_hand, stock.reserved, stock.available) == (5, 3, 2)
    second = stock.reserve("o2", 3, NOW)
    assert second.outcome == "refused" and not second.ok
    assert second.changes == ()
    assert stock.reserved == 3
    assert stock.reserve("o3", 2, NOW).outcome == "reserved"
    assert stock.available == 0


def test_safety_buffer_is_never_promised() -> None:
    stock = SkuStock("MUG", on_hand=10, safety_buffer=3)
    assert stock.reserve("o1", 7, NOW).outcome == "reserved"
    assert stock.sellable == 0
    assert stock.reserve("o2", 1, NOW).outcome == "refused"
    assert stock.available == 3


def test_reserve_is_idempotent_by_order() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o1", 2, NOW)
    again = stock.reserve("o1", 2, NOW + 1)
    assert again.outcome == "held" and again.changes == ()
    assert stock.reserved == 2


def test_reserve_again_with_a_new_quantity_changes_only_the_difference() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o1", 2, NOW)
    grown = stock.reserve("o1", 4, NOW)
    assert grown.outcome == "held"
    assert [c.delta_reserved for c in grown.changes] == [2]
    assert stock.reserved == 4
    assert stock.reserve("o1", 6, NOW).outcome == "refused"
    assert stock.reserved == 4
    assert stock.reserve("o1", 1, NOW).changes[0].delta_reserved == -3


def test_release_is_idempotent_and_frees_stock() -> None:
    stock = SkuStock("MUG", on_hand=2)
    stock.reserve("o1", 2, NOW)
    changes = stock.release("o1", NOW, reason="cancel")
    assert [(c.kind, c.delta_reserved, c.hold_state) for c in changes] == [
        ("release", -2, "released")
    ]
    assert stock.release("o1", NOW) == []
    assert stock.reserved == 0
    assert stock.closed_state("o1") == "released"
    # A released order may reserve again (e.g. a backordered order retried).
    assert stock.reserve("o1", 1, NOW).outcome == "reserved"


def test_commit_takes_held_units_off_the_shelf_once() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o1", 2, NOW)
    changes = stock.commit("o1", NOW)
    assert [(c.kind, c.delta_on_hand, c.delta_reserved) for c in changes] == [("commit", -2, -2)]
    assert (stock.on_hand, stock.reserved) == (3, 0)
    assert stock.commit("o1", NOW, qty=2) == []  # a repeat, even with a qty, is a no-op
    assert stock.on_hand == 3
    assert stock.reserve("o1", 2, NOW).outcome == "committed"
    assert stock.reserved == 0


def test_commit_without_a_hold_uses_free_stock_but_never_reserved_stock() -> None:
    stock = SkuStock("MUG", on_hand=4)
    stock.reserve("o1", 2, NOW)
    stock.commit("outside", NOW, qty=1)
    assert (stock.on_hand, stock.reserved) == (3, 2)
    # 3 shipped, 1 free: the 1 leaves, the shortfall is noted, reserved stock is untouched.
    (change,) = stock.commit("outside-2", NOW, qty=3)
    assert (change.delta_on_hand, change.hold_state) == (-1, "committed")
    assert "only 1 free" in change.reason
    assert (stock.on_hand, stock.reserved) == (2, 2)
    assert stock.commit("outside-2", NOW, qty=3) == []  # recorded: a repeat takes nothing


def test_expired_holds_stop_counting_at_once() -> None:
    stock = SkuStock("MUG", on_hand=1)
    stock.reserve("unpaid", 1, NOW, expires_at_ms=NOW + 1000)
    assert stock.reserve("o2", 1, NOW + 999).outcome == "refused"
    result = stock.reserve("o2", 1, NOW + 1000)
    assert result.outcome == "reserved"
    assert [c.kind for c in result.changes] == ["expire", "reserve"]
    assert stock.closed_state("unpaid") == "expired"
    assert stock.reserved == 1


def test_paying_makes_a_hold_firm() -> None:
    stock = SkuStock("MUG", on_hand=1)
    stock.reserve("o1", 1, NOW, expires_at_ms=NOW + 1000)
    firm = stock.reserve("o1", 1, NOW + 10, expires_at_ms=None)
    assert firm.outcome == "held" and firm.changes[0].delta_reserved == 0
    assert stock.next_expiry_ms() is None
    assert stock.expire(NOW + 10_000) == []
    assert stock.reserved == 1


def test_adjust_and_set_refuse_to_go_below_reserved_or_zero() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o1", 4, NOW)
    with pytest.raises(InventoryRefused) as err:
        stock.adjust(-2, NOW, reason="damaged")
    assert err.value.code == "below_reserved"
    with pytest.raises(InventoryRefused):
        stock.set_on_hand(3, NOW)
    assert stock.adjust(-1, NOW, reason="damaged")[0].delta_on_hand == -1
    assert stock.set_on_hand(10, NOW)[0].delta_on_hand == 6
    assert stock.set_on_hand(10, NOW) == []
    stock.release("o1", NOW)
    with pytest.raises(InventoryRefused) as err:
        stock.adjust(-11, NOW, reason="x")
    assert err.value.code == "negative"
    with pytest.raises(InventoryRefused):
        stock.adjust(1, NOW, reason="")


def test_bad_quantities_are_refused() -> None:
    stock = SkuStock("MUG", on_hand=5)
    with pytest.raises(InventoryRefused):
        stock.reserve("o1", 0, NOW)
    with pytest.raises(InventoryRefused):
        stock.reserve("o1", 1, NOW, expires_at_ms=NOW)
    with pytest.raises(InventoryRefused):
        SkuStock("X", on_hand=-1)


def test_closed_memory_is_bounded() -> None:
    stock = SkuStock("MUG", on_hand=100, closed_capacity=3)
    for i in range(10):
        stock.reserve(f"o{i}", 1, NOW)
        stock.release(f"o{i}", NOW)
    assert stock.closed_state("o0") is None
    assert stock.closed_state("o9") == "released"


def test_loaded_holds_count_and_plan_sorts_and_merges_skus() -> None:
    holds = [Hold(order_id="a", qty=2, expires_at_ms=None, created_at_ms=NOW)]
    stock = SkuStock("MUG", on_hand=3, holds=holds)
    assert stock.reserved == 2 and stock.hold_count == 1
    assert reservation_plan([("B", 1), ("A", 2), ("B", 2), ("C", 0)]) == [("A", 2), ("B", 3)]


# --------------------------------------------------------------------------- properties

ORDERS = [f"o{i}" for i in range(6)]

op_strategy = st.one_of(
    st.tuples(
        st.just("reserve"),
        st.sampled_from(ORDERS),
        st.integers(1, 4),
        st.one_of(st.none(), st.integers(1, 50)),
    ),
    st.tuples(st.just("release"), st.sampled_from(ORDERS)),
    st.tuples(st.just("commit"), st.sampled_from(ORDERS), st.integers(0, 2)),
    st.tuples(st.just("adjust"), st.integers(-5, 5)),
    st.tuples(st.just("set"), st.integers(0, 12)),
    st.tuples(st.just("tick"), st.integers(1, 30)),
)


@settings(max_examples=300, deadline=None)
@given(
    on_hand=st.integers(0, 10),
    buffer=st.integers(0, 3),
    ops=st.lists(op_strategy, max_size=60),
)
def test_invariants_hold_under_any_sequence(
    on_hand: int, buffer: int, ops: list[tuple[object, ...]]
) -> None:
    stock = SkuStock("SKU", on_hand=on_hand, safety_buffer=buffer)
    now = NOW
    # Shadow model: per-order live holds (qty, expiry), recomputed from the journal of changes.
    live: dict[str, int] = {}
    on_hand_replay = on_hand
    for op in ops:
        kind = op[0]
        if kind == "tick":
            now += int(str(op[1]))
        expired = stock.expire(now)  # as the actor does before each message
        try:
            if kind == "reserve":
                _, order, qty, ttl = op
                assert isinstance(order, str) and isinstance(qty, int)
                assert ttl is None or isinstance(ttl, int)
                before_sellable = stock.on_hand - stock.reserved - buffer
                result = stock.reserve(
                    order, qty, now, expires_at_ms=None if ttl is None else now + ttl
                )
                changes = list(result.changes)
                if result.outcome == "refused":
                    held = stock.hold_of(order)
                    extra = qty - (0 if held is None else held.qty)
                    assert before_sellable < extra
            elif kind == "release":
                changes = stock.release(str(op[1]), now)
            elif kind == "commit":
                changes = stock.commit(str(op[1]), now, qty=int(str(op[2])))
            elif kind == "adjust":
                changes = stock.adjust(int(str(op[1])), now, reason="test")
            elif kind == "set":
                changes = stock.set_on_hand(int(str(op[1])), now)
            else:
                changes = []
        except InventoryRefused:
            changes = []
        changes = expired + changes
        # Replay the journal: the changes explain the new state exactly.
        for change in changes:
            on_hand_replay += change.delta_on_hand
            if change.hold is not None:
                if change.hold_state == "held":
                    live[change.order_id] = change.hold.qty
                else:
                    live.pop(change.order_id, None)
            assert change.on_hand >= change.reserved >= 0
        # The invariant of DESIGN §6.4, after every operation:
        assert 0 <= stock.reserved <= stock.on_hand
        assert stock.reserved == sum(h.qty for h in stock.holds())
        assert stock.reserved == sum(live.values())
        assert stock.on_hand == on_hand_replay
        assert {h.order_id: h.qty for h in stock.holds()} == live
        assert all(h.expires_at_ms is None or h.expires_at_ms > now for h in stock.holds())


@settings(max_examples=200, deadline=None)
@given(
    on_hand=st.integers(0, 20),
    wants=st.lists(st.tuples(st.sampled_from(ORDERS), st.integers(1, 5)), max_size=30),
)
def test_never_promises_more_than_on_hand_minus_buffer(
    on_hand: int, wants: list[tuple[str, int]]
) -> None:
    stock = SkuStock("SKU", on_hand=on_hand, safety_buffer=2)
    for order, qty in wants:
        stock.reserve(order, qty, NOW)
        assert stock.reserved <= max(0, on_hand - 2) or stock.reserved == 0
