"""Error translation of the Postgres store: asyncpg (and socket) errors in, store errors out.

Every asyncpg call of the adapter runs inside :func:`translating`, so no asyncpg exception type
leaves ``adapters/``; the original is chained (``raise … from exc``)::

    raised inside the adapter
    ├── CreatorFlowError (ours, e.g. an unsupported op)                  → passes through
    ├── OSError (refused, reset, DNS), TimeoutError (command / connect)  → StoreUnavailable
    ├── asyncpg.PostgresConnectionError (08: lost, cannot connect)       → StoreUnavailable
    ├── asyncpg.OperatorInterventionError (57: shutdown, starting up,
    │   query cancelled by statement_timeout)                            → StoreUnavailable
    ├── asyncpg.InsufficientResourcesError (53: too many connections,
    │   disk full, out of memory)                                        → StoreUnavailable
    ├── asyncpg.TransactionRollbackError (40: serialization, deadlock)   → StoreUnavailable
    ├── asyncpg.ReadOnlySQLTransactionError (25006: a standby after
    │   failover)                                                        → StoreUnavailable
    ├── asyncpg.InterfaceError "connection is closed" / "pool is closing" → StoreUnavailable
    ├── asyncpg InternalClientError (a connection broken mid-call)        → StoreUnavailable
    └── anything else from asyncpg (constraint, SQL, bad argument type,
        unknown database, bad password)                                  → StoreError

A database that does not exist (``3D000``) and a refused login (``28``) are StoreError: a
wrong ``database_url`` is a configuration mistake that retrying will not fix, and start-up should
stop with that message rather than loop on "unavailable".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg  # type: ignore[import-untyped]

from creatorflow.errors import CreatorFlowError, StoreError, StoreUnavailable

_UNAVAILABLE_TYPES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
    # The client protocol of a connection broken mid-call ("cannot switch to state …; another
    # operation is in progress"), seen while Postgres restarts: the pool replaces it.
    asyncpg.exceptions.InternalClientError,
)

# InterfaceError messages that mean "this connection or pool is gone", not "your call is wrong".
_CLOSED_WORDS = (
    "connection is closed",
    "pool is closing",
    "underlying connection is closed",
)


def _closed_interface_error(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.InterfaceError) and any(
        word in str(exc) for word in _CLOSED_WORDS
    )


def is_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database cannot serve us now" (retrying may help)."""
    return isinstance(exc, _UNAVAILABLE_TYPES) or _closed_interface_error(exc)


def is_connection_lost(exc: BaseException) -> bool:
    """Whether the connection used by the failed call is gone (so another one may work)."""
    # Not OSError: a refused or timed-out *connect* is no lost connection, and retrying it
    # would only multiply the connect timeout.
    lost = (
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.AdminShutdownError,
        asyncpg.exceptions.InternalClientError,
    )
    return isinstance(exc, lost) or _closed_interface_error(exc)


def was_never_sent(exc: BaseException) -> bool:
    """Whether asyncpg refused the call before writing anything to the server.

    True only for the "connection is closed" check asyncpg makes before each query: the server
    never saw the statement, so running it again on another connection cannot apply it twice.
    """
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def translate(exc: Exception, what: str) -> CreatorFlowError:
    """The store error for ``exc`` (ours pass through unchanged). The caller raises it
    ``from exc``."""
    if isinstance(exc, CreatorFlowError):
        return exc
    detail = str(exc) or type(exc).__name__
    if is_unavailable(exc):
        return StoreUnavailable(f"postgres {what}: {detail}")
    return StoreError(f"postgres {what}: {detail}")


@contextmanager
def translating(what: str) -> Iterator[None]:
    """Re-raise any non-store exception of the block as StoreUnavailable / StoreError.

    Only ``Exception`` is translated: cancellation and ``KeyboardInterrupt`` pass through.
    """
    try:
        yield
    except CreatorFlowError:
        raise
    except Exception as exc:
        raise translate(exc, what) from exc
