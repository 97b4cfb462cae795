"""Oversell torture test: many concurrent orders (single and multi-SKU), cancels, shipments and
stock adjustments against scarce stock, through the real SKU actors, store writer and store, on
every backend and store (the ``store`` fixture: SQLite and Postgres; asyncio, uvloop, trio).

Checked while it runs: ``0 <= reserved <= on_hand`` on every read. Checked at the end:
- no order holds part of its stock (every line held, or none);
- the store agrees with the actors, and ``reserved`` equals the sum of held rows (no drift);
- the final counts equal a sequential replay: re-running the journal's decisions one by one,
  in commit order, on a fresh :class:`SkuStock` accepts every one and lands on the same counts.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.lowlevel
import pytest
from store_factories import LeadingStore

from creatorflow.actors.inventory import (
    Adjust,
    Commit,
    GetStock,
    InventoryMsg,
    Release,
    SetStock,
    SkuActor,
    StockView,
)
from creatorflow.actors.reservation_step import reserve_all
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.domain.inventory import reservation_plan
from creatorflow.errors import InventoryRefused
from creatorflow.runtime import Registry, open_actor
from inventory_journal import all_events, replay

pytestmark = pytest.mark.anyio

SKUS = {"A-MUG": 12, "B-CAP": 9, "C-TEE": 6, "D-BAG": 3}


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        self.now += 1
        return self.now


@asynccontextmanager
async def inventory(store: LeadingStore) -> AsyncIterator[Registry[str, InventoryMsg]]:
    clock = Clock()
    async with open_actor(StoreWriter(store, max_concurrent_commits=4), "writer", 4096) as writer:
        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(sku, writer=writer, reader=store, clock=clock),
            mailbox_size=256,
            max_active=3,  # fewer than the SKUs: actors are evicted and reloaded mid-run
            idle_s=3600,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            try:
                yield registry
            finally:
                registry.request_stop()
        await writer.flush()


async def stock_of(registry: Registry[str, InventoryMsg], sku: str) -> StockView:
    view = await registry.ask(sku, GetStock())
    assert isinstance(view, StockView)
    return view


async def test_no_oversell_under_concurrent_orders_cancels_and_adjustments(
    store: LeadingStore,
) -> None:
    rng = random.Random(20261125)
    orders: dict[str, list[tuple[str, int]]] = {}
    for i in range(160):
        chosen = rng.sample(sorted(SKUS), rng.choice((1, 1, 2, 3)))
        orders[f"order-{i:04d}"] = reservation_plan((sku, rng.randint(1, 3)) for sku in chosen)
    fate = {
        order_id: rng.choice(("keep", "keep", "cancel", "cancel", "ship")) for order_id in orders
    }
    outcome: dict[str, str] = {}
    violations: list[str] = []
    async with inventory(store) as registry:
        for sku, qty in SKUS.items():
            await registry.ask(sku, SetStock(on_hand=qty, safety_buffer=1 if sku == "A-MUG" else 0))

        async def place(order_id: str) -> None:
            short = await reserve_all(registry.ask, order_id, orders[order_id])
            outcome[order_id] = "refused" if short else "reserved"
            if not short and fate[order_id] == "cancel":
                for sku, _ in orders[order_id]:
                    await registry.ask(sku, Release(order_id=order_id, reason="cancel"))
                outcome[order_id] = "cancelled"
            elif not short and fate[order_id] == "ship":
                for sku, _ in orders[order_id]:
                    await registry.ask(sku, Commit(order_id=order_id))
                outcome[order_id] = "shipped"

        async def adjust(seed: int) -> None:
            local = random.Random(seed)
            for _ in range(15):
                sku = local.choice(sorted(SKUS))
                try:
                    await registry.ask(
                        sku, Adjust(delta=local.choice((-2, -1, 1, 2)), reason="count")
                    )
                except InventoryRefused:
                    pass  # would go below reserved or zero: refused, nothing changed
                await anyio.lowlevel.checkpoint()

        async def watch(done: anyio.Event) -> None:
            while not done.is_set():
                for sku in SKUS:
                    view = await stock_of(registry, sku)
                    if not 0 <= view.reserved <= view.on_hand:
                        violations.append(f"{sku}: {view}")
                await anyio.lowlevel.checkpoint()

        done = anyio.Event()
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(watch, done)
            async with anyio.create_task_group() as tg:
                for order_id in orders:
                    tg.start_soon(place, order_id)
                for seed in range(4):
                    tg.start_soon(adjust, seed)
            done.set()

        assert violations == []
        assert {"reserved", "refused"} <= set(outcome.values()), outcome
        assert {"cancelled", "shipped"} & set(outcome.values()), outcome
        views = {sku: await stock_of(registry, sku) for sku in SKUS}

    # No partial holds: an order holds every line or none.
    for order_id, lines in orders.items():
        rows = await store.order_reservations(order_id)
        held = {r.sku: r.qty for r in rows if r.state == "held"}
        if outcome[order_id] == "reserved":
            assert held == dict(lines), order_id
        else:
            assert held == {}, (order_id, outcome[order_id], held)
    # Store == actors, and no drift.
    assert await store.reservation_drift(100) == []
    for sku, view in views.items():
        row = await store.get_sku(sku)
        assert row is not None
        assert (row.on_hand, row.reserved) == (view.on_hand, view.reserved)
        assert 0 <= row.reserved <= row.on_hand
        held_rows = await store.held_reservations(sku)
        assert sum(r.qty for r in held_rows) == row.reserved
        # Sequential replay of the journal.
        events = await all_events(store, sku)
        replayed = replay(sku, events)
        assert (replayed.on_hand, replayed.reserved) == (row.on_hand, row.reserved)
        assert {h.order_id: h.qty for h in replayed.holds()} == {
            r.order_id: r.qty for r in held_rows
        }
