"""The inventory capability: per-SKU actors, stock sync to TikTok, the keeper, the stock
watcher (viral detection, forecasts, purchase orders), the reservation saga step, the API.

Installed before orders: the reservation step joins ``asm.saga_steps`` and the scheduler,
installed later, is reached through lazy refs from the hooks below.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeVar

from creatorflow.actors.inventory import InventoryHooks, InventoryMsg, SkuActor, TikTokSkuRef
from creatorflow.actors.inventory_keeper import InventoryKeeper
from creatorflow.actors.order_scheduler import Requeue
from creatorflow.actors.reservation_step import ReservationStep
from creatorflow.actors.stock_sync import StockLevel, StockSync
from creatorflow.actors.stock_watcher import ReorderSettings, SaleObserved, StockWatcher
from creatorflow.errors import CreatorFlowError
from creatorflow.metrics_inventory import InventoryMetrics
from creatorflow.runtime import ActorRef, ChildSpec, Published, Registry, Restart
from creatorflow.web.api.content import ContentMetricsApi
from creatorflow.web.api.inventory import InventoryApi
from creatorflow.web.api.purchase_orders import PurchaseOrdersApi
from creatorflow.wiring import keys
from creatorflow.wiring._assembly import Assembly

log = logging.getLogger("creatorflow")

M = TypeVar("M")

#: SKU rows read per page by the stock resync.
_RESYNC_PAGE = 500


def tell_or_drop(ref: ActorRef[M], msg: M) -> None:
    """Tell without waiting, from a hook that must not block: a full or stopping mailbox drops
    the message (each caller says what repairs that)."""
    try:
        ref.tell_nowait(msg)
    except CreatorFlowError:
        pass


def install(asm: Assembly) -> None:
    ic, ss, rc = asm.config.inventory, asm.config.stock_sync, asm.config.reorder
    rt = asm.config.runtime
    metrics = InventoryMetrics(asm.metrics.registry)
    writer = asm.refs.get(keys.WRITER)
    stock_sync = asm.refs.lazy(keys.STOCK_SYNC)
    watcher = asm.refs.lazy(keys.WATCHER)
    scheduler = asm.refs.lazy(keys.SCHEDULER)

    def on_level(sku: str, sellable: int, ref: TikTokSkuRef | None, version: int) -> None:
        if ref is None or not ss.enabled:
            return
        # Full or stopping: the periodic resync pushes it.
        level = StockLevel(sku=sku, sellable=sellable, ref=ref, version=version)
        tell_or_drop(stock_sync(), level)

    def on_sale(sku: str, qty: int, at_ms: int) -> None:
        # Full: velocity misses a sale (the reservation itself is durable).
        tell_or_drop(watcher(), SaleObserved(sku=sku, qty=qty, at_ms=at_ms))

    def on_restock(sku: str, order_ids: Sequence[str]) -> None:
        # Dropped: the scheduler's periodic requeue picks backordered orders up.
        tell_or_drop(scheduler(), Requeue(order_ids=tuple(order_ids), boost=True))

    def on_expired(sku: str, order_ids: Sequence[str]) -> None:
        # Their step moves them on (backordered, or held again if TikTok was paid); dropped,
        # the start-up requeue and the next snapshot find them.
        tell_or_drop(scheduler(), Requeue(order_ids=tuple(order_ids)))

    hooks = InventoryHooks(
        on_sale=on_sale,
        on_expired=on_expired,
        on_level=on_level,
        on_restock=on_restock,
        on_outcome=metrics.count_reservation,
    )
    inventory: Registry[str, InventoryMsg] = Registry(
        "inventory",
        lambda sku: SkuActor(
            sku,
            writer=writer,
            reader=asm.store,
            clock=asm.clock,
            default_safety_buffer=ic.default_safety_buffer,
            hooks=hooks,
            idempotency_ttl_s=ic.idempotency_ttl_s,
        ),
        mailbox_size=ic.sku_mailbox_size,
        max_active=ic.max_active_skus,
        idle_s=ic.idle_s,
        max_restarts=rt.restart_max,
        within_s=rt.restart_window_s,
        backoff=asm.restart_backoff(),
        clock=asm.timer,
    )
    asm.root.add_child(inventory, restart=Restart.PERMANENT)
    asm.refs.put(keys.INVENTORY, inventory)

    async def list_levels() -> list[StockLevel]:
        """Every SKU with TikTok ids, as the resync pushes it (bounded by the pending cap)."""
        levels: list[StockLevel] = []
        after: str | None = None
        while len(levels) < ss.max_pending_skus:
            rows = await asm.store.list_skus(after=after, limit=_RESYNC_PAGE)
            for row in rows:
                if row.product_id and row.sku_id:
                    ref = TikTokSkuRef(
                        shop_id=row.shop_id,
                        product_id=row.product_id,
                        sku_id=row.sku_id,
                        warehouse_id=row.warehouse_id,
                    )
                    sellable = max(0, row.on_hand - row.reserved - row.safety_buffer)
                    levels.append(
                        StockLevel(
                            sku=row.sku, sellable=sellable, ref=ref, version=row.updated_at_ms
                        )
                    )
            if len(rows) < _RESYNC_PAGE:
                break
            after = rows[-1].sku
        return levels

    asm.refs.put(
        keys.STOCK_SYNC,
        asm.add(
            ChildSpec(
                name="stock_sync",
                factory=lambda: StockSync(
                    tiktok=asm.tiktok.client,
                    debounce_s=ss.debounce_ms / 1000,
                    max_pending=ss.max_pending_skus,
                    max_in_flight=ss.max_calls_in_flight,
                    max_quantity=ss.max_quantity,
                    resync_interval_s=ss.resync_interval_s if ss.enabled else None,
                    list_levels=list_levels,
                    on_push=metrics.count_stock_push,
                    timer=asm.timer,
                ),
                mailbox_size=ss.max_pending_skus,
                restart=Restart.PERMANENT,
            )
        ),
    )
    asm.refs.put(
        keys.KEEPER,
        asm.add(
            ChildSpec(
                name="inventory_keeper",
                factory=lambda: InventoryKeeper(
                    reader=asm.store,
                    ask=inventory.ask,
                    tell_nowait=inventory.tell_nowait,
                    clock=asm.clock,
                    sweep_interval_s=ic.sweep_interval_s,
                    sweep_batch=ic.sweep_batch,
                    repair_interval_s=ic.repair_interval_s,
                    on_repair=metrics.count_inventory_repairs,
                    timer=asm.timer,
                ),
                mailbox_size=8,
                restart=Restart.PERMANENT,
            )
        ),
    )
    viral = asm.refs.put(keys.VIRAL_SKUS, Published(frozenset[str]()))

    def on_purchase_order(outcome: str) -> None:
        metrics.purchase_orders.labels(outcome).inc()
        if outcome == "opened":
            metrics.alerts.labels("critical").inc()

    def publish_viral(skus: frozenset[str]) -> None:
        viral.publish(skus)
        metrics.viral_skus.set(len(skus))

    def on_viral(sku: str, started: bool) -> None:
        metrics.alerts.labels("viral" if started else "viral_ended").inc()

    watcher_ref = asm.refs.put(
        keys.WATCHER,
        asm.add(
            ChildSpec(
                name="stock_watcher",
                factory=lambda: StockWatcher(
                    ask_sku=inventory.ask,
                    writer=writer,
                    reader=asm.store,
                    clock=asm.clock,
                    supplier_for=lambda sku: asm.supplier,
                    detector=asm.config.viral,
                    reorder=ReorderSettings(
                        enabled=rc.enabled,
                        cover_days=rc.cover_days,
                        safety_s=rc.safety_s,
                        cooldown_s=rc.cooldown_s,
                        pack_size=rc.pack_size,
                        min_qty=rc.min_qty,
                        min_units=rc.min_units,
                        max_qty=rc.max_qty,
                    ),
                    self_ref=watcher,
                    max_skus=rc.max_skus,
                    tick_s=rc.tick_s,
                    follow_up_s=rc.follow_up_s,
                    on_viral=on_viral,
                    on_purchase_order=on_purchase_order,
                    publish_viral=publish_viral,
                    timer=asm.timer,
                ),
                mailbox_size=rc.watcher_mailbox_size,
                restart=Restart.PERMANENT,
            )
        ),
    )

    def on_backorder(order_id: str, skus: list[str]) -> None:
        metrics.alerts.labels("backorder").inc()
        log.warning("order %s backordered: no stock of %s", order_id, ", ".join(skus))

    asm.saga_steps.append(
        ReservationStep(
            inventory.ask,
            clock=asm.clock,
            hold_ttl_s=ic.hold_ttl_s,
            timeout_s=ic.step_timeout_s,
            on_backorder=on_backorder,
            holds_of=asm.store.order_reservations,
        )
    )
    asm.api_routes += InventoryApi(
        ask=inventory.ask,
        reader=asm.store,
        clock_ms=asm.clock.now_ms,
        watcher_ask=watcher_ref.ask,
    ).routes()
    asm.api_routes += PurchaseOrdersApi(asm.store).routes()
    asm.api_routes += ContentMetricsApi(
        watcher_tell=watcher_ref.tell_nowait, clock_ms=asm.clock.now_ms
    ).routes()
