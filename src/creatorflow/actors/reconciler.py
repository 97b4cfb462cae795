"""Reconciler: polls Get Order List by ``update_time`` so no order depends on its webhook.

Inbox:   ReconcileNow (asked: run one pass now; reply: how many orders it read)
Replies: int
State:   none in memory: the cursor (the highest ``update_time`` handed on, per shop) is durable
         in the store (``cursors`` table, name ``reconcile:<shop>``)
Restart: permanent; the next pass starts from the durable cursor
Full:    ``ask`` waits; the periodic pass does not use the mailbox

Every ``interval_s`` (and on ReconcileNow) one pass runs, only in the process that leads
``reconciler`` (advisory lock on Postgres; always on SQLite). For each shop it pages through
orders updated in ``[cursor - overlap_s, now]`` (the overlap absorbs clock skew and late
commits at TikTok), hands each to the scheduler (asked: durable before we move on; snapshots
it already has are ignored by ``update_time``), then stores the new cursor. A webhook TikTok
dropped therefore delays its order by at most one interval, and never loses it (DESIGN §8).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio
import msgspec

from creatorflow.actors.order_scheduler import Observe, SchedulerMsg
from creatorflow.actors.store_writer import Write
from creatorflow.errors import AdapterError, CircuitOpen, DomainError, RuntimeFault
from creatorflow.ports import Clock, CursorReader, LeaderElection, SetCursor, TikTokOrders
from creatorflow.runtime import Actor, ActorRef, Envelope, Reply

log = logging.getLogger("creatorflow.orders")

LEADER_NAME = "reconciler"


class ReconcileNow(msgspec.Struct, frozen=True, kw_only=True, tag="reconcile_now"):
    """Run one pass now (asked). Reply: the number of orders read."""


class Reconciler(Actor[ReconcileNow]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        tiktok: TikTokOrders,
        shops: Callable[[], Sequence[str]],
        scheduler: ActorRef[SchedulerMsg],
        writer: ActorRef[Write],
        cursors: CursorReader,
        leader: LeaderElection,
        clock: Clock,
        interval_s: float,
        overlap_s: int = 300,
        lookback_s: int = 86_400,
        page_size: int = 100,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._tiktok = tiktok
        self._shops = shops
        self._scheduler = scheduler
        self._writer = writer
        self._cursors = cursors
        self._leader = leader
        self._clock = clock
        self._interval_s = interval_s
        self._overlap_s = overlap_s
        self._lookback_s = lookback_s
        self._page_size = page_size
        self._sleep = sleep
        self._lock = anyio.Lock()  # one pass at a time: the timer's or an asked one

    async def on_start(self) -> None:
        self.start_daemon(self._every_interval)

    async def handle(self, env: Envelope[ReconcileNow]) -> None:
        try:
            env.reply(await self.run_once())
        except (AdapterError, CircuitOpen, RuntimeFault) as exc:
            env.fail(exc)  # TikTok or the store is down: the asker hears it; no crash

    async def _every_interval(self) -> None:
        while True:
            await self._sleep(self._interval_s)
            try:
                await self.run_once()
            except (AdapterError, CircuitOpen, RuntimeFault) as exc:
                log.warning("reconciler: pass failed, next in %.0f s: %s", self._interval_s, exc)

    async def run_once(self) -> int:
        """One pass over every shop; the number of orders read (0 when not the leader).

        Raises:
            AdapterError / CircuitOpen: TikTok or the store failed; the cursor of the shop
                being read stays where it was (the next pass repeats that window).
        """
        async with self._lock:
            if not await self._leader.try_lead(LEADER_NAME):
                return 0
            total = 0
            for shop_id in self._shops():
                total += await self._pass(shop_id)
            return total

    async def _pass(self, shop_id: str) -> int:
        now = self._clock.now_ms() // 1000
        name = f"reconcile:{shop_id}"
        stored = await self._cursors.get_cursor(name)
        since = int(stored) if stored else now - self._lookback_s
        start = max(0, since - self._overlap_s)
        highest = since
        read = 0
        token = ""
        while True:
            page = await self._tiktok.search_orders(
                shop_id,
                update_time_ge=start,
                update_time_lt=now + 1,
                page_size=self._page_size,
                page_token=token,
            )
            replies: list[tuple[int, Reply[object]]] = []
            for order in page.orders:
                reply = await self._scheduler.request(
                    Observe(shop_id=shop_id, order=order, source="reconcile")
                )
                replies.append((order.update_time, reply))
            for update_time, reply in replies:
                try:
                    await reply.wait()
                except DomainError as exc:
                    # An order we cannot read must not stop every later pass at it.
                    log.error("reconciler: shop %s: order skipped: %s", shop_id, exc)
                highest = max(highest, update_time)
            read += len(page.orders)
            token = page.next_page_token
            if not token or not page.orders:
                break
            await self._save(name, highest)  # progress kept page by page
        await self._save(name, highest)
        if read:
            log.info(
                "reconciler: shop %s: %d order(s) up to update_time %d", shop_id, read, highest
            )
        return read

    async def _save(self, name: str, highest: int) -> None:
        op = SetCursor(name=name, value=str(highest), updated_at_ms=self._clock.now_ms())
        await self._writer.ask(Write(ops=(op,)))
