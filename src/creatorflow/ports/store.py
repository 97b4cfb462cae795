"""The store ports: one transactional write of many ops, health, migrations, leaders.

Nothing here is SQL-specific: a write is a list of :data:`WriteOp` values applied in one
transaction, so an adapter is free to use ``executemany``, ``COPY`` or ``ON CONFLICT`` as it likes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from creatorflow.ports._write import WriteOp as WriteOp
from creatorflow.ports._write import WriteResult as WriteResult
from creatorflow.ports.inbox import InboxReader
from creatorflow.ports.inventory import (
    InventoryReader,
)
from creatorflow.ports.orders import (
    CursorReader,
    OrderReader,
    OutboxClaimer,
    TokenReader,
)

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


# --------------------------------------------------------------------------- the whole store


class Store(
    TransactionalStore,
    InboxReader,
    OrderReader,
    CursorReader,
    TokenReader,
    OutboxClaimer,
    InventoryReader,
    StoreHealth,
    Protocol,
):
    """Everything the app needs from a store adapter (composition of the ports above)."""
