"""Oversell torture with ``kill -9`` and restarts: no acknowledged stock decision is lost, no
order is left holding part of its stock, and the store never oversells (DESIGN §6.4, issue 5).

``inventory_kill9_driver.py`` runs the real SKU actors, store writer and store (SQLite with
``synchronous=FULL``, or Postgres) in a process of its own, with many concurrent clients placing
multi-SKU orders on scarce stock, cancelling and shipping them and adjusting stock. It prints
each step before taking it (like the order saga's state, durable before its side effects) and
each outcome once acknowledged. Three runs on the same store:

1. stock the SKUs, traffic, SIGKILL after enough acknowledgements;
2. re-run the step of every order the kill left mid-step (as the saga does on start: reserve
   all-or-nothing again, or release / commit every line), traffic, SIGKILL again;
3. re-run the steps the second kill interrupted, then exit cleanly.

After each run the test opens the store itself and checks, against everything the driver
printed (read to the end of the pipe, so the record is complete):
- acknowledged outcomes are durable: a reserved order holds every line (exact qty), a cancelled
  one none (its rows released), a shipped one has every line committed once; acknowledged
  adjustments are journaled once, refused ones not at all;
- only an order caught mid-step may hold part of its lines, and only lines of its own;
- per SKU: ``0 <= reserved <= on_hand``, ``reserved`` equals the held rows (no drift), and a
  sequential replay of the journal accepts every decision and lands on the stored counts;
- the journal names no order or adjustment the driver never announced, and commits a line at
  most once.
After the third run no order is mid-step, so no partial hold remains anywhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from helpers import fresh_postgres_database
from integration.inventory_kill9_driver import SKUS, open_store
from inventory_journal import all_events, replay

pytestmark = [pytest.mark.anyio, pytest.mark.slow, pytest.mark.timeout(300)]

DRIVER = Path(__file__).with_name("inventory_kill9_driver.py")
KILL_AFTER_ACKS = 500  # acknowledged outcomes per run before the kill
RUN_TIMEOUT_S = 60  # failure bound for one run of the driver (a run takes ~1 s)

#: The step an order is in (its state printed, its outcome not yet) → the step to re-run.
IN_FLIGHT = {"reserving": "reserve", "cancelling": "release", "shipping": "commit"}
#: Allowed moves: op → states the order may be in before it.
MOVES = {
    "reserved": {"reserving"},
    "refused": {"reserving"},
    "cancelling": {"reserved"},
    "shipping": {"reserved"},
    "cancelled": {"cancelling"},
    "shipped": {"shipping"},
}
ACKS = {"reserved", "refused", "cancelled", "shipped", "adjusted", "adjust_refused"}


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": False})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:{tmp_path / 'inventory.sqlite3'}"
    else:
        base_url: str = request.getfixturevalue("postgres_url")
        async with fresh_postgres_database(base_url) as url:
            yield url


# --------------------------------------------------------------------------- the record


@dataclass
class Adjustment:
    sku: str
    delta: int
    state: str  # adjusting | adjusted | adjust_refused


@dataclass
class Ledger:
    """Everything the driver printed, folded: each order's lines and state, each adjustment."""

    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    state: dict[str, str] = field(default_factory=dict)
    adjustments: dict[str, Adjustment] = field(default_factory=dict)

    def apply(self, event: dict[str, Any]) -> None:
        op = event["op"]
        if op == "reserving":
            order = event["order"]
            assert order not in self.state, event
            self.lines[order] = {sku: qty for sku, qty in event["lines"]}
            self.state[order] = op
        elif op in MOVES:
            order = event["order"]
            assert self.state.get(order) in MOVES[op], (event, self.state.get(order))
            self.state[order] = op
        elif op == "adjusting":
            assert event["reason"] not in self.adjustments, event
            self.adjustments[event["reason"]] = Adjustment(event["sku"], event["delta"], op)
        elif op in ("adjusted", "adjust_refused"):
            adjustment = self.adjustments[event["reason"]]
            assert adjustment.state == "adjusting", event
            adjustment.state = op
        else:
            assert op == "ready", event

    def pending(self) -> list[dict[str, Any]]:
        """Orders mid-step, with the step to run again."""
        return [
            {"order": order, "step": IN_FLIGHT[state], "lines": sorted(self.lines[order].items())}
            for order, state in sorted(self.state.items())
            if state in IN_FLIGHT
        ]


# --------------------------------------------------------------------------- the driver


async def read_line(stream: BufferedByteReceiveStream) -> dict[str, Any] | None:
    """The next whole line as JSON; None at the end (a line cut short by the kill is dropped)."""
    try:
        return json.loads(await stream.receive_until(b"\n", 1 << 16))  # type: ignore[no-any-return]
    except (anyio.EndOfStream, anyio.IncompleteRead):
        return None


async def run_driver(
    url: str, run: str, ledger: Ledger, tmp_path: Path, *, stock: bool = False, traffic: bool
) -> None:
    """Run the driver once: with ``traffic``, until ``KILL_AFTER_ACKS`` acknowledgements after
    it is ready, then SIGKILL; without, until it exits. Every line it printed goes to
    ``ledger``."""
    args = [sys.executable, str(DRIVER), url, run]
    if stock:
        args.append("--stock")
    pending = ledger.pending()
    if pending:
        pending_file = tmp_path / f"pending-{run}.json"
        pending_file.write_text(json.dumps(pending))
        args += ["--pending", str(pending_file)]
    if not traffic:
        args.append("--no-traffic")
    stderr_file = tmp_path / f"driver-{run}.stderr"
    with stderr_file.open("wb") as stderr:
        process = await anyio.open_process(args, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert process.stdout is not None
        stream = BufferedByteReceiveStream(process.stdout)
        acks = 0
        ready = False
        with anyio.fail_after(RUN_TIMEOUT_S):
            while traffic and acks < KILL_AFTER_ACKS:
                event = await read_line(stream)
                if event is None:
                    raise AssertionError(f"driver {run} ended early:\n{stderr_file.read_text()}")
                ledger.apply(event)
                ready = ready or event["op"] == "ready"
                if ready and event["op"] in ACKS:
                    acks += 1
            if traffic:
                process.send_signal(signal.SIGKILL)
            # Whatever it printed before it died or exited is in the pipe: read it all.
            while (event := await read_line(stream)) is not None:
                ledger.apply(event)
            returncode = await process.wait()
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.aclose()
    expected = -signal.SIGKILL if traffic else 0
    assert returncode == expected, f"driver {run}: exit {returncode}\n{stderr_file.read_text()}"


# --------------------------------------------------------------------------- the checks


async def check_store(url: str, ledger: Ledger, *, settled: bool) -> int:
    """Check the store against ``ledger`` (see the module docstring); ``settled``: no order may
    be mid-step. Returns how many orders hold part of their lines."""
    partial = 0
    async with open_store(url) as store:
        for order, state in ledger.state.items():
            lines = ledger.lines[order]
            rows = await store.order_reservations(order)
            held = {r.sku: r.qty for r in rows if r.state == "held"}
            closed = {r.sku: r.state for r in rows if r.state != "held"}
            assert set(held) | set(closed) <= set(lines), (order, rows)
            assert all(held[sku] == lines[sku] for sku in held), (order, state, rows)
            if state in ("reserved", "refused", "cancelled", "shipped"):
                want = dict(lines) if state == "reserved" else {}
                assert held == want, (order, state, rows)
            if state == "cancelled" or state == "refused":
                assert set(closed.values()) <= {"released"}, (order, state, rows)
            if state == "cancelled":
                assert set(closed) == set(lines), (order, state, rows)
            if state == "shipped":
                assert closed == dict.fromkeys(lines, "committed"), (order, state, rows)
            if state == "cancelling" or state == "shipping":
                done = "released" if state == "cancelling" else "committed"
                assert set(held) | set(closed) == set(lines), (order, state, rows)
                assert set(closed.values()) <= {done}, (order, state, rows)
            if state in IN_FLIGHT:
                assert not settled, (order, state)
            partial += 0 < len(held) < len(lines)

        assert await store.reservation_drift(100) == []
        adjusted: Counter[str] = Counter()
        for sku in SKUS:
            row = await store.get_sku(sku)
            assert row is not None, sku
            assert 0 <= row.reserved <= row.on_hand, row
            held_rows = await store.held_reservations(sku)
            assert sum(r.qty for r in held_rows) == row.reserved, sku
            events = await all_events(store, sku)
            replayed = replay(sku, events)
            assert (replayed.on_hand, replayed.reserved) == (row.on_hand, row.reserved), sku
            assert {h.order_id: h.qty for h in replayed.holds()} == {
                r.order_id: r.qty for r in held_rows
            }, sku
            commits = Counter(e.order_id for e in events if e.kind == "commit")
            assert max(commits.values(), default=0) <= 1, (sku, commits.most_common(3))
            for e in events:
                if e.kind == "commit":  # a shipped line leaves the shelf once, with its qty
                    assert -e.delta_on_hand == ledger.lines[e.order_id][sku], e
            for e in events:
                if e.order_id:
                    assert sku in ledger.lines.get(e.order_id, {}), e
                elif e.kind == "adjust":
                    adjustment = ledger.adjustments.get(e.reason)
                    assert adjustment is not None and adjustment.state != "adjust_refused", e
                    assert (adjustment.sku, adjustment.delta) == (sku, e.delta_on_hand), e
                    adjusted[e.reason] += 1
                else:
                    assert e.kind == "set" and e.seq == 1, e  # the initial stock
        assert max(adjusted.values(), default=0) <= 1, adjusted.most_common(3)
        acked = [r for r, a in ledger.adjustments.items() if a.state == "adjusted"]
        lost = [r for r in acked if not adjusted[r]]
        assert lost == [], f"acknowledged adjustments lost: {lost[:5]}"
    return partial


# --------------------------------------------------------------------------- the test


async def test_kill9_mid_traffic_loses_no_decision_and_leaves_no_partial_hold(
    store_url: str, tmp_path: Path
) -> None:
    ledger = Ledger()

    await run_driver(store_url, "r1", ledger, tmp_path, stock=True, traffic=True)
    in_flight = len(ledger.pending())
    assert in_flight > 0, "the kill should catch orders mid-step"
    await check_store(store_url, ledger, settled=False)

    await run_driver(store_url, "r2", ledger, tmp_path, traffic=True)
    await check_store(store_url, ledger, settled=False)

    await run_driver(store_url, "r3", ledger, tmp_path, traffic=False)
    assert ledger.pending() == []
    assert await check_store(store_url, ledger, settled=True) == 0
    states = Counter(ledger.state.values())
    assert states["reserved"] and states["refused"] and states["cancelled"] and states["shipped"]
