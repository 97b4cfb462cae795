"""OrderSync on the real SQLite store and scheduler, with an in-memory TikTok.

The fake TikTok answers Get Order Detail from a dict and records every call; the pump is a probe
actor that records the kicks it gets. Bursts are told with ``tell_nowait`` without yielding, so
the whole burst is buffered before the actor drains it (coalescing does not depend on timing).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from creatorflow.actors.ingress import Kick, Process
from creatorflow.actors.order_scheduler import OrderScheduler
from creatorflow.actors.order_sync import MAX_IDS_PER_CALL, OrderSync
from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.automation import load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.errors import CircuitOpen, TikTokRequestRejected, TikTokUnavailable
from creatorflow.ports import (
    InboxRecord,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    TikTokLineItem,
    TikTokOrder,
    TikTokOrderPage,
    UpsertOrder,
    WriteOp,
    WriteResult,
)
from creatorflow.runtime import Actor, ActorRef, Backoff, Envelope, open_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked
from helpers import webhook_body

pytestmark = pytest.mark.anyio

SHOP = "7490000000000000001"
NOW_MS = 1_700_000_200_000


def order_id(i: int) -> str:
    return f"5760000000{i:08d}"


def snapshot(oid: str, *, update_time: int = 1_700_000_100) -> TikTokOrder:
    return msgspec.convert(
        {
            "id": oid,
            "status": "AWAITING_SHIPMENT",
            "create_time": 1_700_000_000,
            "update_time": update_time,
            "rts_sla_time": 1_700_259_200,
            "user_id": "buyer-1",
            "payment": {"currency": "USD", "total_amount": "19.99"},
            "line_items": [{"id": f"l-{oid}", "sku_id": "s1", "seller_sku": "MUG-RED"}],
        },
        TikTokOrder,
    )


def inbox_record(nid: str, oid: str, *, type_: int = 1) -> InboxRecord:
    return InboxRecord(
        notification_id=nid,
        type=type_,
        shop_id=SHOP,
        received_at_ms=NOW_MS,
        body=webhook_body(nid, type_=type_, order_id=oid),
    )


class FakeTikTok:
    """Get Order Detail from a dict; ``fail`` makes every call raise it."""

    def __init__(self, orders: Sequence[TikTokOrder] = ()) -> None:
        self.orders = {o.id: o for o in orders}
        self.calls: list[tuple[str, list[str]]] = []
        self.fail: BaseException | None = None

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        self.calls.append((shop_id, list(ids)))
        if self.fail is not None:
            raise self.fail
        return [self.orders[i] for i in ids if i in self.orders]

    async def search_orders(
        self,
        shop_id: str,
        *,
        update_time_ge: int,
        update_time_lt: int,
        page_size: int = 50,
        page_token: str = "",
    ) -> TikTokOrderPage:
        raise AssertionError("order sync never searches")


class RecordingStore:
    """Delegates to the SQLite store and remembers the ops of every committed transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.commits: list[list[WriteOp]] = []

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        results = await self.store.apply(ops)
        self.commits.append(list(ops))
        return results

    def commit_of(self, predicate: Any) -> list[int]:
        """Indexes of the commits holding an op that matches ``predicate``."""
        return [i for i, ops in enumerate(self.commits) if any(predicate(op) for op in ops)]

    def processed_marks(self, nid: str) -> int:
        return sum(
            1
            for ops in self.commits
            for op in ops
            if isinstance(op, MarkInboxProcessed) and op.notification_id == nid
        )


class PumpProbe(Actor[Kick]):
    """Stands in for the inbox pump: records kicks; :meth:`wait_kicks` waits for them."""

    def __init__(self) -> None:
        self.kicks: list[Kick] = []
        self._kicked = anyio.Event()

    async def handle(self, env: Envelope[Kick]) -> None:
        self.kicks.append(env.msg)
        self._kicked.set()
        self._kicked = anyio.Event()

    async def wait_kicks(self, count: int) -> None:
        while len(self.kicks) < count:
            await self._kicked.wait()


class Clock:
    def now_ms(self) -> int:
        return NOW_MS


@dataclass
class Rig:
    sync: ActorRef[Process]
    pump: ActorRef[Kick]
    probe: PumpProbe
    writer: ActorRef[Write]
    store: SqliteStore
    recorded: RecordingStore
    tiktok: FakeTikTok

    async def store_rows(self, records: Sequence[InboxRecord]) -> None:
        await self.writer.ask(Write(ops=tuple(InsertInbox(record=r) for r in records)))

    def burst(self, records: Sequence[InboxRecord]) -> None:
        """Tell every record without yielding: the actor sees the burst as one batch."""
        for r in records:
            self.sync.tell_nowait(Process(record=r))

    async def settle(self) -> None:
        # Order sync's flush waits for its fetches (background tasks) and their marks. The kick
        # after a failure comes from a daemon (not flushed): tests wait for it with wait_kicks.
        await self.sync.flush()
        await self.writer.flush()


@asynccontextmanager
async def rig(
    tmp_path: Path,
    tiktok: FakeTikTok,
    *,
    max_attempts: int = 10,
    learn: Any = None,
    coalesce_ms: float = 0.0,  # the burst is buffered already; see the module docstring
    retry_backoff: Backoff | None = None,
    timer: FakeClock | None = None,
) -> AsyncIterator[Rig]:
    async with open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store:
        recorded = RecordingStore(store)
        probe = PumpProbe()
        async with (
            open_actor(StoreWriter(recorded), "writer", 1024) as writer,
            open_actor(
                OrderScheduler(
                    writer=writer,
                    orders=store,
                    clock=Clock(),
                    rules=load_rules(""),
                    settings=PrioritySettings(),
                ),
                "scheduler",
                1024,
            ) as scheduler,
            open_actor(probe, "pump", 2) as pump,
        ):
            sync = OrderSync(
                tiktok=tiktok,
                scheduler=scheduler,
                writer=writer,
                pump=pump,
                clock_ms=Clock().now_ms,
                recent_cap=10_000,
                coalesce_ms=coalesce_ms,
                max_attempts=max_attempts,
                # Default: kick at once (a checkpoint, no real wait).
                retry_backoff=retry_backoff or Backoff(0.0, 0.0),
                learn=learn,
                timer=timer,
            )
            async with open_actor(sync, "order_sync", 4096) as ref:
                # On start, order sync kicks the pump once (rows a crashed incarnation left).
                await probe.wait_kicks(1)
                probe.kicks.clear()
                yield Rig(ref, pump, probe, writer, store, recorded, tiktok)
                await ref.flush()


async def test_burst_is_coalesced_into_calls_of_at_most_50_ids(
    tmp_path: Path, anyio_backend: Any
) -> None:
    distinct, webhooks = 120, 300
    orders = [snapshot(order_id(i)) for i in range(distinct)]
    tiktok = FakeTikTok(orders)
    records = [inbox_record(f"n{k:04d}", order_id(k % distinct)) for k in range(webhooks)]
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows(records)
        r.burst(records)
        await r.settle()

        assert len(tiktok.calls) == math.ceil(distinct / MAX_IDS_PER_CALL)
        fetched: list[str] = []
        for shop, ids in tiktok.calls:
            assert shop == SHOP
            assert 0 < len(ids) <= MAX_IDS_PER_CALL
            assert len(set(ids)) == len(ids)
            fetched += ids
        assert sorted(fetched) == sorted(o.id for o in orders)  # each order fetched once

        for rec in records:
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None
            assert (status.state, status.attempts) == ("processed", 1)
        assert len(await r.store.list_orders(limit=1000)) == distinct

        # A row is marked processed only in a commit after the one that wrote its order.
        oid_of = {rec.notification_id: order_id(k % distinct) for k, rec in enumerate(records)}
        for nid, oid in oid_of.items():
            upserts = r.recorded.commit_of(
                lambda op, oid=oid: isinstance(op, UpsertOrder) and op.order_id == oid
            )
            marks = r.recorded.commit_of(
                lambda op, nid=nid: isinstance(op, MarkInboxProcessed) and op.notification_id == nid
            )
            assert upserts and marks
            assert min(upserts) < min(marks), nid
        assert r.probe.kicks == []


async def test_ids_collected_within_the_coalescing_window_go_in_one_call(
    tmp_path: Path, anyio_backend: Any
) -> None:
    # README: a partial call goes after orders.sync_coalesce_ms; ids arriving meanwhile join it.
    orders = [snapshot(order_id(i)) for i in range(4)]
    tiktok = FakeTikTok(orders)
    records = [inbox_record(f"c{i}", order_id(i)) for i in range(4)]
    timer = FakeClock()
    async with rig(tmp_path, tiktok, coalesce_ms=500.0, timer=timer) as r:
        await r.store_rows(records)
        for i in range(3):  # at 0 ms, 200 ms and 400 ms: inside the window of the first
            if i:
                timer.advance(0.2)
            r.sync.tell_nowait(Process(record=records[i]))
            await wait_all_tasks_blocked()
            assert tiktok.calls == [], f"fetched before the window ended (id {i})"
        timer.advance(0.1)  # 500 ms after the first id
        await wait_all_tasks_blocked()
        assert tiktok.calls == [(SHOP, [order_id(0), order_id(1), order_id(2)])]

        # An id after the window opens a window of its own.
        r.sync.tell_nowait(Process(record=records[3]))
        await wait_all_tasks_blocked()
        timer.advance(0.499)
        await wait_all_tasks_blocked()
        assert len(tiktok.calls) == 1
        timer.advance(0.001)
        await wait_all_tasks_blocked()
        assert tiktok.calls[1:] == [(SHOP, [order_id(3)])]
        await r.settle()
        for rec in records:
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None and status.state == "processed"


async def test_a_failed_fetch_is_retried_after_the_backoff_on_the_clock(
    tmp_path: Path, anyio_backend: Any
) -> None:
    # README: a TikTok error retries the webhook with backoff (sync_retry_min_s .. _max_s).
    tiktok = FakeTikTok([snapshot(order_id(1))])
    tiktok.fail = TikTokUnavailable("down", http_status=503)
    rec = inbox_record("b1", order_id(1))
    timer = FakeClock()
    backoff = Backoff(1.0, 60.0, jitter=0.0)
    async with rig(tmp_path, tiktok, retry_backoff=backoff, timer=timer) as r:
        await r.store_rows([rec])
        r.burst([rec])
        await r.settle()
        await wait_all_tasks_blocked()
        assert r.probe.kicks == []  # the kick waits for its backoff
        timer.advance(0.999)  # less than sync_retry_min_s: no retry yet
        await wait_all_tasks_blocked()
        assert r.probe.kicks == []
        assert timer.next_deadline is not None
        # README: "1 s doubling to 60 s": the first retry waits sync_retry_min_s exactly.
        assert timer.next_deadline - timer.now() == pytest.approx(0.001)
        timer.advance(timer.next_deadline - timer.now())
        await r.probe.wait_kicks(1)  # the pump re-reads the row
        r.burst([rec])  # it fails again: the next wait is twice as long
        await r.settle()
        await wait_all_tasks_blocked()
        assert timer.next_deadline is not None
        assert timer.next_deadline - timer.now() == pytest.approx(2.0)


async def test_other_topics_are_processed_without_a_call(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = FakeTikTok()
    records = [inbox_record(f"p{k}", order_id(k), type_=2) for k in range(5)]
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows(records)
        r.burst(records)
        await r.settle()
        assert tiktok.calls == []
        for rec in records:
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None and status.state == "processed"
        assert await r.store.list_orders(limit=10) == []


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TikTokUnavailable("down", http_status=503), id="unavailable"),
        pytest.param(CircuitOpen("tiktok:orders", 30.0), id="breaker-open"),
    ],
)
async def test_tiktok_outage_marks_failed_and_kicks_pump_until_it_ends(
    tmp_path: Path, anyio_backend: Any, error: Exception
) -> None:
    tiktok = FakeTikTok([snapshot(order_id(1)), snapshot(order_id(2))])
    tiktok.fail = error
    first, second = inbox_record("f1", order_id(1)), inbox_record("f2", order_id(2))
    async with rig(tmp_path, tiktok, max_attempts=2) as r:
        await r.store_rows([first, second])

        r.burst([first, second])
        await r.settle()
        assert len(tiktok.calls) == 1
        for rec in (first, second):
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None
            assert (status.state, status.attempts) == ("received", 1)
            assert status.processed_at_ms is None
            assert status.last_error and str(error) in status.last_error
        await r.probe.wait_kicks(1)  # after the backoff, so the pump re-reads the rows
        assert await r.store.list_orders(limit=10) == []

        # The pump hands the rows back, past max_attempts: an outage is retried while it
        # lasts, so retryable errors never park a row as dead.
        for attempt in (2, 3):
            r.burst([first, second])
            await r.settle()
            await r.probe.wait_kicks(attempt)
            status = await r.store.get_inbox("f1")
            assert status is not None
            assert (status.state, status.attempts) == ("received", attempt)
        assert not r.recorded.commit_of(lambda op: isinstance(op, MarkInboxFailed) and op.dead)

        # TikTok is back: the rows go through.
        tiktok.fail = None
        r.burst([first, second])
        await r.settle()
        for rec in (first, second):
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None and status.state == "processed"
        assert len(await r.store.list_orders(limit=10)) == 2


async def test_non_retryable_error_parks_rows_dead_after_max_attempts(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = FakeTikTok([snapshot(order_id(1))])
    tiktok.fail = TikTokRequestRejected("bad sign", code=106001, http_status=401)
    rec = inbox_record("x1", order_id(1))
    async with rig(tmp_path, tiktok, max_attempts=2) as r:
        await r.store_rows([rec])
        r.burst([rec])
        await r.settle()
        await r.probe.wait_kicks(1)
        status = await r.store.get_inbox("x1")
        assert status is not None
        assert (status.state, status.attempts) == ("received", 1)

        r.burst([rec])  # the pump's retry: the second failure reaches max_attempts
        await r.settle()
        status = await r.store.get_inbox("x1")
        assert status is not None
        assert (status.state, status.attempts) == ("dead", 2)
        assert status.last_error and "106001" in status.last_error
        assert await r.store.get_order(order_id(1)) is None


async def test_order_missing_from_tiktok_is_processed_without_crash(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = FakeTikTok([snapshot(order_id(1))])  # order 2 is unknown to TikTok
    records = [inbox_record("m1", order_id(1)), inbox_record("m2", order_id(2))]
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows(records)
        r.burst(records)
        await r.settle()
        assert tiktok.calls == [(SHOP, [order_id(1), order_id(2)])]
        for rec in records:
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None and status.state == "processed"
        assert await r.store.get_order(order_id(1)) is not None
        assert await r.store.get_order(order_id(2)) is None
        assert r.probe.kicks == []


async def test_duplicate_notifications_are_processed_once(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = FakeTikTok([snapshot(order_id(7))])
    dup = inbox_record("d1", order_id(7))
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows([dup])
        r.burst([dup, dup, dup])  # TikTok retried, and the pump re-read the row meanwhile
        await r.settle()
        r.burst([dup])  # a late re-delivery of a row already processed
        await r.settle()
        assert tiktok.calls == [(SHOP, [order_id(7)])]
        assert r.recorded.processed_marks("d1") == 1
        status = await r.store.get_inbox("d1")
        assert status is not None
        assert (status.state, status.attempts) == ("processed", 1)


class SlowTikTok(FakeTikTok):
    """Holds every Get Order Detail call until the test releases it."""

    def __init__(self, orders: list[TikTokOrder]) -> None:
        super().__init__(orders)
        self.release = anyio.Event()
        self.entered = anyio.Event()

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        self.entered.set()
        await self.release.wait()
        return await super().get_orders(shop_id, ids)


async def test_row_redelivered_while_its_fetch_runs_is_not_fetched_twice(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = SlowTikTok([snapshot(order_id(7))])
    row = inbox_record("d1", order_id(7))
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows([row])
        r.burst([row])  # the ingress hands it on
        await tiktok.entered.wait()  # its fetch is in flight
        r.burst([row])  # the pump re-reads the still-unprocessed row
        await wait_all_tasks_blocked()
        tiktok.release.set()
        await r.settle()
        assert len(tiktok.calls) == 1
        assert r.recorded.processed_marks("d1") == 1


async def test_webhook_announcing_nothing_newer_needs_no_call(
    tmp_path: Path, anyio_backend: Any
) -> None:
    tiktok = FakeTikTok([snapshot(order_id(3))])  # snapshot update_time is after the webhooks'
    first, late = inbox_record("n1", order_id(3)), inbox_record("n2", order_id(3))
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows([first, late])
        r.burst([first])
        await r.settle()
        r.burst([late])  # a later webhook about a change the stored snapshot already has
        await r.settle()
        assert len(tiktok.calls) == 1
        for nid in ("n1", "n2"):
            status = await r.store.get_inbox(nid)
            assert status is not None
            assert status.state == "processed"


async def test_fetched_orders_are_shown_to_the_learn_hook_first(
    tmp_path: Path, anyio_backend: Any
) -> None:
    seen: list[tuple[str, list[str], bool]] = []
    tiktok = FakeTikTok([snapshot(order_id(5))])
    row = inbox_record("l1", order_id(5))

    async def learn(shop_id: str, orders: Sequence[TikTokOrder]) -> None:
        stored = await r.store.get_order(order_id(5))
        seen.append((shop_id, [o.id for o in orders], stored is None))

    async with rig(tmp_path, tiktok, learn=learn) as r:
        await r.store_rows([row])
        r.burst([row])
        await r.settle()
        assert seen == [(SHOP, [order_id(5)], True)]  # before the order was handed on
        assert await r.store.get_order(order_id(5)) is not None


async def test_each_order_of_a_fetch_is_decided_on_its_own(
    tmp_path: Path, anyio_backend: Any
) -> None:
    # The reproduction: an order with a 1e30 price fetched beside normal ones.
    good = [snapshot(order_id(i)) for i in range(1, 8)]
    line = {"id": "l8", "seller_sku": "MUG", "sale_price": "1e30"}
    unreadable = msgspec.structs.replace(
        snapshot(order_id(8)), line_items=[msgspec.convert(line, TikTokLineItem)]
    )
    tiktok = FakeTikTok([*good, unreadable])
    records = [inbox_record(f"n{i}-{k}", order_id(i)) for i in range(1, 9) for k in range(3)]
    async with rig(tmp_path, tiktok) as r:
        await r.store_rows(records)
        r.burst(records)
        await r.settle()
        assert len(tiktok.calls) == 1  # one fetch for the eight orders
        for rec in records:  # all 24 processed: none dead, none left behind
            status = await r.store.get_inbox(rec.notification_id)
            assert status is not None and status.state == "processed", rec.notification_id
        parked = await r.store.get_order(order_id(8))
        assert parked is not None and parked.state == "needs_attention"
        assert len(await r.store.list_orders(state="classified", limit=10)) == 7
        assert not r.recorded.commit_of(lambda op: isinstance(op, MarkInboxFailed))
