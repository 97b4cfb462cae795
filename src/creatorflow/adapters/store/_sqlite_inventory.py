"""Inventory in the SQLite store: the write ops (run inside ``apply_ops``' transaction) and the
``InventoryReader`` methods, mixed into :class:`~creatorflow.adapters.store.sqlite.SqliteStore`.

The write functions block and raise ``sqlite3.Error``; the caller translates and rolls back.
Reads run on the reader connection (the last commit; they never wait for the writer).

Journal numbering: ``stock_event_seqs.last_seq`` is the per-SKU counter, a table of its own
because a SKU may be journaled without a row in ``skus``. An event bumps it with an upsert
``… RETURNING`` and inserts the event with the number returned, in the same transaction;
SQLite has one writer at a time, so no two transactions can interleave there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from creatorflow.adapters.store import _adjustment_keys as adjustment_keys
from creatorflow.adapters.store import _inventory_rows as rows
from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store._sqlite_reads import SqliteOrderSide, check_limit
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

# SKUs are mostly there already (every reservation rewrites one): update first, insert if not.
UPDATE_SKU = """
UPDATE skus SET on_hand = ?, reserved = ?, safety_buffer = ?, shop_id = ?, product_id = ?,
       sku_id = ?, warehouse_id = ?, updated_at_ms = ?
WHERE sku = ?
"""

INSERT_SKU = f"INSERT INTO skus ({rows.SKU_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"

INSERT_RESERVATION = f"""
INSERT INTO reservations ({rows.RESERVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (order_id, sku) DO NOTHING
"""

# Every column but the key and created_at_ms (kept from the first write).
UPDATE_RESERVATION = """
UPDATE reservations SET qty = ?, state = ?, expires_at_ms = ?, updated_at_ms = ?
WHERE order_id = ? AND sku = ?
"""

BUMP_STOCK_SEQ = """
INSERT INTO stock_event_seqs (sku, last_seq) VALUES (?, 1)
ON CONFLICT (sku) DO UPDATE SET last_seq = last_seq + 1
RETURNING last_seq
"""

INSERT_STOCK_EVENT = f"""
INSERT INTO stock_events ({rows.STOCK_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_PO = f"""
INSERT INTO purchase_orders ({rows.PO_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (po_id) DO NOTHING
"""

UPDATE_PO = """
UPDATE purchase_orders SET sku = ?, supplier_id = ?, qty = ?, state = ?, expected_at_ms = ?,
       updated_at_ms = ?, detail = ?
WHERE po_id = ?
"""

GET_SKU = rows.dialect(rows.GET_SKU, "?")
HELD_RESERVATIONS = rows.dialect(rows.HELD_RESERVATIONS, "?")
ORDER_RESERVATIONS = rows.dialect(rows.ORDER_RESERVATIONS, "?")
EXPIRED_HOLDS = rows.dialect(rows.EXPIRED_HOLDS, "?")
RESERVATION_DRIFT = rows.dialect(rows.RESERVATION_DRIFT, "?")
STOCK_EVENTS_LATEST = rows.dialect(rows.STOCK_EVENTS_LATEST, "?")
STOCK_EVENTS_BEFORE = rows.dialect(rows.STOCK_EVENTS_BEFORE, "?")
GET_PO = rows.dialect(rows.GET_PO, "?")


# --------------------------------------------------------------------------- writes


def upsert_sku(conn: sqlite3.Connection, op: UpsertSku) -> bool:
    """Insert or replace one SKU; ``True`` if it is new."""
    fields = (
        op.on_hand,
        op.reserved,
        op.safety_buffer,
        op.shop_id,
        op.product_id,
        op.sku_id,
        op.warehouse_id,
        op.updated_at_ms,
    )
    if conn.execute(UPDATE_SKU, (*fields, op.sku)).rowcount == 1:
        return False
    conn.execute(INSERT_SKU, (op.sku, *fields))
    return True


def put_reservation(conn: sqlite3.Connection, op: PutReservation) -> bool:
    """Insert or replace one reservation (``created_at_ms`` kept); ``True`` if it is new."""
    row = (
        op.order_id,
        op.sku,
        op.qty,
        op.state,
        op.expires_at_ms,
        op.created_at_ms,
        op.updated_at_ms,
    )
    if conn.execute(INSERT_RESERVATION, row).rowcount == 1:
        return True
    update = (op.qty, op.state, op.expires_at_ms, op.updated_at_ms, op.order_id, op.sku)
    conn.execute(UPDATE_RESERVATION, update)
    return False


def append_stock_event(conn: sqlite3.Connection, op: AppendStockEvent) -> int:
    """Journal one stock event with the SKU's next seq; return the seq."""
    seq = int(conn.execute(BUMP_STOCK_SEQ, (op.sku,)).fetchone()[0])
    event = (
        op.sku,
        seq,
        op.at_ms,
        op.kind,
        op.order_id,
        op.delta_on_hand,
        op.delta_reserved,
        op.on_hand,
        op.reserved,
        op.reason,
    )
    conn.execute(INSERT_STOCK_EVENT, event)
    return seq


def upsert_purchase_order(conn: sqlite3.Connection, op: UpsertPurchaseOrder) -> bool:
    """Insert or replace one purchase order (``created_at_ms`` kept); ``True`` if it is new."""
    fields = (op.sku, op.supplier_id, op.qty, op.state)
    times = (op.created_at_ms, op.expected_at_ms, op.updated_at_ms)
    if conn.execute(INSERT_PO, (op.po_id, *fields, *times, op.detail)).rowcount == 1:
        return True
    conn.execute(UPDATE_PO, (*fields, op.expected_at_ms, op.updated_at_ms, op.detail, op.po_id))
    return False


# --------------------------------------------------------------------------- reads


class SqliteInventorySide(SqliteOrderSide):
    """The order side plus ``InventoryReader``; needs the ``_reader`` lane."""

    async def get_sku(self, sku: str) -> SkuRow | None:
        """The SKU, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> SkuRow | None:
            row = conn.execute(GET_SKU, (sku,)).fetchone()
            return None if row is None else rows.to_sku(row)

        return await self._reader.run(read, "get_sku")

    async def list_skus(
        self, *, after: str | None = None, available_below: int | None = None, limit: int
    ) -> list[SkuRow]:
        """Up to ``limit`` SKUs after ``after``, ids ascending, filtered; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        sql = rows.dialect(rows.list_skus_sql(after, available_below), "?")
        params = [v for v in (after, available_below) if v is not None]

        def read(conn: sqlite3.Connection) -> list[SkuRow]:
            return [rows.to_sku(row) for row in conn.execute(sql, (*params, limit))]

        return await self._reader.run(read, "list_skus")

    async def held_reservations(self, sku: str) -> list[ReservationRow]:
        """The ``held`` reservations of ``sku``, order ids ascending; see the port."""
        return await self._reservations(HELD_RESERVATIONS, (sku,), "held_reservations")

    async def order_reservations(self, order_id: str) -> list[ReservationRow]:
        """Every reservation of the order, SKUs ascending; see the port."""
        return await self._reservations(ORDER_RESERVATIONS, (order_id,), "order_reservations")

    async def expired_holds(self, now_ms: int, limit: int) -> list[ReservationRow]:
        """Held reservations expired at ``now_ms``, soonest first; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        return await self._reservations(EXPIRED_HOLDS, (now_ms, limit), "expired_holds")

    async def _reservations(
        self, sql: str, params: tuple[object, ...], what: str
    ) -> list[ReservationRow]:
        def read(conn: sqlite3.Connection) -> list[ReservationRow]:
            return [rows.to_reservation(row) for row in conn.execute(sql, params)]

        return await self._reader.run(read, what)

    async def reservation_drift(self, limit: int) -> list[tuple[str, int, int]]:
        """SKUs whose stored ``reserved`` differs from their held rows; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)

        def read(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
            return [rows.to_drift(row) for row in conn.execute(RESERVATION_DRIFT, (limit,))]

        return await self._reader.run(read, "reservation_drift")

    async def stock_events(
        self, sku: str, *, before_seq: int | None = None, limit: int
    ) -> list[StockEventRow]:
        """Journal entries of ``sku`` before ``before_seq``, newest first; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        params: tuple[object, ...]
        if before_seq is None:
            sql, params = STOCK_EVENTS_LATEST, (sku, limit)
        else:
            sql, params = STOCK_EVENTS_BEFORE, (sku, before_seq, limit)

        def read(conn: sqlite3.Connection) -> list[StockEventRow]:
            return [rows.to_stock_event(row) for row in conn.execute(sql, params)]

        return await self._reader.run(read, "stock_events")

    async def get_purchase_order(self, po_id: str) -> PurchaseOrderRow | None:
        """The purchase order, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> PurchaseOrderRow | None:
            row = conn.execute(GET_PO, (po_id,)).fetchone()
            return None if row is None else rows.to_purchase_order(row)

        return await self._reader.run(read, "get_purchase_order")

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        """The stored Idempotency-Key of ``sku``, expired or not, or ``None``; see the port.
        Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> AdjustmentKeyRow | None:
            row = conn.execute(adjustment_keys.SQLITE_GET, (sku, key)).fetchone()
            return None if row is None else adjustment_keys.to_row(row)

        return await self._reader.run(read, "get_adjustment_key")

    async def expired_adjustment_keys(self, now_ms: int, limit: int) -> list[AdjustmentKeyRow]:
        """Keys expired at ``now_ms``, soonest first; see the port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)

        def read(conn: sqlite3.Connection) -> list[AdjustmentKeyRow]:
            found = conn.execute(adjustment_keys.SQLITE_EXPIRED, (now_ms, limit))
            return [adjustment_keys.to_row(row) for row in found]

        return await self._reader.run(read, "expired_adjustment_keys")

    async def purchase_orders(
        self,
        *,
        sku: str | None = None,
        states: Sequence[PurchaseOrderState] = (),
        after: str | None = None,
        limit: int,
    ) -> list[PurchaseOrderRow]:
        """Up to ``limit`` purchase orders after ``after``, ids ascending, filtered; see the
        port.

        Raises:
            ValueError: ``limit`` < 1.
            StoreUnavailable / StoreError: as for every read.
        """
        check_limit(limit)
        sql, params = rows.purchase_orders_sql(sku, states, after, any_array=False)
        sql = rows.dialect(sql, "?")

        def read(conn: sqlite3.Connection) -> list[PurchaseOrderRow]:
            found = conn.execute(sql, (*params, limit))
            return [rows.to_purchase_order(row) for row in found]

        return await self._reader.run(read, "purchase_orders")


# --------------------------------------------------------------------------- appliers

registry.sqlite_answering(UpsertSku, upsert_sku)
registry.sqlite_answering(PutReservation, put_reservation)
registry.sqlite_answering(AppendStockEvent, append_stock_event)
registry.sqlite_answering(UpsertPurchaseOrder, upsert_purchase_order)
