"""Shipments on Postgres: the reads (``ShipmentReader``) and the appliers of the shipment ops.

Shipment writes are a few per order (attempt, label, shipped, tracking), so a run is applied
one statement per op inside the batch's transaction (answers need ``RETURNING`` per row).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from creatorflow.adapters.store import _registry as registry
from creatorflow.adapters.store import _shipment_rows as rows
from creatorflow.adapters.store._inventory_rows import dialect
from creatorflow.adapters.store._pg_reads import check_limit
from creatorflow.ports.shipments import (
    LabelRow,
    PutLabel,
    PutShipment,
    ShipmentRow,
    ShipmentState,
)

T = TypeVar("T")

UPSERT_SHIPMENT = dialect(rows.UPSERT_SHIPMENT, "$")
GET_SHIPMENT = dialect(rows.GET_SHIPMENT, "$")
BY_TRACKING = dialect(rows.BY_TRACKING, "$")
PUT_LABEL = dialect(rows.PUT_LABEL, "$")
GET_LABEL = dialect(rows.GET_LABEL, "$")


async def put_shipments(conn: Any, run: list[PutShipment]) -> list[bool]:
    return [bool(await conn.fetchval(UPSERT_SHIPMENT, *rows.shipment_params(op.row))) for op in run]


async def put_labels(conn: Any, run: list[PutLabel]) -> None:
    await conn.executemany(PUT_LABEL, [rows.label_params(op.label) for op in run])


class PgShippingSide:
    """``ShipmentReader`` through the store's ``_call`` (reads retried like every read)."""

    _call: Callable[..., Awaitable[Any]]

    async def get_shipment(self, order_id: str) -> ShipmentRow | None:
        """The order's shipment, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> ShipmentRow | None:
            row = await conn.fetchrow(GET_SHIPMENT, order_id)
            return None if row is None else rows.to_shipment(tuple(row))

        result: ShipmentRow | None = await self._call(read, "get_shipment", idempotent=True)
        return result

    async def shipment_by_tracking(self, tracking_number: str) -> ShipmentRow | None:
        """The shipment with this tracking number, or ``None``; see the port."""

        async def read(conn: Any) -> ShipmentRow | None:
            row = await conn.fetchrow(BY_TRACKING, tracking_number)
            return None if row is None else rows.to_shipment(tuple(row))

        result: ShipmentRow | None = await self._call(read, "shipment_by_tracking", idempotent=True)
        return result

    async def due_shipments(
        self, states: Sequence[ShipmentState], now_ms: int, limit: int
    ) -> list[ShipmentRow]:
        """Shipments in ``states`` due at ``now_ms``, soonest first; see the port."""
        check_limit(limit)
        rows.check_states(states)
        sql = dialect(rows.due_sql(states), "$")

        async def read(conn: Any) -> list[ShipmentRow]:
            found = await conn.fetch(sql, *states, now_ms, limit)
            return [rows.to_shipment(tuple(r)) for r in found]

        result: list[ShipmentRow] = await self._call(read, "due_shipments", idempotent=True)
        return result

    async def get_label(self, order_id: str) -> LabelRow | None:
        """The order's label, or ``None``. Raises StoreUnavailable / StoreError."""

        async def read(conn: Any) -> LabelRow | None:
            row = await conn.fetchrow(GET_LABEL, order_id)
            return None if row is None else rows.to_label(tuple(row))

        result: LabelRow | None = await self._call(read, "get_label", idempotent=True)
        return result


# --------------------------------------------------------------------------- appliers

registry.postgres(
    PutShipment,
    rank=400,
    key=lambda op: ("shipment", op.row.order_id),
    run=put_shipments,
    transactional=True,  # one statement per op
)
registry.postgres(PutLabel, rank=410, key=lambda op: ("label", op.label.order_id), run=put_labels)
