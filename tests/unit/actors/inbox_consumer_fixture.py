"""A minimal inbox consumer for the ingress/pump tests: marks events processed (test fixture).

Order sync (src/creatorflow/actors/order_sync.py) is the consumer in the service; this one keeps
the inbox tests independent of TikTok.

Inbox:   Process (told by the ingress and the pump)
Replies: none
State:   none (idempotent: processing the same row twice marks it processed twice)
Restart: permanent; a crash loses the batch in hand, whose rows stay unprocessed in the store
         and come back through the pump. A store outage is not a crash: the batch is left to
         the pump, which is kicked and retries until the store answers
Full:    the ingress uses ``tell_nowait`` and leaves the row to the pump; the pump uses ``tell``

Until the orders issue lands, processing is: count the event by topic and mark the row
processed, in one group-committed write per batch. The orders work replaces this actor with
order sync (same message, same place in the tree).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from creatorflow.actors.ingress import Kick, Process
from creatorflow.actors.store_writer import Write
from creatorflow.errors import ActorCrashed, ActorStopped, AdapterError, MailboxFull
from creatorflow.ports import Clock, InboxRecord, MarkInboxProcessed, WriteOp
from creatorflow.runtime import Actor, ActorRef, Envelope

log = logging.getLogger("creatorflow.inbox")


class InboxConsumer(Actor[Process]):
    """Marks inbox events processed and counts them by topic."""

    def __init__(
        self,
        *,
        writer: ActorRef[Write],
        pump: ActorRef[Kick],
        clock: Clock,
        recent_cap: int,
        on_processed: Callable[[InboxRecord], None] | None = None,
    ) -> None:
        self._writer = writer
        self._pump = pump
        self._clock = clock
        self._on_processed = on_processed
        # Ids processed lately. Under overload the pump re-reads rows that were also handed on
        # directly and still sit in this mailbox; this keeps them from being processed twice.
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_cap = recent_cap

    async def handle_batch(self, batch: list[Envelope[Process]]) -> None:
        now = self._clock.now_ms()
        recent = self._recent
        seen: set[str] = set()
        ops: list[WriteOp] = []
        records: list[InboxRecord] = []
        for env in batch:
            record = env.msg.record
            nid = record.notification_id
            if nid in seen or nid in recent:
                continue
            seen.add(nid)
            records.append(record)
            ops.append(MarkInboxProcessed(notification_id=nid, processed_at_ms=now))
        if not ops:
            return
        try:
            await self._writer.ask(Write(ops=tuple(ops)))
        except (AdapterError, ActorStopped, ActorCrashed) as exc:
            # The rows stay unprocessed in the store (the inbox is the buffer): the pump
            # re-reads them once the store answers again. Not a crash: an outage is expected.
            log.warning("inbox consumer: %d event(s) left for the pump: %s", len(ops), exc)
            try:
                self._pump.tell_nowait(Kick(generation=0))
            except (MailboxFull, ActorStopped):
                pass  # a kick is already queued, or we are shutting down (next start pumps)
            return
        for record in records:
            recent[record.notification_id] = None
            if len(recent) > self._recent_cap:
                recent.popitem(last=False)
        if self._on_processed is not None:
            for record in records:
                self._on_processed(record)
