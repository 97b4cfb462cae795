"""SQL and row mapping of shipments and labels, shared by both store backends (``{p}`` is the
placeholder, filled per dialect by ``_inventory_rows.dialect``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from creatorflow.ports.shipments import LabelRow, ShipmentRow, ShipmentState

SHIPMENT_COLUMNS = (
    "order_id, shop_id, state, attempt, request_id, carrier, service, shipment_id, "
    "tracking_number, tracking_status, next_check_at_ms, updated_at_ms, doc"
)
_UPDATED = (
    "shop_id, state, attempt, request_id, carrier, service, shipment_id, tracking_number, "
    "tracking_status, next_check_at_ms, updated_at_ms, doc"
)
_VALUES = ", ".join(["{p}"] * 13)

#: Insert an order's shipment unless it exists (SQLite: then :data:`UPDATE_SHIPMENT`).
INSERT_SHIPMENT = f"""
INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ({_VALUES})
ON CONFLICT (order_id) DO NOTHING
"""
#: Replace an existing shipment's columns (params: the row's, order id last).
UPDATE_SHIPMENT = f"""
UPDATE shipments SET {", ".join(f"{c} = {{p}}" for c in _UPDATED.split(", "))}
WHERE order_id = {{p}}
"""
#: Postgres: insert or replace in one statement; answers whether the row was new.
UPSERT_SHIPMENT = f"""
INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ({_VALUES})
ON CONFLICT (order_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in _UPDATED.split(", "))}
RETURNING (xmax = 0)
"""

GET_SHIPMENT = f"SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_id = {{p}}"
BY_TRACKING = (
    f"SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE tracking_number = {{p}} "
    "AND tracking_number != '' ORDER BY updated_at_ms DESC LIMIT 1"
)

LABEL_COLUMNS = "order_id, shipment_id, label_type, data, created_at_ms"

PUT_LABEL = f"""
INSERT INTO labels ({LABEL_COLUMNS}) VALUES ({{p}}, {{p}}, {{p}}, {{p}}, {{p}})
ON CONFLICT (order_id) DO UPDATE SET
    shipment_id = excluded.shipment_id, label_type = excluded.label_type,
    data = excluded.data, created_at_ms = excluded.created_at_ms
"""

GET_LABEL = f"SELECT {LABEL_COLUMNS} FROM labels WHERE order_id = {{p}}"


def due_sql(states: Sequence[str]) -> str:
    """Shipments in ``states`` due at a time, soonest first; params: *states, now, limit."""
    marks = ", ".join(["{p}"] * len(states))
    return (
        f"SELECT {SHIPMENT_COLUMNS} FROM shipments "
        f"WHERE state IN ({marks}) AND next_check_at_ms IS NOT NULL "
        "AND next_check_at_ms <= {p} ORDER BY next_check_at_ms, order_id LIMIT {p}"
    )


def shipment_params(row: ShipmentRow) -> tuple[Any, ...]:
    return (
        row.order_id,
        row.shop_id,
        row.state,
        row.attempt,
        row.request_id,
        row.carrier,
        row.service,
        row.shipment_id,
        row.tracking_number,
        row.tracking_status,
        row.next_check_at_ms,
        row.updated_at_ms,
        row.doc,
    )


def to_shipment(row: Sequence[Any]) -> ShipmentRow:
    (oid, shop, state, attempt, request_id, carrier, service, sid, tn, ts, due, at, doc) = row
    return ShipmentRow(
        order_id=oid,
        shop_id=shop,
        state=cast(ShipmentState, state),
        attempt=attempt,
        request_id=request_id,
        carrier=carrier,
        service=service,
        shipment_id=sid,
        tracking_number=tn,
        tracking_status=ts,
        next_check_at_ms=due,
        updated_at_ms=at,
        doc=bytes(doc),
    )


def label_params(label: LabelRow) -> tuple[Any, ...]:
    return (label.order_id, label.shipment_id, label.label_type, label.data, label.created_at_ms)


def to_label(row: Sequence[Any]) -> LabelRow:
    order_id, shipment_id, label_type, data, created = row
    return LabelRow(
        order_id=order_id,
        shipment_id=shipment_id,
        label_type=label_type,
        data=bytes(data),
        created_at_ms=created,
    )


def check_states(states: Sequence[str]) -> None:
    if not states:
        raise ValueError("due_shipments needs at least one state")
