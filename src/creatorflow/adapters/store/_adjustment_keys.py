"""Idempotency-Keys of stock adjustments in both stores: the SQL (written once, ``{p}``
placeholders filled by :func:`~creatorflow.adapters.store._inventory_rows.dialect`), the
SQLite write functions (run inside ``apply_ops``' transaction) and the Postgres run functions.

A key is written by its SKU's actor with the adjustment it made, in the same ``apply``
(:class:`~creatorflow.ports.PutAdjustmentKey`), and deleted once expired
(:class:`~creatorflow.ports.DeleteAdjustmentKeys`, told by the inventory keeper). The store
refuses to write a key over one that is still live: whatever the actor believed, an adjustment
with that key already committed, so this one must not (last line of defence of "applied once",
like the ``0 <= reserved <= on_hand`` check).

The SQLite functions block and raise ``sqlite3.Error``; the Postgres ones raise asyncpg errors;
both raise StoreError for a live key. The callers translate and roll back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store._inventory_rows import dialect
from creatorflow.errors import StoreError
from creatorflow.ports import AdjustmentKeyRow, DeleteAdjustmentKeys, PutAdjustmentKey

COLUMNS = "sku, key, delta, reason, created_at_ms, expires_at_ms"

GET = f"SELECT {COLUMNS} FROM adjustment_keys WHERE sku = {{p}} AND key = {{p}}"

# The index adjustment_keys_by_expiry gives this order without a sort.
EXPIRED = f"""
SELECT {COLUMNS} FROM adjustment_keys WHERE expires_at_ms <= {{p}}
ORDER BY expires_at_ms, sku, key LIMIT {{p}}"""

# Bounded: a SKU with more expired keys than ``limit`` loses the rest at its next sweep.
_DELETE = """
DELETE FROM adjustment_keys WHERE sku = {p} AND key IN (
    SELECT key FROM adjustment_keys WHERE sku = {p} AND expires_at_ms <= {p}
    ORDER BY expires_at_ms, key LIMIT {p}
)"""

SQLITE_GET = dialect(GET, "?")
SQLITE_EXPIRED = dialect(EXPIRED, "?")
SQLITE_DELETE = dialect(_DELETE, "?")
PG_GET = dialect(GET, "$")
PG_EXPIRED = dialect(EXPIRED, "$")
PG_DELETE = dialect(_DELETE, "$")

_SQLITE_INSERT = f"""
INSERT INTO adjustment_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (sku, key) DO NOTHING"""

# Only over an expired row; 0 rows changed: the stored key is live.
_SQLITE_REPLACE = """
UPDATE adjustment_keys SET delta = ?, reason = ?, created_at_ms = ?, expires_at_ms = ?
WHERE sku = ? AND key = ? AND expires_at_ms <= ?"""

# A live row is left alone by the ``WHERE`` and so missing from ``RETURNING``; ``xmax = 0``:
# inserted by this statement (see UPSERT_ORDERS in ``_pg_orders``).
_PG_PUT = f"""
INSERT INTO adjustment_keys ({COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                     $6::bigint[])
ON CONFLICT (sku, key) DO UPDATE SET
    delta = excluded.delta, reason = excluded.reason, created_at_ms = excluded.created_at_ms,
    expires_at_ms = excluded.expires_at_ms
WHERE adjustment_keys.expires_at_ms <= excluded.created_at_ms
RETURNING sku, key, (xmax = 0) AS inserted"""


def to_row(row: Any) -> AdjustmentKeyRow:
    """An :class:`AdjustmentKeyRow` from a row of ``COLUMNS``."""
    sku, key, delta, reason, created, expires = row
    return AdjustmentKeyRow(
        sku=sku,
        key=key,
        delta=delta,
        reason=reason,
        created_at_ms=created,
        expires_at_ms=expires,
    )


def _live(op: PutAdjustmentKey, store: str) -> StoreError:
    return StoreError(
        f"{store} apply: Idempotency-Key {op.key!r} of SKU {op.sku!r} is still live; "
        "its adjustment was already applied"
    )


def _check_limit(op: DeleteAdjustmentKeys) -> None:
    if op.limit < 1:
        raise StoreError(f"DeleteAdjustmentKeys needs limit >= 1, got {op.limit}")


# --------------------------------------------------------------------------- SQLite


def sqlite_put(conn: sqlite3.Connection, op: PutAdjustmentKey) -> bool:
    """Insert the key, or replace an expired one; ``True`` if new. Raises StoreError when the
    stored key is still live."""
    fields = (op.delta, op.reason, op.created_at_ms, op.expires_at_ms)
    if conn.execute(_SQLITE_INSERT, (op.sku, op.key, *fields)).rowcount == 1:
        return True
    replace = (*fields, op.sku, op.key, op.created_at_ms)
    if conn.execute(_SQLITE_REPLACE, replace).rowcount == 0:
        raise _live(op, "sqlite")
    return False


def sqlite_delete(conn: sqlite3.Connection, op: DeleteAdjustmentKeys) -> int:
    """Delete up to ``op.limit`` expired keys of ``op.sku``; the number deleted."""
    _check_limit(op)
    return int(conn.execute(SQLITE_DELETE, (op.sku, op.sku, op.now_ms, op.limit)).rowcount)


# --------------------------------------------------------------------------- Postgres


async def pg_put_run(conn: Any, run: list[PutAdjustmentKey]) -> list[bool]:
    """Write a run of keys; per op ``True`` if new. Raises StoreError for a live key (the
    caller's transaction rolls back).

    One statement for the run, keys sorted (rows locked in key order). A run that repeats a
    ``(sku, key)`` (never made by the actors, which write a key once) goes one op per
    statement, so each repeat sees the one before it.
    """
    if len({(op.sku, op.key) for op in run}) < len(run):
        results: list[bool] = []
        for op in run:
            results += await pg_put_run(conn, [op])
        return results
    ordered = sorted(run, key=lambda op: (op.sku, op.key))
    table = [(k.sku, k.key, k.delta, k.reason, k.created_at_ms, k.expires_at_ms) for k in ordered]
    returned = await conn.fetch(_PG_PUT, *[[row[i] for row in table] for i in range(6)])
    written = {(row[0], row[1]): bool(row[2]) for row in returned}
    for op in ordered:
        if (op.sku, op.key) not in written:
            raise _live(op, "postgres")
    return [written[(op.sku, op.key)] for op in run]


async def pg_delete_run(conn: Any, run: list[DeleteAdjustmentKeys]) -> list[int]:
    """Delete each op's expired keys (one statement per op: sweeps are rare and small)."""
    counts: list[int] = []
    for op in run:
        _check_limit(op)
        status: str = await conn.execute(PG_DELETE, op.sku, op.sku, op.now_ms, op.limit)
        counts.append(int(status.rsplit(" ", 1)[-1]))  # "DELETE n"
    return counts


# --------------------------------------------------------------------------- appliers


def _sku_key(op: PutAdjustmentKey | DeleteAdjustmentKeys) -> tuple[str, str]:
    # One key for all of a SKU's keys: a delete touches rows it names by expiry only.
    return ("adjustment_keys", op.sku)


registry.sqlite_answering(PutAdjustmentKey, sqlite_put)
registry.sqlite_answering(DeleteAdjustmentKeys, sqlite_delete)
# A put refuses after its statement ran (a live key, a bad lifetime): transactional.
registry.postgres(DeleteAdjustmentKeys, rank=320, key=_sku_key, run=pg_delete_run)
registry.postgres(PutAdjustmentKey, rank=330, key=_sku_key, run=pg_put_run, transactional=True)
