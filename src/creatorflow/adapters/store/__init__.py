"""Store adapters: SQLite (embedded default) and Postgres; both implement ``ports.Store``,
``ports.SchemaMigrator`` and ``ports.LeaderElection``.

Open one with its ``open_*`` context manager in ``app.py``; nothing connects at import time.
The Postgres names are imported on first use, so an install without asyncpg (the embedded
SQLite mode) can import this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from creatorflow.adapters.store.sqlite import (
    SQLITE_FILENAME,
    SqliteDurability,
    SqliteStore,
    open_sqlite_store,
    open_sqlite_store_from_config,
)

if TYPE_CHECKING:
    from creatorflow.adapters.store.postgres import (
        PostgresStore,
        open_postgres_store,
        open_postgres_store_from_config,
    )

_POSTGRES_NAMES = frozenset(
    {"PostgresStore", "open_postgres_store", "open_postgres_store_from_config"}
)

__all__ = [
    "SQLITE_FILENAME",
    "PostgresStore",
    "SqliteDurability",
    "SqliteStore",
    "open_postgres_store",
    "open_postgres_store_from_config",
    "open_sqlite_store",
    "open_sqlite_store_from_config",
]


def __getattr__(name: str) -> Any:
    # Lazy: importing asyncpg is the Postgres mode's business (PEP 562).
    if name in _POSTGRES_NAMES:
        from creatorflow.adapters.store import postgres

        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
