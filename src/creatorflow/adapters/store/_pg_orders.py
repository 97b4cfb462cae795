"""The SQL of the Postgres store for orders, their journal, the outbox, cursors and tokens, and
the code that applies a run of one kind of order-side op as one statement.

Everything here raises asyncpg errors (or StoreError for an op the store refuses by itself);
the caller translates. Each run passes one array per column to ``unnest`` and sorts its keys, so
the rows of one statement are locked in key order (see ``_pg_apply`` for deadlocks).

Journal numbering: ``orders.last_event_seq`` is the per-order counter. One statement
(:data:`APPEND_EVENTS`) locks the orders of the run with ``SELECT … ORDER BY order_id FOR
UPDATE`` (id order: two transactions appending to the same orders queue up instead of
deadlocking), adds each order's event count to its counter and inserts the events numbered
from the old value. A second transaction on the same order waits for the lock, then reads the
counter as the first one committed it, so numbers are never shared or skipped.
"""

from __future__ import annotations

from typing import Any

from creatorflow.adapters.store import _registry as registry
from creatorflow.errors import StoreError
from creatorflow.ports import AppendOrderEvent, AppendOutbox, SaveTokens, SetCursor, UpsertOrder

# Replaces every column but last_event_seq. ``xmax = 0`` holds only for a row this statement
# inserted (an ON CONFLICT update leaves our transaction id there): the standard way to tell
# "inserted" from "updated" in one round trip; the contract tests pin it.
UPSERT_ORDERS = """
INSERT INTO orders (order_id, shop_id, state, tiktok_status, priority, score,
                    tiktok_update_time, updated_at_ms, doc)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                     $7::bigint[], $8::bigint[], $9::bytea[])
ON CONFLICT (order_id) DO UPDATE SET
    shop_id = excluded.shop_id, state = excluded.state, tiktok_status = excluded.tiktok_status,
    priority = excluded.priority, score = excluded.score,
    tiktok_update_time = excluded.tiktok_update_time, updated_at_ms = excluded.updated_at_ms,
    doc = excluded.doc
RETURNING order_id, (xmax = 0) AS inserted"""

# $1/$2: each order once (sorted) with its number of events; $3..$9: the events, ``nth`` being
# the event's position (1..n) among its order's events in op order. An order that does not
# exist locks nothing and its events join nothing: the caller sees them missing and refuses.
APPEND_EVENTS = """
WITH locked AS MATERIALIZED (
    SELECT order_id, last_event_seq FROM orders
    WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE
), bumped AS (
    UPDATE orders AS o SET last_event_seq = l.last_event_seq + u.n
    FROM locked AS l JOIN unnest($1::text[], $2::bigint[]) AS u (oid, n) ON u.oid = l.order_id
    WHERE o.order_id = l.order_id
    RETURNING o.order_id, l.last_event_seq AS base
)
INSERT INTO order_events (order_id, seq, at_ms, kind, from_state, to_state, detail)
SELECT e.oid, b.base + e.nth, e.at_ms, e.kind, e.from_state, e.to_state, e.detail
FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[],
            $9::bytea[]) AS e (oid, nth, at_ms, kind, from_state, to_state, detail)
JOIN bumped AS b ON b.order_id = e.oid
RETURNING order_id, seq"""

APPEND_OUTBOX = """
INSERT INTO outbox (event_id, topic, key, payload, created_at_ms, next_attempt_at_ms)
SELECT u.eid, u.topic, u.key, u.payload, u.at, u.at
FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])
     AS u (eid, topic, key, payload, at)
ON CONFLICT (event_id) DO NOTHING RETURNING event_id"""

SET_CURSORS = """
INSERT INTO cursors (name, value, updated_at_ms)
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms"""

SAVE_TOKENS = """
INSERT INTO tiktok_tokens (shop_key, doc, updated_at_ms)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[])
ON CONFLICT (shop_key) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column (``width`` columns, also when ``rows`` is empty)."""
    return [[row[i] for row in rows] for i in range(width)]


async def upsert_orders(conn: Any, run: list[UpsertOrder]) -> list[bool]:
    """Upsert a run of orders; per op ``True`` if it created the order.

    Repeats of an id fold into one row (ON CONFLICT cannot touch a row twice): the last op's
    fields are kept, as if applied in order; only the first op of a new id reports ``True``.
    """
    last: dict[str, UpsertOrder] = {}
    for op in run:
        last[op.order_id] = op
    rows = [
        (
            o.order_id,
            o.shop_id,
            o.state,
            o.tiktok_status,
            o.priority,
            o.score,
            o.tiktok_update_time,
            o.updated_at_ms,
            o.doc,
        )
        for _, o in sorted(last.items())
    ]
    returned = await conn.fetch(UPSERT_ORDERS, *_columns(rows, 9))
    created = {row[0] for row in returned if row[1]}
    results: list[bool] = []
    for op in run:
        results.append(op.order_id in created)
        created.discard(op.order_id)  # a repeat of a new id updates it
    return results


async def append_events(conn: Any, run: list[AppendOrderEvent]) -> list[int]:
    """Journal a run of events in one statement; per op the seq assigned.

    Raises:
        StoreError: an event names an order that does not exist (the caller's transaction
            must then roll back: the statement has already numbered the others).
    """
    counts: dict[str, int] = {}
    events: list[tuple[Any, ...]] = []
    for op in run:
        nth = counts[op.order_id] = counts.get(op.order_id, 0) + 1
        events.append((op.order_id, nth, op.at_ms, op.kind, op.from_state, op.to_state, op.detail))
    orders = sorted(counts.items())
    returned = await conn.fetch(
        APPEND_EVENTS, [o for o, _ in orders], [n for _, n in orders], *_columns(events, 7)
    )
    seqs: dict[str, list[int]] = {}
    for order_id, seq in returned:
        seqs.setdefault(order_id, []).append(int(seq))
    missing = sorted(set(counts) - set(seqs))
    if missing:
        raise StoreError(f"postgres apply: AppendOrderEvent for unknown order(s) {missing}")
    for numbers in seqs.values():
        numbers.sort(reverse=True)  # pop() hands them out smallest first, in op order
    return [seqs[op.order_id].pop() for op in run]


async def append_outbox(conn: Any, run: list[AppendOutbox]) -> list[bool]:
    """Queue a run of events; per op ``True`` if new (the first op of an id wins)."""
    first: dict[str, AppendOutbox] = {}
    for op in run:
        first.setdefault(op.event_id, op)
    rows = [
        (e.event_id, e.topic, e.key, e.payload, e.created_at_ms) for _, e in sorted(first.items())
    ]
    inserted = {row[0] for row in await conn.fetch(APPEND_OUTBOX, *_columns(rows, 5))}
    results: list[bool] = []
    for op in run:
        results.append(op.event_id in inserted)
        inserted.discard(op.event_id)  # a repeat of a new id is a duplicate of it
    return results


async def set_cursors(conn: Any, run: list[SetCursor]) -> None:
    """Set a run of cursors (the last op of a name wins, as if applied in order)."""
    last = {op.name: (op.name, op.value, op.updated_at_ms) for op in run}
    await conn.execute(SET_CURSORS, *_columns(sorted(last.values()), 3))


async def save_tokens(conn: Any, run: list[SaveTokens]) -> None:
    """Save a run of token documents (the last op of a shop wins, as if applied in order)."""
    last = {op.shop_key: (op.shop_key, op.doc, op.updated_at_ms) for op in run}
    await conn.execute(SAVE_TOKENS, *_columns(sorted(last.values()), 3))


# --------------------------------------------------------------------------- appliers

registry.postgres(UpsertOrder, rank=200, key=lambda op: ("order", op.order_id), run=upsert_orders)
registry.postgres(
    AppendOrderEvent,
    rank=210,
    key=lambda op: ("order", op.order_id),
    run=append_events,
    transactional=True,  # refuses events of unknown orders after its statement ran
)
registry.postgres(AppendOutbox, rank=220, key=lambda op: ("outbox", op.event_id), run=append_outbox)
registry.postgres(SetCursor, rank=230, key=lambda op: ("cursor", op.name), run=set_cursors)
registry.postgres(SaveTokens, rank=240, key=lambda op: ("tokens", op.shop_key), run=save_tokens)
