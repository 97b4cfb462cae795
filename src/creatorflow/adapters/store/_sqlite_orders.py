"""The SQL of the SQLite store for orders, their journal, the outbox, cursors and tokens.

The write functions run one op on the writer connection inside the transaction that
:func:`~creatorflow.adapters.store._sqlite_sql.apply_ops` opened; the read functions run on the
reader connection. Everything here blocks and raises ``sqlite3.Error`` (or StoreError for an op
the store refuses by itself); the caller translates and rolls back.

Journal numbering: ``orders.last_event_seq`` is the per-order counter. An event bumps it with
``UPDATE … RETURNING`` and inserts the event with the number returned, in the same transaction;
SQLite has one writer at a time, so no two transactions can interleave there.
"""

from __future__ import annotations

import sqlite3

from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store._migrate import rollback_quietly
from creatorflow.adapters.store._rows import (
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    OUTBOX_COLUMNS,
    to_outbox,
)
from creatorflow.errors import StoreError
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    OutboxRow,
    SaveTokens,
    SetCursor,
    UpsertOrder,
)

INSERT_ORDER = f"""
INSERT INTO orders ({ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_id) DO NOTHING
"""

# Every column but order_id and last_event_seq (the journal counter is the journal's own).
UPDATE_ORDER = """
UPDATE orders SET shop_id = ?, state = ?, tiktok_status = ?, priority = ?, score = ?,
       tiktok_update_time = ?, updated_at_ms = ?, doc = ?
WHERE order_id = ?
"""

BUMP_EVENT_SEQ = """
UPDATE orders SET last_event_seq = last_event_seq + 1 WHERE order_id = ? RETURNING last_event_seq
"""

INSERT_EVENT = """
INSERT INTO order_events (order_id, seq, at_ms, kind, from_state, to_state, detail)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""

INSERT_OUTBOX = """
INSERT INTO outbox (event_id, topic, key, payload, created_at_ms, next_attempt_at_ms)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO NOTHING
"""

SET_CURSOR = """
INSERT INTO cursors (name, value, updated_at_ms) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at_ms = excluded.updated_at_ms
"""

SAVE_TOKENS = """
INSERT INTO tiktok_tokens (shop_key, doc, updated_at_ms) VALUES (?, ?, ?)
ON CONFLICT (shop_key) DO UPDATE SET doc = excluded.doc, updated_at_ms = excluded.updated_at_ms
"""

GET_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?"

ORDER_EVENTS = f"""
SELECT {EVENT_COLUMNS} FROM order_events WHERE order_id = ? ORDER BY seq LIMIT ?
"""

GET_CURSOR = "SELECT value FROM cursors WHERE name = ?"
LOAD_TOKENS = "SELECT doc FROM tiktok_tokens WHERE shop_key = ?"

# Uses the index outbox_due (state, next_attempt_at_ms).
DUE_OUTBOX = """
SELECT event_id FROM outbox WHERE state = 'pending' AND next_attempt_at_ms <= ?
ORDER BY next_attempt_at_ms, event_id LIMIT ?
"""

LEASE_OUTBOX = f"""
UPDATE outbox SET next_attempt_at_ms = ? WHERE event_id = ? RETURNING {OUTBOX_COLUMNS}
"""


def upsert_order(conn: sqlite3.Connection, op: UpsertOrder) -> bool:
    """Insert or replace one order; ``True`` if it is new."""
    fields = (
        op.shop_id,
        op.state,
        op.tiktok_status,
        op.priority,
        op.score,
        op.tiktok_update_time,
        op.updated_at_ms,
        op.doc,
    )
    if conn.execute(INSERT_ORDER, (op.order_id, *fields)).rowcount == 1:
        return True
    conn.execute(UPDATE_ORDER, (*fields, op.order_id))
    return False


def append_event(conn: sqlite3.Connection, op: AppendOrderEvent) -> int:
    """Journal one event with the order's next seq; return the seq.

    Raises:
        StoreError: the order does not exist.
    """
    row = conn.execute(BUMP_EVENT_SEQ, (op.order_id,)).fetchone()
    if row is None:
        raise StoreError(f"sqlite apply: AppendOrderEvent for unknown order {op.order_id!r}")
    seq = int(row[0])
    event = (op.order_id, seq, op.at_ms, op.kind, op.from_state, op.to_state, op.detail)
    conn.execute(INSERT_EVENT, event)
    return seq


def append_outbox(conn: sqlite3.Connection, op: AppendOutbox) -> bool:
    """Queue one event unless its id is there; ``True`` if new."""
    row = (op.event_id, op.topic, op.key, op.payload, op.created_at_ms, op.created_at_ms)
    return bool(conn.execute(INSERT_OUTBOX, row).rowcount == 1)


def list_orders_sql(state: str | None, priority: str | None, after: str | None) -> str:
    """The keyset scan for :meth:`list_orders` with these filters; parameters in the order
    state, priority, after, limit (absent filters take no parameter)."""
    tests = ("state = ?", state), ("priority = ?", priority), ("order_id > ?", after)
    where = [test for test, value in tests if value is not None]
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    return f"SELECT {ORDER_COLUMNS} FROM orders {condition}ORDER BY order_id LIMIT ?"


def claim_outbox(
    conn: sqlite3.Connection, now_ms: int, limit: int, lease_ms: int
) -> list[OutboxRow]:
    """Lease up to ``limit`` due pending events in one ``BEGIN IMMEDIATE`` transaction."""
    if conn.in_transaction:  # never expected; a leftover transaction must not absorb ours
        rollback_quietly(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        ids = [row[0] for row in conn.execute(DUE_OUTBOX, (now_ms, limit))]
        until = now_ms + lease_ms
        claimed = [to_outbox(conn.execute(LEASE_OUTBOX, (until, i)).fetchone()) for i in ids]
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise
    return claimed


# --------------------------------------------------------------------------- appliers

registry.sqlite_answering(UpsertOrder, upsert_order)
registry.sqlite_answering(AppendOrderEvent, append_event)
registry.sqlite_answering(AppendOutbox, append_outbox)
registry.sqlite_batched(SetCursor, SET_CURSOR, lambda op: (op.name, op.value, op.updated_at_ms))
registry.sqlite_batched(SaveTokens, SAVE_TOKENS, lambda op: (op.shop_key, op.doc, op.updated_at_ms))
