"""The SQL of the SQLite store and the synchronous code that runs it on a worker thread.

Kept apart from :mod:`~creatorflow.adapters.store.sqlite` (threads, lifecycle, errors) so the
statements can be read, and their query plans tested, on their own. Every function here blocks
and raises ``sqlite3.Error``; the caller translates.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, cast

# Imported for their appliers (each module registers how its ops are applied).
from creatorflow.adapters.store import (  # noqa: F401
    _adjustment_keys,
    _sqlite_inventory,
    _sqlite_orders,
    _sqlite_shipping,
)
from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store._migrate import rollback_quietly
from creatorflow.errors import StoreError
from creatorflow.ports import (
    InboxRecord,
    InboxState,
    InboxStatus,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
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


def apply_ops(conn: sqlite3.Connection, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Apply ``ops`` in one ``BEGIN IMMEDIATE … COMMIT``; results in the order of ``ops``.

    Each op is applied by its registered applier (``_registry.SQLITE``). Inserts, upserts and
    journal appends run one ``execute`` (or two) each, because each needs its own answer ("new
    or duplicate", the seq; a duplicate earlier in the same batch makes a later one ``False``).
    Adjacent ops of the same kind with no answer (inbox marks, cursors, tokens) go through one
    ``executemany``. Measured at 1000 inserts per batch, an ``executemany`` plus a pre-``SELECT``
    of existing ids saved about 9 % and cost more below 100 per batch, so inserts stay simple.

    On any error the whole transaction is rolled back and the error propagates; an op with no
    applier is refused (StoreError), never a crash of the writer.
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

    if conn.in_transaction:  # never expected; a leftover transaction must not absorb ours
        rollback_quietly(conn)
    conn.execute("BEGIN IMMEDIATE")
    try:
        for op in ops:
            applier = registry.SQLITE.get(type(op))
            if applier is None:
                raise StoreError(f"unsupported write op: {type(op).__name__}")
            if applier.run is not None:
                flush()
                results.append(applier.run(conn, op))
                continue
            assert applier.row is not None
            if applier.sql != batch_sql:
                flush()
                batch_sql = applier.sql
            batch_rows.append(applier.row(op))
            results.append(None)
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


# --------------------------------------------------------------------------- appliers

registry.sqlite_answering(
    InsertInbox,
    lambda conn, op: (
        conn.execute(
            INSERT_INBOX,
            (
                op.record.notification_id,
                op.record.type,
                op.record.shop_id,
                op.record.received_at_ms,
                op.record.body,
            ),
        ).rowcount
        == 1
    ),
)
registry.sqlite_batched(
    MarkInboxProcessed, MARK_PROCESSED, lambda op: (op.processed_at_ms, op.notification_id)
)
registry.sqlite_batched(
    MarkInboxFailed, MARK_FAILED, lambda op: (op.error, op.dead, op.notification_id)
)
