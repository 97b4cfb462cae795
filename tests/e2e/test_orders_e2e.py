"""Orders end to end with the built-in sandbox TikTok Shop (issue 4, "Done when").

One real service on 127.0.0.1:0 (uvicorn, SQLite) with the sandbox mounted in-process; the
sandbox posts its signed webhooks to the service over HTTP. 1,000 generated orders, then a few
hundred status changes (paid, cancelled, shipped, in transit, delivered, completed), while
the sandbox answers after 5-40 ms, loses 5 % of the webhooks, delivers some twice and holds
some back (out of order), answers a burst of 429s longer than the client's retries, and then
goes down for a 30 s outage window (every API call 503). Then the system converges by
itself (order sync retries through the inbox pump while webhooks keep coming) and with
``ReconcileNow`` until a pass changes nothing.

Checked: every sandbox order is stored once, with the status and ``update_time`` TikTok last
reported and the matching internal state; its journal is one valid path (one ``received``,
no state entered twice); its outbox holds one ``order.created`` and one event per snapshot
applied, whose statuses follow the sandbox's own history without repeats or regressions;
every delivered webhook is one inbox row, processed or dead, processed once (the processed
counter equals the processed rows) and tried at most once per retry backoff; the faults
really happened; and Get Order Detail calls are far fewer than webhooks (batching).

Time: the service and the sandbox run on one :class:`ShiftedClock` (real time plus an offset
the test moves): the outage is lived through one retry backoff at a time by advancing that
clock, so nothing here waits for time to pass. About 20 s, nearly all of it the ~2,900
webhooks the sandbox delivers one at a time over real HTTP into real SQLite commits.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from contextlib import closing
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx
import msgspec
import pytest

from creatorflow.actors.inventory import SetStock
from creatorflow.actors.order_scheduler import OrderDoc
from creatorflow.actors.reconciler import ReconcileNow
from creatorflow.adapters.store.sqlite import SQLITE_FILENAME
from creatorflow.app import Service, open_service
from creatorflow.runtime.testing import ShiftedClock
from creatorflow.sandbox._tiktok_admin import CATALOG
from creatorflow.sandbox.tiktok import FaultConfig, TikTokSandbox
from helpers import make_config, settle

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

ORDERS = 1000
SEED = 4
#: More 429s than the client's tries (1 + max_retries 5) times the fetches in flight (4): some
#: fetch gives up, so order sync's retry path (a pump re-read) runs while webhooks pour in.
BURST_429 = 40
OUTAGE_S = 30.0
MAX_ATTEMPTS = 10
SYNC_RETRY_MIN_S = 1.0
SYNC_RETRY_MAX_S = 2.0
FAULTS: dict[str, Any] = {
    "latency_ms": (5.0, 40.0),
    "webhook_drop_rate": 0.05,
    "webhook_duplicate_rate": 0.03,
    "webhook_reorder_rate": 0.05,
}
ENV = {
    # A rate limit that binds while webhooks pour in (the sandbox sends ~200/s): ids then pile
    # up while a fetch waits for a token, and the next call carries them all. Unlimited, order
    # sync fetches about one id per call at this pace (its 5 ms coalescing is shorter than the
    # gap between two webhooks of a one-at-a-time sender).
    "CREATORFLOW_TIKTOK__RATE_PER_S": "20",
    "CREATORFLOW_TIKTOK__BURST": "20",
    # The 429 burst is lived in real time: the client's backoff (60 s cap in production) scaled
    # down; it starts at 1 s, so 1 s is the smallest cap it accepts. The breaker keeps its real
    # 60 s: the outage is lived on the shifted clock.
    "CREATORFLOW_TIKTOK__RETRY_MAX_WAIT_S": "1",
    "CREATORFLOW_ORDERS__SYNC_RETRY_MIN_S": str(SYNC_RETRY_MIN_S),
    "CREATORFLOW_ORDERS__SYNC_RETRY_MAX_S": str(SYNC_RETRY_MAX_S),
    "CREATORFLOW_ORDERS__SYNC_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    # The periodic pass runs a few times during the test (and fails during the outage).
    "CREATORFLOW_ORDERS__RECONCILE_INTERVAL_S": "10",
    # Orders only: the internal state must follow TikTok's statuses (shipping would buy labels
    # and follow carriers ahead of TikTok; it has its own end-to-end test).
    "CREATORFLOW_SHIPPING__ENABLED": "false",
}

PRE_SHIP = ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")
#: (statuses an order may be in, status to move it to, how many orders) per round.
BEFORE_OUTAGE = (
    (("UNPAID", "ON_HOLD"), "AWAITING_SHIPMENT", 60),
    (PRE_SHIP, "CANCELLED", 100),
    (("AWAITING_SHIPMENT",), "AWAITING_COLLECTION", 120),
    (("AWAITING_SHIPMENT",), "IN_TRANSIT", 60),
    (("AWAITING_SHIPMENT",), "DELIVERED", 40),
)
DURING_OUTAGE = (
    (("AWAITING_COLLECTION",), "IN_TRANSIT", 50),
    (("IN_TRANSIT",), "DELIVERED", 40),
    (("DELIVERED",), "COMPLETED", 20),
    (PRE_SHIP, "CANCELLED", 50),
    (("AWAITING_SHIPMENT",), "AWAITING_COLLECTION", 40),
)

#: The internal state an order must be in for each final TikTok status, with every SKU in
#: stock (the test stocks the catalog) and no automation rules: open orders hold their stock,
#: UNPAID / ON_HOLD ones as ``on_hold``. Cancellations only happen before shipping here, so they
#: never need attention.
EXPECTED_STATE = {
    "UNPAID": "on_hold",
    "ON_HOLD": "on_hold",
    "AWAITING_SHIPMENT": "reserved",
    "AWAITING_COLLECTION": "shipped",
    "IN_TRANSIT": "in_transit",
    "DELIVERED": "delivered",
    "COMPLETED": "delivered",
    "CANCELLED": "cancelled",
}
GET_ORDER_DETAIL = ("GET", "/order/202309/orders")
MILESTONES = frozenset({"order.labeled", "order.shipped", "order.delivered"})


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


def normalise(status: str) -> str:
    return "CANCELLED" if status == "CANCEL" else status


async def move_orders(
    sandbox: TikTokSandbox,
    ids: list[str],
    plan: tuple[tuple[tuple[str, ...], str, int], ...],
    rng: random.Random,
) -> int:
    """Move orders as ``plan`` says (each order at most once per round); how many moved."""
    moved: set[str] = set()
    for sources, target, count in plan:
        candidates = [
            oid
            for oid in ids
            if oid not in moved and (order := sandbox.book.get(oid)) and order.status in sources
        ]
        assert len(candidates) >= count, f"only {len(candidates)} orders can go to {target}"
        for oid in rng.sample(candidates, count):
            await sandbox.set_status(oid, target)
            moved.add(oid)
    return len(moved)


class InboxRow(NamedTuple):
    state: str
    attempts: int
    received_at_ms: int
    processed_at_ms: int | None


class DbView(NamedTuple):
    """What the test reads straight from the SQLite file (no port lists these)."""

    inbox: dict[str, InboxRow]
    outbox: dict[str, list[tuple[str, str]]]  # order id -> [(topic, tiktok_status)] in order
    orders: int
    journal: int


def read_db(path: Path) -> DbView:
    with closing(sqlite3.connect(path)) as conn:
        inbox = {
            nid: InboxRow(*rest)
            for nid, *rest in conn.execute(
                "SELECT notification_id, state, attempts, received_at_ms, processed_at_ms "
                "FROM inbox"
            )
        }
        outbox: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for topic, key, payload in conn.execute(
            "SELECT topic, key, payload FROM outbox ORDER BY rowid"
        ):
            outbox[key].append((topic, msgspec.json.decode(payload)["tiktok_status"]))
        (orders,) = conn.execute("SELECT count(*) FROM orders").fetchone()
        (journal,) = conn.execute("SELECT count(*) FROM order_events").fetchone()
    return DbView(inbox, dict(outbox), orders, journal)


async def changes_so_far(path: Path) -> tuple[int, int]:
    """(outbox events, journal entries): every applied snapshot adds at least one outbox row."""

    def count() -> tuple[int, int]:
        with closing(sqlite3.connect(path)) as conn:
            (outbox,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
            (journal,) = conn.execute("SELECT count(*) FROM order_events").fetchone()
            return outbox, journal

    return await anyio.to_thread.run_sync(count)


async def live_until_drained(service: Service, sandbox: TikTokSandbox, clock: ShiftedClock) -> int:
    """Move the clock on one retry backoff at a time, settling in between, until the outage is
    over and no inbox row is left unprocessed; how many steps it took.

    Each step lets the service do what that much time brings: order sync's retry kicks (the
    pump re-reads the failed rows; ``flush`` does not wait for those timers), the breaker's
    probe once it has been open ``breaker_open_s``, reconciler passes. Fails when rows are
    still unprocessed a few backoffs after the breaker could close: nothing will retry them.
    """
    breaker_open_s = service.config.tiktok.breaker_open_s
    max_steps = int((OUTAGE_S + breaker_open_s) / SYNC_RETRY_MAX_S) + 5
    for step in range(max_steps):
        await settle(service)
        if not sandbox.faults.in_outage() and not await service.store.list_unprocessed(None, 1):
            return step
        clock.advance(SYNC_RETRY_MAX_S)
    left = await service.store.list_unprocessed(None, 10)
    stranded = [r.notification_id for r in left]
    pytest.fail(f"inbox rows stranded after {max_steps} retry backoffs: {stranded}")


async def reconcile_until_quiet(service: Service, db: Path, max_passes: int = 5) -> int:
    """Ask for reconcile passes until one changes nothing; how many passes ran."""
    for passes in range(1, max_passes + 1):
        before = await changes_so_far(db)
        read = await service.refs.reconciler.ask(ReconcileNow())
        assert read >= ORDERS, f"a pass read {read} orders: the window misses some"
        await settle(service)
        if await changes_so_far(db) == before:
            return passes
    pytest.fail(f"reconciler still changing orders after {max_passes} passes")


def is_subsequence(seen: list[str], history: list[str]) -> bool:
    """Whether ``seen`` appears in ``history`` in order (each history entry used once)."""
    rest = iter(history)
    return all(any(s == h for h in rest) for s in seen)


async def test_orders_converge_through_faults(tmp_path: Path, anyio_backend: Any) -> None:
    config = make_config(tmp_path, anyio_backend, **ENV)
    db = Path(config.store.data_dir) / SQLITE_FILENAME
    rng = random.Random(SEED)
    clock = ShiftedClock()
    with anyio.fail_after(120):  # a deadline for a hang, not a synchronisation
        async with open_service(config, clock=clock, timer=clock) as service:
            sandbox = service.tiktok.sandbox
            assert sandbox is not None, "tiktok.base_url is empty: the sandbox must be built in"
            for sku, _ in CATALOG:  # plenty of stock: every order can hold its lines
                await service.refs.inventory.ask(sku, SetStock(on_hand=100_000))

            # 1. Orders arrive through lossy, doubled and shuffled webhooks and a 429 burst.
            sandbox.set_faults(FaultConfig(**FAULTS, burst_429=BURST_429))
            ids = await sandbox.generate_orders(ORDERS, seed=SEED)
            await sandbox.wait_webhooks_idle()
            moved = await move_orders(sandbox, ids, BEFORE_OUTAGE, rng)
            await sandbox.wait_webhooks_idle()
            await settle(service)
            assert sandbox.faults.burst_left == 0, "the 429 burst was not used up before the outage"

            # 2. A 30 s outage of the API (on the shared clock); webhooks keep coming meanwhile.
            sandbox.set_faults(FaultConfig(**FAULTS, outage_s=OUTAGE_S))
            moved += await move_orders(sandbox, ids, DURING_OUTAGE, rng)
            await sandbox.wait_webhooks_idle()

            # 3. Converge: live through the outage until the inbox is drained, then reconcile
            # until nothing changes.
            steps = await live_until_drained(service, sandbox, clock)
            await sandbox.wait_webhooks_idle()
            latest = max(o.update_time for oid in ids if (o := sandbox.book.get(oid)))
            assert latest <= sandbox.clock.now_ms() // 1000, "sandbox update_time in the future"
            passes = await reconcile_until_quiet(service, db)
            await settle(service)

            # 4. Every order as TikTok last reported it, once.
            assert len(sandbox.book) == ORDERS
            rows = {oid: await service.store.get_order(oid) for oid in ids}
            lost = sorted(oid for oid, row in rows.items() if row is None)
            assert not lost, f"{len(lost)} orders never stored, e.g. {lost[:5]}"
            wrong: list[str] = []
            journal_errors: list[str] = []
            final_statuses: Counter[str] = Counter()
            for oid, row in rows.items():
                assert row is not None
                truth = sandbox.book.get(oid)
                assert truth is not None
                status = normalise(truth.status)
                final_statuses[status] += 1
                got = (normalise(row.tiktok_status), row.tiktok_update_time, row.state)
                want = (status, truth.update_time, EXPECTED_STATE[status])
                if got != want:
                    wrong.append(f"{oid}: stored {got}, TikTok says {want}")
                events = await service.store.order_events(oid, 100)
                journal_errors.extend(journal_problems(oid, events, row.state))
            assert not wrong, f"{len(wrong)} orders differ from TikTok:\n" + "\n".join(wrong[:20])
            assert not journal_errors, "\n".join(journal_errors[:20])

            # Stock: open orders hold exactly their lines, shipped ones took them off the shelf.
            held: Counter[str] = Counter()
            shipped: Counter[str] = Counter()
            for row in rows.values():
                assert row is not None
                doc = msgspec.json.decode(row.doc, type=OrderDoc)
                for line in doc.order.lines:
                    qty = line.quantity - line.cancelled_quantity
                    if row.state in ("reserved", "on_hold"):
                        held[line.seller_sku] += qty
                    elif row.state in ("shipped", "in_transit", "delivered"):
                        shipped[line.seller_sku] += qty
            assert await service.store.reservation_drift(100) == []
            for sku, _ in CATALOG:
                stock = await service.store.get_sku(sku)
                assert stock is not None
                assert (stock.reserved, stock.on_hand) == (held[sku], 100_000 - shipped[sku]), sku

            view = await anyio.to_thread.run_sync(read_db, db)
            hooks = sandbox.webhooks
            calls = list(sandbox.calls)
            async with httpx.AsyncClient(base_url=service.url) as client:
                metrics = (await client.get("/metrics")).text
            now_ms = sandbox.clock.now_ms()

    # Orders: none lost, none stored twice.
    assert view.orders == ORDERS

    # Outbox: one order.created per order, then one event per snapshot applied, whose statuses
    # follow TikTok's own history: never a status twice, never backwards, ending at the last.
    outbox_errors: list[str] = []
    for oid in ids:
        truth = sandbox.book.get(oid)
        assert truth is not None
        # Milestones (order.labeled / .shipped / .delivered) come besides an order.updated of
        # the same write: the order.created / order.updated stream alone is checked here.
        events = [(t, st) for t, st in view.outbox.get(oid, []) if t not in MILESTONES]
        topics = [topic for topic, _ in events]
        # Saga steps (reserve, hold) emit order.updated without a new TikTok status: collapse
        # repeats, then the statuses must follow TikTok's history.
        statuses = [
            s
            for i, s in enumerate(normalise(status) for _, status in events)
            if i == 0 or s != normalise(events[i - 1][1])
        ]
        history = [normalise(status) for status, _ in truth.history]
        if topics[:1] != ["order.created"] or topics.count("order.created") != 1:
            outbox_errors.append(f"{oid}: outbox topics {topics}")
        elif set(topics[1:]) - {"order.updated"}:
            outbox_errors.append(f"{oid}: unexpected topics {topics}")
        elif not is_subsequence(statuses, history) or statuses[-1] != history[-1]:
            outbox_errors.append(f"{oid}: applied {statuses}, TikTok history {history}")
    assert not outbox_errors, "\n".join(outbox_errors[:20])
    assert set(view.outbox) == set(ids)

    # Inbox: every webhook the service acknowledged is one row, processed or parked dead, with
    # bounded attempts; the dropped ones never arrived. Nothing was refused (no TikTok retries).
    log = list(hooks.log)
    assert len(log) < hooks.log.maxlen, "the sandbox's webhook log rotated: raise max_webhook_log"
    delivered = {e["notification_id"] for e in log if e["outcome"] == "delivered"}
    dropped = {e["notification_id"] for e in log if e["outcome"] == "dropped"}
    assert set(view.inbox) == delivered
    assert not dropped & delivered
    assert hooks.counts["failed_attempts"] == 0 and hooks.counts["gave_up"] == 0
    inbox_states = Counter(row.state for row in view.inbox.values())
    assert set(inbox_states) <= {"processed", "dead"}, inbox_states
    # Processed once: order sync counts each webhook it marks processed; a webhook handled twice
    # (two fetches, two marks) would count twice while its row is processed once.
    processed = metric_total(metrics, "creatorflow_inbox_processed_total")
    assert processed == inbox_states["processed"], (
        f"webhooks processed {processed:.0f} times for {inbox_states['processed']} processed rows"
    )
    # Tried at most once per retry backoff (sync_retry_min_s apart at least), and a row parked
    # dead is never tried again after its last attempt.
    over = {
        nid: row
        for nid, row in view.inbox.items()
        if row.attempts < 1
        or row.attempts > attempts_allowed(row, now_ms)
        or (row.state == "dead" and row.attempts > MAX_ATTEMPTS)
    }
    assert not over, f"{len(over)} inbox rows tried too often: {list(over.items())[:5]}"

    # The faults really happened, so the test cannot pass vacuously.
    counts = hooks.counts
    assert 0.03 <= counts["dropped"] / counts["enqueued"] <= 0.07, counts
    assert counts["duplicated"] > 0 and counts["reordered"] > 0, counts
    assert sandbox.faults.injected["429"] == BURST_429
    assert sandbox.faults.injected["503"] > 0
    last_lost = orders_whose_last_webhook_was_lost(ids, sandbox, log)
    assert last_lost > 0, "no order depended on the reconciler"

    # Batching: far fewer Get Order Detail calls than webhooks.
    details = [c for c in calls if (c["method"], c["path"]) == GET_ORDER_DETAIL]
    assert len(calls) < sandbox.calls.maxlen, "the sandbox's call log rotated"
    assert 0 < len(details) * 5 < len(delivered), (len(details), len(delivered))
    assert max(len(c["query"]["ids"].split(",")) for c in details) <= 50

    print(
        f"\norders e2e: {ORDERS} orders, {moved} moved, final {dict(final_statuses)}; "
        f"webhooks {dict(counts)}; inbox {dict(inbox_states)}; "
        f"{len(details)} Get Order Detail calls for {len(delivered)} webhooks; "
        f"faults {sandbox.faults.injected}; {last_lost} orders lost their last webhook; "
        f"inbox drained after {steps} retry backoffs, reconciled in {passes} passes"
    )


def attempts_allowed(row: InboxRow, now_ms: int) -> int:
    """Most tries a row may have had: the first, then one per retry backoff while it waited
    (order sync kicks the pump at most once per ``sync_retry_min_s``), plus one for a kick
    already under way when the row arrived."""
    waited_s = ((row.processed_at_ms or now_ms) - row.received_at_ms) / 1000
    return 2 + int(waited_s / SYNC_RETRY_MIN_S)


def metric_total(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in Prometheus text."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name}{{", f"{name} "))
    )


def journal_problems(order_id: str, events: list[Any], state: str) -> list[str]:
    """What is wrong with one order's journal: it must be a single valid path, entered once."""
    problems: list[str] = []
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        problems.append(f"{order_id}: journal seq {[e.seq for e in events]}")
    moves = [e for e in events if e.kind == "transition"]
    path = [e.to_state for e in moves]
    if not moves or moves[0].from_state is not None or path.count("received") != 1:
        problems.append(f"{order_id}: journal does not start with one 'received': {path}")
    # Holding stock may cycle (reserved -> on_hold -> reserved when an order is paid); every
    # other state is entered once.
    once = [p for p in path if p not in ("reserved", "on_hold", "backordered")]
    if len(set(once)) != len(once):
        problems.append(f"{order_id}: a state entered twice: {path}")
    if any(cur.from_state != prev.to_state for prev, cur in pairwise(moves)):
        problems.append(f"{order_id}: broken chain {[(e.from_state, e.to_state) for e in moves]}")
    if path and path[-1] != state:
        problems.append(f"{order_id}: journal ends in {path[-1]}, order is {state}")
    if sum(e.kind == "decision" for e in events) > 1:
        problems.append(f"{order_id}: more than one decision log")
    return problems


def orders_whose_last_webhook_was_lost(
    ids: list[str], sandbox: TikTokSandbox, log: list[dict[str, Any]]
) -> int:
    """Orders for which TikTok never delivered the webhook of their final status."""
    delivered: set[tuple[str, str]] = {
        (e["order_id"], normalise(e["order_status"])) for e in log if e["outcome"] == "delivered"
    }
    lost = 0
    for oid in ids:
        order = sandbox.book.get(oid)
        assert order is not None
        lost += (oid, normalise(order.status)) not in delivered
    return lost
