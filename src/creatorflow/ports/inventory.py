"""Stock per SKU: rows, reservations, the journal, purchase orders, adjustment keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal, Protocol

import msgspec

from creatorflow.ports._write import WriteOp

# --------------------------------------------------------------------------- inventory
#
# Stock per seller SKU (DESIGN §3, §6.4, §8). Each SKU has exactly one writer (its actor), so the
# store never arbitrates between concurrent writers of one SKU: rows are replaced, last write
# wins. ``reserved`` on the SKU row is the actor's running total; the reservation rows are the
# truth it is derived from, and :meth:`InventoryReader.reservation_drift` finds any mismatch.
# The store enforces the invariant of DESIGN §6.4 as a last line of defence: an ``apply`` with a
# SKU row outside ``0 <= reserved <= on_hand`` (or a negative buffer), or a reservation or
# purchase order with ``qty < 1``, is refused whole (StoreError).

ReservationState = Literal["held", "committed", "released", "expired"]
PurchaseOrderState = Literal["requested", "confirmed", "delivered", "received", "failed"]


class SkuRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stocked seller SKU and, when known, where it lives on TikTok."""

    sku: str
    on_hand: int
    reserved: int
    safety_buffer: int
    shop_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    warehouse_id: str = ""
    updated_at_ms: int


class ReservationRow(msgspec.Struct, frozen=True, kw_only=True):
    """Stock one order holds (or held) of one SKU. ``expires_at_ms`` None: a firm hold."""

    order_id: str
    sku: str
    qty: int
    state: ReservationState
    expires_at_ms: int | None
    created_at_ms: int
    updated_at_ms: int


class StockEventRow(msgspec.Struct, frozen=True, kw_only=True):
    """One journal entry of a SKU; ``seq`` runs 1, 2, … per SKU in commit order.

    ``kind``: reserve / release / commit / expire / adjust / set / receive / repair.
    ``on_hand`` and ``reserved`` are the values after the change.
    """

    sku: str
    seq: int
    at_ms: int
    kind: str
    order_id: str
    delta_on_hand: int
    delta_reserved: int
    on_hand: int
    reserved: int
    reason: str


class PurchaseOrderRow(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase order to a supplier; ``po_id`` is also its idempotency key there."""

    po_id: str
    sku: str
    supplier_id: str
    qty: int
    state: PurchaseOrderState
    created_at_ms: int
    expected_at_ms: int
    updated_at_ms: int
    detail: bytes = b"{}"


class UpsertSku(WriteOp, frozen=True, kw_only=True, tag="upsert_sku"):
    """Insert the SKU or replace every field of it. Result: ``True`` if new."""

    sku: str
    on_hand: int
    reserved: int
    safety_buffer: int
    shop_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    warehouse_id: str = ""
    updated_at_ms: int


class PutReservation(WriteOp, frozen=True, kw_only=True, tag="put_reservation"):
    """Insert or replace the reservation of ``(order_id, sku)``. Result: ``True`` if new.

    On replace, ``created_at_ms`` of the stored row is kept.
    """

    order_id: str
    sku: str
    qty: int
    state: ReservationState
    expires_at_ms: int | None
    created_at_ms: int
    updated_at_ms: int


class AppendStockEvent(WriteOp, frozen=True, kw_only=True, tag="append_stock_event"):
    """Append to a SKU's journal. Result: the ``seq`` assigned (``int``, from 1).

    Numbered like :class:`AppendOrderEvent` (one more than the SKU's last, in op order, never
    shared or skipped); the SKU row need not exist.
    """

    sku: str
    at_ms: int
    kind: str
    order_id: str = ""
    delta_on_hand: int = 0
    delta_reserved: int = 0
    on_hand: int
    reserved: int
    reason: str = ""


class UpsertPurchaseOrder(WriteOp, frozen=True, kw_only=True, tag="upsert_purchase_order"):
    """Insert the purchase order or replace it (``created_at_ms`` kept). Result: ``True`` if new."""

    po_id: str
    sku: str
    supplier_id: str
    qty: int
    state: PurchaseOrderState
    created_at_ms: int
    expected_at_ms: int
    updated_at_ms: int
    detail: bytes = b"{}"


class AdjustmentKeyRow(msgspec.Struct, frozen=True, kw_only=True):
    """The Idempotency-Key of one stock adjustment, stored in the same commit as it.

    Keys are scoped to their SKU. ``delta`` and ``reason`` are the adjustment the key made (a
    retry must send the same); the key counts until ``expires_at_ms`` (exclusive).
    """

    sku: str
    key: str
    delta: int
    reason: str
    created_at_ms: int
    expires_at_ms: int


#: Longest Idempotency-Key a store keeps, in characters (the API refuses longer ones).
MAX_ADJUSTMENT_KEY_CHARS: Final = 255


class PutAdjustmentKey(WriteOp, frozen=True, kw_only=True, tag="put_adjustment_key"):
    """Record the key of an adjustment, in the same ``apply`` as the adjustment's own ops.

    Result: ``True`` if new, ``False`` when it replaced a stored row of the same ``(sku, key)``
    that had expired by ``created_at_ms``. A stored row still live then (``expires_at_ms >
    created_at_ms``) refuses the whole ``apply`` (StoreError): the adjustment it belongs to was
    already made, so it must not commit twice. A ``key`` of 0 or more than
    :data:`MAX_ADJUSTMENT_KEY_CHARS` characters, or ``expires_at_ms <= created_at_ms``, is
    refused too.
    """

    sku: str
    key: str
    delta: int
    reason: str
    created_at_ms: int
    expires_at_ms: int


class DeleteAdjustmentKeys(WriteOp, frozen=True, kw_only=True, tag="delete_adjustment_keys"):
    """Forget up to ``limit`` (>= 1) keys of ``sku`` expired at ``now_ms`` (``expires_at_ms <=
    now_ms``), soonest expiry first. Result: the number deleted (``int``)."""

    sku: str
    now_ms: int
    limit: int


class InventoryReader(Protocol):
    """Read side of inventory. Reads see the last commit; SKU ids compare bytewise."""

    async def get_sku(self, sku: str) -> SkuRow | None:
        """The SKU, or ``None`` if it was never stored."""
        ...

    async def list_skus(
        self, *, after: str | None = None, available_below: int | None = None, limit: int
    ) -> list[SkuRow]:
        """Up to ``limit`` (>= 1) SKUs with ids strictly after ``after``, ids ascending.

        With ``available_below``, only SKUs whose ``on_hand - reserved`` is strictly below it.
        Raises ValueError for ``limit`` < 1.
        """
        ...

    async def held_reservations(self, sku: str) -> list[ReservationRow]:
        """Every reservation of ``sku`` in state ``held`` (expired or not), order ids ascending."""
        ...

    async def order_reservations(self, order_id: str) -> list[ReservationRow]:
        """Every reservation of the order, whatever its state, SKUs ascending."""
        ...

    async def expired_holds(self, now_ms: int, limit: int) -> list[ReservationRow]:
        """Up to ``limit`` (>= 1) ``held`` reservations with ``expires_at_ms <= now_ms``,
        soonest expiry first (then order id, SKU). Raises ValueError for ``limit`` < 1."""
        ...

    async def reservation_drift(self, limit: int) -> list[tuple[str, int, int]]:
        """SKUs whose stored ``reserved`` differs from the sum of their ``held`` rows:
        ``(sku, stored reserved, sum of held qty)``, SKU ids ascending, at most ``limit`` (>= 1).

        A SKU with held rows but no SKU row counts with stored reserved 0. Raises ValueError for
        ``limit`` < 1.
        """
        ...

    async def stock_events(
        self, sku: str, *, before_seq: int | None = None, limit: int
    ) -> list[StockEventRow]:
        """Up to ``limit`` (>= 1) journal entries of ``sku`` with ``seq < before_seq`` (all when
        None), newest first. Raises ValueError for ``limit`` < 1."""
        ...

    async def get_purchase_order(self, po_id: str) -> PurchaseOrderRow | None:
        """The purchase order, or ``None``."""
        ...

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        """The stored key of ``sku``, expired or not (the caller compares ``expires_at_ms``),
        or ``None``."""
        ...

    async def expired_adjustment_keys(self, now_ms: int, limit: int) -> list[AdjustmentKeyRow]:
        """Up to ``limit`` (>= 1) keys with ``expires_at_ms <= now_ms``, soonest expiry first
        (then SKU, key). Raises ValueError for ``limit`` < 1."""
        ...

    async def purchase_orders(
        self,
        *,
        sku: str | None = None,
        states: Sequence[PurchaseOrderState] = (),
        after: str | None = None,
        limit: int,
    ) -> list[PurchaseOrderRow]:
        """Up to ``limit`` (>= 1) purchase orders with ids strictly after ``after``, ids
        ascending; filtered by ``sku`` and by ``states`` (any of them) when given. Raises
        ValueError for ``limit`` < 1."""
        ...
