"""The order saga's reservation step: hold, release and commit stock for an order's lines.

Runs inside the order scheduler's saga (``SagaStep``) and talks to the per-SKU inventory actors
(DESIGN §3). What it does depends on the order's internal state:

=======================  ===================================================================
state                    step
=======================  ===================================================================
classified, backordered  reserve every line, all-or-nothing (below) → ``RESERVE`` (then
                         ``HOLD`` when TikTok says UNPAID / ON_HOLD), or ``BACKORDER``
reserved, on_hold        re-reserve (idempotent): a paid order's holds become firm (and an
                         ``on_hold`` order released); a hold that expired and cannot be
                         renewed → release all, ``BACKORDER``
cancelled                release every line
shipped, in_transit,     commit every line (units leave the shelf; an order that never
delivered                reserved commits from free stock)
others                   nothing
=======================  ===================================================================

**All-or-nothing.** Lines are reserved one SKU at a time in ascending SKU order (every order
takes SKUs in the same global order, and no actor waits on another, so nothing can deadlock).
When a SKU refuses, every line of the order is released again (compensation), so no order is
left holding part of its stock. A crash between the two leaves partial holds in the store; the
scheduler queues ``classified`` orders again on start and this step then completes or
compensates them.

**Holds with expiry.** An UNPAID / ON_HOLD order holds stock until ``create_time + hold_ttl_s``
(stable, so repeats are idempotent); past that it holds nothing and waits in ``classified``
until TikTok releases it. When TikTok says AWAITING_SHIPMENT the hold becomes firm.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio

from creatorflow.actors.inventory import (
    Commit,
    GetStock,
    InventoryMsg,
    Release,
    Reservation,
    Reserve,
    StockView,
    TikTokSkuRef,
)
from creatorflow.actors.order_scheduler import Moves, OrderDoc
from creatorflow.domain.order import Order
from creatorflow.domain.state_machine import OrderEvent, OrderState
from creatorflow.domain.tiktok_status import holds_stock_only
from creatorflow.errors import InventoryRefused
from creatorflow.ports import Clock, ReservationRow

log = logging.getLogger("creatorflow.inventory")

#: ``ask(sku, msg)``: the inventory registry's ask.
AskSku = Callable[[str, InventoryMsg], Awaitable[object]]

_RESERVE_STATES = frozenset({OrderState.CLASSIFIED, OrderState.BACKORDERED})
_HELD_STATES = frozenset({OrderState.RESERVED, OrderState.ON_HOLD})
_SHIPPED_STATES = frozenset({OrderState.SHIPPED, OrderState.IN_TRANSIT, OrderState.DELIVERED})


def order_lines(order: Order) -> list[tuple[str, int]]:
    """``(sku, qty)`` of every SKU of the order, SKUs ascending; ``qty`` excludes cancelled
    units, so it is 0 for a SKU whose every unit was cancelled (TikTok marks the line items of a
    cancelled order cancelled too)."""
    totals: dict[str, int] = {}
    for line in order.lines:
        totals[line.seller_sku] = totals.get(line.seller_sku, 0) + max(
            0, line.quantity - line.cancelled_quantity
        )
    return sorted(totals.items())


async def reserve_all(
    ask: AskSku,
    order_id: str,
    lines: list[tuple[str, int]],
    *,
    expires_at_ms: int | None = None,
    refs: dict[str, TikTokSkuRef | None] | None = None,
) -> list[str]:
    """Reserve every line all-or-nothing, in the given (ascending SKU) order.

    Returns ``[]`` when every line holds its stock, else the SKU that refused, after releasing
    every line of the order again (compensation; releases are idempotent, so lines that never
    held anything cost a no-op). Errors (timeouts, store down) propagate with whatever was
    held left in place: the saga runs the step again and it completes or compensates then.
    """
    for sku, qty in lines:
        ref = None if refs is None else refs.get(sku)
        reply = await ask(
            sku, Reserve(order_id=order_id, qty=qty, expires_at_ms=expires_at_ms, tiktok=ref)
        )
        assert isinstance(reply, Reservation)
        if not reply.ok:
            for held_sku, _ in lines:
                await ask(held_sku, Release(order_id=order_id, reason=f"no stock for {sku}"))
            return [sku]
    return []


class ReservationStep:
    """See the module docstring. ``on_backorder(order_id, skus)`` is told about shortages."""

    name = "reservation"

    def __init__(
        self,
        ask: AskSku,
        *,
        clock: Clock,
        hold_ttl_s: float,
        timeout_s: float = 10.0,
        on_backorder: Callable[[str, list[str]], None] = lambda order_id, skus: None,
        holds_of: Callable[[str], Awaitable[Sequence[ReservationRow]]] | None = None,
    ) -> None:
        self._ask = ask
        self._clock = clock
        self._hold_ttl_ms = int(hold_ttl_s * 1000)
        self._timeout_s = timeout_s
        self._on_backorder = on_backorder
        self._holds_of = holds_of

    async def run(self, order_id: str, doc: OrderDoc, state: OrderState) -> Moves:
        order = doc.order
        lines = order_lines(order)
        if not lines:
            return ()
        with anyio.fail_after(self._timeout_s * (len(lines) + 1)):
            if state in _RESERVE_STATES or state in _HELD_STATES:
                return await self._reserve(order, lines, state)
            if state is OrderState.CANCELLED:
                await self._release_all(order, lines, "order cancelled")
            elif state in _SHIPPED_STATES:
                for sku, qty in lines:
                    if qty == 0:
                        await self._ask(sku, Release(order_id=order.order_id, reason="cancelled"))
                        continue
                    try:
                        await self._ask(
                            sku, Commit(order_id=order.order_id, qty=qty, reason=str(state))
                        )
                    except InventoryRefused as exc:
                        # Shipped outside CreatorFlow without stock on record here: the
                        # shelf count is wrong; say so, the operator recounts.
                        log.warning("order %s shipped %d x %s: %s", order.order_id, qty, sku, exc)
        return ()

    async def _reserve(
        self, order: Order, lines: list[tuple[str, int]], state: OrderState
    ) -> Moves:
        hold = holds_stock_only(order.tiktok_status)
        expires: int | None = None
        if hold:
            created_ms = (order.create_time * 1000) or self._clock.now_ms()
            expires = created_ms + self._hold_ttl_ms
            if expires <= self._clock.now_ms():
                # Unpaid for longer than the hold TTL: hold nothing until TikTok releases it.
                if state in _HELD_STATES:
                    await self._release_all(order, lines, "hold expired")
                    return ((OrderEvent.BACKORDER, "hold expired"),)
                return ()
        for sku, qty in lines:
            if qty == 0:  # every unit of this SKU was cancelled: hold none of it
                await self._ask(sku, Release(order_id=order.order_id, reason="line cancelled"))
        if self._holds_of is not None:  # a SKU the order no longer has keeps no hold
            skus = {sku for sku, _ in lines}
            for row in await self._holds_of(order.order_id):
                if row.state == "held" and row.sku not in skus:
                    await self._ask(row.sku, Release(order_id=order.order_id, reason="line gone"))
        wanted = [(sku, qty) for sku, qty in lines if qty > 0]
        if not wanted:
            return ()
        if state is OrderState.BACKORDERED and not await self._all_in_stock(wanted):
            return ()  # still short: retried when stock arrives, holding nothing meanwhile
        refs = {sku: self._ref(order, sku) for sku, _ in wanted}
        short = await reserve_all(
            self._ask, order.order_id, wanted, expires_at_ms=expires, refs=refs
        )
        if short:
            if state is OrderState.BACKORDERED:
                return ()
            self._on_backorder(order.order_id, short)
            return ((OrderEvent.BACKORDER, f"no stock: {', '.join(short)}"),)
        if state in _RESERVE_STATES:
            moves: list[tuple[OrderEvent, str]] = [(OrderEvent.RESERVE, "stock reserved")]
            if hold:
                moves.append((OrderEvent.HOLD, f"tiktok {order.tiktok_status}: hold stock"))
            return tuple(moves)
        # Held already: line the state up with TikTok's (a snapshot may have raced the step).
        if state is OrderState.ON_HOLD and not hold:
            return ((OrderEvent.RELEASE, f"tiktok {order.tiktok_status}: holds made firm"),)
        if state is OrderState.RESERVED and hold:
            return ((OrderEvent.HOLD, f"tiktok {order.tiktok_status}: hold stock"),)
        return ()

    async def _all_in_stock(self, lines: list[tuple[str, int]]) -> bool:
        """Whether every line looks reservable now (read only: a backordered order's retry must
        not reserve and release its other SKUs each time; the reserve itself decides)."""
        for sku, qty in lines:
            try:
                view = await self._ask(sku, GetStock())
            except KeyError:
                return False  # a SKU nobody stocked yet
            if not isinstance(view, StockView) or view.sellable < qty:
                return False
        return True

    async def _release_all(self, order: Order, lines: list[tuple[str, int]], why: str) -> None:
        for sku, _ in lines:
            await self._ask(sku, Release(order_id=order.order_id, reason=why))

    @staticmethod
    def _ref(order: Order, sku: str) -> TikTokSkuRef | None:
        for line in order.lines:
            if line.seller_sku == sku and line.product_id and line.sku_id:
                return TikTokSkuRef(
                    shop_id=order.shop_id,
                    product_id=line.product_id,
                    sku_id=line.sku_id,
                    warehouse_id=order.warehouse_id,
                )
        return None


__all__ = ["AskSku", "ReservationStep", "order_lines", "reserve_all"]
