"""Inbox pump: re-reads unprocessed inbox rows and hands them to the consumer.

Inbox:   Kick (told by the ingress at start and whenever a hand-off overflowed)
Replies: none; after a scan it tells the ingress PumpIdle(generation)
State:   none between scans (the inbox table is the buffer)
Restart: permanent; a crash mid-scan is harmless (the next kick rescans from the start). A
         store outage is not a crash: the scan is retried with backoff until the store answers
Full:    the mailbox is tiny on purpose: a queued kick already guarantees a later scan

A scan pages through every unprocessed row (keyset on received time, id) and hands each to the
consumer with a blocking ``tell``, so the pump goes at the consumer's pace. Every row a kick is
about was committed before the kick was sent, so the scan that kick starts sees it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from creatorflow.actors.ingress import IngressMsg, Kick, Process, PumpIdle
from creatorflow.errors import ActorStopped, AdapterError
from creatorflow.ports import InboxCursor, InboxReader
from creatorflow.runtime import Actor, ActorRef, Backoff, Envelope

log = logging.getLogger("creatorflow.inbox")


class InboxPump(Actor[Kick]):
    """Hands stored-but-unprocessed webhooks to the consumer."""

    def __init__(
        self,
        *,
        reader: InboxReader,
        consumer: ActorRef[Process],
        ingress: ActorRef[IngressMsg],
        page_size: int,
        backoff: Backoff,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        on_pumped: Callable[[int], None] | None = None,
    ) -> None:
        self._backoff = backoff
        self._sleep = sleep
        self._reader = reader
        self._consumer = consumer
        self._ingress = ingress
        self._page_size = page_size
        self._on_pumped = on_pumped

    async def handle_batch(self, batch: list[Envelope[Kick]]) -> None:
        generation = max(env.msg.generation for env in batch)
        attempt = 0
        while True:
            try:
                await self.scan()
                break
            except AdapterError as exc:
                # The store is down: try again later. Each try is one bounded read; the delay
                # grows to backoff.max_s, so an outage costs at most one read per that long.
                attempt += 1
                delay = self._backoff.delay(min(attempt, 30))
                log.warning("inbox pump: scan failed (%s); retrying in %.2f s", exc, delay)
                await self._sleep(delay)
        try:
            await self._ingress.tell(PumpIdle(generation=generation))
        except ActorStopped:
            pass  # shutting down

    async def scan(self) -> int:
        """Hand every unprocessed row to the consumer; return how many were handed."""
        cursor: InboxCursor | None = None
        handed = 0
        while True:
            page = await self._reader.list_unprocessed(cursor, self._page_size)
            for record in page:
                await self._consumer.tell(Process(record=record))
            handed += len(page)
            if self._on_pumped is not None and page:
                self._on_pumped(len(page))
            if len(page) < self._page_size:
                return handed
            last = page[-1]
            cursor = InboxCursor(
                received_at_ms=last.received_at_ms, notification_id=last.notification_id
            )
