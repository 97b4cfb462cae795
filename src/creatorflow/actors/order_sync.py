"""Order sync: turns stored webhooks into orders read from the TikTok API, in batches.

Inbox:   Process (told by the ingress and the inbox pump; the same message the placeholder
         consumer took, in the same place of the tree)
Replies: none
State:   a bounded LRU of recently processed notification ids (overload re-delivery guard) and
         of failure counts per id (dead-lettering); at most one pending "retry later" kick
Restart: permanent; a crash loses the batch in hand, whose rows stay unprocessed and come back
         through the pump
Full:    the ingress leaves rows to the pump; the pump waits

Coalescing: order ids are deduplicated per shop and collected across batches; a chunk of 50
ids (the most one Get Order Detail call takes, reference §2.2) is fetched at once, a partial
chunk when ``coalesce_ms`` has passed since it was started; at most ``max_fetches_in_flight``
calls run at once. A ``flush()`` dispatches what is pending. Each fetched order
goes to the scheduler (asked: it answers once the order is durable), and only then is the inbox
row marked processed. Non-order topics are marked processed at once (counted by topic).

Failures: a TikTok error (throttled, down, breaker open) records a failed attempt on the rows
and kicks the pump after a backoff, so the rows are retried for as long as the outage lasts
(one try per backoff at most). An error a retry may not fix (TikTok refuses the request)
parks the rows as ``dead`` after ``max_attempts``; the order is still caught by the
reconciler. Each order of a fetch is decided on its own: one TikTok returns unreadable is
parked by the scheduler in ``needs_attention`` with its snapshot and the reason (its webhooks
are processed, its batch-mates go on); one that cannot even be parked fails its own webhooks
only, ``dead`` after ``max_attempts``. A store outage or a crashed
actor on the way leaves the rows unprocessed and kicks the pump after a backoff; nothing
expected crashes this actor.

Time: the coalescing windows and the retry backoff read and sleep on ``timer`` (a monotonic
clock: tests drive it with a fake).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio
import msgspec

from creatorflow.actors.ingress import Kick, Process
from creatorflow.actors.order_scheduler import Observe, SchedulerMsg
from creatorflow.actors.store_writer import Write
from creatorflow.domain.webhook import ORDER_STATUS_CHANGE, OrderStatusChange, WebhookEnvelope
from creatorflow.errors import (
    ActorCrashed,
    ActorStopped,
    AdapterError,
    CircuitOpen,
    DomainError,
    MailboxFull,
    RuntimeFault,
)
from creatorflow.ports import (
    MAX_ORDER_IDS_PER_CALL,
    InboxRecord,
    MarkInboxFailed,
    MarkInboxProcessed,
    TikTokOrder,
    TikTokOrders,
)
from creatorflow.runtime import (
    Actor,
    ActorRef,
    Backoff,
    Envelope,
    KeyedLru,
    MonotonicClock,
    SystemMonotonicClock,
)
from creatorflow.telemetry.logging import bound

log = logging.getLogger("creatorflow.orders")

#: Most ids in one Get Order Detail call (reference §2.2).
MAX_IDS_PER_CALL = MAX_ORDER_IDS_PER_CALL

_ENVELOPE = msgspec.json.Decoder(WebhookEnvelope)


class OrderSync(Actor[Process]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        tiktok: TikTokOrders,
        scheduler: ActorRef[SchedulerMsg],
        writer: ActorRef[Write],
        pump: ActorRef[Kick],
        clock_ms: Callable[[], int],
        recent_cap: int,
        coalesce_ms: float = 500.0,
        batch_max_webhooks: int = 2000,
        max_fetches_in_flight: int = 4,
        max_attempts: int = 10,
        retry_backoff: Backoff | None = None,
        on_processed: Callable[[InboxRecord], None] | None = None,
        learn: Callable[[str, Sequence[TikTokOrder]], Awaitable[None]] | None = None,
        timer: MonotonicClock | None = None,
    ) -> None:
        self._tiktok = tiktok
        self._timer: MonotonicClock = timer if timer is not None else SystemMonotonicClock()
        self._scheduler = scheduler
        self._writer = writer
        self._pump = pump
        self._now_ms = clock_ms
        self._recent: KeyedLru[str, None] = KeyedLru(recent_cap)
        self._failures: KeyedLru[str, int] = KeyedLru(recent_cap)
        # update_time of the last snapshot stored per order: a webhook announcing nothing newer
        # needs no fetch (bounded LRU, like the others).
        self._fetched: KeyedLru[str, int] = KeyedLru(recent_cap)
        # Rows handed to a fetch that has not finished: the pump re-reads a row until it is
        # marked, so a row may come back meanwhile; it must not be fetched (nor counted) twice.
        # At most max_fetches_in_flight chunks of one batch each: bounded by the batch size.
        self._in_flight: set[str] = set()
        self._slots = anyio.Semaphore(max_fetches_in_flight)
        self._max_attempts = max_attempts
        self._backoff = retry_backoff or Backoff(1.0, 60.0)
        self._retry_pending = False
        self._retry_round = 0
        self._on_processed = on_processed
        self._learn = learn  # e.g. read unknown warehouses' delivery options (never raises)
        self._coalesce_s = coalesce_ms / 1000
        # Order ids waiting for a fetch, per shop: dispatched at 50 ids, or when the coalescing
        # window of the oldest ends. Bounded: every batch dispatches its full chunks first.
        self._pending: dict[str, dict[str, list[InboxRecord]]] = {}
        self._since: dict[str, float] = {}  # when each shop's pending window opened
        self._timer_running = False
        self.max_batch = batch_max_webhooks

    # ------------------------------------------------------------------ batches

    async def handle_batch(self, batch: list[Envelope[Process]]) -> None:
        by_shop: dict[str, dict[str, list[InboxRecord]]] = {}
        others: list[InboxRecord] = []
        seen: set[str] = set()
        for env in batch:
            record = env.msg.record
            nid = record.notification_id
            if nid in seen or nid in self._recent or nid in self._in_flight:
                continue
            seen.add(nid)
            target = self._order_of(record)
            if target is None:
                others.append(record)
            elif (self._fetched.peek(target[1]) or -1) >= target[2]:
                # We already stored a snapshot of this order at least as new as the change this
                # webhook announces: nothing to fetch.
                others.append(record)
            else:
                shop_id, order_id, _ = target
                by_shop.setdefault(shop_id, {}).setdefault(order_id, []).append(record)
                self._in_flight.add(nid)  # until its chunk's fetch ends (_sync_chunk)
        if others:
            await self._done(others)
        now = self._timer.now()
        for shop_id, orders in by_shop.items():
            pending = self._pending.setdefault(shop_id, {})
            if not pending:
                self._since[shop_id] = now  # a new window opens with its first id
            for order_id, records in orders.items():
                pending.setdefault(order_id, []).extend(records)
        await self._dispatch(due_before=None)
        if self._pending and not self._timer_running:
            # Partial batches go when their window ends (a daemon: a stop cancels it; the rows
            # stay in the inbox and are pumped at the next start).
            self._timer_running = True
            self.start_daemon(self._dispatch_when_due)
        # Take the next batch only when a fetch can start at once: meanwhile webhooks queue up
        # and the next call carries more ids.
        await self._slots.acquire()
        self._slots.release()

    async def before_flush(self) -> None:
        await self._dispatch(due_before=self._timer.now())  # every window opened by now

    async def _dispatch_when_due(self) -> None:
        try:
            while self._pending:
                oldest = min(self._since.get(shop, 0.0) for shop in self._pending)
                await self._timer.sleep(max(0.0, oldest + self._coalesce_s - self._timer.now()))
                await self._dispatch(due_before=self._timer.now() - self._coalesce_s)
        finally:
            self._timer_running = False

    async def _dispatch(self, *, due_before: float | None) -> None:
        """Start a fetch for every full chunk of 50 ids, and for the partial chunk of every
        shop whose window opened at or before ``due_before`` (None: full chunks only). Waits
        for a fetch slot per chunk (bounded work in flight)."""
        while True:
            if self._next_chunk(due_before) is None:
                return
            # The slot first, then the chunk: ids leave ``_pending`` only when their fetch
            # starts, so a flush never misses ids held by a dispatch still waiting for a slot.
            await self._slots.acquire()
            chunk_of = self._next_chunk(due_before)
            if chunk_of is None:
                self._slots.release()
                return
            shop_id, ids = chunk_of
            pending = self._pending[shop_id]
            chunk = {oid: pending.pop(oid) for oid in ids}
            if pending:
                self._since[shop_id] = self._timer.now()  # the rest opens a new window
            else:
                del self._pending[shop_id]
                self._since.pop(shop_id, None)
            try:
                self.start_background(self._sync_chunk, shop_id, chunk)
            except BaseException:
                self._slots.release()
                raise

    def _next_chunk(self, due_before: float | None) -> tuple[str, list[str]] | None:
        for shop_id, pending in self._pending.items():
            full = len(pending) >= MAX_IDS_PER_CALL
            due = due_before is not None and self._since.get(shop_id, 0.0) <= due_before
            if pending and (full or due):
                return shop_id, list(pending)[:MAX_IDS_PER_CALL]
        return None

    @staticmethod
    def _order_of(record: InboxRecord) -> tuple[str, str, int] | None:
        """(shop id, order id, the webhook's update_time) of an order webhook, else None."""
        if record.type != ORDER_STATUS_CHANGE:
            return None
        try:
            envelope = _ENVELOPE.decode(record.body)
            data = msgspec.convert(envelope.data, OrderStatusChange)
        except msgspec.MsgspecError:
            return None  # validated at ingress; a row from an older version: just mark it
        return record.shop_id, data.order_id, data.update_time

    async def _sync_chunk(self, shop_id: str, chunk: dict[str, list[InboxRecord]]) -> None:
        with bound(shop_id=shop_id):
            await self._sync_chunk_bound(shop_id, chunk)

    async def _sync_chunk_bound(self, shop_id: str, chunk: dict[str, list[InboxRecord]]) -> None:
        records = [r for rs in chunk.values() for r in rs]
        try:
            try:
                found = await self._tiktok.get_orders(shop_id, list(chunk))
            except (AdapterError, CircuitOpen) as exc:
                await self._failed(records, exc)
                return
            if self._learn is not None and found:
                await self._learn(shop_id, found)
            replies = [
                (order, await self._scheduler.request(Observe(shop_id=shop_id, order=order)))
                for order in found
            ]
            # Each order is decided on its own: an unreadable one is parked by the scheduler
            # (needs_attention, with the snapshot); one it cannot even park fails alone.
            refused: list[InboxRecord] = []
            error: DomainError | None = None
            for order, reply in replies:
                try:
                    await reply.wait()
                except DomainError as exc:
                    refused.extend(chunk.get(order.id, ()))
                    error = exc
                else:
                    self._fetched.put(order.id, order.update_time)
            missing = set(chunk) - {order.id for order in found}
            if missing:
                log.warning("shop %s: TikTok returned no order for %s", shop_id, sorted(missing))
            if error is not None:
                await self._failed(refused, error, retryable=False)
            refused_ids = {r.notification_id for r in refused}
            await self._done([r for r in records if r.notification_id not in refused_ids])
        except (AdapterError, RuntimeFault) as exc:
            # The store or an actor on the way is down: the rows stay unprocessed in the inbox
            # and are pumped again after a backoff. Expected, so not a crash.
            log.warning("order sync: %d event(s) left for the pump: %s", len(records), exc)
            self._retry_later()
        finally:
            self._in_flight.difference_update(r.notification_id for r in records)
            self._slots.release()

    # ------------------------------------------------------------------ outcomes

    async def _done(self, records: list[InboxRecord]) -> None:
        now = self._now_ms()
        ops = tuple(
            MarkInboxProcessed(notification_id=r.notification_id, processed_at_ms=now)
            for r in records
        )
        try:
            await self._writer.ask(Write(ops=ops))
        except (AdapterError, ActorStopped, ActorCrashed) as exc:
            log.warning("order sync: %d event(s) left for the pump: %s", len(records), exc)
            self._retry_later()
            return
        self._retry_round = 0
        for record in records:
            self._recent.put(record.notification_id, None)
            self._failures.pop(record.notification_id)
        if self._on_processed is not None:
            for record in records:
                self._on_processed(record)

    async def _failed(
        self, records: list[InboxRecord], exc: BaseException, *, retryable: bool | None = None
    ) -> None:
        if retryable is None:
            retryable = bool(getattr(exc, "retryable", False))
        ops: list[MarkInboxFailed] = []
        for record in records:
            attempts = (self._failures.peek(record.notification_id) or 0) + 1
            self._failures.put(record.notification_id, attempts)
            # A TikTok outage is retried for as long as it lasts (at most one try per backoff
            # maximum); only errors a retry cannot fix count towards dead-lettering.
            dead = not retryable and attempts >= self._max_attempts
            ops.append(
                MarkInboxFailed(notification_id=record.notification_id, error=str(exc), dead=dead)
            )
        log.warning("order sync: %d event(s) failed, retrying later: %s", len(records), exc)
        try:
            await self._writer.ask(Write(ops=tuple(ops)))
        except (AdapterError, ActorStopped, ActorCrashed):
            pass  # the rows stay unprocessed either way; the retry below covers them
        self._retry_later()

    def _retry_later(self) -> None:
        """Kick the pump after a backoff (one pending kick at a time; none while stopping)."""
        if self._retry_pending or self._background is None:
            return
        self._retry_pending = True
        self._retry_round += 1
        # A daemon: a graceful stop cancels the wait (the next start pumps anyway).
        self.start_daemon(self._kick_after, self._backoff.delay(min(self._retry_round - 1, 30)))

    async def on_start(self) -> None:
        # Rows a previous incarnation left (crash mid-batch) come back through the pump.
        try:
            self._pump.tell_nowait(Kick(generation=0))
        except (MailboxFull, ActorStopped):
            pass

    async def _kick_after(self, delay_s: float) -> None:
        await self._timer.sleep(delay_s)
        self._retry_pending = False
        try:
            self._pump.tell_nowait(Kick(generation=0))
        except (MailboxFull, ActorStopped):
            pass  # a kick is queued already, or we are stopping (the next start pumps)
