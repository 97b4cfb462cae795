"""The sandbox supplier's purchase orders and its movable clock.

State (bounded): at most ``max_orders`` orders in creation order. When full, the oldest
finished order (delivered or rejected) is forgotten to make room; if none is finished the new
order is refused (:class:`BookFull`), because forgetting an open order would let a retry of it
create a second one. An order's state is not stored: it is derived from its creation time and
the clock on every read, so moving the clock moves every order along its life cycle.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

import msgspec

from creatorflow.ports import Clock
from creatorflow.sandbox._supplier_config import SupplierSandboxConfig

OrderState = Literal["accepted", "confirmed", "shipped", "delivered", "rejected"]

#: Why an order for a SKU in ``reject_skus`` is rejected.
REJECT_REASON = "sku not available from this supplier"


class ShiftedClock:
    """The sandbox clock: an underlying wall clock plus an offset that only grows.

    ``POST /_admin/clock`` (or :meth:`advance`) moves it forward, so a real server's orders can
    be pushed to delivery without waiting; tests may also pass a fake underlying clock.
    """

    def __init__(self, base: Clock) -> None:
        self.base = base
        self.offset_ms = 0

    def now_ms(self) -> int:
        return self.base.now_ms() + self.offset_ms

    def advance(self, seconds: float) -> None:
        """Move the clock forward. Raises ``ValueError`` for a negative amount."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.offset_ms += round(seconds * 1000)


class BookFull(Exception):
    """Raised by :meth:`OrderBook.place` when every stored order is still open."""


class Conflict(Exception):
    """Raised by :meth:`OrderBook.place` for a known ``po_id`` with another SKU or quantity."""


class PurchaseOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What the sandbox stores for one order; the state is derived by :meth:`OrderBook.render`."""

    po_id: str
    supplier_ref: str
    sku: str
    qty: int
    created_at_ms: int
    confirmed_at_ms: int
    shipped_at_ms: int
    expected_at_ms: int
    rejected: bool


class OrderBook:
    """Purchase orders by ``po_id``. Never blocks; no I/O."""

    def __init__(self, config: SupplierSandboxConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        # Invariant: len(self._orders) <= config.max_orders; oldest first.
        self._orders: OrderedDict[str, PurchaseOrder] = OrderedDict()
        self._created = 0
        self.forgotten = 0

    def __len__(self) -> int:
        return len(self._orders)

    def clear(self) -> None:
        """Forget every order; supplier refs are numbered from the start again."""
        self._orders.clear()
        self._created = 0
        self.forgotten = 0

    def get(self, po_id: str) -> PurchaseOrder | None:
        """The order, or None."""
        return self._orders.get(po_id)

    def orders(self) -> list[PurchaseOrder]:
        """Every stored order, oldest first."""
        return list(self._orders.values())

    def place(self, po_id: str, sku: str, qty: int) -> tuple[PurchaseOrder, bool]:
        """The order ``po_id``, created if new; ``(order, created)``.

        Raises:
            Conflict: ``po_id`` is known with another ``sku`` or ``qty``.
            BookFull: the book is full of open orders.
        """
        known = self._orders.get(po_id)
        if known is not None:
            if (known.sku, known.qty) != (sku, qty):
                raise Conflict(
                    f"po_id {po_id!r} was placed for {known.qty} x {known.sku!r}, "
                    f"not {qty} x {sku!r}"
                )
            return known, False
        if len(self._orders) >= self._config.max_orders:
            self._make_room()
        config = self._config
        now = self._clock.now_ms()
        rejected = sku in config.reject_skus
        expected = 0 if rejected else now + round(config.lead_time_of(sku) * 1000)
        confirmed = now + round(config.confirm_after_s * 1000)
        shipped = max(confirmed, expected - round(config.transit_s * 1000))
        self._created += 1
        order = PurchaseOrder(
            po_id=po_id,
            supplier_ref=f"SR-{config.seed}-{self._created:06d}",
            sku=sku,
            qty=qty,
            created_at_ms=now,
            confirmed_at_ms=confirmed,
            shipped_at_ms=shipped if config.transit_s > 0 else expected,
            expected_at_ms=expected,
            rejected=rejected,
        )
        self._orders[po_id] = order
        return order, True

    def _make_room(self) -> None:
        now = self._clock.now_ms()
        for po_id, order in self._orders.items():
            if order.rejected or order.expected_at_ms <= now:
                del self._orders[po_id]
                self.forgotten += 1
                return
        raise BookFull(f"{len(self._orders)} open orders: none can be forgotten")

    def state_of(self, order: PurchaseOrder) -> OrderState:
        """The order's state now."""
        if order.rejected:
            return "rejected"
        now = self._clock.now_ms()
        if now >= order.expected_at_ms:
            return "delivered"
        if now >= order.shipped_at_ms:
            return "shipped"
        if now >= order.confirmed_at_ms:
            return "confirmed"
        return "accepted"

    def render(self, order: PurchaseOrder, *, admin: bool = False) -> dict[str, Any]:
        """The order as the API answers it; ``admin`` adds when it confirms and ships."""
        state = self.state_of(order)
        view = {
            "po_id": order.po_id,
            "supplier_ref": order.supplier_ref,
            "sku": order.sku,
            "qty": order.qty,
            "state": state,
            "created_at_ms": order.created_at_ms,
            "expected_at_ms": order.expected_at_ms,
            "delivered_qty": order.qty if state == "delivered" else 0,
            "reason": REJECT_REASON if order.rejected else "",
        }
        if admin:
            view.update(confirmed_at_ms=order.confirmed_at_ms, shipped_at_ms=order.shipped_at_ms)
        return view
