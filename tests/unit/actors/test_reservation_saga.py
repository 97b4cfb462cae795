"""The order saga's reservation step, run by the real scheduler against real SKU actors and the
SQLite store: reserve, hold, backorder and restock, cancel, ship; multi-SKU all-or-nothing."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from creatorflow.actors.inventory import (
    Adjust,
    GetStock,
    InventoryHooks,
    InventoryMsg,
    SetStock,
    SkuActor,
    StockView,
    Sweep,
)
from creatorflow.actors.order_scheduler import (
    Observe,
    OrderScheduler,
    Requeue,
    SchedulerMsg,
)
from creatorflow.actors.reservation_step import ReservationStep
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.automation import load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.errors import StoreUnavailable
from creatorflow.ports import TikTokOrder
from creatorflow.runtime import ActorRef, Registry, open_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000


def order(oid: str, status: str, update: int, lines: dict[str, int], **extra: Any) -> TikTokOrder:
    items = []
    for sku, qty in lines.items():
        for i in range(qty):
            items.append(
                {
                    "id": f"{oid}-{sku}-{i}",
                    "sku_id": f"id-{sku}",
                    "product_id": "p1",
                    "seller_sku": sku,
                    "sale_price": "10.00",
                }
            )
    raw: dict[str, Any] = {
        "id": oid,
        "status": status,
        "create_time": T0,
        "update_time": T0 + update,
        "payment": {"currency": "USD", "total_amount": "10.00"},
        "line_items": items,
        "warehouse_id": "w1",
    }
    return msgspec.convert(copy.deepcopy(raw) | extra, TikTokOrder)


class Clock:
    now = (T0 + 100) * 1000

    def now_ms(self) -> int:
        return self.now


@dataclass
class Saga:
    scheduler: ActorRef[SchedulerMsg]
    registry: Registry[str, InventoryMsg]
    store: SqliteStore
    clock: Clock
    timer: FakeClock
    asks: list[Any]

    @property
    def step_ask(self) -> Any:
        return self.registry.ask

    def set_ask(self, ask: Any) -> None:
        """What the reservation step uses to reach the SKU actors from now on."""
        self.asks[0] = ask

    async def observe(self, snapshot: TikTokOrder) -> None:
        await self.scheduler.ask(Observe(shop_id="shop", order=snapshot))
        await self.settle()

    async def settle(self) -> None:
        for _ in range(4):
            await self.scheduler.flush()

    async def state(self, oid: str) -> str:
        row = await self.store.get_order(oid)
        assert row is not None
        return row.state

    async def stock(self, sku: str) -> StockView:
        view = await self.registry.ask(sku, GetStock())
        assert isinstance(view, StockView)
        return view

    async def held(self, oid: str) -> dict[str, int]:
        rows = await self.store.order_reservations(oid)
        return {r.sku: r.qty for r in rows if r.state == "held"}


@asynccontextmanager
async def saga(tmp_path: Path, *, step_retry_s: float = 3600) -> AsyncIterator[Saga]:
    clock = Clock()
    timer = FakeClock()  # the scheduler's retry and requeue loops sleep on it
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 256) as writer,
    ):
        scheduler: ActorRef[SchedulerMsg]

        def restock(sku: str, orders: Any) -> None:
            scheduler.tell_nowait(Requeue(order_ids=tuple(orders), boost=True))

        def expired(sku: str, orders: Any) -> None:
            scheduler.tell_nowait(Requeue(order_ids=tuple(orders)))

        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(
                sku,
                writer=writer,
                reader=store,
                clock=clock,
                hooks=InventoryHooks(on_restock=restock, on_expired=expired),
            ),
            mailbox_size=64,
            max_active=16,
            idle_s=3600,
        )
        asks: list[Any] = [registry.ask]

        async def ask(sku: str, msg: InventoryMsg) -> object:
            return await asks[0](sku, msg)

        step = ReservationStep(ask, clock=clock, hold_ttl_s=600, holds_of=store.order_reservations)
        actor = OrderScheduler(
            writer=writer,
            orders=store,
            clock=clock,
            rules=load_rules(""),
            settings=PrioritySettings(),
            steps=(step,),
            self_ref=lambda: scheduler,
            requeue_interval_s=3600,
            step_retry_s=step_retry_s,
            timer=timer,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            try:
                async with open_actor(actor, "scheduler", 256) as scheduler:
                    yield Saga(scheduler, registry, store, clock, timer, asks)
                    await scheduler.flush()
                registry.request_stop()
            finally:
                # Leaving through a failure cancels the registry instead of stopping it: close
                # its mailboxes, or their streams are left for a later test's GC to warn about.
                registry.close()


async def test_a_paid_order_reserves_every_line(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=5))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        assert await s.state("o1") == "reserved"
        assert await s.held("o1") == {"A": 2, "B": 1}
        assert (await s.stock("A")).reserved == 2
        # TikTok ids were learned from the order.
        assert (await s.stock("A")).sku_id == "id-A"


async def test_unpaid_order_holds_with_expiry_then_becomes_firm(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.observe(order("o1", "UNPAID", 1, {"A": 1}))
        assert await s.state("o1") == "on_hold"
        rows = await s.store.order_reservations("o1")
        assert [r.expires_at_ms for r in rows] == [(T0 + 600) * 1000]
        await s.observe(order("o1", "AWAITING_SHIPMENT", 2, {"A": 1}))
        assert await s.state("o1") == "reserved"
        rows = await s.store.order_reservations("o1")
        assert [(r.state, r.expires_at_ms) for r in rows] == [("held", None)]


async def test_multi_sku_shortage_backorders_holding_nothing_then_restock_reserves(
    tmp_path: Path,
) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=0))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        assert await s.state("o1") == "backordered"
        assert await s.held("o1") == {}
        assert (await s.stock("A")).reserved == 0
        await s.registry.ask("B", Adjust(delta=3, reason="receipt"))
        await s.settle()
        assert await s.state("o1") == "reserved"
        assert await s.held("o1") == {"A": 2, "B": 1}


async def test_cancel_releases_and_ship_commits(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2}))
        await s.observe(order("o2", "AWAITING_SHIPMENT", 1, {"A": 2}))
        await s.observe(order("o1", "CANCELLED", 2, {"A": 2}))
        assert await s.state("o1") == "cancelled"
        assert await s.held("o1") == {}
        await s.observe(order("o2", "AWAITING_COLLECTION", 2, {"A": 2}))
        assert await s.state("o2") == "shipped"
        view = await s.stock("A")
        assert (view.on_hand, view.reserved) == (3, 0)


async def test_cancel_right_after_creation_releases_what_the_step_held(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.scheduler.ask(
            Observe(shop_id="shop", order=order("o1", "AWAITING_SHIPMENT", 1, {"A": 2}))
        )
        await s.scheduler.ask(Observe(shop_id="shop", order=order("o1", "CANCELLED", 2, {"A": 2})))
        await s.settle()
        assert await s.state("o1") == "cancelled"
        assert await s.held("o1") == {}
        assert (await s.stock("A")).reserved == 0


async def test_cancel_with_every_line_item_cancelled_still_releases(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=5))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        assert await s.held("o1") == {"A": 2, "B": 1}
        cancelled = order("o1", "CANCELLED", 2, {"A": 2, "B": 1})
        items = [
            msgspec.structs.replace(item, display_status="CANCELLED")
            for item in cancelled.line_items or []
        ]
        await s.observe(msgspec.structs.replace(cancelled, line_items=items))
        assert await s.state("o1") == "cancelled"
        assert await s.held("o1") == {}


async def test_a_sku_whose_units_were_all_cancelled_is_released(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=5))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        partly = order("o1", "AWAITING_SHIPMENT", 2, {"A": 2, "B": 1})
        items = [
            msgspec.structs.replace(item, display_status="CANCELLED")
            if item.seller_sku == "B"
            else item
            for item in partly.line_items or []
        ]
        await s.observe(msgspec.structs.replace(partly, line_items=items))
        await s.scheduler.tell(Requeue(order_ids=("o1",)))
        await s.settle()
        assert await s.held("o1") == {"A": 2}
        assert (await s.stock("B")).reserved == 0


async def test_a_failed_step_is_run_again_after_step_retry_s(tmp_path: Path) -> None:
    async with saga(tmp_path, step_retry_s=5) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        real = s.step_ask
        calls: list[str] = []
        failed, retried = anyio.Event(), anyio.Event()

        async def flaky(sku: str, msg: InventoryMsg) -> object:
            calls.append(type(msg).__name__)
            if len(calls) == 1:
                failed.set()
                raise StoreUnavailable("blip")
            retried.set()
            return await real(sku, msg)

        s.set_ask(flaky)
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2}))
        await failed.wait()
        await wait_all_tasks_blocked()  # the failure is recorded; the retry loop sleeps
        assert await s.state("o1") == "classified"  # the step failed; nothing retries it yet
        s.timer.advance(5)  # step_retry_s later the retry loop runs it again
        await retried.wait()
        await s.settle()
        assert await s.state("o1") == "reserved"
        assert await s.held("o1") == {"A": 2}


async def test_an_order_paid_while_its_step_runs_ends_reserved(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        real = s.step_ask
        gate = anyio.Event()
        entered = anyio.Event()

        async def slow(sku: str, msg: InventoryMsg) -> object:
            entered.set()
            await gate.wait()
            return await real(sku, msg)

        s.set_ask(slow)
        await s.scheduler.ask(Observe(shop_id="shop", order=order("o1", "UNPAID", 1, {"A": 1})))
        await entered.wait()  # the step decided "hold" and waits on the SKU
        await s.scheduler.ask(
            Observe(shop_id="shop", order=order("o1", "AWAITING_SHIPMENT", 2, {"A": 1}))
        )
        s.set_ask(real)
        gate.set()
        await s.settle()
        assert await s.state("o1") == "reserved"
        rows = await s.store.order_reservations("o1")
        assert [(r.state, r.expires_at_ms) for r in rows] == [("held", None)]


async def test_a_backordered_retry_touches_nothing_while_still_short(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=0))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        assert await s.state("o1") == "backordered"
        before = await s.store.stock_events("A", limit=50)
        for _ in range(3):
            await s.scheduler.tell(Requeue(order_ids=("o1",)))
            await s.settle()
        assert await s.store.stock_events("A", limit=50) == before
        assert await s.state("o1") == "backordered"


async def test_creating_a_missing_sku_wakes_its_backordered_orders(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"NEW": 1}))
        assert await s.state("o1") == "backordered"
        await s.registry.ask("NEW", SetStock(on_hand=3))
        await s.settle()
        assert await s.state("o1") == "reserved"


async def test_an_expired_hold_backorders_its_unpaid_order(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=1))
        await s.observe(order("o1", "UNPAID", 1, {"A": 1}))
        assert await s.state("o1") == "on_hold"
        s.clock.now = (T0 + 601) * 1000  # past create_time + hold_ttl_s (600 s)
        await s.registry.ask("A", Sweep())  # what the keeper does for a sleeping SKU
        await s.settle()
        assert await s.state("o1") == "backordered"
        assert await s.held("o1") == {}
        assert (await s.stock("A")).reserved == 0


async def test_a_sku_gone_from_the_order_is_released(tmp_path: Path) -> None:
    async with saga(tmp_path) as s:
        await s.registry.ask("A", SetStock(on_hand=5))
        await s.registry.ask("B", SetStock(on_hand=5))
        await s.observe(order("o1", "AWAITING_SHIPMENT", 1, {"A": 2, "B": 1}))
        assert await s.held("o1") == {"A": 2, "B": 1}
        await s.observe(order("o1", "AWAITING_SHIPMENT", 2, {"A": 2}))  # B left the order
        assert await s.held("o1") == {"A": 2}
        assert (await s.stock("B")).reserved == 0
