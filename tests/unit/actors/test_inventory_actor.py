"""SKU actors on the real SQLite store: durable before the reply, idempotent, rebuilt from the
store, purchase orders, sweeps, repairs and the hooks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from creatorflow.actors.inventory import (
    Adjust,
    Commit,
    GetStock,
    InventoryHooks,
    InventoryMsg,
    OpenPurchaseOrder,
    PurchaseOrderReply,
    ReceivePurchaseOrder,
    Release,
    Repair,
    RepairReport,
    Reservation,
    Reserve,
    SetStock,
    SkuActor,
    StockView,
    Sweep,
    TikTokSkuRef,
    UpdatePurchaseOrder,
)
from creatorflow.actors.inventory_keeper import InventoryKeeper, RepairNow, SweepNow
from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.errors import InventoryRefused, StoreUnavailable
from creatorflow.ports import UpsertSku, WriteOp, WriteResult
from creatorflow.runtime import ActorRef, Registry, open_actor

pytestmark = pytest.mark.anyio

REF = TikTokSkuRef(shop_id="shop", product_id="p1", sku_id="s1", warehouse_id="w1")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        return self.now


@dataclass
class Seen:
    sales: list[tuple[str, int]] = field(default_factory=list)
    levels: list[tuple[str, int, TikTokSkuRef | None]] = field(default_factory=list)
    restocks: list[tuple[str, list[str]]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    def hooks(self) -> InventoryHooks:
        return InventoryHooks(
            on_sale=lambda sku, qty, at: self.sales.append((sku, qty)),
            on_level=lambda sku, n, ref, version: self.levels.append((sku, n, ref)),
            on_restock=lambda sku, orders: self.restocks.append((sku, list(orders))),
            on_outcome=self.outcomes.append,
        )


class FlakyStore:
    """The real store, failing ``apply`` while ``down`` is set."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.down = False

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.down:
            raise StoreUnavailable("down for the test")
        return await self.store.apply(ops)


@dataclass
class Env:
    registry: Registry[str, InventoryMsg]
    store: SqliteStore
    flaky: FlakyStore
    clock: Clock
    seen: Seen
    writer: ActorRef[Write]

    async def ask(self, sku: str, msg: InventoryMsg) -> object:
        return await self.registry.ask(sku, msg)

    async def view(self, sku: str) -> StockView:
        view = await self.ask(sku, GetStock())
        assert isinstance(view, StockView)
        return view


@asynccontextmanager
async def inventory(tmp_path: Path, *, idle_s: float = 3600) -> AsyncIterator[Env]:
    clock = Clock()
    seen = Seen()
    async with open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store:
        flaky = FlakyStore(store)
        async with open_actor(StoreWriter(flaky), "writer", 256) as writer:
            registry: Registry[str, InventoryMsg] = Registry(
                "inventory",
                lambda sku: SkuActor(
                    sku, writer=writer, reader=store, clock=clock, hooks=seen.hooks()
                ),
                mailbox_size=64,
                max_active=2,
                idle_s=idle_s,
            )
            async with anyio.create_task_group() as tg:
                await tg.start(registry.run)
                yield Env(registry, store, flaky, clock, seen, writer)
                registry.request_stop()


async def test_reserve_is_durable_idempotent_and_refuses_beyond_stock(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=3, tiktok=REF))
        first = await env.ask("MUG", Reserve(order_id="o1", qty=2))
        assert isinstance(first, Reservation) and first.outcome == "reserved"
        # Durable when answered: the rows are in the store.
        rows = await env.store.order_reservations("o1")
        assert [(r.sku, r.qty, r.state) for r in rows] == [("MUG", 2, "held")]
        row = await env.store.get_sku("MUG")
        assert row is not None and (row.on_hand, row.reserved, row.product_id) == (3, 2, "p1")
        again = await env.ask("MUG", Reserve(order_id="o1", qty=2))
        assert isinstance(again, Reservation) and again.outcome == "held"
        refused = await env.ask("MUG", Reserve(order_id="o2", qty=2))
        assert isinstance(refused, Reservation) and refused.outcome == "refused"
        assert (await env.view("MUG")).reserved == 2
        events = await env.store.stock_events("MUG", limit=10)
        assert [e.kind for e in reversed(events)] == ["set", "reserve"]
    assert env.seen.outcomes == ["reserved", "held", "refused"]
    # Demand: the new hold, and the refused order once (the forecast must see unserved demand).
    assert env.seen.sales == [("MUG", 2), ("MUG", 2)]
    assert env.seen.levels[-1] == ("MUG", 1, REF)


async def test_unknown_sku_is_404_for_reads_and_refused_for_orders(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        with pytest.raises(KeyError):
            await env.view("NOPE")
        with pytest.raises(KeyError):
            await env.ask("NOPE", Adjust(delta=1, reason="x"))
        reply = await env.ask("NOPE", Reserve(order_id="o1", qty=1))
        assert isinstance(reply, Reservation) and reply.outcome == "refused"
        assert await env.store.get_sku("NOPE") is None


async def test_a_write_that_fails_answers_the_error_and_forgets_the_decision(
    tmp_path: Path,
) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=1))
        env.flaky.down = True
        with pytest.raises(StoreUnavailable):
            await env.ask("MUG", Reserve(order_id="o1", qty=1))
        env.flaky.down = False
        # Not durable, so not held: the stock is still free for another order.
        view = await env.view("MUG")
        assert (view.on_hand, view.reserved) == (1, 0)
        reply = await env.ask("MUG", Reserve(order_id="o2", qty=1))
        assert isinstance(reply, Reservation) and reply.outcome == "reserved"
        assert await env.store.order_reservations("o1") == []


async def test_state_is_rebuilt_from_the_store_after_passivation(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=5, safety_buffer=1))
        await env.ask("A", Reserve(order_id="o1", qty=2))
        # max_active=2: touching two other SKUs evicts A (it drains and stops).
        await env.ask("B", SetStock(on_hand=1))
        await env.ask("C", SetStock(on_hand=1))
        assert env.registry.evictions >= 1
        view = await env.view("A")
        assert (view.on_hand, view.reserved, view.safety_buffer, view.holds) == (5, 2, 1, 1)
        again = await env.ask("A", Reserve(order_id="o1", qty=2))
        assert isinstance(again, Reservation) and again.outcome == "held"
        refused = await env.ask("A", Reserve(order_id="o2", qty=3))
        assert isinstance(refused, Reservation) and refused.outcome == "refused"


async def test_release_commit_adjust_and_refusals(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=4))
        await env.ask("MUG", Reserve(order_id="o1", qty=2))
        await env.ask("MUG", Reserve(order_id="o2", qty=2))
        with pytest.raises(InventoryRefused) as err:
            await env.ask("MUG", Adjust(delta=-1, reason="damaged"))
        assert err.value.code == "below_reserved"
        view = await env.ask("MUG", Commit(order_id="o1"))
        assert isinstance(view, StockView) and (view.on_hand, view.reserved) == (2, 2)
        view = await env.ask("MUG", Release(order_id="o2", reason="cancel"))
        assert isinstance(view, StockView) and (view.on_hand, view.reserved) == (2, 0)
        view = await env.ask("MUG", Adjust(delta=-2, reason="damaged"))
        assert isinstance(view, StockView) and view.on_hand == 0
        states = {r.order_id: r.state for r in await env.store.held_reservations("MUG")}
        assert states == {}
        o1 = await env.store.order_reservations("o1")
        assert [r.state for r in o1] == ["committed"]


async def test_stock_arriving_wakes_orders_that_were_refused(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=0))
        for order in ("o1", "o2", "o1"):
            reply = await env.ask("MUG", Reserve(order_id=order, qty=1))
            assert isinstance(reply, Reservation) and not reply.ok
        assert env.seen.restocks == []
        assert env.seen.sales == [("MUG", 1), ("MUG", 1)]  # o1's retry is not new demand
        await env.ask("MUG", Adjust(delta=5, reason="receipt"))
        assert [(sku, sorted(orders)) for sku, orders in env.seen.restocks] == [
            ("MUG", ["o1", "o2"])
        ]


async def test_expired_holds_are_swept_and_journaled(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=2))
        await env.ask("MUG", Reserve(order_id="unpaid", qty=2, expires_at_ms=env.clock.now + 1000))
        env.clock.now += 1000
        assert [r.order_id for r in await env.store.expired_holds(env.clock.now, 10)] == ["unpaid"]
        async with open_actor(
            InventoryKeeper(
                reader=env.store,
                ask=env.registry.ask,
                tell_nowait=env.registry.tell_nowait,
                clock=env.clock,
                sweep_interval_s=3600,
                sweep_batch=100,
                repair_interval_s=3600,
            ),
            "keeper",
            4,
        ) as keeper:
            assert await keeper.ask(SweepNow()) == 1
            await env.ask("MUG", GetStock())  # after the told Sweep
            assert await env.store.expired_holds(env.clock.now, 10) == []
            rows = await env.store.order_reservations("unpaid")
            assert [r.state for r in rows] == ["expired"]
            row = await env.store.get_sku("MUG")
            assert row is not None and row.reserved == 0
            # Drift: make the stored counter lie, then repair.
            await env.store.apply(
                [
                    UpsertSku(
                        sku="MUG",
                        on_hand=2,
                        reserved=2,
                        safety_buffer=0,
                        updated_at_ms=env.clock.now,
                    )
                ]
            )
            assert await env.store.reservation_drift(10) == [("MUG", 2, 0)]
            reports = await keeper.ask(RepairNow())
            assert reports == [
                RepairReport(
                    sku="MUG", reserved_before=2, reserved_after=0, expired=0, repaired=True
                )
            ]
            assert await env.store.reservation_drift(10) == []
            assert await env.ask("MUG", Sweep()) is None


async def test_purchase_orders_are_idempotent_and_received_once(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("MUG", SetStock(on_hand=1))
        msg = OpenPurchaseOrder(
            po_id="po-1", supplier_id="acme", qty=10, expected_at_ms=5, alert={"sku": "MUG"}
        )
        first = await env.ask("MUG", msg)
        again = await env.ask("MUG", msg)
        assert isinstance(first, PurchaseOrderReply) and first.new
        assert isinstance(again, PurchaseOrderReply) and not again.new
        assert (await env.view("MUG")).open_po_qty == 10
        await env.ask("MUG", UpdatePurchaseOrder(po_id="po-1", state="confirmed"))
        for _ in range(2):
            view = await env.ask("MUG", ReceivePurchaseOrder(po_id="po-1", qty=10))
            assert isinstance(view, StockView)
        assert (view.on_hand, view.open_po_qty) == (11, 0)
        po = await env.store.get_purchase_order("po-1")
        assert po is not None and po.state == "received"
        claimed = await env.store.claim_outbox(env.clock.now + 1, 10, 1000)
        assert [e.topic for e in claimed] == ["inventory.critical"]
        report = await env.ask("MUG", Repair())
        assert isinstance(report, RepairReport) and not report.repaired


async def test_a_repeated_commit_after_a_reload_takes_nothing_more(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=10))
        await env.ask("A", Reserve(order_id="o1", qty=2))
        await env.ask("A", Commit(order_id="o1", qty=2))
        await env.ask("A", Commit(order_id="outside", qty=1))  # shipped with no hold
        assert (await env.view("A")).on_hand == 7
        # Evict A (max_active=2): it reloads from the store, forgetting closed holds in memory.
        await env.ask("B", SetStock(on_hand=1))
        await env.ask("C", SetStock(on_hand=1))
        assert env.registry.evictions >= 1
        # The saga re-runs its step when a shipped order moves on: same commits again.
        await env.ask("A", Commit(order_id="o1", qty=2))
        await env.ask("A", Commit(order_id="outside", qty=1))
        view = await env.view("A")
        assert (view.on_hand, view.reserved) == (7, 0)
        again = await env.ask("A", Reserve(order_id="o1", qty=2))
        assert isinstance(again, Reservation) and again.outcome == "committed"


async def test_a_purchase_order_id_is_never_reopened_once_closed(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=1))
        msg = OpenPurchaseOrder(po_id="po-1", supplier_id="acme", qty=5, expected_at_ms=5)
        await env.ask("A", msg)
        await env.ask("A", ReceivePurchaseOrder(po_id="po-1", qty=5))
        again = await env.ask("A", msg)
        assert isinstance(again, PurchaseOrderReply) and not again.new
        assert again.order.state == "received"
        # Also after a reload, when only the store remembers it.
        await env.ask("B", SetStock(on_hand=1))
        await env.ask("C", SetStock(on_hand=1))
        again = await env.ask("A", msg)
        assert isinstance(again, PurchaseOrderReply) and not again.new
        await env.ask("A", ReceivePurchaseOrder(po_id="po-1", qty=5))
        view = await env.view("A")
        assert (view.on_hand, view.open_po_qty) == (6, 0)


async def test_refused_demand_counts_once_per_order_across_restocks(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=0))
        for _ in range(3):
            await env.ask("A", Reserve(order_id="o1", qty=2))
            await env.ask("A", Adjust(delta=1, reason="receipt"))  # not enough: o1 waits on
        assert env.seen.sales == [("A", 2)]


async def test_an_adjustment_with_a_key_applies_once(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=10))
        for _ in range(2):
            view = await env.ask("A", Adjust(delta=5, reason="receipt", key="k-1"))
            assert isinstance(view, StockView) and view.on_hand == 15
        view = await env.ask("A", Adjust(delta=5, reason="receipt", key="k-2"))
        assert isinstance(view, StockView) and view.on_hand == 20


async def test_shipping_fewer_units_than_held_frees_the_rest(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=10))
        await env.ask("A", Reserve(order_id="o1", qty=3))
        view = await env.ask("A", Commit(order_id="o1", qty=2))
        assert isinstance(view, StockView) and (view.on_hand, view.reserved) == (8, 0)
        rows = await env.store.order_reservations("o1")
        assert [(r.qty, r.state) for r in rows] == [(2, "committed")]


async def test_a_repair_in_the_same_batch_as_a_change_finds_no_drift(tmp_path: Path) -> None:
    async with inventory(tmp_path) as env:
        await env.ask("A", SetStock(on_hand=5))
        # Both queued before the actor runs: one batch, the reserve first.
        reserved = env.registry.ask_nowait("A", Reserve(order_id="o1", qty=2))
        repaired = env.registry.ask_nowait("A", Repair())
        assert isinstance(await reserved.wait(), Reservation)
        report = await repaired.wait()
        assert isinstance(report, RepairReport) and not report.repaired
        assert [e.kind for e in await env.store.stock_events("A", limit=10)] == ["reserve", "set"]
