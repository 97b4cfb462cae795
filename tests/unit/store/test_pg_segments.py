"""How the Postgres store cuts a batch into segments (pure; no server needed).

The meaning of every cut is pinned by the contract tests on both stores; this pins the cost: a
group commit of order transitions is one statement per kind, however many orders it holds.
"""

from __future__ import annotations

from creatorflow.adapters.store._pg_apply import segments
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    AppendStockEvent,
    DeleteAdjustmentKeys,
    InboxRecord,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    PutAdjustmentKey,
    PutReservation,
    UpsertOrder,
    UpsertPurchaseOrder,
    UpsertSku,
    WriteOp,
)


def _upsert(oid: str) -> UpsertOrder:
    return UpsertOrder(
        order_id=oid,
        shop_id="s",
        state="received",
        tiktok_status="UNPAID",
        priority="LOW",
        score=1,
        tiktok_update_time=1,
        updated_at_ms=1,
        doc=b"",
    )


def _event(oid: str) -> AppendOrderEvent:
    return AppendOrderEvent(
        order_id=oid, at_ms=1, kind="transition", from_state=None, to_state="x", detail=b""
    )


def _ins(nid: str) -> InsertInbox:
    record = InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"")
    return InsertInbox(record=record)


def _shape(ops: list[WriteOp]) -> list[dict[str, list[int]]]:
    return [
        {type(pairs[0][1]).__name__: [p for p, _ in pairs] for pairs in seg.values()}
        for seg in segments(ops)
    ]


def test_a_group_of_transitions_is_one_statement_per_kind() -> None:
    ops: list[WriteOp] = []
    for i in range(100):
        oid = f"o{i}"
        ops += [
            _upsert(oid),
            _event(oid),
            _event(oid),
            AppendOutbox(event_id=f"e{i}", topic="t", key=oid, payload=b"", created_at_ms=1),
            MarkInboxProcessed(notification_id=f"n{i}", processed_at_ms=1),
        ]
    [segment] = segments(ops)
    assert {len(pairs) for pairs in segment.values()} == {100, 200}
    assert len(segment) == 4


def test_an_op_that_must_not_move_ahead_starts_a_new_segment() -> None:
    ops: list[WriteOp] = [
        _event("a"),
        _upsert("a"),  # would run before the event: new segment
        _upsert("b"),
        MarkInboxFailed(notification_id="n", error="x"),
        MarkInboxProcessed(notification_id="n", processed_at_ms=1),  # before Failed: new one
        _ins("m"),
    ]
    assert _shape(ops) == [
        {"AppendOrderEvent": [0]},
        {"UpsertOrder": [1, 2], "MarkInboxFailed": [3]},
        {"MarkInboxProcessed": [4], "InsertInbox": [5]},
    ]


def _decision(order_id: str, sku: str) -> list[WriteOp]:
    """One reservation decision of an inventory actor, as it reaches the group commit."""
    return [
        PutReservation(
            order_id=order_id,
            sku=sku,
            qty=1,
            state="held",
            expires_at_ms=None,
            created_at_ms=1,
            updated_at_ms=1,
        ),
        UpsertSku(sku=sku, on_hand=100, reserved=1, safety_buffer=0, updated_at_ms=1),
        AppendStockEvent(
            sku=sku, at_ms=1, kind="reserve", order_id=order_id, on_hand=100, reserved=1
        ),
    ]


def test_decisions_on_one_hot_sku_are_one_statement_per_kind() -> None:
    # A SKU's journal commutes with its row (separate keys), so decision after decision of one
    # SKU never starts a new segment: 3 statements for the whole group commit.
    ops: list[WriteOp] = []
    for i in range(1000):
        ops += _decision(f"o{i}", "viral-sku" if i % 10 else f"sku-{i}")
    [segment] = segments(ops)
    assert sorted(type(pairs[0][1]).__name__ for pairs in segment.values()) == [
        "AppendStockEvent",
        "PutReservation",
        "UpsertSku",
    ]
    assert {len(pairs) for pairs in segment.values()} == {1000}


def test_inventory_ops_join_the_order_transitions_of_their_batch() -> None:
    po = UpsertPurchaseOrder(
        po_id="po-1",
        sku="a",
        supplier_id="s",
        qty=5,
        state="requested",
        created_at_ms=1,
        expected_at_ms=2,
        updated_at_ms=1,
    )
    ops: list[WriteOp] = [
        _upsert("o1"),
        *_decision("o1", "a"),
        _event("o1"),
        po,
        *_decision("o1", "a"),  # the same reservation again (e.g. committed): replaces it
        _upsert("o2"),
        _event("o2"),
        po,
    ]
    assert _shape(ops) == [
        {
            "UpsertOrder": [0, 9],
            "AppendOrderEvent": [4, 10],
            "UpsertSku": [2, 7],
            "PutReservation": [1, 6],
            "AppendStockEvent": [3, 8],
            "UpsertPurchaseOrder": [5, 11],
        }
    ]


def _keyed_adjustment(sku: str, key: str) -> list[WriteOp]:
    """A keyed adjustment as a SKU actor writes it: journal entry, SKU row, key."""
    return [
        AppendStockEvent(sku=sku, at_ms=1, kind="adjust", delta_on_hand=5, on_hand=15, reserved=0),
        UpsertSku(sku=sku, on_hand=15, reserved=0, safety_buffer=0, updated_at_ms=1),
        PutAdjustmentKey(sku=sku, key=key, delta=5, reason="r", created_at_ms=1, expires_at_ms=2),
    ]


def test_keyed_adjustments_are_one_segment_and_a_sweep_keeps_its_place() -> None:
    ops: list[WriteOp] = []
    for i in range(100):
        ops += _keyed_adjustment(f"sku-{i % 7}", f"k-{i}")
    [segment] = segments(ops)
    assert {type(pairs[0][1]).__name__: len(pairs) for pairs in segment.values()} == {
        "AppendStockEvent": 100,
        "UpsertSku": 100,
        "PutAdjustmentKey": 100,
    }
    sweep = DeleteAdjustmentKeys(sku="a", now_ms=1, limit=10)
    # A sweep before a key of its SKU runs first in the segment; after one, it must wait.
    assert _shape([sweep, *_keyed_adjustment("a", "k")]) == [
        {"DeleteAdjustmentKeys": [0], "AppendStockEvent": [1], "UpsertSku": [2],
         "PutAdjustmentKey": [3]}
    ]  # fmt: skip
    assert _shape([*_keyed_adjustment("a", "k"), sweep]) == [
        {"AppendStockEvent": [0], "UpsertSku": [1], "PutAdjustmentKey": [2]},
        {"DeleteAdjustmentKeys": [3]},
    ]
    other = DeleteAdjustmentKeys(sku="b", now_ms=1, limit=10)
    assert len(segments([*_keyed_adjustment("a", "k"), other])) == 1
