"""The SQL of the SQLite store and the synchronous code that runs it on a worker thread.

Kept apart from :mod:`~creatorflow.adapters.store.sqlite` (threads, lifecycle, errors) so the
statements can be read, and their query plans tested, on their own. Every function here blocks
and raises ``sqlite3.Error``; the caller translates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Never, cast

from creatorflow.adapters.store import _adjustment_keys as adjustment_keys
from creatorflow.adapters.store._migrate import rollback_quietly
from creatorflow.adapters.store._sqlite_inventory import (
    append_stock_event,
    put_reservation,
    upsert_purchase_order,
    upsert_sku,
)
from creatorflow.adapters.store._sqlite_orders import (
    SAVE_TOKENS,
    SET_CURSOR,
    append_event,
    append_outbox,
    upsert_order,
)
from creatorflow.errors import StoreError
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    AppendStockEvent,
    DeleteAdjustmentKeys,
    InboxRecord,
    InboxState,
    InboxStatus,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    PutAdjustmentKey,
    PutReservation,
    SaveTokens,
    SetCursor,
    UpsertOrder,
    UpsertPurchaseOrder,
    UpsertSku,
    WriteOp,
    WriteResult,
)

INSERT_INBOX = """
INSERT INTO inbox (notification_id, type, shop_id, received_at_ms, body)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (notification_id) DO NOTHING
"""

# Processed is terminal: a second mark changes nothing (idempotent). A dead row may still be
# marked processed (an operator's replay succeeded).
MARK_PROCESSED = """
UPDATE inbox SET state = 'processed', processed_at_ms = ?, attempts = attempts + 1
WHERE notification_id = ? AND state != 'processed'
"""

MARK_FAILED = """
UPDATE inbox
SET attempts = attempts + 1, last_error = ?, state = CASE WHEN ? THEN 'dead' ELSE state END
WHERE notification_id = ? AND state != 'processed'
"""

GET_INBOX = """
SELECT notification_id, type, shop_id, received_at_ms, processed_at_ms, attempts, state,
       last_error
FROM inbox WHERE notification_id = ?
"""

# Both scans use the partial index inbox_unprocessed (tests pin the query plans). Text compares
# bytewise (BINARY collation); a Postgres adapter must order with COLLATE "C" to match.
LIST_UNPROCESSED_FIRST = """
SELECT notification_id, type, shop_id, received_at_ms, body
FROM inbox WHERE state = 'received'
ORDER BY received_at_ms, notification_id LIMIT ?
"""

LIST_UNPROCESSED_AFTER = """
SELECT notification_id, type, shop_id, received_at_ms, body
FROM inbox WHERE state = 'received' AND (received_at_ms, notification_id) > (?, ?)
ORDER BY received_at_ms, notification_id LIMIT ?
"""


def _unsupported(op: Never) -> Never:
    # Typed ``Never`` so mypy proves the match below covers WriteOp; at run time a foreign
    # object is the caller's bug, reported as a refused op rather than a crash of the writer.
    raise StoreError(f"unsupported write op: {type(op).__name__}")


def apply_ops(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Apply ``ops`` in one ``BEGIN IMMEDIATE … COMMIT``; results in the order of ``ops``.

    Inserts, upserts and journal appends run one ``execute`` (or two) each, because each needs
    its own answer ("new or duplicate", the seq; a duplicate earlier in the same batch makes a
    later one ``False``). Adjacent ops of the same kind with no answer (inbox marks, cursors,
    tokens) go through one ``executemany``. Measured at 1000 inserts per batch,
    an ``executemany`` plus a pre-``SELECT`` of existing ids saved about 9 % and cost more below
    100 per batch, so inserts stay simple.

    On any error the whole transaction is rolled back and the error propagates.
    """
    results: list[WriteResult] = []
    batch_sql = ""
    batch_rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        nonlocal batch_sql
        if batch_rows:
            conn.executemany(batch_sql, batch_rows)
            batch_rows.clear()
        batch_sql = ""

    def queue(sql: str, row: tuple[Any, ...]) -> None:
        nonlocal batch_sql
        if sql != batch_sql:
            flush()
            batch_sql = sql
        batch_rows.append(row)
        results.append(None)

    if conn.in_transaction:  # never expected; a leftover transaction must not absorb ours
        rollback_quietly(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            match op:
                case InsertInbox(record=r):
                    flush()
                    row = (r.notification_id, r.type, r.shop_id, r.received_at_ms, r.body)
                    results.append(conn.execute(INSERT_INBOX, row).rowcount == 1)
                case MarkInboxProcessed(notification_id=nid, processed_at_ms=at):
                    queue(MARK_PROCESSED, (at, nid))
                case MarkInboxFailed(notification_id=nid, error=error, dead=dead):
                    queue(MARK_FAILED, (error, dead, nid))
                case UpsertOrder():
                    flush()
                    results.append(upsert_order(conn, op))
                case AppendOrderEvent():
                    flush()
                    results.append(append_event(conn, op))
                case AppendOutbox():
                    flush()
                    results.append(append_outbox(conn, op))
                case SetCursor(name=name, value=value, updated_at_ms=at):
                    queue(SET_CURSOR, (name, value, at))
                case SaveTokens(shop_key=key, doc=doc, updated_at_ms=at):
                    queue(SAVE_TOKENS, (key, doc, at))
                case UpsertSku():
                    flush()
                    results.append(upsert_sku(conn, op))
                case PutReservation():
                    flush()
                    results.append(put_reservation(conn, op))
                case AppendStockEvent():
                    flush()
                    results.append(append_stock_event(conn, op))
                case UpsertPurchaseOrder():
                    flush()
                    results.append(upsert_purchase_order(conn, op))
                case PutAdjustmentKey():
                    flush()
                    results.append(adjustment_keys.sqlite_put(conn, op))
                case DeleteAdjustmentKeys():
                    flush()
                    results.append(adjustment_keys.sqlite_delete(conn, op))
                case _:
                    _unsupported(op)
        flush()
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise
    return results


def to_status(row: tuple[Any, ...]) -> InboxStatus:
    """An :class:`InboxStatus` from a ``GET_INBOX`` row."""
    nid, type_, shop, received, processed, attempts, state, last_error = row
    return InboxStatus(
        notification_id=nid,
        type=type_,
        shop_id=shop,
        received_at_ms=received,
        processed_at_ms=processed,
        attempts=attempts,
        state=cast(InboxState, state),
        last_error=last_error,
    )


def to_record(row: tuple[Any, ...]) -> InboxRecord:
    """An :class:`InboxRecord` from a ``LIST_UNPROCESSED_*`` row."""
    nid, type_, shop, received, body = row
    return InboxRecord(
        notification_id=nid, type=type_, shop_id=shop, received_at_ms=received, body=body
    )
