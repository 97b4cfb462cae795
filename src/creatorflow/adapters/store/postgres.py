"""Postgres adapter of the store ports: the shared source of truth of a multi-process deployment.

Open it with :func:`open_postgres_store` (or ``…_from_config``); nothing connects at import
time. asyncpg needs asyncio: opening it under trio raises ConfigError.

Connections: an asyncpg pool (``min_size``..``max_size``) serves ``apply`` and the reads; one
more connection, opened on the first ``try_lead`` and kept outside the pool, holds the
leadership locks (see ``_pg_leader``). Every statement has a client-side ``command_timeout_s``.

Durability: one ``apply`` = one transaction (see ``_pg_apply`` for how a batch becomes one to a
few statements), committed with the server's ``synchronous_commit`` (``on`` by default: on disk,
and on synchronous standbys if configured, when ``apply`` returns).

Recovery: the pool replaces a connection it finds closed on the next acquire, so after a server
restart the next call succeeds once the server answers; no restart of the app. A call that
finds its connection dead *before anything was sent* is retried on another one; a read is also
retried after losing its connection mid-way (reads are idempotent). ``apply`` is never retried
once its statement may have reached the server: when the connection dies during a commit, the
outcome is unknown (StoreUnavailable; the writer's asker retries and the inbox dedupes).

Errors: no asyncpg exception leaves the adapter; see ``_pg_errors`` for the mapping onto
StoreUnavailable / StoreError, chained ``from`` the original.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import asyncpg  # type: ignore[import-untyped]
import sniffio

from creatorflow.adapters.store._migrate import load_migrations
from creatorflow.adapters.store._pg_apply import apply_ops
from creatorflow.adapters.store._pg_errors import translating
from creatorflow.adapters.store._pg_inventory import PgInventorySide
from creatorflow.adapters.store._pg_leader import PgLeader
from creatorflow.adapters.store._pg_migrate import (
    advisory_key,
    apply_postgres_migrations,
    pg_schema_version,
)
from creatorflow.adapters.store._pg_shipping import PgShippingSide
from creatorflow.adapters.store._pg_sql import (
    GET_INBOX,
    LIST_UNPROCESSED_AFTER,
    LIST_UNPROCESSED_FIRST,
    to_record,
    to_status,
)
from creatorflow.config import StoreConfig
from creatorflow.errors import ConfigError, StoreError, StoreUnavailable
from creatorflow.ports import InboxCursor, InboxRecord, InboxStatus, WriteOp, WriteResult

_CLOSE_GRACE_S = 10.0
TRIO_REFUSED = (
    "config: store.database_url: the Postgres store needs the asyncio backend "
    '(server.backend = "asyncio")'
)


class PostgresStore(PgInventorySide, PgShippingSide):
    """The :class:`~creatorflow.ports.Store`, ``SchemaMigrator`` and ``LeaderElection`` on one
    Postgres schema (the first of ``search_path``). The call wrapper (``_call``), the
    order-side reads and the outbox claim come from
    :class:`~creatorflow.adapters.store._pg_reads.PgOrderSide`, the inventory reads from
    :class:`~creatorflow.adapters.store._pg_inventory.PgInventorySide`.

    Made by :func:`open_postgres_store`, which also closes it. Safe to share between tasks of
    one event loop; concurrent calls use different pooled connections (up to ``max_size``, then
    they wait for one).
    """

    def __init__(self, pool: Any, leader: PgLeader, schema: str) -> None:
        self.schema = schema
        self._pool = pool
        self._leader = leader

    # ------------------------------------------------------------------ TransactionalStore

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply every op in one transaction; see the port. Waits for a pooled connection.

        Raises:
            StoreUnavailable: unreachable, connection lost, timed out, too many connections;
                nothing applied, except when the connection died during the commit (unknown).
            StoreError: an op was refused (constraint, wrong type); nothing applied.
        """
        if not ops:
            return []
        return await self._call(lambda conn: apply_ops(conn, ops), "apply")

    # ------------------------------------------------------------------ InboxReader

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        """The status of one webhook, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> InboxStatus | None:
            row = await conn.fetchrow(GET_INBOX, notification_id)
            return None if row is None else to_status(row)

        return await self._call(read, "get_inbox", idempotent=True)

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        """Up to ``limit`` rows in state ``received`` strictly after ``after`` (keyset on
        ``(received_at_ms, notification_id)``, ids bytewise, oldest first).

        Raises:
            ValueError: ``limit`` < 1 (the scan is always bounded).
            StoreUnavailable / StoreError: as for every read.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")

        async def read(conn: Any) -> list[InboxRecord]:
            if after is None:
                rows = await conn.fetch(LIST_UNPROCESSED_FIRST, limit)
            else:
                key = (after.received_at_ms, after.notification_id, limit)
                rows = await conn.fetch(LIST_UNPROCESSED_AFTER, *key)
            return [to_record(row) for row in rows]

        return await self._call(read, "list_unprocessed", idempotent=True)

    # ------------------------------------------------------------------ StoreHealth

    async def ping(self) -> None:
        """Return once the server answers ``SELECT 1``. Raises StoreUnavailable."""
        try:
            await self._call(lambda conn: conn.fetchval("SELECT 1"), "ping", idempotent=True)
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from exc

    # ------------------------------------------------------------------ SchemaMigrator

    async def migrate(self) -> list[int]:
        """Apply the packaged migrations not yet applied; return their versions (``[]`` when up
        to date). Serialised across processes by a transaction-level advisory lock.

        Raises:
            StoreError: a migration failed (it is rolled back) or the database is newer.
            StoreUnavailable: the database cannot be reached.
        """
        migrations = await anyio.to_thread.run_sync(load_migrations, "postgres")
        key = advisory_key("migrate", self.schema)
        return await self._call(
            lambda conn: apply_postgres_migrations(conn, migrations, key), "migrate"
        )

    async def schema_version(self) -> int:
        """The highest applied migration version (0 for a schema never migrated)."""
        return await self._call(pg_schema_version, "schema_version", idempotent=True)

    # ------------------------------------------------------------------ LeaderElection

    async def try_lead(self, name: str) -> bool:
        """Lead ``name`` unless another session does; True if this store leads it now.

        Raises StoreUnavailable when the database cannot be reached (then nobody here leads).
        """
        return await self._leader.try_lead(name)

    async def is_leading(self, name: str) -> bool:
        """Whether this store still leads ``name`` (one round trip; False once the leadership
        connection is lost)."""
        return await self._leader.is_leading(name)

    async def resign(self, name: str) -> None:
        """Give up ``name`` (no-op when not leading)."""
        await self._leader.resign(name)

    async def aclose(self) -> None:
        """Release leadership, then close the pool: gracefully for up to 10 s (calls in flight
        finish), then by force. Shielded from cancellation."""
        await self._leader.aclose()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(_CLOSE_GRACE_S):
                try:
                    await self._pool.close()
                    return
                except Exception:
                    pass  # a broken connection must not stop the others closing
            self._pool.terminate()


async def _keep_session(conn: Any) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own rollback of an open transaction.

    The default (``RESET ALL; UNLISTEN *; pg_advisory_unlock_all(); …``) costs a round trip on
    every release (measured: a one-row ``apply`` took 610 µs with it, 440 µs without). This
    adapter never changes session state on pooled connections (no ``SET``, ``LISTEN``, cursors
    or session locks: migrations take transaction-level locks, leadership has its own
    connection), so there is nothing to reset.
    """


@asynccontextmanager
async def open_postgres_store(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    command_timeout_s: float = 30.0,
    connect_timeout_s: float = 5.0,
    application_name: str = "creatorflow",
    server_settings: Mapping[str, str] | None = None,
    migrate: bool = True,
) -> AsyncIterator[PostgresStore]:
    """Open a pool on ``url`` (``postgresql://user@host:port/db``), then apply pending
    migrations when ``migrate`` is true. On exit releases leadership and closes the pool.

    ``server_settings`` are session settings of every connection (``search_path`` picks the
    schema); ``application_name`` shows in ``pg_stat_activity``.

    Raises:
        ConfigError: not running on asyncio (asyncpg needs it).
        StoreUnavailable: the server cannot be reached in ``connect_timeout_s`` (refused, bad
            host, starting up, too many connections).
        StoreError: bad settings, unknown database, refused login, or a migration failed.
    """
    if sniffio.current_async_library() != "asyncio":
        raise ConfigError(TRIO_REFUSED)
    if not 0 <= min_size <= max_size or max_size < 1:
        raise StoreError(f"postgres pool sizes must be 0 <= min <= max, max >= 1: {min_size=}")
    settings = {"application_name": application_name, **(server_settings or {})}
    options: dict[str, Any] = {
        "timeout": connect_timeout_s,
        "command_timeout": command_timeout_s,
        "server_settings": settings,
    }
    with translating("open"):
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, reset=_keep_session, **options
        )
    try:
        with translating("open"):
            schema = await pool.fetchval("SELECT current_schema()")
        if schema is None:
            raise StoreError("postgres open: no schema of search_path exists")

        async def connect() -> Any:
            return await asyncpg.connect(url, **options)

        store = PostgresStore(pool, PgLeader(connect, str(schema)), str(schema))
    except BaseException:
        pool.terminate()
        raise
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.aclose()


@asynccontextmanager
async def open_postgres_store_from_config(config: StoreConfig) -> AsyncIterator[PostgresStore]:
    """Open the store at ``[store] database_url`` with the ``pg_*`` settings of ``[store]``.

    Raises:
        ConfigError: ``database_url`` is empty, pool sizes disagree, or not on asyncio.
        StoreUnavailable / StoreError: as :func:`open_postgres_store`.
    """
    if not config.database_url:
        raise ConfigError("config: store.database_url: empty; the Postgres store needs a URL")
    if config.pg_pool_min_size > config.pg_pool_max_size:
        raise ConfigError(
            f"config: store.pg_pool_min_size: {config.pg_pool_min_size} is larger than "
            f"store.pg_pool_max_size ({config.pg_pool_max_size})"
        )
    async with open_postgres_store(
        config.database_url,
        min_size=config.pg_pool_min_size,
        max_size=config.pg_pool_max_size,
        command_timeout_s=config.pg_command_timeout_s,
        connect_timeout_s=config.pg_connect_timeout_s,
        migrate=config.migrate_on_start,
    ) as store:
        yield store
