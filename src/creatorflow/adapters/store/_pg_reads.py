"""Order-side methods of the Postgres store (``OrderReader``, ``CursorReader``, ``TokenReader``,
``OutboxClaimer``) and the call wrapper every method of the store goes through; the base of
:class:`~creatorflow.adapters.store.postgres.PostgresStore`.

Keys are ``COLLATE "C"``, so keyset order is bytewise, as in SQLite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from creatorflow.adapters.store._pg_errors import is_connection_lost, translate, was_never_sent
from creatorflow.adapters.store._rows import (
    EVENT_COLUMNS,
    ORDER_COLUMNS,
    OUTBOX_COLUMNS,
    to_event,
    to_order,
    to_outbox,
)
from creatorflow.ports import OrderEventRow, OrderRow, OutboxRow, Priority

T = TypeVar("T")

#: Tries of one call when its connection turns out dead (see "Recovery" in ``postgres``).
ATTEMPTS = 3

GET_ORDER = f"SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
ORDER_EVENTS = f"""
SELECT {EVENT_COLUMNS} FROM order_events WHERE order_id = $1 ORDER BY seq LIMIT $2"""
GET_CURSOR = "SELECT value FROM cursors WHERE name = $1"
LOAD_TOKENS = "SELECT doc FROM tiktok_tokens WHERE shop_key = $1"

# One statement, its own transaction. SKIP LOCKED: a row another claimer is leasing right now
# is left to it; ``due`` (the old next_attempt_at_ms) orders the rows returned.
CLAIM_OUTBOX = f"""
WITH due AS (
    SELECT event_id, next_attempt_at_ms AS due FROM outbox
    WHERE state = 'pending' AND next_attempt_at_ms <= $1
    ORDER BY next_attempt_at_ms, event_id LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox AS o SET next_attempt_at_ms = $1 + $3 FROM due WHERE o.event_id = due.event_id
RETURNING {", ".join(f"o.{c.strip()}" for c in OUTBOX_COLUMNS.split(","))}, due.due"""


def check_limit(limit: int, name: str = "limit") -> None:
    """Raise ValueError unless ``limit`` >= 1 (every scan is bounded)."""
    if limit < 1:
        raise ValueError(f"{name} must be >= 1, got {limit}")


def list_orders_sql(state: str | None, priority: str | None, after: str | None) -> str:
    """The keyset scan of ``list_orders`` with these filters; parameters in the order state,
    priority, after, limit (absent filters take no parameter). Uses orders_by_state /
    orders_by_priority when filtered, the primary key otherwise."""
    tests = [
        test
        for test, value in (("state = ", state), ("priority = ", priority), ("order_id > ", after))
        if value is not None
    ]
    where = [f"{test}${n}" for n, test in enumerate(tests, start=1)]
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    return (
        f"SELECT {ORDER_COLUMNS} FROM orders {condition}ORDER BY order_id LIMIT ${len(where) + 1}"
    )


class PgOrderSide:
    """The call wrapper and the order-side reads; needs ``_pool`` (an asyncpg pool)."""

    _pool: Any

    async def _call(
        self, fn: Callable[[Any], Awaitable[T]], what: str, *, idempotent: bool = False
    ) -> T:
        """Run ``fn(conn)`` on a pooled connection, retrying per "Recovery"; translate errors."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._pool.acquire() as conn:
                    return await fn(conn)
            except Exception as exc:
                retry = was_never_sent(exc) or (idempotent and is_connection_lost(exc))
                if attempt == ATTEMPTS or not retry:
                    raise translate(exc, what) from exc
        raise AssertionError("unreachable")  # the last attempt returns or raises

    # ------------------------------------------------------------------ OrderReader

    async def get_order(self, order_id: str) -> OrderRow | None:
        """The order, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> OrderRow | None:
            row = await conn.fetchrow(GET_ORDER, order_id)
            return None if row is None else to_order(row)

        return await self._call(read, "get_order", idempotent=True)

    async def list_orders(
        self,
        *,
        state: str | None = None,
        priority: Priority | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[OrderRow]:
        """Up to ``limit`` orders after ``after``, ids ascending (bytewise), filtered; see the
        port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        sql = list_orders_sql(state, priority, after)
        params = [v for v in (state, priority, after) if v is not None]

        async def read(conn: Any) -> list[OrderRow]:
            return [to_order(row) for row in await conn.fetch(sql, *params, limit)]

        return await self._call(read, "list_orders", idempotent=True)

    async def order_events(self, order_id: str, limit: int) -> list[OrderEventRow]:
        """The first ``limit`` journal entries of the order, ``seq`` ascending.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)

        async def read(conn: Any) -> list[OrderEventRow]:
            return [to_event(row) for row in await conn.fetch(ORDER_EVENTS, order_id, limit)]

        return await self._call(read, "order_events", idempotent=True)

    # ------------------------------------------------------------------ CursorReader, TokenReader

    async def get_cursor(self, name: str) -> str | None:
        """The cursor's value, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> str | None:
            value = await conn.fetchval(GET_CURSOR, name)
            return None if value is None else str(value)

        return await self._call(read, "get_cursor", idempotent=True)

    async def load_tokens(self, shop_key: str) -> bytes | None:
        """The shop's token document, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> bytes | None:
            doc = await conn.fetchval(LOAD_TOKENS, shop_key)
            return None if doc is None else bytes(doc)

        return await self._call(read, "load_tokens", idempotent=True)

    # ------------------------------------------------------------------ OutboxClaimer

    async def claim_outbox(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxRow]:
        """Lease due pending events in one statement (``FOR UPDATE SKIP LOCKED``); see the port.

        Not retried once sent (a lost reply leaves the events leased until the lease ends,
        then they are claimed again: at-least-once).

        Raises:
            ValueError: ``limit`` or ``lease_ms`` < 1.
            StoreUnavailable / StoreError: as for ``apply``.
        """
        check_limit(limit)
        check_limit(lease_ms, "lease_ms")

        async def claim(conn: Any) -> list[OutboxRow]:
            rows = await conn.fetch(CLAIM_OUTBOX, now_ms, limit, lease_ms)
            ordered = sorted(rows, key=lambda row: (row[-1], row[0]))
            return [to_outbox(row) for row in ordered]

        return await self._call(claim, "claim_outbox")
