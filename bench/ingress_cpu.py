"""CPU cost of one webhook in the service's own process: no HTTP server, no wrk, no wall clock.

Run ``python -m bench.ingress_cpu [--store postgres|sqlite] [--requests N] [--concurrency K]
[--rounds R] [--throttled] [--profile out.prof] [--env CREATORFLOW_X=V]... [--json out.json]``.

Wall-clock throughput on this shared 2-core machine moves by 2x between runs; CPU time spent
per request moves far less. This script starts the real service in-process (``open_service``:
the real actors, store writer, order sync with the built-in sandbox TikTok, metrics, and the
GC tuning ``serve_http`` applies) but replaces the HTTP server by a driver that calls the ASGI
app directly: K concurrent "clients" each push signed, distinct ORDER_STATUS_CHANGE webhooks
through ``app(scope, receive, send)`` one after the other. Per round it reports, per webhook:

* ``ack µs``   process CPU time (user + system, ``time.process_time``) from the first request to
  the last 200: HMAC, parsing, actor hops, the durable insert, metrics, GC, plus whatever
  downstream work (order sync, marking rows processed) ran meanwhile;
* ``total µs`` the same up to the moment every row is marked processed (the whole webhook);
* ``pg µs``    CPU time of the Postgres backends serving this service's database (from
  ``/proc/<pid>/stat``; the WAL writer and other server processes are not counted);
* ``GC µs``    the part of ``ack µs`` spent in the garbage collector;
* ``driver µs`` the same driver against ``bench/_bare_app.py`` (what the driver itself costs;
  subtract it from ours). uvicorn's own per-request cost is not in any of these figures: it is
  what ``bench.ingress`` measures as the bare target (and its ``cpu µs`` column measures the
  whole server process under wrk).

By default the TikTok client's rate limit is lifted (the sandbox is one shop, and 5 calls/s of
50 ids would make processing trail ingress at ~1,250 webhooks/s), so each round's webhooks are
processed within seconds and ``total`` is the whole cost. ``--throttled`` keeps the limit, as
``bench.ingress`` runs the service: then ``ack`` is mostly the ingress path alone.

Before/after on one machine: run it from another source tree, e.g. ``git archive <commit> |
tar -x -C /tmp/base``, copy this file to ``/tmp/base/bench/``, then from ``/tmp/base``:
``PYTHONPATH=/tmp/base/src:/tmp/base <venv>/bin/python -m bench.ingress_cpu``; interleave the
two runs. The service runs on asyncio + uvloop, as ``creatorflow serve`` does. ``--profile``
runs cProfile (timer: process CPU time) over the timed part of the last round and prints the top
functions (profiling slows everything by ~3x; use it for where, not how much).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import hashlib
import hmac
import json
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

import creatorflow.app as app_module
from bench import _bare_app
from bench.store import DEFAULT_PG_ADMIN_URL, create_database, drop_database
from creatorflow.config import load_config

try:
    from creatorflow.web.server import serving_gc
except ImportError:  # an older tree (--baseline runs): it had no GC tuning
    serving_gc = contextlib.nullcontext

APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret-not-for-production"
SHOP_ID = "7490000000000000001"
PATH = "/webhooks/tiktok"
STATUSES = ("UNPAID", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED")
CLK_TCK = os.sysconf("SC_CLK_TCK")
#: The sandbox TikTok is one shop, and the client limits Get Order Detail to 5 calls/s per shop
#: (50 order ids each): processing then trails ingress at ~1,250 webhooks/s. Unthrottled, every
#: round's webhooks are processed within seconds, so "total" is the whole cost of a webhook.
UNTHROTTLED = {"CREATORFLOW_TIKTOK__RATE_PER_S": "100000", "CREATORFLOW_TIKTOK__BURST": "1000"}

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


# --------------------------------------------------------------------------- requests


def make_requests(count: int, run_id: int, round_no: int) -> list[tuple[bytes, bytes]]:
    """``count`` (body, signature) pairs: distinct, signed, shaped like ``bench.ingress``'s.

    Only bytes (which the garbage collector does not track): a list of 20,000 ready-made
    scopes would make every GC pass of the service under test slower than in production.
    """
    now = int(time.time())
    out = []
    for i in range(count):
        envelope = {
            "type": 1,
            "tts_notification_id": f"75{run_id:06d}{round_no:02d}{i:09d}",
            "shop_id": SHOP_ID,
            "timestamp": now,
            "data": {
                "is_on_hold_order": False,
                "order_id": f"58{run_id:06d}{round_no:02d}{i // len(STATUSES):09d}",
                "order_status": STATUSES[i % len(STATUSES)],
                "update_time": now - len(STATUSES) + i % len(STATUSES),
            },
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        sig = hmac.new(APP_SECRET.encode(), APP_KEY.encode() + body, hashlib.sha256).hexdigest()
        out.append((body, sig.encode()))
    return out


def scope_of(body: bytes, sig: bytes) -> dict[str, Any]:
    """The scope uvicorn's httptools protocol would hand the app for this request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"authorization", sig),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def drive(app: Asgi, requests: list[tuple[bytes, bytes]], concurrency: int) -> int:
    """Push every request through ``app`` with ``concurrency`` clients; return the 200s."""
    ok = 0
    it = iter(requests)

    async def client() -> None:
        nonlocal ok
        for body, sig in it:
            status = 0

            async def receive(
                message: dict[str, Any] = {"type": "http.request", "body": body},  # noqa: B006
            ) -> dict[str, Any]:
                return message

            async def send(msg: dict[str, Any]) -> None:
                nonlocal status
                if msg["type"] == "http.response.start":
                    status = msg["status"]

            await app(scope_of(body, sig), receive, send)
            if status == 200:
                ok += 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(client)
    return ok


# --------------------------------------------------------------------------- Postgres CPU


def proc_cpu_s(pids: list[int]) -> float:
    """utime + stime of ``pids`` (seconds; processes gone are skipped)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


async def backend_pids(store: Any, database: str) -> list[int]:
    """Pids of the Postgres backends connected to ``database`` (through the service's pool)."""
    pool = store._pool  # a benchmark peeking at the adapter
    rows = await pool.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    return [int(r["pid"]) for r in rows]


# --------------------------------------------------------------------------- rounds


@dataclass
class Round:
    requests: int
    ok: int
    ack_cpu_us: float
    total_cpu_us: float
    pg_cpu_us: float
    ack_wall_s: float
    total_wall_s: float
    overflow: float
    pumped: float
    gc_us: float
    gc_collections: list[int]

    @property
    def acks_per_s(self) -> float:
        return self.ok / self.ack_wall_s if self.ack_wall_s else 0.0


class GcTimer:
    """Wall time spent in the garbage collector (CPU-bound, so about its CPU time)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


@contextmanager
def profiling(path: str | None) -> Iterator[None]:
    if not path:
        yield
        return
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        prof.dump_stats(path)
        stats = pstats.Stats(prof, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(35)


def counters(metrics: Any) -> tuple[float, float]:
    """(hand-off overflows, rows re-read by the pump) so far."""
    get = metrics.registry.get_sample_value
    return (
        get("creatorflow_inbox_handoff_overflow_total") or 0.0,
        get("creatorflow_inbox_pumped_total") or 0.0,
    )


def processed(metrics: Any) -> float:
    """Inbox rows marked processed so far (every topic)."""
    source = getattr(metrics, "webhooks", None) or metrics.inbox_processed  # older trees
    return sum(
        s.value
        for family in source.collect()
        if family.name == "creatorflow_inbox_processed"
        for s in family.samples
        if s.name.endswith("_total")
    )


async def wait_processed(service: Any, target: float, deadline_s: float) -> bool:
    """Wait until ``target`` rows were processed and none is left unprocessed in the store
    (True), or ``deadline_s`` passes (False). Polls the metric (cheap), then the store."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if processed(service.metrics) >= target and not await service.store.list_unprocessed(
            None, 1
        ):
            return True
        await anyio.sleep(0.05)
    return False


async def run_ours(args: argparse.Namespace, database: tuple[str, str] | None) -> list[Round]:
    captured: list[Asgi] = []

    async def capture(
        app: Asgi, sock: Any, config: Any, shutdown: anyio.Event, *, task_status: Any
    ) -> None:
        # What serve_http does around the server, minus the server.
        with contextlib.nullcontext() if args.no_serving_gc else serving_gc():
            captured.append(app)
            task_status.started()
            await shutdown.wait()

    app_module.serve_http = capture  # type: ignore[assignment]
    rounds: list[Round] = []
    run_id = int(time.time()) % 1_000_000
    with tempfile.TemporaryDirectory(prefix="cf-bench-cpu-") as tmp:
        # Like ``creatorflow serve``: log records are formatted and written (to a file here).
        logging.basicConfig(
            filename=Path(tmp) / "service.log",
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            force=True,
        )
        environ = {
            "CREATORFLOW_HTTP_PORT": "0",
            "CREATORFLOW_DATA_DIR": tmp,
            "CREATORFLOW_TIKTOK_APP_KEY": APP_KEY,
            "CREATORFLOW_TIKTOK_APP_SECRET": APP_SECRET,
            "CREATORFLOW_LOG_LEVEL": "INFO",
            **({} if args.throttled else UNTHROTTLED),
            **dict(v.split("=", 1) for v in args.env),
        }
        if database is not None:
            environ["CREATORFLOW_DATABASE_URL"] = database[1]
        config = load_config(environ=environ)
        async with app_module.open_service(config) as service:
            app = captured[0]
            print(f"  tracked objects after start: {len(gc.get_objects()):,}", flush=True)
            if args.gc_freeze:
                gc.freeze()
            if args.gc_threshold:
                gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
            # Warm-up: imports, pools, caches, JIT-less Python's first-call costs.
            await drive(app, make_requests(args.warmup, run_id, 0), args.concurrency)
            if not args.throttled:
                await wait_processed(service, args.warmup, 120)
            for r in range(1, args.rounds + 1):
                reqs = make_requests(args.requests, run_id, r)
                pids = await backend_pids(service.store, database[0]) if database else []
                pg0 = proc_cpu_s(pids)
                of0, pu0 = counters(service.metrics)
                target = processed(service.metrics) + args.requests
                last = r == args.rounds
                with profiling(args.profile if last else None), GcTimer() as gct:
                    w0, c0 = time.perf_counter(), time.process_time()
                    ok = await drive(app, reqs, args.concurrency)
                    w1, c1 = time.perf_counter(), time.process_time()
                    gc_ack_s = gct.seconds
                    done = args.throttled or await wait_processed(service, target, 300)
                    w2, c2 = time.perf_counter(), time.process_time()
                pg1 = proc_cpu_s(pids)
                of1, pu1 = counters(service.metrics)
                if not done:
                    print("  WARNING: rows left unprocessed after 300 s", flush=True)
                n = args.requests
                rnd = Round(
                    requests=n,
                    ok=ok,
                    ack_cpu_us=(c1 - c0) / n * 1e6,
                    total_cpu_us=(c2 - c0) / n * 1e6,
                    pg_cpu_us=(pg1 - pg0) / n * 1e6,
                    ack_wall_s=w1 - w0,
                    total_wall_s=w2 - w0,
                    overflow=of1 - of0,
                    pumped=pu1 - pu0,
                    gc_us=gc_ack_s / n * 1e6,
                    gc_collections=list(gct.collections),
                )
                rounds.append(rnd)
                print(
                    f"  round {r}: {ok:,}/{n:,} ok; ack {rnd.ack_cpu_us:.1f} µs, "
                    f"total {rnd.total_cpu_us:.1f} µs, pg {rnd.pg_cpu_us:.1f} µs CPU/webhook "
                    f"(GC {rnd.gc_us:.1f} µs of ack; collections {rnd.gc_collections}); "
                    f"{rnd.acks_per_s:,.0f} acks/s wall"
                    + ("" if args.throttled else f", all processed after {rnd.total_wall_s:.1f} s")
                    + f"; hand-off overflow {rnd.overflow:,.0f}, "
                    f"pumped {rnd.pumped:,.0f}",
                    flush=True,
                )
    return rounds


async def run_driver_only(args: argparse.Namespace) -> float:
    """CPU µs per request of the driver against the bare app (median of rounds)."""
    bare: Asgi = _bare_app.app  # type: ignore[assignment]
    samples = []
    for r in range(args.rounds):
        reqs = make_requests(args.requests, 0, 90 + r)
        c0 = time.process_time()
        await drive(bare, reqs, args.concurrency)
        samples.append((time.process_time() - c0) / args.requests * 1e6)
    return statistics.median(samples)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.ingress_cpu", description=__doc__.split("\n")[0]
    )
    p.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--pg-url", default=DEFAULT_PG_ADMIN_URL, help="admin URL (a fresh db is made)")
    p.add_argument("--requests", type=int, default=20_000, help="webhooks per round")
    p.add_argument("--concurrency", type=int, default=128, help="concurrent clients")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3_000, help="webhooks before the first round")
    p.add_argument("--profile", metavar="PATH", help="cProfile the last round into PATH")
    p.add_argument(
        "--no-serving-gc",
        action="store_true",
        help="leave out the GC tuning serve_http applies while serving (web/server.py)",
    )
    p.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once the service has started"
    )
    p.add_argument("--gc-threshold", metavar="G0,G1,G2", help="gc.set_threshold() after start")
    p.add_argument(
        "--throttled",
        action="store_true",
        help="keep the TikTok client's default rate limit (as bench.ingress runs the service): "
        "processing trails, rounds do not wait for it and 'total' is not measured",
    )
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="CREATORFLOW_X=V",
        help="extra config for the service (repeatable)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return p.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    database = None
    if args.store == "postgres":
        database = await create_database(args.pg_url)
        print(f"postgres: database {database[0]}", flush=True)
    try:
        print(
            f"ours ({args.store}): {args.rounds} x {args.requests:,} webhooks, "
            f"{args.concurrency} clients",
            flush=True,
        )
        rounds = await run_ours(args, database)
    finally:
        if database is not None:
            await drop_database(args.pg_url, database[0])
    driver = await run_driver_only(args)
    med = {
        key: statistics.median(getattr(r, key) for r in rounds)
        for key in ("ack_cpu_us", "total_cpu_us", "pg_cpu_us", "acks_per_s")
    }
    print()
    print(
        f"{'store':<9} {'clients':>7} {'ack µs':>8} {'total µs':>9} {'pg µs':>7} "
        f"{'driver µs':>9} {'ours-driver µs':>14} {'acks/s (wall)':>13}"
    )
    print(
        f"{args.store:<9} {args.concurrency:>7} {med['ack_cpu_us']:>8.1f} "
        f"{med['total_cpu_us']:>9.1f} {med['pg_cpu_us']:>7.1f} {driver:>9.1f} "
        f"{med['total_cpu_us'] - driver:>14.1f} {med['acks_per_s']:>13,.0f}"
    )
    print("medians over rounds; µs = CPU time per webhook (see the module docstring)")
    return {
        "args": vars(args),
        "rounds": [asdict(r) | {"acks_per_s": r.acks_per_s} for r in rounds],
        "median": med,
        "driver_cpu_us": driver,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # As ``creatorflow serve`` runs it: asyncio on uvloop.
    result = anyio.run(amain, args, backend="asyncio", backend_options={"use_uvloop": True})
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
