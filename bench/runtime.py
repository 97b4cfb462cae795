"""Actor runtime micro-benchmark: our actor hop beside a raw anyio memory object stream.

Run ``python -m bench.runtime [--messages N] [--rounds R] [--quick] [--json out.json]``.

On each backend (asyncio, asyncio + uvloop, trio) and in the same process, it measures:

* ``tell``: N messages told to an actor that drains its mailbox (the sender awaits
  ``ActorRef.tell``; the clock stops when the actor has handled the N-th message), beside a raw
  stream (sender ``await send()``, receiver ``await receive()`` one item at a time).
* ``ask seq``: one asker doing N sequential ``ActorRef.ask`` round trips (the actor answers with
  ``Envelope.reply``), beside raw ping-pong over a request stream and a reply stream.
* ``ask xK``: K concurrent askers sharing N asks, beside K raw clients sharing one request
  stream, each with its own reply stream.
* ``*-nowait`` rows: the same through the public ``tell_nowait``/``ask_nowait`` fast path
  (fall back to the awaiting call only when the mailbox is full). They measure possible
  runtime changes without editing the runtime. ``ask-nowait`` is the safe one: it first calls
  ``checkpoint_if_cancelled()`` (no yield) and then blocks on the reply, so ``ask`` stays a
  checkpoint that honours cancellation; it only drops the yield inside ``Mailbox.put``, which
  the reply wait makes redundant. ``tell-nowait`` is not a drop-in: a sender would not yield
  until the mailbox is full, so it shows the price of tell's checkpoint, not a proposal.

Ours and raw run alternately, ``--rounds`` times each, with the same buffer size; the table
shows medians, ops/s, microseconds per op and the ratio ours / raw (of ops/s: 1.0 = as fast as
the raw stream). The machine is noisy: trust ratios from one run, not absolute figures across
runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream

from creatorflow.errors import MailboxFull
from creatorflow.runtime import Actor, ActorRef, Envelope, open_actor

BACKENDS: list[tuple[str, str, dict[str, Any]]] = [
    ("asyncio", "asyncio", {}),
    ("asyncio+uvloop", "asyncio", {"use_uvloop": True}),
    ("trio", "trio", {}),
]

Measure = Callable[[int], Awaitable[float]]


# --------------------------------------------------------------------------- actors under test


class _Sink(Actor[int]):
    """Counts messages; sets ``done`` when it has seen ``target`` of them."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.done = anyio.Event()

    async def handle(self, env: Envelope[int]) -> None:
        self.seen += 1
        if self.seen >= self.target:
            self.done.set()


class _Echo(Actor[int]):
    """Answers every ask with its message."""

    async def handle(self, env: Envelope[int]) -> None:
        env.reply(env.msg)


# --------------------------------------------------------------------------- tell


async def ours_tell(n: int, capacity: int, *, nowait: bool = False) -> float:
    sink = _Sink(n)
    async with open_actor(sink, "bench-sink", capacity) as ref:
        start = time.perf_counter()
        if nowait:
            for i in range(n):
                try:
                    ref.tell_nowait(i)
                except MailboxFull:
                    await ref.tell(i)
        else:
            for i in range(n):
                await ref.tell(i)
        await sink.done.wait()
        elapsed = time.perf_counter() - start
    return elapsed


async def raw_tell(n: int, capacity: int) -> float:
    send, recv = anyio.create_memory_object_stream[int](capacity)
    done = anyio.Event()

    async def consume() -> None:
        async with recv:
            seen = 0
            while seen < n:
                await recv.receive()
                seen += 1
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        await anyio.lowlevel.checkpoint()  # let the consumer block on receive, like the actor does
        start = time.perf_counter()
        async with send:
            for i in range(n):
                await send.send(i)
        await done.wait()
        elapsed = time.perf_counter() - start
    return elapsed


# --------------------------------------------------------------------------- ask


async def _ask_loop(ref: ActorRef[int], count: int, nowait: bool) -> None:
    if nowait:
        for i in range(count):
            # The proposed ask: honour a pending cancellation without yielding, enqueue without
            # the send checkpoint, then block on the reply (still a checkpoint).
            await anyio.lowlevel.checkpoint_if_cancelled()
            try:
                reply = ref.ask_nowait(i)
            except MailboxFull:
                await ref.ask(i)
            else:
                await reply.wait()
    else:
        for i in range(count):
            await ref.ask(i)


async def ours_ask(n: int, capacity: int, askers: int, *, nowait: bool = False) -> float:
    per = n // askers
    async with open_actor(_Echo(), "bench-echo", capacity) as ref:
        start = time.perf_counter()
        if askers == 1:
            await _ask_loop(ref, per, nowait)
        else:
            async with anyio.create_task_group() as tg:
                for _ in range(askers):
                    tg.start_soon(_ask_loop, ref, per, nowait)
        elapsed = time.perf_counter() - start
    return elapsed


async def raw_ask(n: int, capacity: int, askers: int) -> float:
    per = n // askers
    req_send, req_recv = anyio.create_memory_object_stream[tuple[MemoryObjectSendStream[int], int]](
        capacity
    )

    async def server() -> None:
        async with req_recv:
            async for reply_to, value in req_recv:
                await reply_to.send(value)

    async def client() -> None:
        reply_send, reply_recv = anyio.create_memory_object_stream[int](1)
        async with reply_send, reply_recv:
            for i in range(per):
                await req_send.send((reply_send, i))
                await reply_recv.receive()

    async with anyio.create_task_group() as tg:
        tg.start_soon(server)
        await anyio.lowlevel.checkpoint()
        start = time.perf_counter()
        async with anyio.create_task_group() as clients:
            for _ in range(askers):
                clients.start_soon(client)
        elapsed = time.perf_counter() - start
        await req_send.aclose()
    return elapsed


# --------------------------------------------------------------------------- harness


@dataclass
class Row:
    backend: str
    scenario: str
    ops: int
    ours_s: list[float] = field(default_factory=list)
    raw_s: list[float] = field(default_factory=list)

    @property
    def ours_rate(self) -> float:
        return self.ops / statistics.median(self.ours_s)

    @property
    def raw_rate(self) -> float:
        return self.ops / statistics.median(self.raw_s)

    @property
    def ratio(self) -> float:
        return self.ours_rate / self.raw_rate

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            ours_ops_per_s=round(self.ours_rate),
            raw_ops_per_s=round(self.raw_rate),
            ours_us_per_op=round(1e6 / self.ours_rate, 3),
            raw_us_per_op=round(1e6 / self.raw_rate, 3),
            ratio=round(self.ratio, 3),
        )
        return data


def scenarios(n: int, capacity: int, askers: int) -> list[tuple[str, int, Measure, Measure]]:
    """(name, ops, ours, raw) for every scenario; ``ops`` is what the rate is computed from."""
    ask_n = max(askers, n // 2)  # a round trip costs ~2-3 hops: keep each run comparable
    ask_k = ask_n - ask_n % askers
    return [
        ("tell", n, lambda k: ours_tell(k, capacity), lambda k: raw_tell(k, capacity)),
        (
            "tell-nowait",
            n,
            lambda k: ours_tell(k, capacity, nowait=True),
            lambda k: raw_tell(k, capacity),
        ),
        ("ask seq", ask_n, lambda k: ours_ask(k, capacity, 1), lambda k: raw_ask(k, capacity, 1)),
        (
            "ask-nowait seq",
            ask_n,
            lambda k: ours_ask(k, capacity, 1, nowait=True),
            lambda k: raw_ask(k, capacity, 1),
        ),
        (
            f"ask x{askers}",
            ask_k,
            lambda k: ours_ask(k, capacity, askers),
            lambda k: raw_ask(k, capacity, askers),
        ),
        (
            f"ask-nowait x{askers}",
            ask_k,
            lambda k: ours_ask(k, capacity, askers, nowait=True),
            lambda k: raw_ask(k, capacity, askers),
        ),
    ]


async def run_backend(label: str, n: int, capacity: int, askers: int, rounds: int) -> list[Row]:
    rows: list[Row] = []
    plan = scenarios(n, capacity, askers)
    # Warm-up: first touches of the event loop, code objects and allocator pools.
    for _, ops, ours, raw in plan:
        await ours(min(ops, 2000))
        await raw(min(ops, 2000))
    for name, ops, ours, raw in plan:
        row = Row(label, name, ops)
        for r in range(rounds):
            # Alternate the order so neither side always runs on a warmer/cooler machine.
            pair = [("ours", ours), ("raw", raw)]
            if r % 2:
                pair.reverse()
            for side, fn in pair:
                gc.collect()
                elapsed = await fn(ops)
                (row.ours_s if side == "ours" else row.raw_s).append(elapsed)
        print(
            f"  {label:<15} {name:<18} ours {row.ours_rate:>10,.0f}/s  "
            f"raw {row.raw_rate:>10,.0f}/s  ratio {row.ratio:.2f}",
            flush=True,
        )
        rows.append(row)
    return rows


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'backend':<15} {'scenario':<18} {'ours ops/s':>11} {'ours µs':>8} "
        f"{'raw ops/s':>11} {'raw µs':>8} {'Δµs/op':>7} {'ours/raw':>8}"
    )
    print()
    print(head)
    print("-" * len(head))
    for row in rows:
        ours_us = 1e6 / row.ours_rate
        raw_us = 1e6 / row.raw_rate
        print(
            f"{row.backend:<15} {row.scenario:<18} {row.ours_rate:>11,.0f} {ours_us:>8.2f} "
            f"{row.raw_rate:>11,.0f} {raw_us:>8.2f} {ours_us - raw_us:>+7.2f} {row.ratio:>8.2f}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.runtime", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--messages", type=int, default=50_000, help="tells per run (asks: N/2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side; medians are shown")
    parser.add_argument("--capacity", type=int, default=1024, help="mailbox / stream buffer size")
    parser.add_argument("--askers", type=int, default=16, help="K concurrent askers")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 messages, 1 round")
    parser.add_argument(
        "--backend",
        action="append",
        choices=[b[0] for b in BACKENDS],
        help="only these backends (repeatable; default all)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.messages, args.rounds = 5_000, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wanted = set(args.backend or [b[0] for b in BACKENDS])
    print(
        f"bench.runtime: {args.messages:,} messages, {args.rounds} rounds, capacity "
        f"{args.capacity}, {args.askers} concurrent askers; Python {platform.python_version()}",
        flush=True,
    )
    rows: list[Row] = []
    for label, backend, options in BACKENDS:
        if label not in wanted:
            continue
        print(f"[{label}]", flush=True)
        rows += anyio.run(
            run_backend,
            label,
            args.messages,
            args.capacity,
            args.askers,
            args.rounds,
            backend=backend,
            backend_options=options,
        )
    print_table(rows)
    if args.json:
        payload = {
            "args": vars(args),
            "python": platform.python_version(),
            "anyio": anyio.__version__ if hasattr(anyio, "__version__") else None,
            "rows": [row.summary() for row in rows],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
