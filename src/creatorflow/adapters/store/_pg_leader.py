"""Leader election of the Postgres store: session-level advisory locks on one held connection.

A name is led by the process whose session holds ``pg_try_advisory_lock(key)``, with ``key``
from :func:`~._pg_migrate.advisory_key` (``"lead"``, current schema, name). The session belongs
to one dedicated connection opened on the first ``try_lead`` and kept **outside the pool**: a
pooled connection is reset (``pg_advisory_unlock_all``) whenever it goes back to the pool, and
its session could be swapped under us.

Losing that connection (server restart, ``pg_terminate_backend``, network) ends the session and
so releases every lock it held; ``is_leading`` finds out with a round trip and then answers
False for every name. The next ``try_lead`` opens a new connection and competes again.

Calls are serialised on the connection with an :class:`anyio.Lock` (asyncpg refuses two
operations at once on one connection); each is one short round trip.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from creatorflow.adapters.store._pg_errors import is_connection_lost, translate
from creatorflow.adapters.store._pg_migrate import advisory_key

#: Opens one asyncpg connection with the store's settings (raises asyncpg / OS errors).
Connector = Callable[[], Awaitable[Any]]


class PgLeader:
    """The leadership half of :class:`~creatorflow.adapters.store.PostgresStore`."""

    def __init__(self, connect: Connector, schema: str) -> None:
        self._connect = connect
        self._schema = schema
        self._conn: Any = None
        self._held: set[str] = set()  # names whose lock the current session holds
        self._lock = anyio.Lock()

    async def try_lead(self, name: str) -> bool:
        """Take ``name``'s lock without waiting; True if held now (idempotent for a holder).

        Raises:
            StoreUnavailable: the database cannot be reached (no leadership is granted).
            StoreError: the database refused the call.
        """
        async with self._lock:
            try:
                if name in self._held and await self._alive():
                    return True
                conn = await self._connection()
                key = advisory_key("lead", self._schema, name)
                got = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            except Exception as exc:
                if is_connection_lost(exc):
                    await self._drop()
                raise translate(exc, f"try_lead {name!r}") from exc
            if got:
                self._held.add(name)
            return got

    async def is_leading(self, name: str) -> bool:
        """Whether the session still holds ``name``: one round trip proves the session alive.

        Never raises for a lost connection (that is the False case); raises StoreError only if
        the database refuses a trivial query.
        """
        async with self._lock:
            if name not in self._held:
                return False
            try:
                return await self._alive()
            except Exception as exc:
                raise translate(exc, f"is_leading {name!r}") from exc

    async def resign(self, name: str) -> None:
        """Release ``name`` (no-op when not leading; a lost session already released it)."""
        async with self._lock:
            if name not in self._held:
                return
            self._held.discard(name)
            key = advisory_key("lead", self._schema, name)
            try:
                await self._conn.fetchval("SELECT pg_advisory_unlock($1)", key)
            except Exception as exc:
                if is_connection_lost(exc):
                    await self._drop()  # the session is gone, and its locks with it
                    return
                raise translate(exc, f"resign {name!r}") from exc

    async def aclose(self) -> None:
        """Close the held connection, which releases every lock (shielded from cancel)."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                conn = self._conn
                if conn is not None and not conn.is_closed():
                    try:
                        await conn.close(timeout=5)  # polite goodbye: no "unexpected EOF" log
                    except Exception:
                        pass  # _drop terminates it below
                await self._drop()

    async def _alive(self) -> bool:
        # Raises for failures other than a lost connection; the caller translates.
        if self._conn is None or self._conn.is_closed():
            await self._drop()
            return False
        try:
            await self._conn.fetchval("SELECT 1")
        except Exception as exc:
            if not is_connection_lost(exc):
                raise
            await self._drop()
            return False
        return True

    async def _connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            await self._drop()
            self._conn = await self._connect()
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            # terminate() closes the socket without a round trip: safe on a dead connection.
            conn.terminate()
