"""Reconciler on the real SQLite store and scheduler, with an in-memory TikTok Get Order List.

The periodic loop runs on an injected sleep that the test releases one tick at a time, so no
test waits on a real timer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from creatorflow.actors.order_scheduler import OrderScheduler
from creatorflow.actors.reconciler import LEADER_NAME, ReconcileNow, Reconciler
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.automation import load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.errors import TikTokUnavailable
from creatorflow.ports import TikTokOrder, TikTokOrderPage
from creatorflow.runtime import ActorRef, open_actor

pytestmark = pytest.mark.anyio

SHOP = "7490000000000000001"
CURSOR = f"reconcile:{SHOP}"
T0 = 1_700_000_000  # Unix seconds
INTERVAL_S = 60.0
OVERLAP_S = 300
LOOKBACK_S = 3600


def snapshot(i: int, update_time: int, status: str = "AWAITING_SHIPMENT") -> TikTokOrder:
    return msgspec.convert(
        {
            "id": f"5760000000{i:08d}",
            "status": status,
            "create_time": update_time - 10,
            "update_time": update_time,
            "rts_sla_time": update_time + 86_400,
            "payment": {"currency": "USD", "total_amount": "19.99"},
            "line_items": [{"id": f"l{i}", "sku_id": "s1", "seller_sku": "MUG-RED"}],
        },
        TikTokOrder,
    )


@dataclass(frozen=True)
class Search:
    shop_id: str
    ge: int
    lt: int
    page_size: int
    token: str


class FakeTikTok:
    """Get Order List over a list of orders: ``[ge, lt)`` by update_time, oldest first, page
    tokens are offsets. ``fail_on_token`` makes the call for that page raise ``fail``."""

    def __init__(self) -> None:
        self.orders: list[TikTokOrder] = []
        self.searches: list[Search] = []
        self.fail: BaseException | None = None
        self.fail_on_token: str | None = None

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        raise AssertionError("the reconciler never gets orders by id")

    async def search_orders(
        self,
        shop_id: str,
        *,
        update_time_ge: int,
        update_time_lt: int,
        page_size: int = 50,
        page_token: str = "",
    ) -> TikTokOrderPage:
        self.searches.append(Search(shop_id, update_time_ge, update_time_lt, page_size, page_token))
        if self.fail is not None and self.fail_on_token in (None, page_token):
            raise self.fail
        hits = sorted(
            (o for o in self.orders if update_time_ge <= o.update_time < update_time_lt),
            key=lambda o: (o.update_time, o.id),
        )
        start = int(page_token or 0)
        end = start + page_size
        return TikTokOrderPage(
            orders=hits[start:end],
            next_page_token=str(end) if end < len(hits) else "",
            total_count=len(hits),
        )


class Leader:
    """LeaderElection whose answer the test sets."""

    def __init__(self, leading: bool = True) -> None:
        self.leading = leading
        self.asked: list[str] = []

    async def try_lead(self, name: str) -> bool:
        self.asked.append(name)
        return self.leading

    async def is_leading(self, name: str) -> bool:
        return self.leading

    async def resign(self, name: str) -> None:
        self.leading = False


class Clock:
    def __init__(self, now_s: int) -> None:
        self.now_s = now_s

    def now_ms(self) -> int:
        return self.now_s * 1000


class StepSleep:
    """An injected sleep: blocks until the test calls :meth:`tick`; records every call."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.cancelled = 0
        self._gate = anyio.Event()
        self._called = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self._called.set()
        self._called = anyio.Event()
        gate = self._gate
        try:
            await gate.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise

    def tick(self) -> None:
        """Wake the current sleeper (the next call sleeps again)."""
        self._gate.set()
        self._gate = anyio.Event()

    async def wait_calls(self, count: int) -> None:
        """Return once the loop has called sleep ``count`` times (i.e. finished count-1 passes)."""
        while len(self.calls) < count:
            await self._called.wait()


@dataclass
class Rig:
    ref: ActorRef[ReconcileNow]
    actor: Reconciler
    store: SqliteStore
    tiktok: FakeTikTok
    leader: Leader
    clock: Clock
    sleep: StepSleep

    async def cursor(self) -> int | None:
        value = await self.store.get_cursor(CURSOR)
        return None if value is None else int(value)

    async def stored_ids(self) -> list[str]:
        return [row.order_id for row in await self.store.list_orders(limit=1000)]


@asynccontextmanager
async def rig(tmp_path: Path, *, leading: bool = True, page_size: int = 2) -> AsyncIterator[Rig]:
    tiktok, leader, clock, sleep = FakeTikTok(), Leader(leading), Clock(T0 + 1000), StepSleep()
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 256) as writer,
        open_actor(
            OrderScheduler(
                writer=writer,
                orders=store,
                clock=clock,
                rules=load_rules(""),
                settings=PrioritySettings(),
            ),
            "scheduler",
            256,
        ) as scheduler,
    ):
        actor = Reconciler(
            tiktok=tiktok,
            shops=lambda: [SHOP],
            scheduler=scheduler,
            writer=writer,
            cursors=store,
            leader=leader,
            clock=clock,
            interval_s=INTERVAL_S,
            overlap_s=OVERLAP_S,
            lookback_s=LOOKBACK_S,
            page_size=page_size,
            sleep=sleep,
        )
        async with open_actor(actor, "reconciler", 8) as ref:
            yield Rig(ref, actor, store, tiktok, leader, clock, sleep)


async def test_pages_from_cursor_minus_overlap_and_stores_the_new_cursor(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with rig(tmp_path) as r:
        r.tiktok.orders = [snapshot(i, T0 + 100 * i) for i in range(1, 6)]  # up to T0 + 500
        assert await r.ref.ask(ReconcileNow()) == 5

        now = T0 + 1000
        # First pass: no cursor yet, so it looks back lookback_s (minus the overlap).
        assert [(s.ge, s.lt, s.token) for s in r.tiktok.searches] == [
            (now - LOOKBACK_S - OVERLAP_S, now + 1, ""),
            (now - LOOKBACK_S - OVERLAP_S, now + 1, "2"),
            (now - LOOKBACK_S - OVERLAP_S, now + 1, "4"),
        ]
        assert all(s.shop_id == SHOP and s.page_size == 2 for s in r.tiktok.searches)
        assert sorted(await r.stored_ids()) == sorted(o.id for o in r.tiktok.orders)
        assert await r.cursor() == T0 + 500
        assert r.leader.asked == [LEADER_NAME]

        # Second pass starts from the stored cursor minus the overlap, and moves it on.
        r.tiktok.searches.clear()
        r.tiktok.orders.append(snapshot(6, T0 + 1500))
        r.tiktok.orders[1] = snapshot(2, T0 + 1600, status="CANCELLED")  # order 2 moved on
        r.clock.now_s = T0 + 2000
        read = await r.ref.ask(ReconcileNow())
        assert r.tiktok.searches[0].ge == T0 + 500 - OVERLAP_S
        assert r.tiktok.searches[0].lt == T0 + 2001
        # Orders 3-5 again (the overlap; the scheduler ignores the same snapshots), 6, and 2.
        assert read == 5
        assert await r.cursor() == T0 + 1600
        assert len(await r.stored_ids()) == 6
        row = await r.store.get_order(snapshot(2, 0).id)
        assert row is not None and row.tiktok_status == "CANCELLED"


async def test_does_nothing_when_not_the_leader(tmp_path: Path, anyio_backend: Any) -> None:
    async with rig(tmp_path, leading=False) as r:
        r.tiktok.orders = [snapshot(1, T0 + 100)]
        assert await r.ref.ask(ReconcileNow()) == 0
        assert r.leader.asked == [LEADER_NAME]
        assert r.tiktok.searches == []
        assert await r.cursor() is None
        assert await r.stored_ids() == []


@pytest.mark.parametrize(
    ("failing_page", "cursor_after"),
    [(None, T0 + 300), ("4", T0 + 1004)],
    ids=["first-page", "third-page"],
)
async def test_tiktok_failure_keeps_the_cursor_at_what_was_handed_on(
    tmp_path: Path, anyio_backend: Any, failing_page: str | None, cursor_after: int
) -> None:
    async with rig(tmp_path) as r:
        r.tiktok.orders = [snapshot(i, T0 + 100 * i) for i in range(1, 4)]
        assert await r.ref.ask(ReconcileNow()) == 3
        assert await r.cursor() == T0 + 300

        # Window [T0, ...): pages "" = orders 1, 2; "2" = 3, 4; "4" = 5, 6; "6" = 7.
        r.tiktok.orders += [snapshot(i, T0 + 1000 + i) for i in range(4, 8)]
        r.tiktok.fail = TikTokUnavailable("down", http_status=503)
        r.tiktok.fail_on_token = failing_page
        r.clock.now_s = T0 + 2000
        with pytest.raises(TikTokUnavailable):  # the asker hears it; the actor does not crash
            await r.ref.ask(ReconcileNow())
        # Nothing moved on a failed first page; after a later one, progress is kept page by
        # page, never past an order not yet handed to the scheduler.
        assert await r.cursor() == cursor_after

        r.tiktok.fail = None
        assert await r.ref.ask(ReconcileNow()) > 0
        assert await r.cursor() == T0 + 1007
        assert len(await r.stored_ids()) == 7


async def test_periodic_pass_on_injected_sleep_and_clean_stop(
    tmp_path: Path, anyio_backend: Any
) -> None:
    with anyio.fail_after(10):  # a deadline for a hang, not a synchronisation
        async with rig(tmp_path) as r:
            r.tiktok.orders = [snapshot(1, T0 + 100)]
            await r.sleep.wait_calls(1)  # the loop waits for its first interval
            assert r.sleep.calls == [INTERVAL_S]
            assert r.tiktok.searches == []

            r.sleep.tick()
            await r.sleep.wait_calls(2)  # one pass done, waiting again
            assert await r.cursor() == T0 + 100
            assert await r.stored_ids() == [snapshot(1, 0).id]

            # A failed pass is logged and the loop goes on; the cursor stays.
            r.tiktok.orders.append(snapshot(2, T0 + 200))
            r.tiktok.fail = TikTokUnavailable("down", http_status=503)
            r.sleep.tick()
            await r.sleep.wait_calls(3)
            assert await r.cursor() == T0 + 100

            r.tiktok.fail = None
            r.sleep.tick()
            await r.sleep.wait_calls(4)
            assert await r.cursor() == T0 + 200
            assert r.sleep.calls == [INTERVAL_S] * 4
        # Leaving the block stops the actor gracefully: the sleeping loop is cancelled.
        assert r.sleep.cancelled == 1
