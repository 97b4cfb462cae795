"""Order-side methods of the SQLite store: ``OrderReader``, ``CursorReader``, ``TokenReader`` and
``OutboxClaimer``, mixed into :class:`~creatorflow.adapters.store.sqlite.SqliteStore`.

Reads run on the reader connection (the last commit; they never wait for the writer). The
outbox claim writes, so it runs on the writer connection, in a short transaction of its own.
"""

from __future__ import annotations

import sqlite3

from creatorflow.adapters.store._rows import to_event, to_order
from creatorflow.adapters.store._sqlite_conn import Lane
from creatorflow.adapters.store._sqlite_orders import (
    GET_CURSOR,
    GET_ORDER,
    LOAD_TOKENS,
    ORDER_EVENTS,
    claim_outbox,
    list_orders_sql,
)
from creatorflow.ports import OrderEventRow, OrderRow, OutboxRow, Priority


def check_limit(limit: int, name: str = "limit") -> None:
    """Raise ValueError unless ``limit`` >= 1 (every scan is bounded)."""
    if limit < 1:
        raise ValueError(f"{name} must be >= 1, got {limit}")


class SqliteOrderSide:
    """The order-side reads and the outbox claim; needs ``_reader`` and ``_writer`` lanes."""

    _reader: Lane
    _writer: Lane

    # ------------------------------------------------------------------ OrderReader

    async def get_order(self, order_id: str) -> OrderRow | None:
        """The order, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> OrderRow | None:
            row = conn.execute(GET_ORDER, (order_id,)).fetchone()
            return None if row is None else to_order(row)

        return await self._reader.run(read, "get_order")

    async def list_orders(
        self,
        *,
        state: str | None = None,
        priority: Priority | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[OrderRow]:
        """Up to ``limit`` orders after ``after``, ids ascending, filtered; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        sql = list_orders_sql(state, priority, after)
        params = [v for v in (state, priority, after) if v is not None]

        def read(conn: sqlite3.Connection) -> list[OrderRow]:
            return [to_order(row) for row in conn.execute(sql, (*params, limit))]

        return await self._reader.run(read, "list_orders")

    async def order_events(self, order_id: str, limit: int) -> list[OrderEventRow]:
        """The first ``limit`` journal entries of the order, ``seq`` ascending.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)

        def read(conn: sqlite3.Connection) -> list[OrderEventRow]:
            return [to_event(row) for row in conn.execute(ORDER_EVENTS, (order_id, limit))]

        return await self._reader.run(read, "order_events")

    # ------------------------------------------------------------------ CursorReader, TokenReader

    async def get_cursor(self, name: str) -> str | None:
        """The cursor's value, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(GET_CURSOR, (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._reader.run(read, "get_cursor")

    async def load_tokens(self, shop_key: str) -> bytes | None:
        """The shop's token document, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute(LOAD_TOKENS, (shop_key,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._reader.run(read, "load_tokens")

    # ------------------------------------------------------------------ OutboxClaimer

    async def claim_outbox(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxRow]:
        """Lease due pending events (one ``BEGIN IMMEDIATE`` on the writer); see the port.

        Raises:
            ValueError: ``limit`` or ``lease_ms`` < 1.
            StoreUnavailable / StoreError: as for ``apply``.
        """
        check_limit(limit)
        check_limit(lease_ms, "lease_ms")
        return await self._writer.run(
            lambda conn: claim_outbox(conn, now_ms, limit, lease_ms), "claim_outbox"
        )
