"""Group-commit benchmark: the real ``StoreWriter`` actor on SQLite and on Postgres, side by side.

Run ``python -m bench.store [--ops N] [--askers 1,16,64,256] [--quick] [--json out.json]``.

* One process, asyncio + uvloop (asyncpg needs asyncio). Three stores are opened once per run:
  SQLite ``synchronous=FULL`` (the default, durable) and ``NORMAL`` (reference row: may lose the
  last commits on power loss) in a temporary directory, and Postgres in a fresh database
  ``cf_bench_<random>`` created on ``--pg-url``'s server and dropped at the end (also on error,
  Ctrl-C and SIGTERM).
* For every scenario and store a fresh :class:`StoreWriter` (the ``[store]`` defaults of
  ``creatorflow.config.StoreConfig``: batch size, linger, mailbox) runs under ``open_actor``.
  K asker tasks each ``ask`` it ``Write(ops=(one op,))`` in a loop:

  - ``insert xK``: every ask inserts a distinct :class:`InboxRecord` (a ~300 byte webhook);
  - ``mixed xK``: every asker alternates inserting a new record and marking its previous one
    processed (``MarkInboxProcessed``), so half the ops are updates, as when the inbox consumer
    keeps up with ingress.

  A scenario stops after ``--ops`` ops or ``--max-seconds``, whichever comes first.
* Figures: ops/s and commits/s over the scenario's wall time, mean ops per commit and commit
  latency p50/p99 (from the writer's ``on_commit`` observer: the time ``store.apply`` took), ask
  latency p50/p99 (the asker's view: queueing + linger + commit). The ratio column is
  Postgres ops/s over SQLite FULL ops/s from the same scenario, run back to back.

Only public APIs are used (``StoreWriter``, ``Write``, ``open_sqlite_store``,
``open_postgres_store``, ``open_actor``), so the benchmark follows changes to their internals.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import asyncpg  # type: ignore[import-untyped]

from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store import open_sqlite_store
from creatorflow.adapters.store.postgres import open_postgres_store
from creatorflow.config import StoreConfig
from creatorflow.ports import (
    InboxRecord,
    InsertInbox,
    MarkInboxProcessed,
    TransactionalStore,
    WriteOp,
)
from creatorflow.runtime import open_actor

DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SQLITE_FULL = "sqlite-full"
SQLITE_NORMAL = "sqlite-normal"
POSTGRES = "postgres"


def writer_takes_concurrency() -> bool:
    """Whether this StoreWriter runs several commits at once (``max_concurrent_commits``)."""
    return "max_concurrent_commits" in inspect.signature(StoreWriter).parameters


def pg_commits_default(config: StoreConfig) -> int:
    """What ``creatorflow serve`` gives the Postgres writer: ``[store]
    pg_max_concurrent_commits`` where the writer and config have it, else 1."""
    if not writer_takes_concurrency():
        return 1
    return int(getattr(config, "pg_max_concurrent_commits", 1))


@dataclass(frozen=True)
class Target:
    """One row family: a store and the writer's commit concurrency on it."""

    name: str
    store: TransactionalStore
    commits: int = 1


# --------------------------------------------------------------------------- Postgres admin


def database_url(admin_url: str, name: str) -> str:
    """``admin_url`` with its database replaced by ``name``."""
    return urlsplit(admin_url)._replace(path=f"/{name}").geturl()


async def create_database(admin_url: str, prefix: str = "cf_bench") -> tuple[str, str]:
    """Create a fresh, uniquely named database; return ``(name, url)``.

    Connects to ``admin_url`` (any database the user may connect to, e.g. ``postgres``).
    Raises whatever asyncpg raises when the server cannot be reached or refuses.
    """
    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, database_url(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop ``name`` (only names made by :func:`create_database`), closing its sessions."""
    if not name.startswith("cf_bench"):
        raise ValueError(f"refusing to drop {name!r}: not a benchmark database")
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def postmaster_started(admin_url: str) -> str:
    """The server's ``pg_postmaster_start_time()`` as text, or ``"down"`` when unreachable.

    Two different answers around a measurement mean the server restarted during it (the
    integration tests of other engineers restart the shared server): that row is not valid.
    """
    try:
        conn = await asyncpg.connect(admin_url, timeout=10)
    except Exception:  # refused, starting up, shutting down: all "not the same server"
        return "down"
    try:
        return str(await conn.fetchval("SELECT pg_postmaster_start_time()"))
    finally:
        await conn.close()


async def count_rows(url: str, table: str = "inbox") -> int:
    """``SELECT count(*)`` of ``table`` in the database at ``url``."""
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    finally:
        await conn.close()
    return rows


# --------------------------------------------------------------------------- records


def make_record(notification_id: str, now_ms: int) -> InboxRecord:
    """A type-1 webhook shaped like TikTok's (about 300 bytes of body)."""
    seconds = now_ms // 1000
    body = json.dumps(
        {
            "type": 1,
            "tts_notification_id": notification_id,
            "shop_id": "7490000000000000001",
            "timestamp": seconds,
            "data": {
                "is_on_hold_order": False,
                "order_id": f"57{notification_id[2:]}",
                "order_status": "AWAITING_SHIPMENT",
                "update_time": seconds,
            },
        },
        separators=(",", ":"),
    ).encode()
    return InboxRecord(
        notification_id=notification_id,
        type=1,
        shop_id="7490000000000000001",
        received_at_ms=now_ms,
        body=body,
    )


# --------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class Scenario:
    kind: str  # "insert" | "mixed"
    askers: int

    @property
    def name(self) -> str:
        return f"{self.kind} x{self.askers}"


@dataclass
class Result:
    store: str
    scenario: str
    askers: int
    ops: int = 0
    asks: int = 0
    commits: int = 0
    seconds: float = 0.0
    stopped_by: str = "ops"
    restarted: bool = False  # the Postgres server restarted during the row: not valid
    errors: dict[str, int] = field(default_factory=dict)
    commit_p50_ms: float = 0.0
    commit_p99_ms: float = 0.0
    ask_p50_ms: float = 0.0
    ask_p99_ms: float = 0.0

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def commits_per_s(self) -> float:
        return self.commits / self.seconds if self.seconds else 0.0

    @property
    def mean_batch(self) -> float:
        return self.ops / self.commits if self.commits else 0.0


def percentile_ms(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1, nearest rank) of ``samples`` seconds, in ms."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000


async def run_scenario(
    target: Target,
    scenario: Scenario,
    *,
    ops_target: int,
    max_seconds: float,
    config: StoreConfig,
    id_prefix: str,
) -> Result:
    """Drive one fresh StoreWriter with ``scenario.askers`` concurrent askers; see the module
    docstring. Store errors are counted per exception type, not raised."""
    commit_ops: list[int] = []
    commit_s: list[float] = []
    ask_s: list[float] = []
    errors: dict[str, int] = {}

    def observe(ops: int, seconds: float) -> None:
        commit_ops.append(ops)
        commit_s.append(seconds)

    actor_name = f"bench-writer-{target.name}"
    # Passed only when not 1, so the script also runs against a writer without the option.
    extra: dict[str, Any] = {"max_concurrent_commits": target.commits} if target.commits > 1 else {}
    writer = StoreWriter(
        target.store,
        batch_max_size=config.batch_max_size,
        batch_max_wait_ms=config.batch_max_wait_ms,
        on_commit=observe,
        name=actor_name,
        **extra,
    )
    ops_per_record = 2 if scenario.kind == "mixed" else 1
    per_asker = max(1, math.ceil(ops_target / (scenario.askers * ops_per_record)))
    now_ms = int(time.time() * 1000)
    # Built before the clock starts: the benchmark times the writer, not msgspec.
    records = [
        [make_record(f"{id_prefix}{k:04d}{j:08d}", now_ms) for j in range(per_asker)]
        for k in range(scenario.askers)
    ]
    result = Result(target.name, scenario.name, scenario.askers)
    perf = time.perf_counter

    async with open_actor(writer, actor_name, config.writer_mailbox_size) as ref:

        async def ask(op: WriteOp) -> None:
            started = perf()
            try:
                answer = await ref.ask(Write(ops=(op,)))
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            ask_s.append(perf() - started)
            if isinstance(op, InsertInbox) and answer != [True]:
                errors["not-new"] = errors.get("not-new", 0) + 1

        async def asker(mine: list[InboxRecord]) -> None:
            for record in mine:
                if perf() > deadline:
                    result.stopped_by = "time"
                    return
                await ask(InsertInbox(record=record))
                if ops_per_record == 2:
                    await ask(
                        MarkInboxProcessed(
                            notification_id=record.notification_id,
                            processed_at_ms=record.received_at_ms + 1,
                        )
                    )

        started = perf()
        deadline = started + max_seconds
        async with anyio.create_task_group() as tg:
            for mine in records:
                tg.start_soon(asker, mine)
        result.seconds = perf() - started

    result.ops = sum(commit_ops)
    result.asks = len(ask_s)
    result.commits = len(commit_ops)
    result.errors = errors
    result.commit_p50_ms = percentile_ms(commit_s, 0.50)
    result.commit_p99_ms = percentile_ms(commit_s, 0.99)
    result.ask_p50_ms = percentile_ms(ask_s, 0.50)
    result.ask_p99_ms = percentile_ms(ask_s, 0.99)
    return result


# --------------------------------------------------------------------------- stores


@asynccontextmanager
async def open_targets(
    args: argparse.Namespace, config: StoreConfig
) -> AsyncIterator[list[Target]]:
    """Open the SQLite stores in a temporary directory and Postgres in a fresh database;
    close them, then drop the database and the directory, whatever happens. Targets come in
    run order: SQLite FULL, Postgres (one per commit concurrency), SQLite NORMAL."""
    targets: list[Target] = []
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cf-bench-store-")))
        full = await stack.enter_async_context(
            open_sqlite_store(tmp / "full.sqlite3", synchronous="FULL")
        )
        targets.append(Target(SQLITE_FULL, full))
        if not args.no_postgres:
            try:
                name, url = await create_database(args.pg_url)
            except Exception as exc:  # any driver/OS error: report and go on with SQLite
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
                        min_size=config.pg_pool_min_size,
                        max_size=config.pg_pool_max_size,
                        command_timeout_s=config.pg_command_timeout_s,
                        connect_timeout_s=config.pg_connect_timeout_s,
                        application_name="creatorflow-bench",
                    )
                )
                for commits in pg_commit_levels(args, config):
                    targets.append(Target(f"{POSTGRES} c{commits}", pg, commits))
        if not args.no_normal:
            normal = await stack.enter_async_context(
                open_sqlite_store(tmp / "normal.sqlite3", synchronous="NORMAL")
            )
            targets.append(Target(SQLITE_NORMAL, normal))
        yield targets


def pg_commit_levels(args: argparse.Namespace, config: StoreConfig) -> list[int]:
    """Postgres writer concurrencies to run: ``--pg-commits``, else the service's setting and,
    when that is more than 1, 1 as the serial reference."""
    if args.pg_commits:
        levels = [int(x) for x in args.pg_commits.split(",") if x.strip()]
    else:
        default = pg_commits_default(config)
        levels = [default] if default == 1 else [default, 1]
    if any(n > 1 for n in levels) and not writer_takes_concurrency():
        raise SystemExit("this StoreWriter has no max_concurrent_commits: use --pg-commits 1")
    if any(n < 1 for n in levels):
        raise SystemExit("--pg-commits values must be >= 1")
    return levels


# --------------------------------------------------------------------------- report


def fmt_row(r: Result, ratio: str) -> str:
    errors = sum(r.errors.values())
    return (
        f"{r.scenario:<11} {r.store:<13} {r.ops_per_s:>9,.0f} {r.commits_per_s:>9,.0f} "
        f"{r.mean_batch:>7.1f} {r.commit_p50_ms:>7.2f}/{r.commit_p99_ms:<7.2f} "
        f"{r.ask_p50_ms:>7.2f}/{r.ask_p99_ms:<7.2f} {r.ops:>7,} {r.seconds:>6.1f} "
        f"{'T' if r.stopped_by == 'time' else ' '}{'R' if r.restarted else ' '} {errors:>4} "
        f"{ratio:>6}"
    )


def print_table(
    scenarios: list[Scenario], targets: list[str], results: dict[tuple[str, str], Result]
) -> None:
    head = (
        f"{'scenario':<11} {'store':<13} {'ops/s':>9} {'commits/s':>9} {'ops/cmt':>7} "
        f"{'commit p50/p99 ms':>15} {'ask p50/p99 ms':>15} {'ops':>7} {'secs':>6} "
        f"{'':2} {'err':>4} {'pg/sq':>6}"
    )
    print()
    print(head)
    print("-" * len(head))
    for scenario in scenarios:
        base = results.get((scenario.name, SQLITE_FULL))
        for target in targets:
            r = results.get((scenario.name, target))
            if r is None:
                continue
            ratio = ""
            if target.startswith(POSTGRES) and base is not None and base.ops_per_s:
                ratio = f"{r.ops_per_s / base.ops_per_s:.2f}"
            print(fmt_row(r, ratio))
    print(
        "ops/cmt = mean ops per commit; T = stopped by --max-seconds before --ops; "
        "pg/sq = postgres ops/s / sqlite-full ops/s; postgres cN = N commits in flight"
    )
    if any(r.restarted for r in results.values()):
        print(
            "R = the Postgres server restarted (or was down) during the row, by someone else: "
            "not a valid figure; run again"
        )
    for r in results.values():
        if r.errors:
            print(f"  {r.store}/{r.scenario} errors: {r.errors}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="python -m bench.store", description=doc.split("\n")[0])
    p.add_argument("--ops", type=int, default=30_000, help="ops per scenario and store")
    p.add_argument("--askers", default="1,16,64,256", help="concurrent askers, comma-separated")
    p.add_argument(
        "--mixed-askers", default="64", help="askers of the mixed insert+mark runs ('' = none)"
    )
    p.add_argument(
        "--max-seconds", type=float, default=10.0, help="time cap per scenario and store"
    )
    p.add_argument("--warmup-ops", type=int, default=2_000, help="unrecorded ops per store")
    p.add_argument("--quick", action="store_true", help="2,000 ops, 3 s cap, askers 1,16,64")
    p.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="admin URL to create the db")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument(
        "--pg-commits",
        default="",
        help="Postgres writer commits in flight, comma-separated (default: the service's "
        "[store] pg_max_concurrent_commits, plus 1 as reference when that is more)",
    )
    p.add_argument("--no-normal", action="store_true", help="skip the SQLite NORMAL reference")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.ops, args.max_seconds, args.warmup_ops = 2_000, 3.0, 500
        args.askers = "1,16,64"
        args.mixed_askers = "16"
    return args


def plan(args: argparse.Namespace) -> list[Scenario]:
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    scenarios = [Scenario("insert", k) for k in ints(args.askers)]
    scenarios += [Scenario("mixed", k) for k in ints(args.mixed_askers)]
    if any(s.askers < 1 for s in scenarios):
        raise SystemExit("askers must be >= 1")
    return scenarios


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    config = StoreConfig()
    scenarios = plan(args)
    run_tag = f"74{int(time.time()) % 1_000_000:06d}"
    results: dict[tuple[str, str], Result] = {}
    print(
        f"bench.store: {', '.join(s.name for s in scenarios)}; up to {args.ops:,} ops or "
        f"{args.max_seconds:g} s each; writer batch_max_size={config.batch_max_size} "
        f"batch_max_wait_ms={config.batch_max_wait_ms:g} "
        f"mailbox={config.writer_mailbox_size}; pg pool {config.pg_pool_min_size}.."
        f"{config.pg_pool_max_size}; pg commits in flight {pg_commit_levels(args, config)}; "
        "asyncio+uvloop",
        flush=True,
    )
    async with open_targets(args, config) as targets:
        if args.warmup_ops > 0:
            for ti, target in enumerate(targets):
                warm = await run_scenario(
                    target,
                    Scenario("insert", 16),
                    ops_target=args.warmup_ops,
                    max_seconds=args.max_seconds,
                    config=config,
                    id_prefix=f"{run_tag}99{ti}",
                )
                print(f"  warm-up {target.name:<13} {warm.ops_per_s:>9,.0f} ops/s", flush=True)
        for index, scenario in enumerate(scenarios):
            for ti, target in enumerate(targets):
                # Postgres rows share one database: ids differ by scenario and target.
                is_pg = target.name.startswith(POSTGRES)
                before = await postmaster_started(args.pg_url) if is_pg else ""
                r = await run_scenario(
                    target,
                    scenario,
                    ops_target=args.ops,
                    max_seconds=args.max_seconds,
                    config=config,
                    id_prefix=f"{run_tag}{index:02d}{ti}",
                )
                if is_pg:
                    after = await postmaster_started(args.pg_url)
                    r.restarted = before != after or "down" in (before, after)
                results[(scenario.name, target.name)] = r
                print(
                    f"  {scenario.name:<11} {target.name:<13} {r.ops_per_s:>9,.0f} ops/s "
                    f"{r.mean_batch:>6.1f} ops/commit  commit p50 {r.commit_p50_ms:.2f} ms  "
                    f"ask p99 {r.ask_p99_ms:.2f} ms"
                    + (f"  errors {r.errors}" if r.errors else "")
                    + ("  POSTGRES RESTARTED DURING THIS ROW" if r.restarted else ""),
                    flush=True,
                )
        names = [t.name for t in targets]
    print_table(scenarios, names, results)
    return {
        "args": vars(args),
        "config": {
            "batch_max_size": config.batch_max_size,
            "batch_max_wait_ms": config.batch_max_wait_ms,
            "writer_mailbox_size": config.writer_mailbox_size,
            "pg_pool_max_size": config.pg_pool_max_size,
            "pg_commits_default": pg_commits_default(config),
        },
        "python": platform.python_version(),
        "results": [
            asdict(r)
            | {
                "ops_per_s": round(r.ops_per_s, 1),
                "commits_per_s": round(r.commits_per_s, 1),
                "mean_batch": round(r.mean_batch, 2),
            }
            for r in results.values()
        ],
    }


async def run_until_sigterm(fn: Callable[[], Any]) -> Any:
    """Run ``fn()``; SIGTERM cancels it, so the stores close and the database is dropped."""
    outcome: list[Any] = []

    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    print("\nSIGTERM: stopping", file=sys.stderr, flush=True)
                    tg.cancel_scope.cancel()
                    return

        async def work() -> None:
            outcome.append(await fn())
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        tg.start_soon(work)
    return outcome[0] if outcome else None


def run_bench(amain: Callable[[], Any], json_path: str | None) -> int:
    """Run a benchmark's ``amain`` on asyncio + uvloop until it ends or SIGTERM; write its
    payload to ``json_path``. The process exit status: 0, 130 (Ctrl-C) or 143 (SIGTERM)."""
    try:
        payload = anyio.run(
            run_until_sigterm,
            amain,
            backend="asyncio",
            backend_options={"use_uvloop": True},
        )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    if payload is None:
        return 143
    if json_path:
        Path(json_path).write_text(json.dumps(payload, indent=2))
        print(f"wrote {json_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bench(lambda: amain(args), args.json)


if __name__ == "__main__":
    sys.exit(main())
