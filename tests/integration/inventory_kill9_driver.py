"""Inventory traffic for ``test_inventory_kill9``, as a process of its own (it gets ``kill -9``).

Runs the real pieces: per-SKU :class:`SkuActor` s in a :class:`Registry`, the group-committing
:class:`StoreWriter`, and the SQLite (``synchronous=FULL``) or Postgres store. Many concurrent
clients place multi-SKU orders with :func:`reserve_all` on scarce stock, then cancel (release
every line) or ship (commit every line) them, and adjust stock; until killed.

Usage::

    python inventory_kill9_driver.py STORE RUN [--stock] [--pending FILE] [--no-traffic]

``STORE`` is ``sqlite:PATH`` or a ``postgresql://`` URL; ``RUN`` prefixes this run's order ids
and adjustment reasons (unique across runs). ``--stock`` sets :data:`SKUS` first. ``--pending``
names a JSON list of ``{"order", "step", "lines"}``: orders a killed run left mid-step, whose
step is run again before anything else, as the order saga does after a crash (``reserve``:
:func:`reserve_all`, which completes or compensates; ``release`` / ``commit``: every line).
``--no-traffic`` exits once that is done.

Stdout, one JSON line per event, each written and flushed whole *before* the step it announces
(the saga's state, durable before its side effects) or *after* the outcome it reports came back
(the reply of a SKU actor comes only after its write committed):

=========================================  ==================================================
``reserving`` order, lines                 before ``reserve_all``
``reserved`` / ``refused`` order           ``reserve_all`` returned (held every line / none)
``cancelling`` / ``shipping`` order        before releasing / committing its lines
``cancelled`` / ``shipped`` order          every line released / committed
``adjusting`` sku, delta, reason           before an ``Adjust`` (``reason`` is unique)
``adjusted`` / ``adjust_refused`` reason   it committed / it was refused (nothing changed)
``ready``                                  stock set and pending steps re-run; traffic starts
=========================================  ==================================================
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from creatorflow.actors.inventory import Adjust, Commit, InventoryMsg, Release, SetStock, SkuActor
from creatorflow.actors.reservation_step import AskSku, reserve_all
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store import open_postgres_store, open_sqlite_store
from creatorflow.errors import InventoryRefused
from creatorflow.runtime import Registry, open_actor

#: Scarce stock: far less than the clients ask for, so reservations are refused all the time.
SKUS = {"A-MUG": 8, "B-CAP": 6, "C-TEE": 5, "D-BAG": 4, "E-PIN": 3}
SAFETY_BUFFER = {"A-MUG": 1}
CLIENTS = 24
MAX_OPEN_ORDERS = 3  # per client: reserved orders it has not cancelled or shipped yet


class WallClock:
    """Milliseconds, strictly increasing (also across runs: wall time)."""

    def __init__(self) -> None:
        self._last = 0

    def now_ms(self) -> int:
        self._last = max(self._last + 1, time.time_ns() // 1_000_000)
        return self._last


def emit(**event: Any) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()  # one write per line: a kill leaves whole lines in the pipe


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Any]:
    """The store at ``sqlite:PATH`` (``synchronous=FULL``) or a ``postgresql://`` URL."""
    if url.startswith("sqlite:"):
        async with open_sqlite_store(url.removeprefix("sqlite:"), synchronous="FULL") as store:
            yield store
    else:
        async with open_postgres_store(url, min_size=1, max_size=4) as store:
            yield store


async def run_step(ask: AskSku, order_id: str, step: str, lines: list[tuple[str, int]]) -> None:
    """Run one saga step for the order and report its outcome."""
    if step == "reserve":
        short = await reserve_all(ask, order_id, lines)
        emit(op="refused" if short else "reserved", order=order_id)
    elif step == "release":
        for sku, _ in lines:
            await ask(sku, Release(order_id=order_id, reason="cancel"))
        emit(op="cancelled", order=order_id)
    elif step == "commit":
        for sku, _ in lines:
            # qty 0: the order holds its lines, so re-running this after a crash leaves a line
            # committed before it alone (with a qty, a reloaded actor would commit it again).
            await ask(sku, Commit(order_id=order_id, reason="shipped"))
        emit(op="shipped", order=order_id)
    else:
        raise AssertionError(f"unknown step {step!r}")


async def client(ask: AskSku, run: str, n: int) -> None:
    """Orders, cancels, shipments and adjustments, forever."""
    rng = random.Random(f"{run}-{n}")
    open_orders: list[tuple[str, list[tuple[str, int]]]] = []
    for i in range(10**9):
        r = rng.random()
        if open_orders and (r < 0.4 or len(open_orders) >= MAX_OPEN_ORDERS):
            order_id, lines = open_orders.pop(rng.randrange(len(open_orders)))
            if rng.random() < 0.5:
                emit(op="cancelling", order=order_id)
                await run_step(ask, order_id, "release", lines)
            else:
                emit(op="shipping", order=order_id)
                await run_step(ask, order_id, "commit", lines)
        elif r < 0.5:
            sku = rng.choice(sorted(SKUS))
            delta = rng.choice((-2, -1, 1, 2, 3))
            reason = f"{run}-adj-{n}-{i}"
            emit(op="adjusting", sku=sku, delta=delta, reason=reason)
            try:
                await ask(sku, Adjust(delta=delta, reason=reason))
            except InventoryRefused:
                emit(op="adjust_refused", reason=reason)
            else:
                emit(op="adjusted", reason=reason)
        else:
            order_id = f"{run}-o-{n}-{i}"
            chosen = sorted(rng.sample(sorted(SKUS), rng.choice((1, 2, 2, 3, 3))))
            lines = [(sku, rng.randint(1, 2)) for sku in chosen]
            emit(op="reserving", order=order_id, lines=lines)
            short = await reserve_all(ask, order_id, lines)
            emit(op="refused" if short else "reserved", order=order_id)
            if not short:
                open_orders.append((order_id, lines))


async def main(args: argparse.Namespace, pending: list[dict[str, Any]]) -> None:
    clock = WallClock()
    commits = 1 if args.store.startswith("sqlite:") else 4  # as app.py: one SQLite writer
    async with (
        open_store(args.store) as store,
        open_actor(StoreWriter(store, max_concurrent_commits=commits), "writer", 4096) as writer,
    ):
        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(sku, writer=writer, reader=store, clock=clock),
            mailbox_size=256,
            max_active=3,  # fewer than the SKUs: actors are evicted and reloaded mid-run
            idle_s=3600,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            if args.stock:
                for sku, qty in SKUS.items():
                    await registry.ask(
                        sku, SetStock(on_hand=qty, safety_buffer=SAFETY_BUFFER.get(sku, 0))
                    )
            if pending:
                limit = anyio.Semaphore(8)  # as the scheduler: a few orders in their steps

                async def rerun(p: dict[str, Any]) -> None:
                    async with limit:
                        lines = [(sku, qty) for sku, qty in p["lines"]]
                        await run_step(registry.ask, p["order"], p["step"], lines)

                async with anyio.create_task_group() as steps:
                    for p in pending:
                        steps.start_soon(rerun, p)
            emit(op="ready")
            if args.traffic:
                async with anyio.create_task_group() as clients:
                    for n in range(CLIENTS):
                        clients.start_soon(client, registry.ask, args.run, n)
            registry.request_stop()
        await writer.flush()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store")
    parser.add_argument("run")
    parser.add_argument("--stock", action="store_true")
    parser.add_argument("--pending")
    parser.add_argument("--no-traffic", dest="traffic", action="store_false")
    args = parser.parse_args()
    pending = []
    if args.pending:
        with open(args.pending) as f:
            pending = json.load(f)
    anyio.run(main, args, pending, backend="asyncio")
