"""Rows of the order-side tables as port structs; shared by both store dialects.

Each converter takes a row (a ``sqlite3`` tuple or an ``asyncpg.Record``) whose columns come in
the order of the matching ``*_COLUMNS`` string here, which both dialects' SQL select.
"""

from __future__ import annotations

from typing import Any, cast

from creatorflow.ports import OrderEventRow, OrderRow, OutboxRow, OutboxState, Priority

ORDER_COLUMNS = (
    "order_id, shop_id, state, tiktok_status, priority, score, tiktok_update_time, "
    "updated_at_ms, doc"
)
EVENT_COLUMNS = "order_id, seq, at_ms, kind, from_state, to_state, detail"
OUTBOX_COLUMNS = (
    "event_id, topic, key, payload, created_at_ms, state, attempts, next_attempt_at_ms, last_error"
)


def to_order(row: Any) -> OrderRow:
    """An :class:`OrderRow` from a row of ``ORDER_COLUMNS``."""
    oid, shop, state, status, priority, score, update_time, updated_at, doc = row
    return OrderRow(
        order_id=oid,
        shop_id=shop,
        state=state,
        tiktok_status=status,
        priority=cast(Priority, priority),
        score=score,
        tiktok_update_time=update_time,
        updated_at_ms=updated_at,
        doc=doc,
    )


def to_event(row: Any) -> OrderEventRow:
    """An :class:`OrderEventRow` from a row of ``EVENT_COLUMNS``."""
    oid, seq, at_ms, kind, from_state, to_state, detail = row
    return OrderEventRow(
        order_id=oid,
        seq=seq,
        at_ms=at_ms,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )


def to_outbox(row: Any) -> OutboxRow:
    """An :class:`OutboxRow` from a row starting with ``OUTBOX_COLUMNS`` (more are ignored)."""
    eid, topic, key, payload, created, state, attempts, next_at, last_error = tuple(row)[:9]
    return OutboxRow(
        event_id=eid,
        topic=topic,
        key=key,
        payload=payload,
        created_at_ms=created,
        state=cast(OutboxState, state),
        attempts=attempts,
        next_attempt_at_ms=next_at,
        last_error=last_error,
    )
