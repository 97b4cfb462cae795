"""Ports: the small interfaces actors use to reach the outside world.

Each port is a ``typing.Protocol`` of one to four methods; adapters in ``adapters/`` implement
them (``SqliteStore`` now, ``PostgresStore`` later) and ``app.py`` wires them in. Callers own
timeouts (``anyio.fail_after``); ports take none. Ports raise only errors from
``creatorflow.errors`` (``StoreUnavailable``, ``StoreError``), never driver exceptions.

Nothing here is SQL-specific: a write is a list of :data:`WriteOp` values applied in one
transaction, so an adapter is free to use ``executemany``, ``COPY`` or ``ON CONFLICT`` as it likes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    """Wall-clock time for logic that tests must control."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- inbox records


class InboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook as received: what the inbox stores before we answer 200."""

    notification_id: str
    type: int
    shop_id: str
    received_at_ms: int
    body: bytes


InboxState = Literal["received", "processed", "dead"]


class InboxStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one webhook (``GET /api/webhooks/{id}``)."""

    notification_id: str
    type: int
    shop_id: str
    received_at_ms: int
    processed_at_ms: int | None
    attempts: int
    state: InboxState
    last_error: str | None


class InboxCursor(msgspec.Struct, frozen=True, kw_only=True):
    """Keyset position in the unprocessed inbox: ``(received_at_ms, notification_id)``."""

    received_at_ms: int
    notification_id: str


# --------------------------------------------------------------------------- write operations


class InsertInbox(msgspec.Struct, frozen=True, kw_only=True, tag="insert_inbox"):
    """Insert a webhook unless its notification id is already there. Result: ``True`` if new."""

    record: InboxRecord


class MarkInboxProcessed(msgspec.Struct, frozen=True, kw_only=True, tag="mark_inbox_processed"):
    """Mark a webhook processed (``attempts`` + 1, ``processed_at_ms`` set). Result: ``None``.

    Idempotent: ``processed`` is terminal, so marking it again changes nothing (the first
    ``processed_at_ms`` and ``attempts`` stay). A ``dead`` row may be marked processed (a replay
    succeeded). An unknown id changes nothing and is not an error.
    """

    notification_id: str
    processed_at_ms: int


class MarkInboxFailed(msgspec.Struct, frozen=True, kw_only=True, tag="mark_inbox_failed"):
    """Record a failed attempt (``attempts`` + 1, ``last_error``); ``dead`` parks it for good.

    Result: ``None``. A ``processed`` row is left alone (a late failure report does not undo a
    success); a ``dead`` row stays dead. An unknown id changes nothing and is not an error.
    """

    notification_id: str
    error: str
    dead: bool = False


WriteOp = InsertInbox | MarkInboxProcessed | MarkInboxFailed
WriteResult = bool | None


# --------------------------------------------------------------------------- store ports


class TransactionalStore(Protocol):
    """Applies a batch of writes atomically: one transaction, one fsync (group commit)."""

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply every op in one transaction; results in the same order as ``ops``.

        Ops apply in order, each seeing the ones before it: of two ``InsertInbox`` with the same
        id in one call the first gets ``True``, the second ``False``. An empty ``ops`` is a no-op.

        Raises:
            StoreUnavailable: the database cannot be reached now; nothing was applied.
            StoreError: the database refused an op; nothing was applied.
        """
        ...


class InboxReader(Protocol):
    """Read side of the inbox."""

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        """The status of one webhook, or ``None`` if it was never received."""
        ...

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        """Up to ``limit`` (>= 1) webhooks in state ``received`` strictly after ``after``.

        Keyset order: ``(received_at_ms, notification_id)`` ascending, ids compared bytewise
        (SQLite BINARY, Postgres ``COLLATE "C"``); pass the last record's pair as the next
        ``after``. ``None`` starts at the oldest. Raises ValueError for ``limit`` < 1.
        """
        ...


class StoreHealth(Protocol):
    """Readiness probe of a store."""

    async def ping(self) -> None:
        """Return when the store answers a trivial query. Raises StoreUnavailable."""
        ...


class SchemaMigrator(Protocol):
    """Schema upkeep of a store (``creatorflow migrate`` and ``migrate_on_start``)."""

    async def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in its own transaction; return the versions
        applied now (``[]`` when up to date). Idempotent.

        Raises:
            StoreError: a migration failed (it is rolled back), or the database has a version
                this build does not know.
            StoreUnavailable: the database cannot be reached or is locked.
        """
        ...

    async def schema_version(self) -> int:
        """The highest applied migration version; 0 for a database never migrated."""
        ...


class Store(TransactionalStore, InboxReader, StoreHealth, Protocol):
    """Everything the app needs from a store adapter (composition of the ports above)."""


class LeaderElection(Protocol):
    """Singleton jobs across processes sharing one database (the inbox pump, reconcilers).

    Postgres: session-level advisory locks; two processes pointed at one database never both
    lead ``name``. SQLite (one process by construction): always granted in-process.
    """

    async def try_lead(self, name: str) -> bool:
        """Become the leader of ``name`` without waiting; True if this process leads it now.

        Idempotent for the current leader. Leadership is lost if the connection holding it
        dies; callers re-check with ``is_leading`` before each run of the job.
        """
        ...

    async def is_leading(self, name: str) -> bool:
        """Whether this process still leads ``name`` (False after a lost connection)."""
        ...

    async def resign(self, name: str) -> None:
        """Give up ``name`` (no-op when not leading)."""
        ...


# --------------------------------------------------------------------------- cache


class Cache(Protocol):
    """A bounded key/value cache with per-entry TTL (memory or Redis).

    Values are bytes (callers encode with msgspec). Every method may raise CacheUnavailable;
    callers treat that as a miss and carry on (the service is degraded, not down).
    """

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (> 0)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent)."""
        ...

    async def ping(self) -> None:
        """Return when the cache answers. Raises CacheUnavailable."""
        ...
