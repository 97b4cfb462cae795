"""Shipments as the store keeps them: one row per order, its label bytes, and the reads.

One row per order (``order_id``), written only by the carrier pool (the single writer of
shipments): the state of the label and the parcel, the attempt whose ``request_id`` was sent
to the gateway (persisted *before* the purchase call, so a crash or a lost reply is looked up,
never blindly retried), the gateway's ids, and a document (``doc``: the selection, every
attempt, the cost, the tracking events; msgspec-encoded by the caller, opaque to the store).
``next_check_at_ms`` schedules the next look at the row (a label retry, a tracking poll);
``None`` when nothing is due.

States::

    awaiting_label ─▶ purchasing ─▶ labeled ─▶ shipped ─▶ in_transit ─▶ delivered
          ▲               │            │           │            │
          └───────────────┘            ▼           └────────────┴─▶ exception
                                    voided / void_failed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from creatorflow.ports._write import WriteOp

ShipmentState = Literal[
    "awaiting_label",
    "purchasing",
    "labeled",
    "shipped",
    "in_transit",
    "delivered",
    "exception",
    "voided",
    "void_failed",
]
SHIPMENT_STATES: tuple[ShipmentState, ...] = (
    "awaiting_label",
    "purchasing",
    "labeled",
    "shipped",
    "in_transit",
    "delivered",
    "exception",
    "voided",
    "void_failed",
)


class ShipmentRow(msgspec.Struct, frozen=True, kw_only=True):
    """One order's shipment (see the module docstring)."""

    order_id: str
    shop_id: str
    state: ShipmentState
    attempt: int  # the number of the last purchase attempt (0: none yet)
    request_id: str  # the X-Request-ID of that attempt ("" before the first)
    carrier: str = ""
    service: str = ""
    shipment_id: str = ""  # the gateway's id of the shipment ("" before one exists)
    tracking_number: str = ""
    tracking_status: str = ""
    next_check_at_ms: int | None = None
    updated_at_ms: int
    doc: bytes


class LabelRow(msgspec.Struct, frozen=True, kw_only=True):
    """The label bytes of an order's shipment (bounded by the gateway adapter)."""

    order_id: str
    shipment_id: str
    label_type: str  # PDF | ZPL | PNG
    data: bytes
    created_at_ms: int


class PutShipment(WriteOp, frozen=True, kw_only=True, tag="put_shipment"):
    """Create or replace an order's shipment row. Result: ``True`` if it was new."""

    row: ShipmentRow


class PutLabel(WriteOp, frozen=True, kw_only=True, tag="put_label"):
    """Store (or replace) an order's label bytes. Result: ``None``."""

    label: LabelRow


class ShipmentReader(Protocol):
    """Read side of shipments. Reads see the last commit."""

    async def get_shipment(self, order_id: str) -> ShipmentRow | None:
        """The order's shipment, or ``None``."""
        ...

    async def shipment_by_tracking(self, tracking_number: str) -> ShipmentRow | None:
        """The shipment with this tracking number (the latest when reused), or ``None``."""
        ...

    async def due_shipments(
        self, states: Sequence[ShipmentState], now_ms: int, limit: int
    ) -> list[ShipmentRow]:
        """Up to ``limit`` (>= 1) shipments in one of ``states`` whose ``next_check_at_ms`` is
        at or before ``now_ms``, soonest due first (then order id). Raises ValueError for
        ``limit`` < 1 or no states."""
        ...

    async def get_label(self, order_id: str) -> LabelRow | None:
        """The order's label, or ``None``."""
        ...
