"""Store adapters: SQLite (embedded default) now, Postgres next; both implement ``ports.Store``.

Open one with its ``open_*`` context manager in ``app.py``; nothing connects at import time.
"""

from creatorflow.adapters.store.sqlite import (
    SQLITE_FILENAME,
    SqliteDurability,
    SqliteStore,
    open_sqlite_store,
    open_sqlite_store_from_config,
)

__all__ = [
    "SQLITE_FILENAME",
    "SqliteDurability",
    "SqliteStore",
    "open_sqlite_store",
    "open_sqlite_store_from_config",
]
