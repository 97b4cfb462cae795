"""Webhook ingress load test: ``creatorflow serve`` beside a bare uvicorn app, same generator.

Run ``python -m bench.ingress [--target bare|ours|both] [--duration S] [--json out.json]``.

* Pre-signs distinct TikTok Shop ORDER_STATUS_CHANGE webhooks (unique
  ``tts_notification_id``; ``Authorization`` = hex HMAC-SHA256(app_secret, app_key + body)) into
  one file per scenario; ``bench/_wrk/webhooks.lua`` loads it in ``init`` and each wrk thread
  replays a disjoint slice, so requests are distinct while the file is big enough for
  rate x duration (sized from that; a warning says when a slice wrapped).
* Scenarios: fixed rates (default 100, 1000, 2000 req/s) paced with wrk 4's Lua ``delay()``
  (delay per connection = connections / rate; wrk 4 has no ``-R``, so this is closed-loop
  pacing: the achieved rate is a little below target by the response time) and one
  max-throughput run (no delay). Each runs ``--duration`` seconds, bare then ours back to back.
* Both servers are subprocesses bound to 127.0.0.1 on free ports, pinned to one CPU with
  ``taskset`` while wrk is pinned to another (when the machine has two or more); they are
  killed on exit, Ctrl-C or error.
* After the run, ours is stopped (SIGTERM) and the ``inbox`` table of
  ``<data_dir>/creatorflow.db`` is counted against the 200s wrk saw.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "_wrk" / "webhooks.lua"
WEBHOOK_PATH = "/webhooks/tiktok"
APP_KEY = "bench-app-key"
APP_SECRET = "bench-app-secret-not-for-production"
SHOP_ID = "7490000000000000001"
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


def ours_env(port: int, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CREATORFLOW_HTTP_HOST="127.0.0.1",
        CREATORFLOW_HTTP_PORT=str(port),
        CREATORFLOW_DATA_DIR=str(data_dir),
        CREATORFLOW_TIKTOK_APP_KEY=APP_KEY,
        CREATORFLOW_TIKTOK_APP_SECRET=APP_SECRET,
    )
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
    if result.wraps and target == "ours":
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


def print_table(scenarios: list[str], results: dict[tuple[str, str], WrkResult]) -> None:
    head = (
        f"{'scenario':<10} {'bare req/s':>10} {'ours req/s':>10} {'ratio':>6}  "
        f"{'bare p50/p99/p999 ms':>22} {'ours p50/p99/p999 ms':>22} {'bare err':>8} "
        f"{'ours err':>8}"
    )
    print()
    print(head)
    print("-" * len(head))
    for name in scenarios:
        bare = results.get(("bare", name))
        ours = results.get(("ours", name))
        ratio = f"{ours.rps / bare.rps:.2f}" if bare and ours and bare.rps else "-"
        print(
            f"{name:<10} {f'{bare.rps:,.0f}' if bare else '-':>10} "
            f"{f'{ours.rps:,.0f}' if ours else '-':>10} {ratio:>6}  "
            f"{lat(bare):>22} {lat(ours):>22} {bare.errors if bare else '-':>8} "
            f"{ours.errors if ours else '-':>8}"
        )
    for r in results.values():
        if r.errors:
            print(
                f"  {r.target}/{r.scenario}: non-2xx {r.status}, connect {r.connect}, "
                f"read {r.read}, write {r.write}, timeout {r.timeout}"
            )


def verify_inbox(data_dir: Path, accepted: int, runs: int, connections: int) -> dict[str, Any]:
    """Count inbox rows against the 2xx answers wrk saw.

    Requests in flight when wrk stops are stored but not counted by wrk, so up to one per
    connection per run may be extra rows; fewer rows than 2xx answers would be a lost ack.
    """
    candidates = [data_dir / "creatorflow.db", data_dir / "creatorflow.sqlite3"]
    db = next((path for path in candidates if path.exists()), None)
    if db is None:
        print(f"inbox check skipped: no {' or '.join(p.name for p in candidates)} in {data_dir}")
        return {"skipped": "no database file"}
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (rows,) = con.execute("SELECT COUNT(*) FROM inbox").fetchone()
        finally:
            con.close()
    except sqlite3.Error as exc:
        print(f"inbox check skipped: {exc}")
        return {"skipped": str(exc)}
    slack = runs * connections
    good = accepted <= rows <= accepted + slack
    verdict = "OK" if good else "MISMATCH"
    print(
        f"inbox check ({db.name}): {rows:,} rows for {accepted:,} 2xx answers "
        f"(+ up to {slack:,} in flight at wrk's stop): {verdict}"
    )
    return {"db": str(db), "rows": rows, "accepted": accepted, "slack": slack, "ok": good}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ingress", description=__doc__.split("\n")[0])
    p.add_argument("--target", choices=["bare", "ours", "both"], default="both")
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
    p.add_argument("--max-connections", type=int, default=32, help="connections for max")
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
    return p.parse_args(argv)


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
    targets = ["bare", "ours"] if args.target == "both" else [args.target]
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    plan: list[tuple[str, int | None]] = [(f"{r}/s", r) for r in rates]
    if not args.no_max:
        plan.append(("max", None))
    run_id = int(time.time()) % 1_000_000

    tmp = Path(tempfile.mkdtemp(prefix="creatorflow-bench-"))
    data_dir = tmp / "data"
    data_dir.mkdir()
    print(
        f"bench.ingress: targets {', '.join(targets)}; {args.duration:g} s per scenario; "
        f"wrk {args.threads} thread(s); "
        + (
            f"servers pinned to CPU {server_cpu}, wrk to CPU {wrk_cpu}"
            if pinning
            else "no CPU pinning"
        )
        + f"; work dir {tmp}",
        flush=True,
    )
    servers: dict[str, Server] = {}
    results: dict[tuple[str, str], WrkResult] = {}
    ours_runs: list[WrkResult] = []
    inbox: dict[str, Any] = {}
    try:
        with terminate_on_sigterm():
            for target in targets:
                port = free_port()
                print(f"starting {target} on 127.0.0.1:{port} ...", flush=True)
                if target == "bare":
                    argv_ = [*pin(server_cpu), *bare_argv(port)]
                    env = dict(os.environ)
                else:
                    argv_ = [*pin(server_cpu), args.creatorflow, "serve"]
                    env = ours_env(port, data_dir)
                try:
                    servers[target] = start_server(
                        target, argv_, env, port, tmp, args.ready_timeout
                    )
                except (RuntimeError, OSError) as exc:
                    print(f"{target} did not start: {exc}", file=sys.stderr, flush=True)
                    if target == "ours" and args.target == "both":
                        print("continuing with the bare app only", flush=True)
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
                if target == "ours":
                    ours_runs.append(r)
                if name != "warmup":
                    results[(target, name)] = r
                print(
                    f"  {target:<4} {name:<8} {r.rps:>9,.0f} req/s  p50/p99/p999 {lat(r)} ms  "
                    f"errors {r.errors}",
                    flush=True,
                )

            if args.warmup > 0:
                # One file serves both targets: only ours stores (and dedupes) the ids.
                path = tmp / "warmup.txt"
                write_bodies(path, bodies_needed(2 * args.max_rps_estimate, args.warmup), run_id, 0)
                for target in servers:
                    print(f"warm-up {target} ({args.warmup:g} s, max rate)", flush=True)
                    wrk(target, "warmup", path, None, args.max_connections)

            for index, (name, rate) in enumerate(plan, start=1):
                need = bodies_needed(rate or args.max_rps_estimate, args.duration)
                path = tmp / f"scenario{index}.txt"
                print(f"scenario {name}: signing {need:,} webhooks ...", flush=True)
                write_bodies(path, need, run_id, index)
                conns = (
                    fixed_rate_connections(rate, args.connections) if rate else args.max_connections
                )
                for target in servers:
                    if target == "ours" and rate is None and ("bare", name) in results:
                        # Size ours' max run from what bare just reached, if that is more.
                        bigger = bodies_needed(int(results[("bare", name)].rps), args.duration)
                        if bigger > need:
                            print(f"  re-signing {bigger:,} webhooks for ours", flush=True)
                            write_bodies(path, bigger, run_id, index)
                    wrk(target, name, path, rate, conns)

            print_table([name for name, _ in plan], results)
            if "ours" in servers:
                print("stopping ours (SIGTERM) ...", flush=True)
                code = servers.pop("ours").stop()
                print(f"  ours exited with {code}")
                inbox = verify_inbox(
                    data_dir,
                    # A wrapped run re-sent ids: at most ``bodies`` of its 2xx are distinct.
                    sum(min(r.ok, r.bodies) if r.wraps else r.ok for r in ours_runs),
                    len(ours_runs),
                    max(
                        args.max_connections,
                        *(fixed_rate_connections(r, args.connections) for r in rates),
                    ),
                )
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for server in servers.values():
            server.stop(grace_s=5)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        payload = {
            "args": vars(args),
            "pinning": {"server_cpu": server_cpu, "wrk_cpu": wrk_cpu},
            "results": [asdict(r) | {"rps": round(r.rps, 1)} for r in results.values()],
            "inbox": inbox,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
