"""Postgres runner of the versioned migrations (loading and numbering: :mod:`._migrate`).

Same files layout (``migrations/postgres/NNNN_name.sql``), same numbering and the same
``schema_migrations(version, name, applied_at)`` table as SQLite, created in the connection's
current schema (the first schema of ``search_path``).

Two processes starting at once must not both apply a migration: every step runs in its own
transaction that first takes a *transaction-level* advisory lock (``pg_advisory_xact_lock``)
keyed on the current schema, then re-reads ``schema_migrations``. The lock is released by the
commit or rollback itself, so a crash can never leave it held. Other schemas of the same
database migrate independently.

Everything here raises asyncpg errors (the caller translates), except StoreError for a
database newer than this build.
"""

from __future__ import annotations

import hashlib
from typing import Any

from creatorflow.adapters.store._migrate import Migration
from creatorflow.errors import StoreError

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     NOT NULL PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def advisory_key(kind: str, schema: str, name: str = "") -> int:
    """A stable signed 64-bit advisory-lock key for ``(kind, schema, name)``.

    BLAKE2b rather than Postgres' ``hashtext``: the key must not change across server versions,
    or two builds running side by side during an upgrade would not exclude each other.
    """
    material = "\x00".join(("creatorflow", kind, schema, name)).encode()
    return int.from_bytes(hashlib.blake2b(material, digest_size=8).digest(), "big", signed=True)


async def pg_schema_version(conn: Any) -> int:
    """Highest applied migration version in the current schema; 0 if never migrated."""
    # Two queries: Postgres resolves every table of a statement before running it, so one
    # CASE over a missing table would fail rather than answer 0.
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def apply_postgres_migrations(
    conn: Any, migrations: tuple[Migration, ...], lock_key: int
) -> list[int]:
    """Apply the migrations not yet recorded, in order, each in its own transaction holding
    the advisory lock ``lock_key``; return the versions applied now (``[]`` when up to date).

    Raises:
        StoreError: the database has a version this build does not know (it is newer).
        asyncpg errors: a statement failed (that migration is rolled back; earlier ones stay).
    """
    async with conn.transaction():
        # CREATE TABLE IF NOT EXISTS is not safe against a concurrent twin; the lock makes it so.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
        await conn.execute(_CREATE_SCHEMA_MIGRATIONS)
        recorded = {int(v) for v in await _recorded(conn)}
    unknown = sorted(recorded - {m.version for m in migrations})
    if unknown:
        raise StoreError(
            f"database has schema version(s) {unknown} that this build does not know; "
            "it was migrated by a newer CreatorFlow"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key)
            if migration.version in {int(v) for v in await _recorded(conn)}:
                continue  # another process applied it while we waited for the lock
            await conn.execute(migration.sql)  # simple protocol: a multi-statement script
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        applied.append(migration.version)
    return applied


async def _recorded(conn: Any) -> list[int]:
    return [int(row[0]) for row in await conn.fetch("SELECT version FROM schema_migrations")]
