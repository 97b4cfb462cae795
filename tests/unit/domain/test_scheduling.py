"""Aging priority queues: HIGH first, nothing starves, bounded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from creatorflow.domain.priority import PriorityLevel
from creatorflow.domain.scheduling import AgingQueues

HIGH, STANDARD, LOW = PriorityLevel.HIGH, PriorityLevel.STANDARD, PriorityLevel.LOW


def test_high_first_when_fresh() -> None:
    q: AgingQueues[str] = AgingQueues(capacity=10, aging_s=60)
    q.push("low", LOW, 0)
    q.push("std", STANDARD, 0)
    q.push("high", HIGH, 0)
    assert [q.pop(0).item for _ in range(3)] == ["high", "std", "low"]  # type: ignore[union-attr]
    assert q.pop(0) is None


def test_standard_that_waited_beats_a_flood_of_fresh_high() -> None:
    q: AgingQueues[str] = AgingQueues(capacity=100, aging_s=60)
    q.push("old-std", STANDARD, 0)
    for i in range(50):
        q.push(f"h{i}", HIGH, 130)  # fresh HIGH orders keep arriving
    served = q.pop(130)
    assert served is not None
    assert served.item == "old-std"  # waited 130 s > 2 x aging: rank 1 - 2.17 < 0


def test_equal_effective_rank_goes_to_the_higher_level() -> None:
    q: AgingQueues[str] = AgingQueues(capacity=10, aging_s=60)
    q.push("std", STANDARD, 0)
    q.push("high", HIGH, 60)
    first = q.pop(60)  # std: 1 - 1 = 0, high: 0 - 0 = 0
    assert first is not None
    assert first.item == "high"


def test_capacity_is_per_level_and_refusal_queues_nothing() -> None:
    q: AgingQueues[int] = AgingQueues(capacity=2, aging_s=1)
    assert q.push(1, LOW, 0)
    assert q.push(2, LOW, 0)
    assert not q.push(3, LOW, 0)
    assert q.push(4, HIGH, 0)
    assert len(q) == 3
    assert q.depth(LOW) == 2
    assert q.oldest_wait(LOW, 5) == 5
    assert q.oldest_wait(STANDARD, 5) == 0


@given(
    st.lists(
        st.tuples(st.sampled_from([HIGH, STANDARD, LOW]), st.floats(0, 1000)),
        min_size=1,
        max_size=60,
    )
)
def test_every_item_is_served_once_and_fifo_within_a_level(
    pushes: list[tuple[PriorityLevel, float]],
) -> None:
    q: AgingQueues[int] = AgingQueues(capacity=100, aging_s=30)
    now = 0.0
    for i, (level, dt) in enumerate(pushes):
        now += dt
        assert q.push(i, level, now)
    served: list[tuple[PriorityLevel, int]] = []
    while (got := q.pop(now)) is not None:
        served.append((got.level, got.item))
        now += 1
    assert sorted(i for _, i in served) == list(range(len(pushes)))
    for level in (HIGH, STANDARD, LOW):
        items = [i for lv, i in served if lv == level]
        assert items == sorted(items)


def test_same_second_snapshots_are_ordered_by_life_cycle() -> None:
    from creatorflow.domain.tiktok_status import Freshness, snapshot_freshness

    def fresh(cur: str, new: str) -> Freshness:
        return snapshot_freshness(10, 10, current_status=cur, incoming_status=new)

    assert fresh("UNPAID", "AWAITING_SHIPMENT") is Freshness.NEWER
    assert fresh("AWAITING_SHIPMENT", "UNPAID") is Freshness.SAME
    assert fresh("IN_TRANSIT", "CANCEL") is Freshness.NEWER  # webhook spelling
    assert fresh("CANCELLED", "DELIVERED") is Freshness.SAME
    assert fresh("UNPAID", "SOMETHING_NEW") is Freshness.SAME  # unknown never wins a tie
    assert snapshot_freshness(10, 9, incoming_status="DELIVERED") is Freshness.STALE
