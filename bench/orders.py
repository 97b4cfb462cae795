"""Orders benchmark: classification cost per order, and TikTok API calls per 1,000 orders.

Run ``python -m bench.orders [--orders N] [--rounds R] [--variant default|NAME=V,...]...
[--delivery sandbox,burst] [--burst-k 32] [--quick] [--json out.json]``.

1. **Classification** (pure, one thread, no I/O). Realistic orders come from the sandbox TikTok's
   own generator (``TikTokSandbox.generate_orders``, seeded: 1-3 SKUs, 1-3 units each, the
   delivery-type / status / COD mix of the load tests), rendered in the API's shape and decoded
   into ``TikTokOrder`` as the client does. Timed per order, exactly as the order scheduler
   calls them: ``order_from_tiktok(msgspec.to_builtins(snapshot), …)``, ``classify(order, now,
   rules=…, settings=…)`` with ``config/rules.example.toml`` and the ``[priority]`` defaults,
   and both together. Plus a worst case: one order that matches 5 of the 9 example rules, so
   every rule is evaluated. Median over rounds; target ≤ 50 µs per order for classification.

2. **TikTok API calls per 1,000 orders** (the whole service in-process: ``open_service`` with
   the built-in sandbox TikTok, SQLite in a temp dir, port 0, other settings at their defaults).
   N orders are created as fast as possible; the clock stops when every order is stored with the
   status the sandbox holds for it and no webhook is left unprocessed. Counted from the
   sandbox's record of the API calls it received (``sandbox.calls``): Get Order Detail
   (``GET /order/202309/orders``) calls per 1,000 orders (target ≤ 25), ids and webhooks per
   call. Two ways to send the webhooks:

   * ``sandbox``: ``sandbox.generate_orders(N)``; the sandbox's webhook sender posts them to the
     service's ``/webhooks/tiktok`` over HTTP, **one at a time** (it waits for each answer, i.e.
     for the durable ack, before the next).
   * ``burst xK``: the same generated orders created in the sandbox's order book without its
     sender, then their webhooks (signed by the sandbox) posted by K concurrent HTTP clients —
     closer to TikTok, which pushes in parallel.

   Each delivery runs once per ``--variant``: ``default`` (the shipped config: 5 ms coalescing,
   TikTok client limited to 5 calls/s per shop with a burst of 10), or comma-separated
   ``CREATORFLOW_*`` settings, e.g. ``CREATORFLOW_ORDERS__SYNC_COALESCE_MS=50``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec

from creatorflow.app import Service, open_service
from creatorflow.config import load_config
from creatorflow.domain.automation import RuleSet, load_rules
from creatorflow.domain.classify import classify
from creatorflow.domain.order import DeliveryType, Order, order_from_tiktok
from creatorflow.domain.priority import PrioritySettings
from creatorflow.ports import TikTokOrder

# The sandbox warehouse's delivery options and its order generator are internals of the
# sandbox; the benchmark uses them to build the same realistic orders the sandbox serves.
from creatorflow.sandbox._tiktok_admin import random_order_spec
from creatorflow.sandbox._tiktok_order import DELIVERY_OPTIONS
from creatorflow.sandbox.tiktok import TikTokSandbox, TikTokSandboxConfig, open_tiktok_sandbox

ROOT = Path(__file__).resolve().parent.parent
RULES_FILE = ROOT / "config" / "rules.example.toml"
CLASSIFY_TARGET_US = 50.0
CALLS_TARGET = 25.0
GET_ORDERS_PATH = "/order/202309/orders"
SERVICE_SETTLE_S = 300.0  # the deadline for one service run (a hang, not a measurement)

# --------------------------------------------------------------------------- classification


@dataclass
class CostRow:
    name: str
    orders: int
    rounds: int
    us_per_order: float  # median over rounds of (round time / orders)
    p50_us: float  # over orders, each order's median over rounds
    p99_us: float
    max_us: float

    @property
    def meets(self) -> bool:
        return self.us_per_order <= CLASSIFY_TARGET_US


def _delivery_types() -> dict[str, DeliveryType]:
    return {opt_id: DeliveryType(kind) for kind, (opt_id, _) in DELIVERY_OPTIONS.items()}


async def _generated_snapshots(count: int, seed: int) -> tuple[str, list[TikTokOrder]]:
    """``count`` orders from the sandbox generator, as the TikTok client decodes them."""

    async def discard(body: bytes, headers: Mapping[str, str]) -> int:
        return 200

    config = TikTokSandboxConfig(seed=seed, max_generate=max(count, 1))
    async with open_tiktok_sandbox(config, deliver=discard) as sandbox:
        ids = await sandbox.generate_orders(count, seed=seed)
        rendered = []
        for oid in ids:
            order = sandbox.book.get(oid)
            assert order is not None
            rendered.append(sandbox.book.render(order))
    wire = msgspec.json.encode(rendered)  # through JSON, like an API answer
    return config.shop_id, msgspec.json.decode(wire, type=list[TikTokOrder])


def _worst_case(shop_id: str, now: int) -> TikTokOrder:
    """Matches "tag gifts", "nyc express", "limited bundle", "gift wrap" and "everything else"
    of the example rules: every rule is evaluated, five apply actions."""
    express_id = DELIVERY_OPTIONS["EXPRESS"][0]
    lines = [
        {"id": f"57700000000000000{i}", "sku_id": f"sku-{sku}", "seller_sku": sku,
         "product_id": f"prod-{sku}", "sale_price": "19.99", "display_status": "AWAITING_SHIPMENT"}
        for i, sku in enumerate(("MUG-RED", "MUG-BLUE"))
    ]  # fmt: skip
    raw = {
        "id": "576000000000000999",
        "status": "AWAITING_SHIPMENT",
        "create_time": now - 600,
        "paid_time": now - 540,
        "update_time": now - 500,
        "rts_sla_time": now + 86_400,
        "delivery_option_id": express_id,
        "warehouse_id": "7000000000000000003",
        "user_id": "7000000000000000009",
        "buyer_message": "Birthday GIFT, please wrap it",
        "payment": {
            "currency": "USD",
            "sub_total": "39.98",
            "tax": "3.20",
            "total_amount": "43.18",
        },
        "recipient_address": {"postal_code": "10001", "region_code": "US"},
        "line_items": lines,
    }
    del shop_id
    return msgspec.convert(raw, TikTokOrder)


def _time_each(fn: Callable[[int], object], count: int, rounds: int) -> tuple[float, list[float]]:
    """(median over rounds of µs per call, per-index median µs) of ``fn(i)`` for i < count."""
    per_round: list[float] = []
    per_item: list[list[float]] = [[] for _ in range(count)]
    clock = time.perf_counter_ns
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            start = clock()
            for i in range(count):
                t0 = clock()
                fn(i)
                per_item[i].append((clock() - t0) / 1000)
            per_round.append((clock() - start) / 1000 / count)
        finally:
            gc.enable()
    return statistics.median(per_round), [statistics.median(x) for x in per_item]


def _cost_row(name: str, fn: Callable[[int], object], count: int, rounds: int) -> CostRow:
    for i in range(min(count, 200)):  # warm-up
        fn(i)
    mean, items = _time_each(fn, count, rounds)
    items.sort()
    return CostRow(
        name=name,
        orders=count,
        rounds=rounds,
        us_per_order=mean,
        p50_us=items[len(items) // 2],
        p99_us=items[min(len(items) - 1, math.ceil(0.99 * len(items)) - 1)],
        max_us=items[-1],
    )


def measure_classification(count: int, rounds: int, seed: int) -> list[CostRow]:
    shop_id, snapshots = anyio.run(_generated_snapshots, count, seed)
    rules: RuleSet = load_rules(RULES_FILE.read_text(encoding="utf-8"))
    settings: PrioritySettings = load_config(environ={}).priority
    delivery = _delivery_types()
    now = int(time.time())

    def build(snap: TikTokOrder) -> Order:
        # What OrderScheduler._plan_observe does with a snapshot.
        return order_from_tiktok(
            msgspec.to_builtins(snap), shop_id=shop_id, delivery_types=delivery
        )

    orders = [build(s) for s in snapshots]
    worst = _worst_case(shop_id, now)
    worst_order = build(worst)
    assert len(classify(worst_order, now, rules=rules, settings=settings).decision.log) >= 5

    rows = [
        _cost_row("order_from_tiktok", lambda i: build(snapshots[i]), count, rounds),
        _cost_row(
            "classify",
            lambda i: classify(orders[i], now, rules=rules, settings=settings),
            count,
            rounds,
        ),
        _cost_row(
            "both",
            lambda i: classify(build(snapshots[i]), now, rules=rules, settings=settings),
            count,
            rounds,
        ),
        _cost_row("order_from_tiktok worst", lambda i: build(worst), count, rounds),
        _cost_row(
            "classify worst",
            lambda i: classify(worst_order, now, rules=rules, settings=settings),
            count,
            rounds,
        ),
        _cost_row(
            "both worst",
            lambda i: classify(build(worst), now, rules=rules, settings=settings),
            count,
            rounds,
        ),
    ]
    return rows


def print_costs(rows: Sequence[CostRow]) -> None:
    head = (
        f"{'step':<24} {'orders':>7} {'µs/order':>9} {'p50 µs':>8} {'p99 µs':>8} "
        f"{'max µs':>8}  target ≤ {CLASSIFY_TARGET_US:.0f} µs"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        verdict = "" if r.name.startswith("order_from") else ("met" if r.meets else "MISSED")
        print(
            f"{r.name:<24} {r.orders:>7,} {r.us_per_order:>9.1f} {r.p50_us:>8.1f} "
            f"{r.p99_us:>8.1f} {r.max_us:>8.1f}  {verdict}"
        )
    print(
        "both = order_from_tiktok + classify per order (what the scheduler runs); the target "
        "applies to classify, 'both' shown against it too"
    )


# --------------------------------------------------------------------------- service run


@dataclass
class ServiceRow:
    delivery: str
    variant: str
    coalesce_ms: float
    rate_per_s: float
    orders: int
    webhooks: int
    get_calls: int
    get_errors: int
    search_calls: int
    ids_per_call: float
    max_ids_per_call: int
    acked_s: float  # until the last webhook was acknowledged (200)
    seconds: float  # until every order was stored as the sandbox has it
    stored_ok: int
    unprocessed: int

    @property
    def calls_per_1000(self) -> float:
        return self.get_calls * 1000 / self.orders

    @property
    def webhooks_per_call(self) -> float:
        return self.webhooks / self.get_calls if self.get_calls else math.nan

    @property
    def meets(self) -> bool:
        return self.calls_per_1000 <= CALLS_TARGET

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {
            "calls_per_1000_orders": round(self.calls_per_1000, 2),
            "webhooks_per_call": round(self.webhooks_per_call, 2),
            "meets_target": self.meets,
        }


async def _stored(service: Service, sandbox: TikTokSandbox, ids: Sequence[str]) -> int:
    """How many of ``ids`` are stored with the status the sandbox holds for them."""
    want = {oid: sandbox.book.get(oid) for oid in ids}
    ok = 0
    after: str | None = None
    while True:
        rows = await service.store.list_orders(after=after, limit=1000)
        if not rows:
            return ok
        for row in rows:
            order = want.get(row.order_id)
            if order is not None and row.tiktok_status == order.status:
                ok += 1
        after = rows[-1].order_id


async def _settle(service: Service, sandbox: TikTokSandbox, ids: Sequence[str]) -> int:
    """Wait (bounded) until every order is stored as the sandbox has it; the count stored."""
    stored = 0
    with anyio.move_on_after(SERVICE_SETTLE_S):
        while True:
            for name in ("webhook_ingress", "inbox_pump", "order_sync", "order_scheduler"):
                await service.supervisor.ref(name).flush()
            await service.supervisor.ref("store_writer").flush()
            stored = await _stored(service, sandbox, ids)
            if stored == len(ids):
                break
            await anyio.sleep(0.01)  # webhooks still on their way (or a retry pending)
    return stored


async def _post_burst(
    service: Service, sandbox: TikTokSandbox, count: int, seed: int, concurrency: int
) -> tuple[list[str], int]:
    """Create ``count`` generated orders in the book; post their webhooks with K clients."""
    rng = random.Random(f"generate:{seed}")
    hooks = []
    ids = []
    for _ in range(count):
        order, steps = sandbox.book.create(random_order_spec(rng))
        ids.append(order.id)
        hooks.extend(sandbox.webhooks.build(step) for step in steps)
    url = f"{service.url}/webhooks/tiktok"
    send, receive = anyio.create_memory_object_stream[Any](len(hooks))
    for hook in hooks:
        send.send_nowait(hook)
    send.close()
    failures: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        async for hook in receive.clone():
            for _ in range(20):  # 503 under overload: retry like TikTok would (sooner)
                answer = await client.post(url, content=hook.body, headers=dict(hook.headers))
                if answer.status_code == 200:
                    break
                failures[answer.status_code] = failures.get(answer.status_code, 0) + 1
                await anyio.sleep(0.05)

    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker, client)
        receive.close()
    if failures:
        print(f"  non-200 answers (each retried after 50 ms): {failures}", flush=True)
    return ids, len(hooks)


def parse_variant(text: str) -> dict[str, str]:
    """``default`` → {}; ``A=1,B=2`` → {"A": "1", "B": "2"} (CREATORFLOW_* names only)."""
    if text.strip() == "default":
        return {}
    env: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or not name.startswith("CREATORFLOW_"):
            raise SystemExit(f"--variant: expected CREATORFLOW_NAME=VALUE, got {item!r}")
        env[name] = value
    return env


async def run_service(
    count: int, seed: int, delivery: str, concurrency: int, variant: str
) -> ServiceRow:
    with tempfile.TemporaryDirectory(prefix="cf-bench-orders-") as tmp:
        environ = {
            **parse_variant(variant),
            "CREATORFLOW_HTTP_PORT": "0",
            "CREATORFLOW_DATA_DIR": tmp,
        }
        config = load_config(environ=environ)
        async with open_service(config) as service:
            sandbox = service.tiktok.sandbox
            assert sandbox is not None, "tiktok.base_url must be empty (built-in sandbox)"
            before = len(sandbox.calls)
            delivered_before = sandbox.webhooks.counts["delivered"]
            start = time.perf_counter()
            if delivery == "sandbox":
                ids = await sandbox.generate_orders(count, seed=seed)
                await sandbox.wait_webhooks_idle()
                acked = time.perf_counter() - start
                webhooks = sandbox.webhooks.counts["delivered"] - delivered_before
            else:
                ids, webhooks = await _post_burst(service, sandbox, count, seed, concurrency)
            acked = time.perf_counter() - start
            stored = await _settle(service, sandbox, ids)
            seconds = time.perf_counter() - start
            calls = list(sandbox.calls)[before:]
            unprocessed = len(await service.store.list_unprocessed(None, 1000))
    gets = [c for c in calls if c["method"] == "GET" and c["path"] == GET_ORDERS_PATH]
    sizes = [len(c["query"].get("ids", "").split(",")) for c in gets]
    return ServiceRow(
        delivery=delivery if delivery == "sandbox" else f"burst x{concurrency}",
        variant=variant,
        coalesce_ms=config.orders.sync_coalesce_ms,
        rate_per_s=config.tiktok.rate_per_s,
        orders=count,
        webhooks=webhooks,
        get_calls=len(gets),
        get_errors=sum(1 for c in gets if c["status"] != 200),
        search_calls=sum(1 for c in calls if c["path"].endswith("/orders/search")),
        ids_per_call=statistics.mean(sizes) if sizes else 0.0,
        max_ids_per_call=max(sizes, default=0),
        acked_s=acked,
        seconds=seconds,
        stored_ok=stored,
        unprocessed=unprocessed,
    )


def print_service(rows: Sequence[ServiceRow]) -> None:
    head = (
        f"{'delivery':<10} {'coal ms':>7} {'rate/s':>6} {'orders':>6} {'webhooks':>8} "
        f"{'GET calls':>9} {'calls/1k':>8} {'ids/call':>8} {'max ids':>7} {'hooks/call':>10} "
        f"{'acked s':>7} {'e2e s':>7} {'orders/s':>8} {'stored':>9} {'left':>4}  "
        f"target ≤ {CALLS_TARGET:.0f} calls/1k"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.delivery:<10} {r.coalesce_ms:>7g} {r.rate_per_s:>6g} {r.orders:>6,} "
            f"{r.webhooks:>8,} {r.get_calls:>9,} {r.calls_per_1000:>8.1f} {r.ids_per_call:>8.2f} "
            f"{r.max_ids_per_call:>7} {r.webhooks_per_call:>10.2f} {r.acked_s:>7.2f} "
            f"{r.seconds:>7.2f} "
            f"{r.orders / r.seconds:>8.0f} {r.stored_ok:>4}/{r.orders:<4} {r.unprocessed:>4}  "
            f"{'met' if r.meets else 'MISSED'}"
        )
    errors = sum(r.get_errors for r in rows)
    print(
        "calls/1k = Get Order Detail calls per 1,000 orders; acked s = until the last webhook "
        "was answered 200, e2e s = until every order was stored; stored = orders stored with the "
        "sandbox's status; left = unprocessed inbox rows at the end"
        + (f"; {errors} GET calls answered non-200" if errors else "")
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.orders", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders per service run")
    parser.add_argument("--classify-orders", type=int, default=2000, help="orders timed")
    parser.add_argument("--rounds", type=int, default=7, help="classification rounds (median)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--variant",
        action="append",
        help="config per service row: 'default' or CREATORFLOW_X=V[,CREATORFLOW_Y=W] "
        "(repeatable; default: 'default' and a 50 ms coalescing window)",
    )
    parser.add_argument("--burst-k", type=int, default=32, help="concurrent webhook posters")
    parser.add_argument(
        "--delivery",
        default="sandbox,burst",
        help="comma-separated: sandbox (its serial sender), burst (K concurrent posters)",
    )
    parser.add_argument("--skip-service", action="store_true", help="classification only")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 orders, 2 rounds")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.classify_orders, args.rounds = 200, 300, 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    print(
        f"bench.orders: classification of {args.classify_orders:,} orders x {args.rounds} rounds; "
        f"service runs of {args.orders:,} orders; Python {platform.python_version()}",
        flush=True,
    )
    costs = measure_classification(args.classify_orders, args.rounds, args.seed)
    print_costs(costs)
    service_rows: list[ServiceRow] = []
    if not args.skip_service:
        variants = args.variant or ["default", "CREATORFLOW_ORDERS__SYNC_COALESCE_MS=50"]
        for delivery in [d.strip() for d in args.delivery.split(",")]:
            for variant in variants:
                print(f"[service: {delivery}, {variant}] ...", flush=True)
                row = anyio.run(
                    run_service,
                    args.orders,
                    args.seed,
                    delivery,
                    args.burst_k,
                    variant,
                    backend="asyncio",
                    backend_options={"use_uvloop": True},
                )
                print(
                    f"  {row.get_calls} GET calls, {row.calls_per_1000:.1f}/1k orders, "
                    f"{row.seconds:.2f} s",
                    flush=True,
                )
                service_rows.append(row)
        print_service(service_rows)
    if args.json:
        payload = {
            "args": vars(args),
            "python": platform.python_version(),
            "classification": [asdict(r) for r in costs],
            "service": [r.summary() for r in service_rows],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json}")
    ok = all(r.stored_ok == r.orders for r in service_rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
