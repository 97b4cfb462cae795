"""Connections of the SQLite store: opening, one-thread-at-a-time lanes, error translation.

Errors (``sqlite3.Error`` never leaves the adapter; the original is chained)::

    sqlite3.Error
    ├── busy / locked / I/O / can't open / full / read-only / no memory  → StoreUnavailable
    └── anything else (constraint, type, SQL, corrupt)                    → StoreError
    OverflowError, ValueError, TypeError (a value the driver cannot bind:
    an integer beyond 64 bits, a lone surrogate, an unsupported type)     → StoreError

A value the driver cannot bind must fail its write, not the store writer: the edge bounds
what it accepts (``domain.limits``), and this is the net under it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import anyio

from creatorflow.errors import AdapterError, StoreError, StoreUnavailable

T = TypeVar("T")

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

# Primary result codes that mean "not now" rather than "never": busy, locked, nomem, readonly,
# ioerr, full, cantopen, protocol. See https://www.sqlite.org/rescode.html.
_UNAVAILABLE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})
_UNAVAILABLE_WORDS = ("locked", "busy", "disk i/o", "unable to open", "readonly", "disk is full")
#: Python errors the sqlite3 module raises for a value it cannot bind (2**64, "\ud800", …).
_UNBINDABLE: tuple[type[Exception], ...] = (OverflowError, ValueError, TypeError)
SYNCHRONOUS_NAMES: tuple[Synchronous, ...] = ("OFF", "NORMAL", "FULL", "EXTRA")


def translate_error(exc: sqlite3.Error, what: str) -> AdapterError:
    """The store error for a sqlite3 error: StoreUnavailable if retrying may help, else
    StoreError. The caller raises it ``from exc``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        unavailable = (code & 0xFF) in _UNAVAILABLE_CODES
    else:
        text = str(exc).lower()
        unavailable = isinstance(exc, sqlite3.OperationalError) and any(
            word in text for word in _UNAVAILABLE_WORDS
        )
    cls = StoreUnavailable if unavailable else StoreError
    return cls(f"sqlite {what}: {exc}")


class Lane:
    """One sqlite3 connection, used by one worker thread at a time."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._limiter = anyio.CapacityLimiter(1)
        self._closing = False
        self._closed = False

    async def run(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        """Run ``fn(conn)`` on a worker thread once the connection is free. Raises store errors."""
        if self._closing:
            raise StoreUnavailable(f"sqlite {what}: the store is closed")
        return await anyio.to_thread.run_sync(self._call, fn, what, limiter=self._limiter)

    def _call(self, fn: Callable[[sqlite3.Connection], T], what: str) -> T:
        if self._closed:
            raise StoreUnavailable(f"sqlite {what}: the store is closed")
        try:
            return fn(self._conn)
        except sqlite3.Error as exc:
            raise translate_error(exc, what) from exc
        except _UNBINDABLE as exc:
            raise StoreError(f"sqlite {what}: value refused: {exc}") from exc

    async def aclose(self) -> None:
        """Close after the calls already waiting for the connection; shielded from cancel."""
        self._closing = True
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close_now, limiter=self._limiter)

    def _close_now(self) -> None:
        if not self._closed:
            self._closed = True
            self._conn.close()


def connect(path: Path, synchronous: Synchronous, busy_timeout_ms: int, *, writer: bool) -> Lane:
    """Open and configure one connection (blocks; run on a worker thread)."""
    try:
        conn = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise translate_error(exc, f"open {path}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"sqlite open {path}: cannot enable WAL (journal_mode={mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not writer:
            conn.execute("PRAGMA query_only = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise translate_error(exc, f"open {path}") from exc
    except BaseException:
        conn.close()
        raise
    return Lane(conn)
