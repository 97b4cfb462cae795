"""The inbox SQL of the Postgres store and the code that applies a run of inbox ops.

Kept apart from :mod:`~creatorflow.adapters.store.postgres` (pool, lifecycle, errors) so the
statements can be read on their own. Everything here raises asyncpg errors; the caller
translates. How a batch is cut into runs of one kind, each one statement, is ``_pg_apply``'s
business (the order-side runs are in ``_pg_orders``); a batch that is one statement needs no
``BEGIN``/``COMMIT``. Measured on the dev box (Postgres 15 on 127.0.0.1, asyncpg 0.32, one
connection, µs per batch)::

    inserts          1 row   50 rows  500 rows
    unnest            457     1151      7259
    unnest + BEGIN    717     1320      8845     (the two extra round trips)
    executemany        -      1740     12131     (in a transaction; no per-row result)
    one-row VALUES    372       -         -

    marks            1 row   50 rows  500 rows
    unnest UPDATE     417      884      4939
    executemany       324     1195     11505
    one-row UPDATE    319       -         -

So a run of one op uses a one-row statement and a longer run passes one array per column to
``unnest``.
"""

from __future__ import annotations

from typing import Any, cast

from creatorflow.adapters.store import _registry as registry
from creatorflow.ports import (
    InboxRecord,
    InboxState,
    InboxStatus,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    WriteResult,
)

_INSERT_COLUMNS = "INSERT INTO inbox (notification_id, type, shop_id, received_at_ms, body)"

INSERT_ONE = f"""{_INSERT_COLUMNS}
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (notification_id) DO NOTHING RETURNING notification_id"""

INSERT_MANY = f"""{_INSERT_COLUMNS}
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bytea[])
ON CONFLICT (notification_id) DO NOTHING RETURNING notification_id"""

# Processed is terminal (idempotent); a dead row may still be marked processed (a replay).
MARK_PROCESSED_ONE = """
UPDATE inbox SET state = 'processed', processed_at_ms = $2, attempts = attempts + 1
WHERE notification_id = $1 AND state <> 'processed'"""

MARK_PROCESSED_MANY = """
UPDATE inbox AS i SET state = 'processed', processed_at_ms = u.at, attempts = i.attempts + 1
FROM unnest($1::text[], $2::bigint[]) AS u (nid, at)
WHERE i.notification_id = u.nid AND i.state <> 'processed'"""

# $2 failures folded into one update: attempts + n, the last error, dead if any said dead.
MARK_FAILED_ONE = """
UPDATE inbox SET attempts = attempts + $2, last_error = $3,
       state = CASE WHEN $4::boolean THEN 'dead' ELSE state END
WHERE notification_id = $1 AND state <> 'processed'"""

MARK_FAILED_MANY = """
UPDATE inbox AS i SET attempts = i.attempts + u.n, last_error = u.error,
       state = CASE WHEN u.dead THEN 'dead' ELSE i.state END
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::boolean[]) AS u (nid, n, error, dead)
WHERE i.notification_id = u.nid AND i.state <> 'processed'"""

GET_INBOX = """
SELECT notification_id, type, shop_id, received_at_ms, processed_at_ms, attempts, state,
       last_error
FROM inbox WHERE notification_id = $1"""

# Both scans use the partial index inbox_unprocessed; notification_id is COLLATE "C", so ids
# compare bytewise exactly as SQLite's BINARY collation does.
LIST_UNPROCESSED_FIRST = """
SELECT notification_id, type, shop_id, received_at_ms, body
FROM inbox WHERE state = 'received'
ORDER BY received_at_ms, notification_id LIMIT $1"""

LIST_UNPROCESSED_AFTER = """
SELECT notification_id, type, shop_id, received_at_ms, body
FROM inbox WHERE state = 'received' AND (received_at_ms, notification_id) > ($1, $2)
ORDER BY received_at_ms, notification_id LIMIT $3"""


async def insert_run(conn: Any, run: list[InsertInbox]) -> list[WriteResult]:
    # Only the first op of an id may insert it; a repeat in the same run sees that row: False.
    first: dict[str, InboxRecord] = {}
    for op in run:
        first.setdefault(op.record.notification_id, op.record)
    # Rows are locked in id order in every transaction, so concurrent group commits (up to
    # store.pg_max_concurrent_commits) cannot deadlock on overlapping ids.
    records = sorted(first.values(), key=lambda r: r.notification_id)
    if len(records) == 1:
        r = records[0]
        row = await conn.fetchrow(
            INSERT_ONE, r.notification_id, r.type, r.shop_id, r.received_at_ms, r.body
        )
        inserted: set[str] = set() if row is None else {row[0]}
    else:
        columns = (
            [r.notification_id for r in records],
            [r.type for r in records],
            [r.shop_id for r in records],
            [r.received_at_ms for r in records],
            [r.body for r in records],
        )
        inserted = {row[0] for row in await conn.fetch(INSERT_MANY, *columns)}
    results: list[WriteResult] = []
    for op in run:
        nid = op.record.notification_id
        results.append(nid in inserted)
        inserted.discard(nid)  # a repeat of a new id is a duplicate of it
    return results


async def processed_run(conn: Any, run: list[MarkInboxProcessed]) -> None:
    # The first mark of an id wins; a repeat finds it processed and changes nothing.
    first: dict[str, int] = {}
    for op in run:
        first.setdefault(op.notification_id, op.processed_at_ms)
    if len(first) == 1:
        [(nid, at)] = first.items()
        await conn.execute(MARK_PROCESSED_ONE, nid, at)
    else:
        ordered = sorted(first.items())  # id order: see insert_run
        await conn.execute(
            MARK_PROCESSED_MANY, [nid for nid, _ in ordered], [at for _, at in ordered]
        )


async def failed_run(conn: Any, run: list[MarkInboxFailed]) -> None:
    # Folding repeats is exact: failures never make a row processed, so each one counts.
    folded: dict[str, tuple[int, str, bool]] = {}
    for op in run:
        n, _, dead = folded.get(op.notification_id, (0, "", False))
        folded[op.notification_id] = (n + 1, op.error, dead or op.dead)
    if len(folded) == 1:
        [(nid, (n, error, dead))] = folded.items()
        await conn.execute(MARK_FAILED_ONE, nid, n, error, dead)
    else:
        ordered = sorted(folded.items())  # id order: see insert_run
        await conn.execute(
            MARK_FAILED_MANY,
            [nid for nid, _ in ordered],
            [v[0] for _, v in ordered],
            [v[1] for _, v in ordered],
            [v[2] for _, v in ordered],
        )


def to_status(row: Any) -> InboxStatus:
    """An :class:`InboxStatus` from a ``GET_INBOX`` row."""
    return InboxStatus(
        notification_id=row[0],
        type=row[1],
        shop_id=row[2],
        received_at_ms=row[3],
        processed_at_ms=row[4],
        attempts=row[5],
        state=cast(InboxState, row[6]),
        last_error=row[7],
    )


def to_record(row: Any) -> InboxRecord:
    """An :class:`InboxRecord` from a ``LIST_UNPROCESSED_*`` row."""
    return InboxRecord(
        notification_id=row[0], type=row[1], shop_id=row[2], received_at_ms=row[3], body=row[4]
    )


# --------------------------------------------------------------------------- appliers


def _inbox_key(op: InsertInbox | MarkInboxProcessed | MarkInboxFailed) -> tuple[str, str]:
    nid = op.record.notification_id if isinstance(op, InsertInbox) else op.notification_id
    return ("inbox", nid)


registry.postgres(InsertInbox, rank=100, key=_inbox_key, run=insert_run)
registry.postgres(MarkInboxProcessed, rank=110, key=_inbox_key, run=processed_run)
registry.postgres(MarkInboxFailed, rank=120, key=_inbox_key, run=failed_run)
