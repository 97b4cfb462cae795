"""How the Postgres store cuts a batch into segments (pure; no server needed).

The meaning of every cut is pinned by the contract tests on both stores; this pins the cost: a
group commit of order transitions is one statement per kind, however many orders it holds.
"""

from __future__ import annotations

from creatorflow.adapters.store._pg_apply import segments
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    InboxRecord,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    UpsertOrder,
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
