"""SQLite adapter of the store ports: the embedded default (no external service).

Open it with :func:`open_sqlite_store`; nothing connects at import time.

Durability: WAL journal, ``synchronous=FULL`` by default (a commit is on disk when ``apply``
returns), foreign keys on. Tables are ``STRICT`` (SQLite ≥ 3.37).

Threads: sqlite3 blocks, so every call runs on a worker thread (``anyio.to_thread``). There are
two connections, each behind its own ``CapacityLimiter(1)`` so one thread at a time uses it:

* the **writer** runs ``apply`` (one ``BEGIN IMMEDIATE … COMMIT`` per call) and migrations;
* the **reader** runs every read (``get_inbox``, ``list_unprocessed``, ``get_order``, …,
  ``ping``); WAL lets it read the last commit while the writer is in the middle of the next one.
  ``claim_outbox`` writes, so it runs on the writer.

A call cancelled while its thread runs waits for the thread (the transaction either commits or
rolls back; a connection is never left mid-transaction for the next caller).

Errors: ``sqlite3.Error`` never leaves the adapter; busy/locked/I/O/can't-open/full/read-only
become StoreUnavailable, the rest StoreError (see ``_sqlite_conn``), chained ``from`` the original.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.lowlevel

from creatorflow.adapters.store._migrate import (
    apply_sqlite_migrations,
    load_migrations,
    sqlite_schema_version,
)
from creatorflow.adapters.store._sqlite_conn import (
    SYNCHRONOUS_NAMES,
    Lane,
    Synchronous,
    connect,
)
from creatorflow.adapters.store._sqlite_inventory import SqliteInventorySide
from creatorflow.adapters.store._sqlite_shipping import SqliteShippingSide
from creatorflow.adapters.store._sqlite_sql import (
    GET_INBOX,
    LIST_UNPROCESSED_AFTER,
    LIST_UNPROCESSED_FIRST,
    apply_ops,
    to_record,
    to_status,
)
from creatorflow.config import StoreConfig
from creatorflow.errors import StoreError, StoreUnavailable
from creatorflow.ports import InboxCursor, InboxRecord, InboxStatus, WriteOp, WriteResult

SQLITE_FILENAME = "creatorflow.sqlite3"


@dataclass(frozen=True, slots=True)
class SqliteDurability:
    """The durability settings in effect, read back from the writer connection."""

    journal_mode: str
    synchronous: Synchronous
    foreign_keys: bool


class SqliteStore(SqliteInventorySide, SqliteShippingSide):
    """The :class:`~creatorflow.ports.Store` (and ``SchemaMigrator``, ``LeaderElection``) on one
    SQLite file. The order-side reads and the outbox claim come from
    :class:`~creatorflow.adapters.store._sqlite_reads.SqliteOrderSide`, the inventory reads from
    :class:`~creatorflow.adapters.store._sqlite_inventory.SqliteInventorySide`.

    Made by :func:`open_sqlite_store`, which also closes it. Safe to share between tasks of one
    event loop; calls on the same connection queue up in arrival order.
    """

    def __init__(self, path: Path, writer: Lane, reader: Lane) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._leading: set[str] = set()  # names granted by try_lead (a few job names)

    # ------------------------------------------------------------------ TransactionalStore

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply every op in one ``BEGIN IMMEDIATE … COMMIT`` (one fsync); see the port.

        Waits for the writer connection, then for SQLite's write lock (up to ``busy_timeout_ms``).

        Raises:
            StoreUnavailable: locked past the busy timeout, I/O error, disk full; nothing applied.
            StoreError: an op was refused (constraint, wrong type); nothing applied.
        """
        if not ops:
            return []
        return await self._writer.run(lambda conn: apply_ops(conn, ops), "apply")

    # ------------------------------------------------------------------ InboxReader

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        """The status of one webhook, or ``None``. Reads the last commit; never waits for the
        writer. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> InboxStatus | None:
            row = conn.execute(GET_INBOX, (notification_id,)).fetchone()
            return None if row is None else to_status(row)

        return await self._reader.run(read, "get_inbox")

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        """Up to ``limit`` rows in state ``received`` strictly after ``after`` (keyset on
        ``(received_at_ms, notification_id)``, oldest first).

        Raises:
            ValueError: ``limit`` < 1 (the scan is always bounded).
            StoreUnavailable / StoreError: as for every read.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")

        def read(conn: sqlite3.Connection) -> list[InboxRecord]:
            if after is None:
                rows = conn.execute(LIST_UNPROCESSED_FIRST, (limit,))
            else:
                key = (after.received_at_ms, after.notification_id, limit)
                rows = conn.execute(LIST_UNPROCESSED_AFTER, key)
            return [to_record(row) for row in rows]

        return await self._reader.run(read, "list_unprocessed")

    # ------------------------------------------------------------------ StoreHealth

    async def ping(self) -> None:
        """Return once the database file answers ``SELECT 1``. Raises StoreUnavailable."""

        def probe(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT 1").fetchone()

        try:
            await self._reader.run(probe, "ping")
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ------------------------------------------------------------------ SchemaMigrator

    async def migrate(self) -> list[int]:
        """Apply the packaged migrations not yet applied; return their versions (``[]`` when up
        to date). Uses the writer connection, so it waits for writes in flight.

        Raises:
            StoreError: a migration failed (it is rolled back) or the database is newer.
            StoreUnavailable: the database is locked or unreachable.
        """

        def run(conn: sqlite3.Connection) -> list[int]:
            return apply_sqlite_migrations(conn, load_migrations("sqlite"))

        return await self._writer.run(run, "migrate")

    async def schema_version(self) -> int:
        """The highest applied migration version (0 for an empty database)."""
        return await self._reader.run(sqlite_schema_version, "schema_version")

    async def durability(self) -> SqliteDurability:
        """The journal mode, ``synchronous`` level and foreign-key switch of the writer."""

        def read(conn: sqlite3.Connection) -> SqliteDurability:
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
            fks = bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])
            return SqliteDurability(mode, SYNCHRONOUS_NAMES[level], fks)

        return await self._writer.run(read, "durability")

    # ------------------------------------------------------------------ LeaderElection

    async def try_lead(self, name: str) -> bool:
        """Always True: one process owns the file (WAL on a local disk), so it leads every name.
        A checkpoint; never touches the database."""
        await anyio.lowlevel.checkpoint()
        self._leading.add(name)
        return True

    async def is_leading(self, name: str) -> bool:
        """True after ``try_lead(name)`` until ``resign(name)``. A checkpoint."""
        await anyio.lowlevel.checkpoint()
        return name in self._leading

    async def resign(self, name: str) -> None:
        """Stop leading ``name`` (no-op when not leading). A checkpoint."""
        await anyio.lowlevel.checkpoint()
        self._leading.discard(name)

    async def aclose(self) -> None:
        """Close both connections after the calls already queued on them (shielded)."""
        await self._writer.aclose()
        await self._reader.aclose()


@asynccontextmanager
async def open_sqlite_store(
    path: str | os.PathLike[str],
    *,
    synchronous: Synchronous = "FULL",
    busy_timeout_ms: int = 5000,
    migrate: bool = True,
) -> AsyncIterator[SqliteStore]:
    """Open the SQLite store at ``path`` (created if missing; its directory must exist).

    Opens the writer (switching the file to WAL), then the reader, then applies pending
    migrations when ``migrate`` is true. On exit waits for queued calls, then closes both
    connections, even when cancelled.

    Raises:
        StoreUnavailable: the file cannot be opened (missing or read-only directory, locked).
        StoreError: bad settings, SQLite too old (< 3.37), or a migration failed.
    """
    if synchronous not in SYNCHRONOUS_NAMES:
        raise StoreError(f"sqlite synchronous must be one of {SYNCHRONOUS_NAMES}")
    if sqlite3.sqlite_version_info < (3, 37, 0):
        raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old; 3.37 or newer is needed")
    db = Path(path)
    writer = await anyio.to_thread.run_sync(
        lambda: connect(db, synchronous, busy_timeout_ms, writer=True)
    )
    try:
        reader = await anyio.to_thread.run_sync(
            lambda: connect(db, synchronous, busy_timeout_ms, writer=False)
        )
    except BaseException:
        await writer.aclose()
        raise
    store = SqliteStore(db, writer, reader)
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def open_sqlite_store_from_config(config: StoreConfig) -> AsyncIterator[SqliteStore]:
    """Open ``<data_dir>/creatorflow.sqlite3`` with the settings of ``[store]``, creating
    ``data_dir`` if needed. Raises like :func:`open_sqlite_store`."""
    data_dir = Path(config.data_dir)
    try:
        await anyio.to_thread.run_sync(lambda: data_dir.mkdir(parents=True, exist_ok=True))
    except OSError as exc:
        raise StoreUnavailable(f"cannot create data_dir {str(data_dir)!r}: {exc}") from exc
    async with open_sqlite_store(
        data_dir / SQLITE_FILENAME,
        synchronous=config.sqlite_synchronous,
        busy_timeout_ms=config.busy_timeout_ms,
        migrate=config.migrate_on_start,
    ) as store:
        yield store
