"""Webhook ingress load test: ``creatorflow serve`` beside a bare uvicorn app, same generator.

Run ``python -m bench.ingress [--target bare|ours|both] [--store sqlite|postgres|both]
[--connections-max 32,128,256] [--duration S] [--baseline-src DIR] [--json out.json]``.

* Pre-signs distinct TikTok Shop ORDER_STATUS_CHANGE webhooks (unique
  ``tts_notification_id``; ``Authorization`` = hex HMAC-SHA256(app_secret, app_key + body)) into
  one file per scenario; ``bench/_wrk/webhooks.lua`` loads it in ``init`` and each wrk thread
  replays a disjoint slice, so requests are distinct while the file is big enough for
  rate x duration (sized from that; a warning says when a slice wrapped).
* Scenarios: fixed rates (default 100, 1000, 2000 req/s) paced with wrk 4's Lua ``delay()``
  (delay per connection = connections / rate; wrk 4 has no ``-R``, so this is closed-loop
  pacing: the achieved rate is a little below target by the response time) and one
  max-throughput run (no delay) per ``--connections-max`` count (durable acks are group
  committed, so their throughput depends on how many requests are in flight). Each runs
  ``--duration`` seconds on every target back to back: bare, then ``creatorflow serve`` on
  SQLite (``<data_dir>/creatorflow.sqlite3``), then on Postgres (``CREATORFLOW_DATABASE_URL``
  pointing at a fresh database ``cf_bench_<random>`` made on ``--pg-url``'s server and dropped
  at the end). ``--store`` picks the stores.
* Both servers are subprocesses bound to 127.0.0.1 on free ports, pinned to one CPU with
  ``taskset`` while wrk is pinned to another (when the machine has two or more); they are
  killed on exit, Ctrl-C or error.
* After the run, each ``creatorflow serve`` is stopped (SIGTERM) and its ``inbox`` table (the
  SQLite file, or the Postgres database) is counted against the 200s wrk saw.
* Postgres itself is not pinned (it is a system service): its backends share both CPUs with
  the server under test and wrk.
* CPU per request: the server process' user + system CPU time over each wrk run (from
  ``/proc/<pid>/stat``) divided by the requests wrk completed, and for Postgres targets the
  same for the Postgres processes serving it (its backends, WAL writer, background writer,
  checkpointer). Unlike req/s it hardly moves when other work shares the machine, so it is
  the figure to compare across runs; ``busy`` says how much of its core the server got.
* ``--baseline-src DIR`` runs each store's service a second time from another source tree
  (``DIR`` first on ``PYTHONPATH``, e.g. ``git archive <commit> | tar -x -C /tmp/base`` then
  ``--baseline-src /tmp/base/src``) as target ``<store>-base``, right before the current tree in
  every scenario: before and after side by side, each with its own fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "_wrk" / "webhooks.lua"
WEBHOOK_PATH = "/webhooks/tiktok"
APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret-not-for-production"
SHOP_ID = "7490000000000000001"
SQLITE = "sqlite"
POSTGRES = "postgres"
#: Suffix of the twin targets that run another source tree (``--baseline-src``).
BASE = "-base"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def is_pg(target: str) -> bool:
    return target.removesuffix(BASE) == POSTGRES


def proc_cpu_s(pids: list[int]) -> float:
    """utime + stime of ``pids`` in seconds (processes gone are skipped)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / CLK_TCK


STATUSES = ("UNPAID", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED")


# --------------------------------------------------------------------------- bodies


def sign(body: bytes, app_key: str = APP_KEY, app_secret: str = APP_SECRET) -> str:
    """The TikTok Shop webhook signature (reference §1.2)."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def write_bodies(path: Path, count: int, run_id: int, scenario: int) -> None:
    """Write ``count`` signed, distinct type-1 webhooks, one ``"<sig> <body>"`` a line.

    Notification ids are 19-digit strings unique per (run, scenario, index); each order gets
    a few successive status changes, like real traffic.
    """
    now = int(time.time())
    with path.open("w", encoding="ascii") as fh:
        for i in range(count):
            order = i // len(STATUSES)
            envelope = {
                "type": 1,
                "tts_notification_id": f"74{run_id:06d}{scenario:02d}{i:09d}",
                "shop_id": SHOP_ID,
                "timestamp": now,
                "data": {
                    "is_on_hold_order": False,
                    "order_id": f"57{run_id:06d}{scenario:02d}{order:09d}",
                    "order_status": STATUSES[i % len(STATUSES)],
                    "update_time": now - len(STATUSES) + i % len(STATUSES),
                },
            }
            body = json.dumps(envelope, separators=(",", ":")).encode()
            fh.write(f"{sign(body)} {body.decode()}\n")


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log: TextIO

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 25) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL after ``grace_s``; return its exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                print(f"  {self.name}: no exit {grace_s:.0f} s after SIGTERM, killing", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def start_server(
    name: str, argv: list[str], env: dict[str, str], port: int, logdir: Path, timeout_s: float
) -> Server:
    """Start ``argv`` in its own session and wait until ``GET /readyz`` answers 200."""
    log_path = logdir / f"{name}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(name, proc, port, log_path, log)
    deadline = time.monotonic() + timeout_s
    while True:
        if proc.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"{name} exited with {proc.returncode} before ready:\n{tail}")
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            tail = server.log_tail()
            server.stop()
            raise RuntimeError(f"{name} not ready after {timeout_s:.0f} s:\n{tail}")
        time.sleep(0.1)


def bare_argv(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "bench._bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def ours_env(port: int, data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    """The environment of ``creatorflow serve``: SQLite in ``data_dir`` unless ``database_url``
    is given; always the in-memory cache (a caller's Redis URL is dropped)."""
    env = dict(os.environ)
    env.pop("CREATORFLOW_DATABASE_URL", None)
    env.pop("CREATORFLOW_REDIS_URL", None)
    env.update(
        CREATORFLOW_HTTP_HOST="127.0.0.1",
        CREATORFLOW_HTTP_PORT=str(port),
        CREATORFLOW_DATA_DIR=str(data_dir),
        CREATORFLOW_TIKTOK_APP_KEY=APP_KEY,
        CREATORFLOW_TIKTOK_APP_SECRET=APP_SECRET,
    )
    if database_url:
        env["CREATORFLOW_DATABASE_URL"] = database_url
    return env


# --------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    target: str
    scenario: str
    rate: int | None
    connections: int
    delay_ms: float
    requests: int
    duration_us: int
    bytes: int
    connect: int
    read: int
    write: int
    status: int
    timeout: int
    p50_us: int
    p90_us: int
    p99_us: int
    p999_us: int
    mean_us: float
    max_us: int
    wraps: int
    bodies: int
    restarted: bool = False  # the Postgres server restarted during the run (postgres only)
    server_cpu_s: float = 0.0  # CPU time (user + system) of the server process during the run
    pg_cpu_s: float = 0.0  # CPU time of the Postgres processes serving it (postgres only)

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def ok(self) -> int:
        """Completed requests with a status below 400 (wrk counts >= 400 as status errors)."""
        return self.requests - self.status

    @property
    def errors(self) -> int:
        return self.status + self.connect + self.read + self.write + self.timeout

    @property
    def server_us(self) -> float:
        """Server CPU µs per completed request."""
        return self.server_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def pg_us(self) -> float:
        """Postgres CPU µs per completed request."""
        return self.pg_cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def server_busy(self) -> float:
        """Share of one core the server used during the run."""
        return self.server_cpu_s / (self.duration_us / 1e6) if self.duration_us else 0.0


def run_wrk(
    target: str,
    scenario: str,
    url: str,
    bodies: Path,
    *,
    rate: int | None,
    connections: int,
    threads: int,
    duration_s: float,
    cpu: int | None,
) -> WrkResult:
    delay_ms = 0.0
    if rate:
        delay_ms = connections * 1000 / rate
        if delay_ms < 5:
            print(
                f"  note: {connections} connections at {rate}/s leave {delay_ms:.2f} ms between "
                "requests; the response time will cut the rate (use more --connections)",
                flush=True,
            )
    argv = [
        *pin(cpu),
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration_s:g}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url + WEBHOOK_PATH,
        str(bodies),
        str(threads),
        WEBHOOK_PATH,
    ]
    env = dict(os.environ, BENCH_DELAY_MS=f"{delay_ms:.3f}")
    proc = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration_s + 120, check=False
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("@@BENCH "))
    result = WrkResult(
        target=target,
        scenario=scenario,
        rate=rate,
        connections=connections,
        delay_ms=delay_ms,
        **data,
    )
    if result.wraps and target != "bare":
        print(
            f"  WARNING: {target}/{scenario} replayed its {result.bodies:,} bodies "
            f"{result.wraps}x over (wrk threads wrapped): some requests were duplicates",
            flush=True,
        )
    return result


# --------------------------------------------------------------------------- report


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def lat(r: WrkResult | None) -> str:
    if r is None:
        return "-"
    return f"{ms(r.p50_us)}/{ms(r.p99_us)}/{ms(r.p999_us)}"


def lat2(r: WrkResult | None) -> str:
    return "-" if r is None else f"{ms(r.p50_us)}/{ms(r.p99_us)}"


def ratio(a: WrkResult | None, b: WrkResult | None) -> str:
    return f"{a.rps / b.rps:.2f}" if a and b and b.rps else "-"


def print_table(
    scenarios: list[str], targets: list[str], results: dict[tuple[str, str], WrkResult]
) -> None:
    """One row per scenario: req/s of every target, the ratios, p50/p99 and errors."""
    ours = [t for t in targets if t != "bare"]
    pairs = [(t, "bare") for t in ours if "bare" in targets]
    if SQLITE in ours and POSTGRES in ours:
        pairs.append((POSTGRES, SQLITE))
    pairs += [(t.removesuffix(BASE), t) for t in ours if t.endswith(BASE)]
    short = {
        "bare": "bare",
        SQLITE: "sq",
        POSTGRES: "pg",
        SQLITE + BASE: "sq0",
        POSTGRES + BASE: "pg0",
    }
    head = f"{'scenario':<9} {'conns':>5}"
    head += "".join(f" {t + ' req/s':>14}" for t in targets)
    head += "".join(f" {short[a] + '/' + short[b]:>7}" for a, b in pairs)
    head += "".join(f" {t + ' p50/p99 ms':>21}" for t in targets)
    head += f" {'errors ' + '/'.join(short[t] for t in targets):>16}"
    print()
    print(head)
    print("-" * len(head))
    for name in scenarios:
        row = [results.get((t, name)) for t in targets]
        conns = next((r.connections for r in row if r), 0)
        line = f"{name:<9} {conns:>5}"
        line += "".join(f" {f'{r.rps:,.0f}' if r else '-':>14}" for r in row)
        line += "".join(
            f" {ratio(results.get((a, name)), results.get((b, name))):>7}" for a, b in pairs
        )
        line += "".join(f" {lat2(r):>21}" for r in row)
        errs = "/".join((f"{r.errors}" + ("R" if r.restarted else "")) if r else "-" for r in row)
        line += f" {errs:>16}"
        print(line)
    if any(r.restarted for r in results.values()):
        print("R = the Postgres server restarted during that run (someone else's test): invalid")
    print("p999 ms, in scenario order:")
    for t in targets:
        print(f"  {t:<13} " + " ".join(f"{lat_p999(results.get((t, n))):>7}" for n in scenarios))
    print_cpu(scenarios, targets, results)
    for r in results.values():
        if r.errors:
            print(
                f"  {r.target}/{r.scenario}: non-2xx {r.status}, connect {r.connect}, "
                f"read {r.read}, write {r.write}, timeout {r.timeout}"
            )


def print_cpu(
    scenarios: list[str], targets: list[str], results: dict[tuple[str, str], WrkResult]
) -> None:
    """CPU per request: the server process (all of it: HTTP, actors, store client) and, for
    Postgres targets, the Postgres processes serving it (its backends, WAL writer, background
    writer, checkpointer); busy = share of one core the server used over the run."""
    head = f"{'scenario':<9}" + "".join(f" {t + ' cpu µs/busy':>22}" for t in targets)
    head += "".join(f" {t + ' pg µs':>15}" for t in targets if is_pg(t))
    print()
    print(head)
    print("-" * len(head))
    for name in scenarios:
        row = [results.get((t, name)) for t in targets]
        line = f"{name:<9}"
        line += "".join(
            f" {f'{r.server_us:.1f} / {r.server_busy:.0%}' if r else '-':>22}" for r in row
        )
        line += "".join(
            f" {f'{r.pg_us:.1f}' if r else '-':>15}"
            for t, r in zip(targets, row, strict=True)
            if is_pg(t)
        )
        print(line)
    print("cpu µs = CPU time (user + system) per completed request; busy = of one core")


def lat_p999(r: WrkResult | None) -> str:
    return "-" if r is None else ms(r.p999_us)


def count_sqlite_inbox(data_dir: Path) -> tuple[str, int]:
    """``(file name, rows)`` of the inbox in ``data_dir``. Raises LookupError or sqlite3.Error."""
    candidates = [data_dir / "creatorflow.sqlite3", data_dir / "creatorflow.db"]
    db = next((path for path in candidates if path.exists()), None)
    if db is None:
        raise LookupError(f"no {' or '.join(p.name for p in candidates)} in {data_dir}")
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (rows,) = con.execute("SELECT COUNT(*) FROM inbox").fetchone()
    finally:
        con.close()
    return db.name, int(rows)


def count_postgres_inbox(url: str) -> tuple[str, int]:
    """``(database name, rows)`` of the inbox at ``url`` (asyncpg, in a private event loop)."""
    from bench.store import count_rows

    return url.rsplit("/", 1)[-1], asyncio.run(count_rows(url))


def verify_inbox(
    target: str, count: Callable[[], tuple[str, int]], accepted: int, runs: int, connections: int
) -> dict[str, Any]:
    """Count inbox rows against the 2xx answers wrk saw.

    Requests in flight when wrk stops are stored but not counted by wrk, so up to one per
    connection per run may be extra rows; fewer rows than 2xx answers would be a lost ack.
    """
    try:
        where, rows = count()
    except Exception as exc:  # sqlite3 / asyncpg / missing file: report, do not hide the table
        print(f"{target} inbox check skipped: {exc!r}")
        return {"skipped": repr(exc)}
    slack = runs * connections
    good = accepted <= rows <= accepted + slack
    verdict = "OK" if good else "MISMATCH"
    print(
        f"{target} inbox check ({where}): {rows:,} rows for {accepted:,} 2xx answers "
        f"(+ up to {slack:,} in flight at wrk's stop): {verdict}"
    )
    return {"where": where, "rows": rows, "accepted": accepted, "slack": slack, "ok": good}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingress", description=__doc__.split("\n")[0])
    p.add_argument(
        "--target",
        choices=["bare", "ours", "both"],
        default="both",
        help="bare uvicorn, ours (`creatorflow serve` on each --store), or both",
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    p.add_argument("--rates", default="100,1000,2000", help="fixed rates in req/s, comma-separated")
    p.add_argument("--no-max", action="store_true", help="skip the max-throughput scenario")
    p.add_argument(
        "--connections",
        type=int,
        default=None,
        help="connections at fixed rates (default: rate/10, at least 10, so each connection "
        "waits ~100 ms between requests and the response time cuts the rate by <5%%)",
    )
    p.add_argument(
        "--connections-max",
        default="32,128,256",
        help="connection counts of the max-throughput scenario, comma-separated (one max run "
        "per count)",
    )
    p.add_argument(
        "--max-connections", type=int, default=None, help="same as --connections-max N (one)"
    )
    p.add_argument(
        "--store",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="stores of `creatorflow serve` (ours)",
    )
    p.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="Postgres admin URL: a fresh database is created there for the run, then dropped",
    )
    p.add_argument(
        "--baseline-src",
        metavar="DIR",
        help="also run each store's `creatorflow serve` from this source tree (put first on "
        "PYTHONPATH; e.g. a `git archive` of an older commit's src/) as target <store>-base, "
        "just before the current tree in every scenario: before/after side by side",
    )
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--warmup", type=float, default=2.0, help="max-throughput warm-up seconds")
    p.add_argument(
        "--max-rps-estimate",
        type=int,
        default=30_000,
        help="sizes the max-throughput body file (rate x duration)",
    )
    p.add_argument("--server-cpu", type=int, default=0, help="CPU for the servers (taskset)")
    p.add_argument("--wrk-cpu", type=int, default=1, help="CPU for wrk (taskset)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument(
        "--creatorflow",
        default=str(Path(sys.executable).with_name("creatorflow")),
        help="the creatorflow executable",
    )
    p.add_argument("--ready-timeout", type=float, default=60.0)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if args.max_connections is not None:
        args.connections_max = str(args.max_connections)
    return args


def fixed_rate_connections(rate: int, requested: int | None) -> int:
    return requested if requested else max(10, math.ceil(rate / 10))


def bodies_needed(rate: int, duration_s: float) -> int:
    return max(1000, int(rate * duration_s * 1.25))


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so ``finally`` blocks stop the servers."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    ncpu = os.cpu_count() or 1
    pinning = not args.no_pin and ncpu >= 2 and shutil.which("taskset") is not None
    server_cpu = args.server_cpu if pinning else None
    wrk_cpu = args.wrk_cpu if pinning else None
    stores = [SQLITE, POSTGRES] if args.store == "both" else [args.store]
    if args.baseline_src:
        # Each store's twin on the baseline tree runs just before it, same scenario.
        stores = [t for store in stores for t in (store + BASE, store)]
    targets = (["bare"] if args.target in ("bare", "both") else []) + (
        stores if args.target in ("ours", "both") else []
    )
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    max_conns = [int(c) for c in args.connections_max.split(",") if c.strip()]
    plan: list[tuple[str, int | None, int]] = [
        (f"{r}/s", r, fixed_rate_connections(r, args.connections)) for r in rates
    ]
    if not args.no_max:
        plan += [(f"max@{c}", None, c) for c in max_conns]
    run_id = int(time.time()) % 1_000_000

    tmp = Path(tempfile.mkdtemp(prefix="creatorflow-bench-"))
    print(
        f"bench.ingress: targets {', '.join(targets)}; {args.duration:g} s per scenario; "
        f"wrk {args.threads} thread(s); "
        + (
            f"servers pinned to CPU {server_cpu}, wrk to CPU {wrk_cpu} (Postgres not pinned)"
            if pinning
            else "no CPU pinning"
        )
        + f"; work dir {tmp}",
        flush=True,
    )
    servers: dict[str, Server] = {}
    results: dict[tuple[str, str], WrkResult] = {}
    ours_runs: dict[str, list[WrkResult]] = {t: [] for t in targets if t != "bare"}
    inbox: dict[str, Any] = {}
    pg_dbs: dict[str, tuple[str, str]] = {}  # target -> (name, url) of its database
    try:
        with terminate_on_sigterm():
            for target in list(targets):
                port = free_port()
                data_dir = tmp / f"data-{target}"
                data_dir.mkdir(exist_ok=True)
                if target == "bare":
                    argv_ = [*pin(server_cpu), *bare_argv(port)]
                    env = dict(os.environ)
                else:
                    argv_ = [*pin(server_cpu), args.creatorflow, "serve"]
                    url = None
                    if is_pg(target):
                        try:
                            pg_dbs[target] = create_pg_database(args.pg_url)
                        except Exception as exc:  # driver / OS error: report, go on without
                            print(f"{target} skipped: no database on {args.pg_url}: {exc!r}")
                            targets.remove(target)
                            continue
                        url = pg_dbs[target][1]
                        print(f"{target}: database {pg_dbs[target][0]}", flush=True)
                    env = ours_env(port, data_dir, url)
                    if target.endswith(BASE):
                        src = str(Path(args.baseline_src).resolve())
                        env["PYTHONPATH"] = os.pathsep.join(
                            p for p in (src, env.get("PYTHONPATH", "")) if p
                        )
                print(f"starting {target} on 127.0.0.1:{port} ...", flush=True)
                try:
                    servers[target] = start_server(
                        target, argv_, env, port, tmp, args.ready_timeout
                    )
                except (RuntimeError, OSError) as exc:
                    print(f"{target} did not start: {exc}", file=sys.stderr, flush=True)
                    if target != "bare" and args.target == "both":
                        print(f"continuing without {target}", flush=True)
                        targets.remove(target)
                        continue
                    return 1
            if not servers:
                return 1

            def wrk(target: str, name: str, bodies: Path, rate: int | None, conns: int) -> None:
                dur = args.warmup if name == "warmup" else args.duration
                server = servers[target]
                if server.proc.poll() is not None:
                    raise RuntimeError(
                        f"{target} died (exit {server.proc.returncode}):\n{server.log_tail()}"
                    )
                before = pg_started(args.pg_url) if is_pg(target) else ""
                pids = pg_pids(args.pg_url, pg_dbs[target][0]) if target in pg_dbs else []
                cpu0, pg0 = proc_cpu_s([server.proc.pid]), proc_cpu_s(pids)
                r = run_wrk(
                    target,
                    name,
                    server.url,
                    bodies,
                    rate=rate,
                    connections=conns,
                    threads=args.threads,
                    duration_s=dur,
                    cpu=wrk_cpu,
                )
                r.server_cpu_s = proc_cpu_s([server.proc.pid]) - cpu0
                r.pg_cpu_s = proc_cpu_s(pids) - pg0
                if is_pg(target):
                    after = pg_started(args.pg_url)
                    r.restarted = before != after or "down" in (before, after)
                if target != "bare":
                    ours_runs[target].append(r)
                if name != "warmup":
                    results[(target, name)] = r
                print(
                    f"  {target:<13} {name:<9} {r.rps:>9,.0f} req/s  p50/p99/p999 {lat(r)} ms  "
                    f"errors {r.errors}  cpu {r.server_us:.1f} µs/req ({r.server_busy:.0%})"
                    + (f", pg {r.pg_us:.1f} µs/req" if is_pg(target) else "")
                    + ("  POSTGRES RESTARTED DURING THIS RUN" if r.restarted else ""),
                    flush=True,
                )

            if args.warmup > 0:
                # One file serves every target: each store dedupes only its own ids.
                path = tmp / "warmup.txt"
                write_bodies(path, bodies_needed(2 * args.max_rps_estimate, args.warmup), run_id, 0)
                for target in servers:
                    print(f"warm-up {target} ({args.warmup:g} s, max rate)", flush=True)
                    wrk(target, "warmup", path, None, max_conns[0] if max_conns else 32)
                path.unlink()

            for index, (name, rate, conns) in enumerate(plan, start=1):
                need = bodies_needed(rate or args.max_rps_estimate, args.duration)
                path = tmp / f"scenario{index}.txt"
                print(f"scenario {name}: signing {need:,} webhooks ...", flush=True)
                write_bodies(path, need, run_id, index)
                for target in servers:
                    if target != "bare" and rate is None and ("bare", name) in results:
                        # Size ours' max run from what bare just reached, if that is more.
                        bigger = bodies_needed(int(results[("bare", name)].rps), args.duration)
                        if bigger > need:
                            print(f"  re-signing {bigger:,} webhooks for {target}", flush=True)
                            write_bodies(path, bigger, run_id, index)
                            need = bigger
                    # The same ids on SQLite and Postgres: separate stores, each sees them once.
                    wrk(target, name, path, rate, conns)
                path.unlink()

            print_table([name for name, _, _ in plan], list(servers), results)
            slack_conns = max(conns for _, _, conns in plan) if plan else 0
            for target in [t for t in list(servers) if t != "bare"]:
                print(f"stopping {target} (SIGTERM) ...", flush=True)
                code = servers.pop(target).stop()
                print(f"  {target} exited with {code}")
                runs = ours_runs[target]
                count: Callable[[], tuple[str, int]]
                if target in pg_dbs:
                    count = functools.partial(count_postgres_inbox, pg_dbs[target][1])
                else:
                    count = functools.partial(count_sqlite_inbox, tmp / f"data-{target}")
                inbox[target] = verify_inbox(
                    target,
                    count,
                    # A wrapped run re-sent ids: at most ``bodies`` of its 2xx are distinct.
                    sum(min(r.ok, r.bodies) if r.wraps else r.ok for r in runs),
                    len(runs),
                    slack_conns,
                )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers.values():
            server.stop(grace_s=5)
        for name_, _ in pg_dbs.values():
            try:
                drop_pg_database(args.pg_url, name_)
                print(f"postgres: dropped {name_}", flush=True)
            except Exception as exc:  # report; the name says what to drop by hand
                print(f"postgres: could not drop {name_}: {exc!r}", file=sys.stderr)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        payload = {
            "args": vars(args),
            "targets": targets,
            "pinning": {"server_cpu": server_cpu, "wrk_cpu": wrk_cpu},
            "results": [asdict(r) | {"rps": round(r.rps, 1)} for r in results.values()],
            "inbox": inbox,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


def create_pg_database(admin_url: str) -> tuple[str, str]:
    """A fresh ``cf_bench_<random>`` database on ``admin_url``'s server: ``(name, url)``."""
    from bench.store import create_database

    return asyncio.run(create_database(admin_url))


def pg_started(admin_url: str) -> str:
    """``pg_postmaster_start_time()`` of the server, or ``"down"``."""
    from bench.store import postmaster_started

    return asyncio.run(postmaster_started(admin_url))


def pg_pids(admin_url: str, database: str) -> list[int]:
    """Pids of the Postgres processes serving ``database``: its backends, plus the WAL writer,
    background writer and checkpointer (shared by every database; [] when unreachable)."""

    async def query() -> list[int]:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 OR backend_type = ANY($2)",
                database,
                ["walwriter", "background writer", "checkpointer"],
            )
        finally:
            await conn.close()
        return [int(row["pid"]) for row in rows]

    try:
        return asyncio.run(query())
    except Exception:  # a missing figure must not stop the benchmark
        return []


def drop_pg_database(admin_url: str, name: str) -> None:
    from bench.store import drop_database

    asyncio.run(drop_database(admin_url, name))


if __name__ == "__main__":
    sys.exit(main())
