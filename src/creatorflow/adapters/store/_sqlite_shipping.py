"""Shipments on SQLite: the reads (``ShipmentReader``) and the appliers of the shipment ops."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store import _shipment_rows as rows
from creatorflow.adapters.store._inventory_rows import dialect
from creatorflow.adapters.store._sqlite_conn import Lane
from creatorflow.adapters.store._sqlite_reads import check_limit
from creatorflow.ports.shipments import (
    LabelRow,
    PutLabel,
    PutShipment,
    ShipmentRow,
    ShipmentState,
)

INSERT_SHIPMENT = dialect(rows.INSERT_SHIPMENT, "?")
UPDATE_SHIPMENT = dialect(rows.UPDATE_SHIPMENT, "?")
GET_SHIPMENT = dialect(rows.GET_SHIPMENT, "?")
BY_TRACKING = dialect(rows.BY_TRACKING, "?")
PUT_LABEL = dialect(rows.PUT_LABEL, "?")
GET_LABEL = dialect(rows.GET_LABEL, "?")


def put_shipment(conn: sqlite3.Connection, op: PutShipment) -> bool:
    params = rows.shipment_params(op.row)
    if conn.execute(INSERT_SHIPMENT, params).rowcount == 1:
        return True
    conn.execute(UPDATE_SHIPMENT, (*params[1:], params[0]))
    return False


class SqliteShippingSide:
    """``ShipmentReader`` on the ``_reader`` lane."""

    _reader: Lane

    async def get_shipment(self, order_id: str) -> ShipmentRow | None:
        """The order's shipment, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> ShipmentRow | None:
            row = conn.execute(GET_SHIPMENT, (order_id,)).fetchone()
            return None if row is None else rows.to_shipment(row)

        return await self._reader.run(read, "get_shipment")

    async def shipment_by_tracking(self, tracking_number: str) -> ShipmentRow | None:
        """The shipment with this tracking number, or ``None``; see the port."""

        def read(conn: sqlite3.Connection) -> ShipmentRow | None:
            row = conn.execute(BY_TRACKING, (tracking_number,)).fetchone()
            return None if row is None else rows.to_shipment(row)

        return await self._reader.run(read, "shipment_by_tracking")

    async def due_shipments(
        self, states: Sequence[ShipmentState], now_ms: int, limit: int
    ) -> list[ShipmentRow]:
        """Shipments in ``states`` due at ``now_ms``, soonest first; see the port."""
        check_limit(limit)
        rows.check_states(states)
        sql = dialect(rows.due_sql(states), "?")

        def read(conn: sqlite3.Connection) -> list[ShipmentRow]:
            return [rows.to_shipment(r) for r in conn.execute(sql, (*states, now_ms, limit))]

        return await self._reader.run(read, "due_shipments")

    async def get_label(self, order_id: str) -> LabelRow | None:
        """The order's label, or ``None``. Raises StoreUnavailable / StoreError."""

        def read(conn: sqlite3.Connection) -> LabelRow | None:
            row = conn.execute(GET_LABEL, (order_id,)).fetchone()
            return None if row is None else rows.to_label(row)

        return await self._reader.run(read, "get_label")


# --------------------------------------------------------------------------- appliers

registry.sqlite_answering(PutShipment, put_shipment)
registry.sqlite_batched(PutLabel, PUT_LABEL, lambda op: rows.label_params(op.label))
