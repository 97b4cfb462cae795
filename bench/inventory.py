"""Inventory benchmark: reservations per second through the SKU actors, with and without
durability, side by side (issue 5; targets >= 50,000/s in-process, >= 10,000/s durable).

Run ``python -m bench.inventory [--store sqlite|postgres|both|none] [--skus N]
[--concurrency N] [--ops N] [--max-seconds S] [--json PATH]``.

One process, asyncio + uvloop (production's loop; asyncpg needs asyncio). Every scenario runs in
two layouts: ``spread`` (each reservation on a random SKU among ``--skus``) and ``hot`` (every
reservation on one SKU: a viral spike).

* ``raw``: the domain work alone, no actors, no event loop: ``SkuStock.reserve`` for a fresh
  order id on a random SKU, in a plain loop.
* ``actors``: a runtime ``Registry`` of ``SkuActor(writer=None, reader=None)`` (no durability:
  pure in-memory actors), with C concurrent clients; each client ``ask``s ``Reserve`` (qty 1,
  firm hold, fresh order id) and awaits the reply before its next one (closed loop). The actor
  overhead per reservation is actors µs/op minus raw µs/op.
* ``sqlite-full`` (the service's default), ``sqlite-normal`` (reference: may lose the last
  commits on power loss) and ``postgres cN`` (a fresh database ``cf_bench_<random>``, dropped at
  the end; the writer with N commits in flight, the service's ``[store]
  pg_max_concurrent_commits``): the same clients against SKU actors wired as the service wires
  them (``writer`` = a ``StoreWriter`` with the ``[store]`` defaults, ``reader`` = the store), so
  a reply means the reservation committed.

Before a scenario every SKU is activated and stocked (``SetStock``, enough that nothing is
refused), then ``--warmup-ops`` unrecorded reservations run. A scenario stops after ``--ops``
reservations or ``--max-seconds``, whichever comes first. Figures: reservations/s over the
scenario's wall time, µs per reservation, reply latency p50/p99 (the client's view: mailbox,
actor, and for durable rows the group commit), reservations and writer ops per commit (from the
writer's ``on_commit`` observer), refused replies and errors, and how busy the process was: its
CPU time (every thread) and the cyclic GC's time (``gc.callbacks``) over the wall time. A CPU
share near 100 % means the event loop, not the disk, sets the pace. Durable rows are checked
after the run: the stored ``reserved`` of the scenario's SKUs must equal the reservations
answered, and the store must report no drift between SKU rows and held reservation rows.
``--store none`` runs the in-process rows only. ``--gc service`` runs everything under the
service's garbage-collector settings while it serves (``creatorflow.web.server.serving_gc``:
freeze what exists, larger young generation) instead of CPython's defaults.

The hooks the service passes to SKU actors (metrics, velocity, TikTok stock sync) are not
wired: they are non-blocking ``tell_nowait`` calls to other actors, outside what is measured.
The machine is shared and noisy: compare rows of one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from bench.store import (
    DEFAULT_PG_ADMIN_URL,
    create_database,
    drop_database,
    percentile_ms,
    postmaster_started,
    run_bench,
)
from creatorflow.actors.inventory import InventoryMsg, Reservation, Reserve, SetStock, SkuActor
from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store import open_sqlite_store
from creatorflow.adapters.store.postgres import open_postgres_store
from creatorflow.config import InventoryConfig, StoreConfig
from creatorflow.domain.inventory import SkuStock
from creatorflow.ports import SystemClock
from creatorflow.runtime import ActorRef, Registry, open_actor

TARGET_IN_PROCESS = 50_000
TARGET_DURABLE = 10_000
RAW = "raw"
ACTORS = "actors"
SQLITE_FULL = "sqlite-full"
SQLITE_NORMAL = "sqlite-normal"
POSTGRES = "postgres"


@dataclass(frozen=True)
class Target:
    """A durable row family: a store, and the writer's commits in flight on it."""

    name: str
    store: Any  # SqliteStore | PostgresStore: TransactionalStore and InventoryReader
    commits: int = 1


@dataclass
class Result:
    name: str  # raw | actors | sqlite-full | sqlite-normal | postgres cN
    layout: str  # spread | hot
    skus: int
    clients: int
    reserved: int = 0
    refused: int = 0
    seconds: float = 0.0
    stopped_by: str = "ops"
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    commits: int = 0
    committed_ops: int = 0
    commit_p50_ms: float = 0.0
    commit_p99_ms: float = 0.0
    checked: str = ""  # durable rows: "ok" or what disagreed
    restarted: bool = False  # the Postgres server restarted during the row: not valid
    evictions: int = 0
    cpu_s: float = 0.0  # this process's CPU time (every thread) while the row ran
    gc_s: float = 0.0  # of which in the cyclic garbage collector (gc.callbacks)
    gc_collections: list[int] = field(default_factory=lambda: [0, 0, 0])

    @property
    def answered(self) -> int:
        return self.reserved + self.refused

    @property
    def per_s(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    @property
    def us_per_op(self) -> float:
        return 1e6 / self.per_s if self.per_s else 0.0

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds if self.seconds else 0.0

    @property
    def gc_pct(self) -> float:
        return 100 * self.gc_s / self.seconds if self.seconds else 0.0

    @property
    def res_per_commit(self) -> float:
        return self.answered / self.commits if self.commits else 0.0

    @property
    def ops_per_commit(self) -> float:
        return self.committed_ops / self.commits if self.commits else 0.0

    @property
    def durable(self) -> bool:
        return self.name not in (RAW, ACTORS)

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {
            "reservations_per_s": round(self.per_s, 1),
            "us_per_op": round(self.us_per_op, 3),
            "reservations_per_commit": round(self.res_per_commit, 2),
            "ops_per_commit": round(self.ops_per_commit, 2),
        }


def sku_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{i:05d}" for i in range(count)]


class Meter:
    """Wall time, this process's CPU time and the cyclic GC's time (``gc.callbacks``) over a
    ``with`` block, stored into ``result``. CPU counts every thread of the process (SQLite
    runs its statements in a worker thread), not the Postgres server's processes."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.result.gc_s += time.perf_counter() - self._gc_started
            self.result.gc_collections[info["generation"]] += 1

    def __enter__(self) -> Meter:
        gc.collect()
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)
        self.result.seconds = time.perf_counter() - self._wall
        self.result.cpu_s = time.process_time() - self._cpu


# --------------------------------------------------------------------------- raw baseline


def run_raw(
    layout: str, skus: list[str], *, ops: int, max_seconds: float, seed: int, prefix: str
) -> Result:
    """``SkuStock.reserve`` in a loop: the domain work of a reservation without actors."""
    clock = SystemClock()
    stock_each = ops + 1
    stocks = [SkuStock(sku, on_hand=stock_each) for sku in skus]
    rng = random.Random(seed)
    n = len(stocks)
    result = Result(RAW, layout, n, 1)
    perf = time.perf_counter
    reserved = refused = 0
    with Meter(result):
        deadline = perf() + max_seconds
        for i in range(ops):
            if not i & 1023 and perf() > deadline:
                result.stopped_by = "time"
                break
            stock = stocks[rng.randrange(n)] if n > 1 else stocks[0]
            outcome = stock.reserve(f"{prefix}{i}", 1, clock.now_ms()).outcome
            if outcome == "reserved":
                reserved += 1
            else:
                refused += 1
    result.reserved, result.refused = reserved, refused
    return result


# --------------------------------------------------------------------------- actors


@asynccontextmanager
async def open_inventory(
    writer: ActorRef[Write] | None, reader: Any, inv: InventoryConfig
) -> AsyncIterator[Registry[str, InventoryMsg]]:
    """A running Registry of SkuActors with the service's ``[inventory]`` settings."""
    clock = SystemClock()
    registry: Registry[str, InventoryMsg] = Registry(
        "inventory",
        lambda sku: SkuActor(
            sku,
            writer=writer,
            reader=reader,
            clock=clock,
            default_safety_buffer=inv.default_safety_buffer,
        ),
        mailbox_size=inv.sku_mailbox_size,
        max_active=inv.max_active_skus,
        idle_s=inv.idle_s,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(registry.run)
        try:
            yield registry
        finally:
            registry.request_stop()


async def stock_up(registry: Registry[str, InventoryMsg], skus: list[str], on_hand: int) -> None:
    """Activate and stock every SKU (64 at a time: durable rows group-commit the SetStocks)."""

    async def worker(mine: list[str]) -> None:
        for sku in mine:
            await registry.ask(sku, SetStock(on_hand=on_hand, reason="bench"))

    async with anyio.create_task_group() as tg:
        for k in range(64):
            if skus[k::64]:
                tg.start_soon(worker, skus[k::64])


async def drive(
    ask: Callable[[str, InventoryMsg], Awaitable[Any]],
    skus: list[str],
    result: Result,
    *,
    clients: int,
    ops: int,
    max_seconds: float,
    seed: int,
    prefix: str,
    latencies: list[float] | None,
) -> None:
    """``clients`` closed-loop clients reserving until ``ops`` were sent or time is up."""
    perf = time.perf_counter
    n = len(skus)
    issued = 0
    errors = result.errors

    async def client(cid: int) -> None:
        nonlocal issued
        rng = random.Random(seed * 100_003 + cid)
        i = 0
        while issued < ops:
            if perf() > deadline:
                result.stopped_by = "time"
                return
            issued += 1
            sku = skus[rng.randrange(n)] if n > 1 else skus[0]
            msg = Reserve(order_id=f"{prefix}{cid}-{i}", qty=1)
            i += 1
            t0 = perf()
            try:
                reply = await ask(sku, msg)
            except Exception as exc:  # counted, not raised: a failed reservation is a figure
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if latencies is not None:
                latencies.append(perf() - t0)
            assert isinstance(reply, Reservation)
            if reply.outcome == "reserved":
                result.reserved += 1
            else:
                result.refused += 1

    with Meter(result):
        deadline = perf() + max_seconds
        async with anyio.create_task_group() as tg:
            for cid in range(clients):
                tg.start_soon(client, cid)


async def run_actors(
    name: str,
    layout: str,
    skus: list[str],
    *,
    args: argparse.Namespace,
    inv: InventoryConfig,
    tag: str,
    target: Target | None = None,
    sc: StoreConfig | None = None,
) -> Result:
    """One scenario through the SKU actors; durable when ``target`` is given."""
    commit_ops: list[int] = []
    commit_s: list[float] = []

    def observe(ops: int, seconds: float) -> None:
        commit_ops.append(ops)
        commit_s.append(seconds)

    result = Result(name, layout, len(skus), args.concurrency)
    stock_each = args.ops + args.warmup_ops + 1
    async with AsyncExitStack() as stack:
        writer: ActorRef[Write] | None = None
        reader: Any = None
        if target is not None:
            assert sc is not None
            writer = await stack.enter_async_context(
                open_actor(
                    StoreWriter(
                        target.store,
                        batch_max_size=sc.batch_max_size,
                        batch_max_wait_ms=sc.batch_max_wait_ms,
                        on_commit=observe,
                        name=f"writer-{name}",
                        max_concurrent_commits=target.commits,
                    ),
                    f"writer-{name}",
                    sc.writer_mailbox_size,
                )
            )
            reader = target.store
        registry = await stack.enter_async_context(open_inventory(writer, reader, inv))
        await stock_up(registry, skus, stock_each)
        if args.warmup_ops:
            warm = Result(name, layout, len(skus), args.concurrency)
            await drive(
                registry.ask,
                skus,
                warm,
                clients=args.concurrency,
                ops=args.warmup_ops,
                max_seconds=args.max_seconds,
                seed=args.seed + 1,
                prefix=f"{tag}w",
                latencies=None,
            )
            warm_reserved = warm.reserved
        else:
            warm_reserved = 0
        commit_ops.clear()
        commit_s.clear()
        latencies: list[float] = []
        await drive(
            registry.ask,
            skus,
            result,
            clients=args.concurrency,
            ops=args.ops,
            max_seconds=args.max_seconds,
            seed=args.seed,
            prefix=f"{tag}m",
            latencies=latencies,
        )
        result.evictions = registry.evictions
    result.p50_ms = percentile_ms(latencies, 0.50)
    result.p99_ms = percentile_ms(latencies, 0.99)
    result.commits = len(commit_ops)
    result.committed_ops = sum(commit_ops)
    result.commit_p50_ms = percentile_ms(commit_s, 0.50)
    result.commit_p99_ms = percentile_ms(commit_s, 0.99)
    if target is not None:
        result.checked = await check_store(target.store, skus, warm_reserved + result.reserved)
    return result


async def check_store(store: Any, skus: list[str], expected: int) -> str:
    """The stored ``reserved`` of ``skus`` must add up to the reservations answered (each of
    qty 1), and the store must see no drift between SKU rows and held reservation rows."""
    wanted = set(skus)
    total = 0
    after: str | None = min(skus)[:-1]  # list_skus is "strictly after": start before the first
    while True:
        rows = await store.list_skus(after=after, limit=500)
        mine = [r for r in rows if r.sku in wanted]
        total += sum(r.reserved for r in mine)
        if len(rows) < 500 or rows[-1].sku > max(skus):
            break
        after = rows[-1].sku
    drift = await store.reservation_drift(limit=10)
    problems = []
    if total != expected:
        problems.append(f"stored reserved {total} != {expected} answered")
    if drift:
        problems.append(f"drift {drift}")
    return "; ".join(problems) or "ok"


# --------------------------------------------------------------------------- stores


@asynccontextmanager
async def open_targets(args: argparse.Namespace, sc: StoreConfig) -> AsyncIterator[list[Target]]:
    """SQLite FULL (and NORMAL) in a temporary directory, Postgres in a fresh database; closed,
    dropped and removed at the end whatever happens. Run order: FULL, Postgres, NORMAL."""
    targets: list[Target] = []
    async with AsyncExitStack() as stack:
        if args.store in ("sqlite", "both"):
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cf-bench-inv-")))
            full = await stack.enter_async_context(
                open_sqlite_store(tmp / "full.sqlite3", synchronous="FULL")
            )
            targets.append(Target(SQLITE_FULL, full))
        if args.store in ("postgres", "both"):
            try:
                name, url = await create_database(args.pg_url)
            except Exception as exc:  # any driver/OS error: report and go on without it
                print(f"postgres skipped: cannot create a database on {args.pg_url}: {exc!r}")
            else:
                print(f"postgres: database {name} on {urlsplit(url).netloc}", flush=True)

                async def drop() -> None:
                    with anyio.CancelScope(shield=True):
                        await drop_database(args.pg_url, name)
                        print(f"postgres: dropped {name}", flush=True)

                stack.push_async_callback(drop)
                pg = await stack.enter_async_context(
                    open_postgres_store(
                        url,
                        min_size=sc.pg_pool_min_size,
                        max_size=sc.pg_pool_max_size,
                        command_timeout_s=sc.pg_command_timeout_s,
                        connect_timeout_s=sc.pg_connect_timeout_s,
                        application_name="creatorflow-bench",
                    )
                )
                commits = args.pg_commits or sc.pg_max_concurrent_commits
                targets.append(Target(f"{POSTGRES} c{commits}", pg, commits))
        if args.store in ("sqlite", "both") and not args.no_normal:
            normal = await stack.enter_async_context(
                open_sqlite_store(tmp / "normal.sqlite3", synchronous="NORMAL")
            )
            targets.append(Target(SQLITE_NORMAL, normal))
        yield targets


# --------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in ("anyio", "uvloop", "asyncpg", "msgspec"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "commit": commit,
        "platform": platform.platform(),
        "versions": versions,
    }


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


# --------------------------------------------------------------------------- report


def verdict(value: float, target: int) -> str:
    return "PASS" if value >= target else "FAIL"


def fmt_row(r: Result, base: Result | None) -> str:
    errors = sum(r.errors.values())
    if r.durable:
        tgt = f"≥{TARGET_DURABLE // 1000}k {verdict(r.per_s, TARGET_DURABLE)}"
    elif r.name == ACTORS:
        tgt = f"≥{TARGET_IN_PROCESS // 1000}k {verdict(r.per_s, TARGET_IN_PROCESS)}"
    else:
        tgt = ""
    ratio = f"{r.per_s / base.per_s:.3f}" if base is not None and base.per_s else ""
    delta = f"{r.us_per_op - base.us_per_op:+.1f}" if base is not None and base.per_s else ""
    lat = f"{r.p50_ms:.2f}/{r.p99_ms:.2f}" if r.name != RAW else "-"
    per_commit = f"{r.res_per_commit:.1f}/{r.ops_per_commit:.0f}" if r.commits else "-"
    flags = ("T" if r.stopped_by == "time" else " ") + ("R" if r.restarted else " ")
    cpu_us = 1e6 * r.cpu_s / r.answered if r.answered else 0.0
    return (
        f"{r.layout:<6} {r.name:<13} {r.skus:>5} {r.clients:>5} {r.per_s:>10,.0f} "
        f"{r.us_per_op:>7.2f} {cpu_us:>7.2f} {r.cpu_pct:>4.0f} {r.gc_pct:>4.0f} "
        f"{delta:>7} {ratio:>6} {lat:>13} {per_commit:>11} "
        f"{r.answered:>8,} {r.seconds:>5.1f} {flags} {r.refused:>5} {errors:>4} "
        f"{r.checked or '-':>5} {tgt}"
    ).rstrip()


def print_table(results: list[Result]) -> None:
    head = (
        f"{'layout':<6} {'scenario':<13} {'skus':>5} {'cli':>5} {'res/s':>10} "
        f"{'µs/op':>7} {'cpuµs':>7} {'cpu%':>4} {'gc%':>4} {'Δµs':>7} {'/raw':>6} "
        f"{'p50/p99 ms':>13} {'res/op cmt':>11} "
        f"{'answered':>8} {'secs':>5} {'':2} {'refus':>5} {'err':>4} {'check':>5} target"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in results:
        base = None
        if r.name == ACTORS:
            base = next((b for b in results if b.name == RAW and b.layout == r.layout), None)
        print(fmt_row(r, base))
    print(
        "µs/op = wall time per reservation; cpuµs = process CPU per reservation; cpu%, gc% = "
        "process CPU and cyclic GC time over wall time; Δµs, /raw: actors vs the raw domain "
        "loop of the same layout (µs/op difference, ratio of res/s); res/op cmt = reservations "
        "/ writer ops per commit; p50/p99 = reply latency; "
        "T = stopped by --max-seconds; check = stored reserved == reservations answered, no drift"
    )
    if any(r.restarted for r in results):
        print("R = the Postgres server restarted (or was down) during the row: not valid")
    for r in results:
        if r.errors:
            print(f"  {r.layout}/{r.name} errors: {r.errors}")


def summarize(results: list[Result]) -> list[str]:
    lines: list[str] = []
    actors = [r for r in results if r.name == ACTORS]
    for r in actors:
        lines.append(
            f"in-process ({r.layout}, {r.skus} SKU{'s' if r.skus > 1 else ''}): "
            f"{r.per_s:,.0f}/s vs target {TARGET_IN_PROCESS:,}/s: "
            f"{verdict(r.per_s, TARGET_IN_PROCESS)}"
        )
    durable = [r for r in results if r.durable and not r.restarted and not r.errors]
    for layout in ("spread", "hot"):
        rows = [r for r in durable if r.layout == layout]
        if not rows:
            continue
        passing = [r.name for r in rows if r.per_s >= TARGET_DURABLE]
        best = max(rows, key=lambda r: r.per_s)
        lines.append(
            f"durable ({layout}): best {best.name} {best.per_s:,.0f}/s vs target "
            f"{TARGET_DURABLE:,}/s: "
            + (f"PASS on {', '.join(passing)}" if passing else "FAIL on every store")
        )
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(
        prog="python -m bench.inventory", description=" ".join(doc.split("\n\n")[0].split())
    )
    p.add_argument("--store", choices=["sqlite", "postgres", "both", "none"], default="both")
    p.add_argument("--skus", type=int, default=1000, help="SKUs of the spread layout")
    p.add_argument("--concurrency", type=int, default=256, help="concurrent clients")
    p.add_argument("--ops", type=int, default=200_000, help="reservations per scenario")
    p.add_argument("--max-seconds", type=float, default=10.0, help="time cap per scenario")
    p.add_argument("--warmup-ops", type=int, default=5_000, help="unrecorded, per scenario")
    p.add_argument(
        "--layout", choices=["both", "spread", "hot"], default="both", help="spread, hot or both"
    )
    p.add_argument("--seed", type=int, default=20261125)
    p.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="admin URL to create the db")
    p.add_argument(
        "--pg-commits",
        type=int,
        default=0,
        help="Postgres writer commits in flight (default: [store] pg_max_concurrent_commits)",
    )
    p.add_argument("--no-normal", action="store_true", help="skip the SQLite NORMAL reference")
    p.add_argument(
        "--gc",
        choices=["default", "service"],
        default="default",
        help="garbage collector settings: CPython's defaults, or the service's while it serves "
        "(creatorflow.web.server.serving_gc, entered before any SKU is activated)",
    )
    p.add_argument("--quick", action="store_true", help="20,000 ops, 3 s cap, 1,000 warm-up")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.ops, args.max_seconds, args.warmup_ops = 20_000, 3.0, 1_000
    if args.skus < 1 or args.concurrency < 1 or args.ops < 1 or args.warmup_ops < 0:
        raise SystemExit("--skus, --concurrency, --ops must be >= 1, --warmup-ops >= 0")
    return args


def gc_settings(mode: str) -> AbstractContextManager[None]:
    """``--gc``: nothing, or the service's ``serving_gc()`` (where this tree has it)."""
    if mode == "default":
        return nullcontext()
    from creatorflow.web import server

    serving_gc: Callable[[], AbstractContextManager[None]] | None = getattr(
        server, "serving_gc", None
    )
    if serving_gc is None:
        raise SystemExit("--gc service: this tree has no creatorflow.web.server.serving_gc")
    return serving_gc()


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    with gc_settings(args.gc):
        return await run_all(args)


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sc = StoreConfig()
    inv = InventoryConfig()
    info = machine_info()
    load_before = loadavg()
    layouts = [("spread", args.skus), ("hot", 1)]
    if args.layout != "both":
        layouts = [lay for lay in layouts if lay[0] == args.layout]
    shown = ", ".join(f"{n} ({k} SKU{'s' if k > 1 else ''})" for n, k in layouts)
    run_tag = f"b{int(time.time()) % 1_000_000:06d}"
    print(
        f"bench.inventory: up to {args.ops:,} reservations or {args.max_seconds:g} s per "
        f"scenario (+{args.warmup_ops:,} warm-up), {args.concurrency} clients, layouts "
        f"{shown}; "
        f"asyncio+uvloop; gc {args.gc} (threshold {gc.get_threshold()})",
        flush=True,
    )
    print(
        f"machine: nproc {info['nproc']}, {info['cpu'] or '?'}; Python "
        f"{info['versions']['python']}; commit {info['commit'] or '?'}; load average "
        f"{load_before}",
        flush=True,
    )
    print(
        f"[inventory] sku_mailbox_size={inv.sku_mailbox_size} max_active_skus="
        f"{inv.max_active_skus}; SkuActor.max_batch={SkuActor.max_batch}; [store] "
        f"batch_max_size={sc.batch_max_size} batch_max_wait_ms={sc.batch_max_wait_ms:g} "
        f"writer_mailbox_size={sc.writer_mailbox_size}",
        flush=True,
    )
    results: list[Result] = []

    def report(r: Result) -> None:
        results.append(r)
        extra = ""
        if r.name != RAW:
            extra = f"  p50/p99 {r.p50_ms:.2f}/{r.p99_ms:.2f} ms"
        if r.commits:
            extra += (
                f"  {r.res_per_commit:.1f} res/commit  commit p50/p99 {r.commit_p50_ms:.2f}/"
                f"{r.commit_p99_ms:.2f} ms  check {r.checked}"
            )
        if r.errors:
            extra += f"  errors {r.errors}"
        if r.restarted:
            extra += "  POSTGRES RESTARTED DURING THIS ROW"
        print(
            f"  {r.layout:<6} {r.name:<13} {r.per_s:>10,.0f} res/s {r.us_per_op:>7.2f} µs/op "
            f" cpu {r.cpu_pct:.0f}% gc {r.gc_pct:.0f}%" + extra,
            flush=True,
        )

    print("[in-process]", flush=True)
    for index, (layout, count) in enumerate(layouts):
        skus = sku_names(f"{run_tag}-mem{index}", count)
        report(
            run_raw(
                layout,
                skus,
                ops=args.ops,
                max_seconds=args.max_seconds,
                seed=args.seed,
                prefix=f"{run_tag}r",
            )
        )
        report(await run_actors(ACTORS, layout, skus, args=args, inv=inv, tag=f"{run_tag}a"))

    if args.store != "none":
        async with open_targets(args, sc) as targets:
            for index, (layout, count) in enumerate(layouts):
                print(f"[durable, {layout}]", flush=True)
                for ti, target in enumerate(targets):
                    # Stores are shared across rows: SKU and order ids differ by row.
                    skus = sku_names(f"{run_tag}-d{index}{ti}", count)
                    is_pg = target.name.startswith(POSTGRES)
                    before = await postmaster_started(args.pg_url) if is_pg else ""
                    r = await run_actors(
                        target.name,
                        layout,
                        skus,
                        args=args,
                        inv=inv,
                        tag=f"{run_tag}d{index}{ti}",
                        target=target,
                        sc=sc,
                    )
                    if is_pg:
                        after = await postmaster_started(args.pg_url)
                        r.restarted = before != after or "down" in (before, after)
                    report(r)

    load_after = loadavg()
    print_table(results)
    print()
    lines = summarize(results)
    for line in lines:
        print(line)
    print(f"load average before {load_before}, after {load_after}")
    return {
        "args": vars(args),
        "machine": info | {"load_before": load_before, "load_after": load_after},
        "config": {
            "sku_mailbox_size": inv.sku_mailbox_size,
            "max_active_skus": inv.max_active_skus,
            "sku_actor_max_batch": SkuActor.max_batch,
            "batch_max_size": sc.batch_max_size,
            "batch_max_wait_ms": sc.batch_max_wait_ms,
            "writer_mailbox_size": sc.writer_mailbox_size,
            "pg_max_concurrent_commits": sc.pg_max_concurrent_commits,
            "gc_threshold": list(gc.get_threshold()),
        },
        "verdicts": lines,
        "results": [r.summary() for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(lambda: amain(args), args.json)


if __name__ == "__main__":
    sys.exit(main())
