"""Inbox consumer: what happens to a stored webhook next.

Inbox:   Process (told by the ingress and the pump)
Replies: none
State:   none (idempotent: processing the same row twice marks it processed twice)
Restart: permanent; a crash loses the batch in hand, whose rows stay unprocessed in the store
         and come back through the pump
Full:    the ingress uses ``tell_nowait`` and leaves the row to the pump; the pump uses ``tell``

Until the orders issue lands, processing is: count the event by topic and mark the row
processed, in one group-committed write per batch. The orders work replaces this actor with
order sync (same message, same place in the tree).
"""

from __future__ import annotations

from collections.abc import Callable

from creatorflow.actors.ingress import Process
from creatorflow.actors.store_writer import Write
from creatorflow.ports import Clock, InboxRecord, MarkInboxProcessed, WriteOp
from creatorflow.runtime import Actor, ActorRef, Envelope


class InboxConsumer(Actor[Process]):
    """Marks inbox events processed and counts them by topic."""

    def __init__(
        self,
        *,
        writer: ActorRef[Write],
        clock: Clock,
        on_processed: Callable[[InboxRecord], None] | None = None,
    ) -> None:
        self._writer = writer
        self._clock = clock
        self._on_processed = on_processed

    async def handle_batch(self, batch: list[Envelope[Process]]) -> None:
        now = self._clock.now_ms()
        seen: set[str] = set()
        ops: list[WriteOp] = []
        records: list[InboxRecord] = []
        for env in batch:
            record = env.msg.record
            if record.notification_id in seen:
                continue
            seen.add(record.notification_id)
            records.append(record)
            ops.append(
                MarkInboxProcessed(notification_id=record.notification_id, processed_at_ms=now)
            )
        await self._writer.ask(Write(ops=tuple(ops)))
        if self._on_processed is not None:
            for record in records:
                self._on_processed(record)
