"""Stock watcher on real SKU actors, the SQLite store and the sandbox supplier (in process):
viral detection with its event and priority board, the stock-out forecast, one idempotent
purchase order per need, follow-up to delivery, and a supplier outage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from creatorflow.actors.inventory import (
    GetStock,
    InventoryHooks,
    InventoryMsg,
    Reserve,
    SetStock,
    SkuActor,
    StockView,
)
from creatorflow.actors.stock_watcher import (
    FollowUp,
    GetSignals,
    ReorderSettings,
    SaleObserved,
    SkuSignals,
    StockWatcher,
    Tick,
    WatcherMsg,
)
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.adapters.suppliers import HttpSupplier, HttpSupplierSettings
from creatorflow.domain.velocity import DetectorSettings
from creatorflow.ports import ContentSample
from creatorflow.runtime import ActorRef, Registry, open_actor
from creatorflow.runtime.testing import FakeClock
from creatorflow.sandbox._supplier_config import SupplierFaultConfig
from creatorflow.sandbox.supplier import SupplierSandbox, SupplierSandboxConfig

pytestmark = pytest.mark.anyio

MINUTE_MS = 60_000
LEAD_S = 3 * 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE_MS

    def now_ms(self) -> int:
        return self.now


@dataclass
class World:
    watcher: ActorRef[WatcherMsg]
    registry: Registry[str, InventoryMsg]
    store: SqliteStore
    clock: Clock
    sandbox: SupplierSandbox
    supplier_clock: FakeClock
    board: list[frozenset[str]] = field(default_factory=list)

    async def tick(self) -> None:
        await self.watcher.tell(Tick())
        await self.watcher.flush()

    async def follow_up(self) -> None:
        await self.watcher.tell(FollowUp())
        await self.watcher.flush()

    async def sell(self, sku: str, qty: int, order: str) -> None:
        await self.registry.ask(sku, Reserve(order_id=order, qty=qty))

    async def stock(self, sku: str) -> StockView:
        view = await self.registry.ask(sku, GetStock())
        assert isinstance(view, StockView)
        return view

    async def topics(self) -> list[str]:
        events = await self.store.claim_outbox(self.clock.now + 10**9, 100, 1)
        return [e.topic for e in events]


@asynccontextmanager
async def world(tmp_path: Path, *, reorder: bool = True) -> AsyncIterator[World]:
    clock = Clock()
    sandbox = SupplierSandbox(
        SupplierSandboxConfig(api_key="k", lead_time_s=LEAD_S, confirm_after_s=0), clock=clock
    )
    supplier_clock = FakeClock()
    supplier = HttpSupplier(
        HttpSupplierSettings(
            supplier_id="acme",
            base_url="http://supplier",
            api_key="k",
            lead_time_s=LEAD_S,
            max_attempts=1,
        ),
        transport=httpx.ASGITransport(app=sandbox),
        clock=supplier_clock,
    )
    board: list[frozenset[str]] = []
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 256) as writer,
    ):
        watcher: ActorRef[WatcherMsg]

        def on_sale(sku: str, qty: int, at_ms: int) -> None:
            watcher.tell_nowait(SaleObserved(sku=sku, qty=qty, at_ms=at_ms))

        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(
                sku, writer=writer, reader=store, clock=clock, hooks=InventoryHooks(on_sale=on_sale)
            ),
            mailbox_size=256,
            max_active=16,
            idle_s=10**6,
        )
        actor = StockWatcher(
            ask_sku=registry.ask,
            writer=writer,
            reader=store,
            clock=clock,
            supplier_for=lambda sku: supplier,
            detector=DetectorSettings(),
            reorder=ReorderSettings(enabled=reorder, cover_days=7, safety_s=86_400),
            publish_viral=board.append,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            async with open_actor(actor, "watcher", 4096) as watcher:
                yield World(watcher, registry, store, clock, sandbox, supplier_clock, board)
            registry.request_stop()
        await supplier.aclose()


async def steady(w: World, sku: str, minutes: int, per_minute: int, start: int = 0) -> int:
    """Sell ``per_minute`` units each simulated minute; tick after each minute."""
    n = start
    for _ in range(minutes):
        for _ in range(per_minute):
            await w.sell(sku, 1, f"{sku}-o{n}")
            n += 1
        w.clock.now += MINUTE_MS
        await w.tick()
    return n


async def test_a_spike_is_flagged_viral_with_its_event_and_calms_down(tmp_path: Path) -> None:
    async with world(tmp_path, reorder=False) as w:
        await w.registry.ask("MUG", SetStock(on_hand=100_000))
        n = await steady(w, "MUG", 60, 2)
        assert w.board == []
        # Demand x10: flagged within 5 simulated minutes.
        flagged_after = None
        for minute in range(10):
            n = await steady(w, "MUG", 1, 20, n)
            if w.board and "MUG" in w.board[-1]:
                flagged_after = minute + 1
                break
        assert flagged_after is not None and flagged_after <= 5, flagged_after
        assert "content.viral_detected" in await w.topics()
        signals = await w.watcher.ask(GetSignals(sku="MUG"))
        assert isinstance(signals, SkuSignals) and signals.viral
        assert signals.rate_per_hour > 300 and signals.time_to_stockout_s is not None
        # Back to normal: the episode ends.
        await steady(w, "MUG", 40, 2, n)
        assert w.board[-1] == frozenset()


async def test_stockout_risk_orders_once_and_receives_once(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.registry.ask("MUG", SetStock(on_hand=10_000))
        n = await steady(w, "MUG", 60, 1)
        assert await w.store.purchase_orders(limit=10) == []  # 10,000 units last ~7 days at 60/h
        n = await steady(w, "MUG", 10, 30, n)  # 1800/h: gone in ~5 h < lead time + safety
        pos = await w.store.purchase_orders(limit=10)
        assert len(pos) == 1
        po = pos[0]
        assert po.sku == "MUG" and po.supplier_id == "acme" and po.state == "confirmed"
        assert po.qty > 0
        assert len(w.sandbox.book.orders()) == 1
        assert (await w.topics()).count("inventory.critical") == 1
        # More ticks with the need already covered: no second order.
        n = await steady(w, "MUG", 5, 30, n)
        assert [p.po_id for p in await w.store.purchase_orders(limit=10)] == [po.po_id]
        assert len(w.sandbox.book.orders()) == 1
        assert (await w.stock("MUG")).open_po_qty == po.qty
        # Delivered after the lead time: received once, on hand rises by the order.
        before = await w.stock("MUG")
        w.clock.now += int(LEAD_S * 1000) + MINUTE_MS
        await w.follow_up()
        await w.follow_up()
        after = await w.stock("MUG")
        assert after.on_hand == before.on_hand + po.qty
        assert after.open_po_qty == 0
        stored = await w.store.get_purchase_order(po.po_id)
        assert stored is not None and stored.state == "received"


async def test_a_supplier_outage_leaves_the_order_requested_then_places_it_once(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        await w.registry.ask("MUG", SetStock(on_hand=10_000))
        n = await steady(w, "MUG", 60, 1)
        w.sandbox.set_faults(SupplierFaultConfig(outage_s=3600))
        await steady(w, "MUG", 10, 30, n)
        pos = await w.store.purchase_orders(limit=10)
        assert [p.state for p in pos] == ["requested"]  # recorded before the call
        assert w.sandbox.book.orders() == []
        w.sandbox.faults.reset(SupplierFaultConfig())  # the outage is over
        w.supplier_clock.advance(3600)  # the supplier's circuit breaker lets a probe through
        await w.follow_up()
        await w.follow_up()
        pos = await w.store.purchase_orders(limit=10)
        assert [p.state for p in pos] == ["confirmed"]
        assert [o.po_id for o in w.sandbox.book.orders()] == [pos[0].po_id]


class FakeSource:
    def __init__(self, batches: list[list[ContentSample]]) -> None:
        self.batches = batches
        self.limits: list[int] = []

    async def fetch(self, *, limit: int) -> list[ContentSample]:
        self.limits.append(limit)
        return self.batches.pop(0) if self.batches else []


async def test_pulled_content_metrics_reach_the_detector() -> None:
    clock = Clock()
    samples = [
        ContentSample(sku="MUG", video_id="v1", views=100 * i, at_ms=clock.now + i * 60_000)
        for i in range(3)
    ]
    source = FakeSource([samples])
    actor = StockWatcher(
        ask_sku=_no_sku,
        writer=None,
        reader=None,
        clock=clock,
        supplier_for=lambda sku: None,
        detector=DetectorSettings(),
        reorder=ReorderSettings(enabled=False),
        content_source=source,
        content_batch=2,
    )
    async with open_actor(actor, "watcher", 64) as watcher:
        pulled = await actor.pull_content()
        assert [m.views for m in pulled] == [0, 100]  # bounded by content_batch
        assert source.limits == [2]
        for msg in pulled:
            await watcher.tell(msg)
        signals = await watcher.ask(GetSignals(sku="MUG"))
        assert isinstance(signals, SkuSignals) and signals.sku == "MUG"
        unknown = await watcher.ask(GetSignals(sku="OTHER"))
        assert isinstance(unknown, SkuSignals) and unknown.rate_per_hour == 0.0


async def _no_sku(sku: str, msg: InventoryMsg) -> object:
    raise KeyError(sku)


async def test_a_few_early_sales_order_nothing(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        await w.registry.ask("MUG", SetStock(on_hand=40))
        await w.sell("MUG", 2, "o1")  # two units in the first minute: not 120/h of demand
        await w.sell("MUG", 3, "o2")
        for _ in range(10):
            w.clock.now += MINUTE_MS
            await w.tick()
        # 5 units: below reorder.min_units (10), however fast they came.
        assert await w.store.purchase_orders(limit=10) == []
        assert "inventory.critical" not in await w.topics()
