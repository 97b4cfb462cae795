"""Versioned SQL migrations: numbered files, applied in order, each in its own transaction.

Files live in ``migrations/<dialect>/NNNN_name.sql`` inside this package and are read with
:mod:`importlib.resources`, so they work from a wheel as well as from a checkout. Versions start
at 1 and have no gaps (a gap means a lost file). Applied versions are recorded in
``schema_migrations(version, name, applied_at)`` in the same transaction as the migration's own
statements, so a crash leaves a migration either fully applied and recorded, or neither.

Loading (:func:`load_migrations`) is dialect-neutral; applying (:func:`apply_sqlite_migrations`)
is SQLite's and runs synchronously on a worker thread that owns the writer connection. The
Postgres runner (async, serialised by an advisory lock) is ``_pg_migrate``, kept apart so this
module never imports asyncpg.
Migration files must not contain transaction control or ``PRAGMA`` statements.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files

from creatorflow.errors import StoreError

_PACKAGE = "creatorflow.adapters.store"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``0001_init.sql`` is version 1, name ``init``."""

    version: int
    name: str
    sql: str


def load_migrations(dialect: str) -> tuple[Migration, ...]:
    """Read every migration of ``dialect`` shipped in the package, ordered by version.

    Blocks on file I/O (call it from a worker thread in async code).

    Raises:
        StoreError: a ``.sql`` file is misnamed, a version repeats, or versions have a gap.
    """
    root = files(_PACKAGE).joinpath("migrations", dialect)
    found: list[Migration] = []
    for entry in root.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise StoreError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise StoreError(
                f"{dialect} migrations must be numbered 1, 2, 3, … without gaps or repeats; "
                f"expected {expected:04d}, found {migration.version:04d}_{migration.name}"
            )
    return tuple(found)


def split_statements(sql: str) -> list[str]:
    """Cut a script into single statements (``CREATE TRIGGER … END;`` stays whole).

    Raises:
        StoreError: the script ends with an unterminated statement.
    """
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if any(s.strip() and not s.strip().startswith("--") for s in buffer.splitlines()):
        raise StoreError(f"migration ends with an unterminated statement: {buffer.strip()[:80]!r}")
    return statements


def sqlite_schema_version(conn: sqlite3.Connection) -> int:
    """Highest applied migration version, 0 for a database never migrated. Blocks."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def apply_sqlite_migrations(
    conn: sqlite3.Connection, migrations: tuple[Migration, ...]
) -> list[int]:
    """Apply the migrations not yet recorded, in order; return the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each migration runs in its
    own ``BEGIN IMMEDIATE`` transaction and is re-checked inside it, so two processes migrating
    the same file at once apply each version exactly once. Idempotent: a second call returns
    ``[]``. Blocks (run it on the writer's worker thread).

    Raises:
        StoreError: the database has a version this build does not know (it is newer), or a
            statement failed (that migration is rolled back; earlier ones stay applied).
        sqlite3.Error: left for the caller to translate (locked, I/O).
    """
    conn.execute(_CREATE_SCHEMA_MIGRATIONS)
    known = {m.version for m in migrations}
    recorded = {int(v) for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    unknown = sorted(recorded - known)
    if unknown:
        raise StoreError(
            f"database has schema version(s) {unknown} that this build does not know; "
            "it was migrated by a newer CreatorFlow"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version in recorded:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            done = conn.execute(
                "SELECT 1 FROM schema_migrations WHERE version = ?", (migration.version,)
            ).fetchone()
            if done is None:
                for statement in split_statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    (migration.version, migration.name),
                )
                applied.append(migration.version)
            conn.execute("COMMIT")
        except BaseException:
            rollback_quietly(conn)
            raise
    return applied


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if any, without masking the error being handled.

    SQLite may already have rolled back on its own (``SQLITE_FULL``, I/O errors); a failing
    ``ROLLBACK`` then says nothing the original error does not.
    """
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
