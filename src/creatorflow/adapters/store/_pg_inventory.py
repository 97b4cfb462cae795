"""Inventory in the Postgres store: each run of one kind of inventory op as one statement, and
the ``InventoryReader`` methods (:class:`PgInventorySide`, the base of
:class:`~creatorflow.adapters.store.postgres.PostgresStore`).

The run functions raise asyncpg errors; the caller translates. As for the order side, each run
passes one array per column to ``unnest`` with its keys sorted, so one statement locks its rows
in key order and two concurrent batches on the same keys queue up instead of deadlocking (see
``_pg_apply``). A group commit of reservation decisions (``PutReservation``, ``UpsertSku``,
``AppendStockEvent`` per decision, however many) is one segment: three statements.

Journal numbering: ``stock_event_seqs.last_seq`` is the per-SKU counter (a table of its own:
a SKU may be journaled without a row in ``skus``). One statement (:data:`APPEND_STOCK_EVENTS`)
upserts each SKU's counter, adding its number of events in the run, and inserts the events
numbered back from the new value. The upsert locks the counter row (for a new SKU, a second
transaction waits for the first one's insert), so a concurrent transaction on the same SKU
waits, then adds to the value the first one committed: numbers are never shared or skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from creatorflow.adapters.store import _adjustment_keys as adjustment_keys
from creatorflow.adapters.store import _inventory_rows as rows
from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store._pg_reads import PgOrderSide, check_limit
from creatorflow.ports import (
    AdjustmentKeyRow,
    AppendStockEvent,
    PurchaseOrderRow,
    PurchaseOrderState,
    PutReservation,
    ReservationRow,
    SkuRow,
    StockEventRow,
    UpsertPurchaseOrder,
    UpsertSku,
)

T = TypeVar("T")

# ``xmax = 0`` holds only for a row this statement inserted: "new or not" in one round trip
# (see UPSERT_ORDERS in ``_pg_orders``).
UPSERT_SKUS = f"""
INSERT INTO skus ({rows.SKU_COLUMNS})
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::bigint[])
ON CONFLICT (sku) DO UPDATE SET
    on_hand = excluded.on_hand, reserved = excluded.reserved,
    safety_buffer = excluded.safety_buffer, shop_id = excluded.shop_id,
    product_id = excluded.product_id, sku_id = excluded.sku_id,
    warehouse_id = excluded.warehouse_id, updated_at_ms = excluded.updated_at_ms
RETURNING sku, (xmax = 0) AS inserted"""

# created_at_ms is kept from the stored row.
PUT_RESERVATIONS = f"""
INSERT INTO reservations ({rows.RESERVATION_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[],
                     $6::bigint[], $7::bigint[])
ON CONFLICT (order_id, sku) DO UPDATE SET
    qty = excluded.qty, state = excluded.state, expires_at_ms = excluded.expires_at_ms,
    updated_at_ms = excluded.updated_at_ms
RETURNING order_id, sku, (xmax = 0) AS inserted"""

# $1/$2: each SKU once (sorted) with its number of events; $3..$12: the events, ``off`` being
# the event's position among its SKU's events minus their number (n-1 … 0 back from the end),
# so its seq is the new counter value plus ``off``.
APPEND_STOCK_EVENTS = f"""
WITH bumped AS (
    INSERT INTO stock_event_seqs AS c (sku, last_seq)
    SELECT * FROM unnest($1::text[], $2::bigint[])
    ON CONFLICT (sku) DO UPDATE SET last_seq = c.last_seq + excluded.last_seq
    RETURNING c.sku, c.last_seq
)
INSERT INTO stock_events ({rows.STOCK_EVENT_COLUMNS})
SELECT e.sku, b.last_seq + e.off, e.at_ms, e.kind, e.order_id, e.d_on_hand, e.d_reserved,
       e.on_hand, e.reserved, e.reason
FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::bigint[],
            $9::bigint[], $10::bigint[], $11::bigint[], $12::text[])
     AS e (sku, off, at_ms, kind, order_id, d_on_hand, d_reserved, on_hand, reserved, reason)
JOIN bumped AS b ON b.sku = e.sku
RETURNING sku, seq"""

# created_at_ms is kept from the stored row.
UPSERT_PURCHASE_ORDERS = f"""
INSERT INTO purchase_orders ({rows.PO_COLUMNS})
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                     $6::bigint[], $7::bigint[], $8::bigint[], $9::bytea[])
ON CONFLICT (po_id) DO UPDATE SET
    sku = excluded.sku, supplier_id = excluded.supplier_id, qty = excluded.qty,
    state = excluded.state, expected_at_ms = excluded.expected_at_ms,
    updated_at_ms = excluded.updated_at_ms, detail = excluded.detail
RETURNING po_id, (xmax = 0) AS inserted"""

GET_SKU = rows.dialect(rows.GET_SKU, "$")
HELD_RESERVATIONS = rows.dialect(rows.HELD_RESERVATIONS, "$")
ORDER_RESERVATIONS = rows.dialect(rows.ORDER_RESERVATIONS, "$")
EXPIRED_HOLDS = rows.dialect(rows.EXPIRED_HOLDS, "$")
RESERVATION_DRIFT = rows.dialect(rows.RESERVATION_DRIFT, "$")
STOCK_EVENTS_LATEST = rows.dialect(rows.STOCK_EVENTS_LATEST, "$")
STOCK_EVENTS_BEFORE = rows.dialect(rows.STOCK_EVENTS_BEFORE, "$")
GET_PO = rows.dialect(rows.GET_PO, "$")


def _columns(table: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows to one list per column (``width`` columns, also when ``table`` is empty)."""
    return [[row[i] for row in table] for i in range(width)]


def _news(keys: list[Any], created: set[Any]) -> list[bool]:
    """Per op key: ``True`` for the first op of a key the statement inserted (a repeat of a
    new key replaces it: ``False``, as if applied in order)."""
    results: list[bool] = []
    for key in keys:
        results.append(key in created)
        created.discard(key)
    return results


# --------------------------------------------------------------------------- runs


async def upsert_skus(conn: Any, run: list[UpsertSku]) -> list[bool]:
    """Upsert a run of SKUs; per op ``True`` if it created the SKU (repeats fold into one row
    with the last op's fields, as if applied in order)."""
    last = {op.sku: op for op in run}
    table = [
        (
            s.sku,
            s.on_hand,
            s.reserved,
            s.safety_buffer,
            s.shop_id,
            s.product_id,
            s.sku_id,
            s.warehouse_id,
            s.updated_at_ms,
        )
        for _, s in sorted(last.items())
    ]
    returned = await conn.fetch(UPSERT_SKUS, *_columns(table, 9))
    return _news([op.sku for op in run], {row[0] for row in returned if row[1]})


async def put_reservations(conn: Any, run: list[PutReservation]) -> list[bool]:
    """Insert or replace a run of reservations; per op ``True`` if new. Repeats of a key fold
    into one row: the last op's fields with the first op's ``created_at_ms`` (kept anyway when
    the row was already stored)."""
    first: dict[tuple[str, str], int] = {}
    last: dict[tuple[str, str], PutReservation] = {}
    for op in run:
        key = (op.order_id, op.sku)
        first.setdefault(key, op.created_at_ms)
        last[key] = op
    table = [
        (*key, r.qty, r.state, r.expires_at_ms, first[key], r.updated_at_ms)
        for key, r in sorted(last.items())
    ]
    returned = await conn.fetch(PUT_RESERVATIONS, *_columns(table, 7))
    created = {(row[0], row[1]) for row in returned if row[2]}
    return _news([(op.order_id, op.sku) for op in run], created)


async def append_stock_events(conn: Any, run: list[AppendStockEvent]) -> list[int]:
    """Journal a run of stock events in one statement; per op the seq assigned."""
    counts: dict[str, int] = {}
    nths: list[int] = []
    for op in run:
        nth = counts[op.sku] = counts.get(op.sku, 0) + 1
        nths.append(nth)
    events = [
        (
            op.sku,
            nth - counts[op.sku],
            op.at_ms,
            op.kind,
            op.order_id,
            op.delta_on_hand,
            op.delta_reserved,
            op.on_hand,
            op.reserved,
            op.reason,
        )
        for op, nth in zip(run, nths, strict=True)
    ]
    skus = sorted(counts.items())
    returned = await conn.fetch(
        APPEND_STOCK_EVENTS, [s for s, _ in skus], [n for _, n in skus], *_columns(events, 10)
    )
    seqs: dict[str, list[int]] = {}
    for sku, seq in returned:
        seqs.setdefault(sku, []).append(int(seq))
    for numbers in seqs.values():
        numbers.sort(reverse=True)  # pop() hands them out smallest first, in op order
    return [seqs[op.sku].pop() for op in run]


async def upsert_purchase_orders(conn: Any, run: list[UpsertPurchaseOrder]) -> list[bool]:
    """Insert or replace a run of purchase orders; per op ``True`` if new. Repeats fold like
    :func:`put_reservations` (last op's fields, first op's ``created_at_ms``)."""
    first: dict[str, int] = {}
    last: dict[str, UpsertPurchaseOrder] = {}
    for op in run:
        first.setdefault(op.po_id, op.created_at_ms)
        last[op.po_id] = op
    table = [
        (
            po_id,
            p.sku,
            p.supplier_id,
            p.qty,
            p.state,
            first[po_id],
            p.expected_at_ms,
            p.updated_at_ms,
            p.detail,
        )
        for po_id, p in sorted(last.items())
    ]
    returned = await conn.fetch(UPSERT_PURCHASE_ORDERS, *_columns(table, 9))
    return _news([op.po_id for op in run], {row[0] for row in returned if row[1]})


# --------------------------------------------------------------------------- reads


class PgInventorySide(PgOrderSide):
    """The order side plus ``InventoryReader``; reads are retried like every idempotent call."""

    async def get_sku(self, sku: str) -> SkuRow | None:
        """The SKU, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> SkuRow | None:
            row = await conn.fetchrow(GET_SKU, sku)
            return None if row is None else rows.to_sku(row)

        return await self._call(read, "get_sku", idempotent=True)

    async def list_skus(
        self, *, after: str | None = None, available_below: int | None = None, limit: int
    ) -> list[SkuRow]:
        """Up to ``limit`` SKUs after ``after``, ids ascending (bytewise), filtered; see the
        port. Raises ValueError for ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        sql = rows.dialect(rows.list_skus_sql(after, available_below), "$")
        params = [v for v in (after, available_below) if v is not None]
        return await self._rows(sql, (*params, limit), rows.to_sku, "list_skus")

    async def held_reservations(self, sku: str) -> list[ReservationRow]:
        """The ``held`` reservations of ``sku``, order ids ascending; see the port."""
        return await self._rows(HELD_RESERVATIONS, (sku,), rows.to_reservation, "held_reservations")

    async def order_reservations(self, order_id: str) -> list[ReservationRow]:
        """Every reservation of the order, SKUs ascending; see the port."""
        return await self._rows(
            ORDER_RESERVATIONS, (order_id,), rows.to_reservation, "order_reservations"
        )

    async def expired_holds(self, now_ms: int, limit: int) -> list[ReservationRow]:
        """Held reservations expired at ``now_ms``, soonest first; see the port. Raises
        ValueError for ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        return await self._rows(
            EXPIRED_HOLDS, (now_ms, limit), rows.to_reservation, "expired_holds"
        )

    async def reservation_drift(self, limit: int) -> list[tuple[str, int, int]]:
        """SKUs whose stored ``reserved`` differs from their held rows; see the port. Raises
        ValueError for ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        return await self._rows(RESERVATION_DRIFT, (limit,), rows.to_drift, "reservation_drift")

    async def stock_events(
        self, sku: str, *, before_seq: int | None = None, limit: int
    ) -> list[StockEventRow]:
        """Journal entries of ``sku`` before ``before_seq``, newest first; see the port.
        Raises ValueError for ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        params: tuple[object, ...]
        if before_seq is None:
            sql, params = STOCK_EVENTS_LATEST, (sku, limit)
        else:
            sql, params = STOCK_EVENTS_BEFORE, (sku, before_seq, limit)
        return await self._rows(sql, params, rows.to_stock_event, "stock_events")

    async def get_purchase_order(self, po_id: str) -> PurchaseOrderRow | None:
        """The purchase order, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> PurchaseOrderRow | None:
            row = await conn.fetchrow(GET_PO, po_id)
            return None if row is None else rows.to_purchase_order(row)

        return await self._call(read, "get_purchase_order", idempotent=True)

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        """The stored Idempotency-Key of ``sku``, expired or not, or ``None``; see the port.
        Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> AdjustmentKeyRow | None:
            row = await conn.fetchrow(adjustment_keys.PG_GET, sku, key)
            return None if row is None else adjustment_keys.to_row(row)

        return await self._call(read, "get_adjustment_key", idempotent=True)

    async def expired_adjustment_keys(self, now_ms: int, limit: int) -> list[AdjustmentKeyRow]:
        """Keys expired at ``now_ms``, soonest first; see the port. Raises ValueError for
        ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        return await self._rows(
            adjustment_keys.PG_EXPIRED,
            (now_ms, limit),
            adjustment_keys.to_row,
            "expired_adjustment_keys",
        )

    async def purchase_orders(
        self,
        *,
        sku: str | None = None,
        states: Sequence[PurchaseOrderState] = (),
        after: str | None = None,
        limit: int,
    ) -> list[PurchaseOrderRow]:
        """Up to ``limit`` purchase orders after ``after``, ids ascending (bytewise), filtered;
        see the port. Raises ValueError for ``limit`` < 1, else StoreUnavailable / StoreError."""
        check_limit(limit)
        sql, params = rows.purchase_orders_sql(sku, states, after, any_array=True)
        sql = rows.dialect(sql, "$")
        return await self._rows(sql, (*params, limit), rows.to_purchase_order, "purchase_orders")

    async def _rows(
        self, sql: str, params: Sequence[Any], convert: Callable[[Any], T], what: str
    ) -> list[T]:
        async def read(conn: Any) -> list[T]:
            return [convert(row) for row in await conn.fetch(sql, *params)]

        return await self._call(read, what, idempotent=True)


# --------------------------------------------------------------------------- appliers

registry.postgres(UpsertSku, rank=300, key=lambda op: ("sku", op.sku), run=upsert_skus)
registry.postgres(
    PutReservation,
    rank=305,
    key=lambda op: ("reservation", f"{op.order_id}\x00{op.sku}"),
    run=put_reservations,
)
# A SKU's journal is a key of its own, apart from its row (see _pg_apply).
registry.postgres(
    AppendStockEvent, rank=310, key=lambda op: ("stock", op.sku), run=append_stock_events
)
registry.postgres(
    UpsertPurchaseOrder, rank=315, key=lambda op: ("po", op.po_id), run=upsert_purchase_orders
)
