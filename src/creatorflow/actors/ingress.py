"""Webhook ingress: dedupe, durable insert (group commit), hand-off to the consumer.

Inbox:   Receive (asked by the HTTP handler, which already verified and parsed the webhook)
         | PumpIdle (told by the inbox pump when a scan found nothing left)
Replies: Received(new=True|False) to Receive; StoreUnavailable as an error when the store is down
State:   a bounded LRU of recently committed notification ids (answers duplicates without a
         write); whether new rows go straight to the consumer or are left to the pump
Restart: permanent; nothing to rebuild (the LRU is only an optimisation, the store dedupes)
Full:    the HTTP handler uses ``ask_nowait``; MailboxFull becomes 503 + Retry-After

Ack rule (DESIGN §6.1): the reply is sent only after the writer committed the row, or the row
was already there. Hand-off rule (§6.2): after commit, new events go to the consumer with
``tell_nowait``; if it is full, the row stays unprocessed and the pump is kicked. From then on
new rows are left to the pump (oldest first, no overtaking) until it reports an idle scan of the
latest kick's generation. Every skipped row is followed by a kick, and a queued kick always
starts a later scan, so no skipped row can be missed whatever order kicks and reports cross in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import anyio
import msgspec

from creatorflow.actors.store_writer import Write
from creatorflow.errors import ActorStopped, MailboxFull, StoreError
from creatorflow.ports import InboxRecord, InsertInbox, WriteOp, WriteResult
from creatorflow.runtime import Actor, ActorRef, Envelope, KeyedLru, Reply


class Receive(msgspec.Struct, frozen=True, kw_only=True, tag="receive"):
    """Store this webhook (asked). Reply: :class:`Received`."""

    record: InboxRecord


class PumpIdle(msgspec.Struct, frozen=True, kw_only=True, tag="pump_idle"):
    """The pump finished a scan it started after kick ``generation`` (told)."""

    generation: int


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """Reply to :class:`Receive`: ``new`` is False for a duplicate."""

    new: bool


class Process(msgspec.Struct, frozen=True, kw_only=True, tag="process"):
    """Handed to the consumer: a stored, unprocessed webhook."""

    record: InboxRecord


class Kick(msgspec.Struct, frozen=True, kw_only=True, tag="kick"):
    """Told to the pump: rows were left unprocessed up to ``generation``; scan the inbox."""

    generation: int


IngressMsg = Receive | PumpIdle

#: The two possible replies (frozen, so shared instead of made per webhook).
_NEW = Received(new=True)
_DUPLICATE = Received(new=False)

#: Kick generations, increasing across restarts of the ingress (a late PumpIdle from an
#: earlier incarnation must never look current).
_GENERATIONS = itertools.count(1)


class WebhookIngress(Actor[IngressMsg]):
    """The single writer of the inbox on the webhook path."""

    def __init__(
        self,
        *,
        writer: ActorRef[Write],
        consumer: ActorRef[Process],
        pump: ActorRef[Kick],
        dedupe_cache_size: int,
        max_in_flight: int = 1,
        on_new: Callable[[InboxRecord], None] | None = None,
        on_overflow: Callable[[int], None] | None = None,
    ) -> None:
        self._writer = writer
        self._consumer = consumer
        self._pump = pump
        self._recent: KeyedLru[str, None] = KeyedLru(dedupe_cache_size)
        # Batches whose insert is in the writer's hands at once (match the writer's
        # concurrency + 1 so it always has the next group queued).
        self._slots = anyio.Semaphore(max_in_flight)
        self._on_new = on_new
        self._on_overflow = on_overflow
        # Until the pump reports a clean scan, new rows are left to it (start-up included:
        # rows left unprocessed by an earlier run must be handed on first).
        self._direct = False
        self._generation = next(_GENERATIONS)

    async def on_start(self) -> None:
        self._direct = False
        self._generation = next(_GENERATIONS)
        self._kick()

    def _kick(self) -> None:
        try:
            self._pump.tell_nowait(Kick(generation=self._generation))
        except MailboxFull:
            pass  # a kick is already queued; the scan it starts covers this generation too
        except ActorStopped:
            pass  # shutting down: the next start pumps everything left

    def _remember(self, notification_id: str) -> None:
        self._recent.put(notification_id, None)

    async def handle_batch(self, batch: list[Envelope[IngressMsg]]) -> None:
        ops: list[WriteOp] = []
        waiting: dict[str, list[Envelope[IngressMsg]]] = {}
        for env in batch:
            msg = env.msg
            if isinstance(msg, PumpIdle):
                # Only a scan that started after the latest kick covers every skipped row.
                if msg.generation >= self._generation:
                    self._direct = True
                continue
            nid = msg.record.notification_id
            if nid in self._recent:
                env.reply(_DUPLICATE)
                continue
            same = waiting.get(nid)
            if same is None:
                waiting[nid] = [env]
                ops.append(InsertInbox(record=msg.record))
            else:
                same.append(env)  # a duplicate inside the batch shares the first one's fate
        if ops:
            await self._slots.acquire()
            try:
                self.start_background(self._store, ops, waiting)
            except BaseException:
                self._slots.release()
                raise
        # Take the next batch only when it can go to the writer at once: meanwhile requests
        # queue in the mailbox and become a bigger batch.
        await self._slots.acquire()
        self._slots.release()

    async def _store(
        self, ops: list[WriteOp], waiting: dict[str, list[Envelope[IngressMsg]]]
    ) -> None:
        new_records: list[InboxRecord] = []
        try:
            for op, outcome in await self._write(ops):
                assert isinstance(op, InsertInbox)
                nid = op.record.notification_id
                envs = waiting.pop(nid)
                if isinstance(outcome, Exception):
                    # Not durable: nobody gets a 200 for it.
                    for env in envs:
                        env.fail(outcome)
                    continue
                self._remember(nid)
                envs[0].reply(_NEW if outcome else _DUPLICATE)
                for env in envs[1:]:
                    env.reply(_DUPLICATE)  # duplicates inside the batch
                if outcome:
                    new_records.append(op.record)
        except ActorStopped as exc:
            # The writer is gone (shutdown): nobody gets a 200 for a row that is not durable.
            self._fail_waiting(waiting, exc)
            return
        except BaseException as exc:
            # A bug or cancellation: whoever is still waiting must not wait forever.
            error = exc if isinstance(exc, Exception) else ActorStopped("webhook_ingress")
            self._fail_waiting(waiting, error)
            raise
        finally:
            self._slots.release()
        self._hand_off(new_records)

    async def _write(self, ops: list[WriteOp]) -> list[tuple[WriteOp, WriteResult | Exception]]:
        """Each op with its result, or with the error that kept it from being stored.

        The whole batch goes as one ``Write`` (one message, one reply: a per-webhook message
        cost ~3 µs of CPU per webhook). If the store refuses it (StoreError: a poison row
        somewhere), each op is written again as its own ``Write``, all enqueued before
        waiting, so the writer still commits them together and only the refused one fails.
        Any other error fails the whole batch (nothing of it was committed).
        Raises ActorStopped when the writer is gone.
        """
        try:
            results: list[WriteResult] = await self._writer.ask(Write(ops=tuple(ops)))
            return list(zip(ops, results, strict=True))
        except ActorStopped:
            raise
        except StoreError as exc:
            if len(ops) == 1:
                return [(ops[0], exc)]
        except Exception as exc:
            return [(op, exc) for op in ops]
        pending: list[tuple[WriteOp, Reply[Any]]] = [
            (op, await self._writer.request(Write(ops=(op,)))) for op in ops
        ]
        outcomes: list[tuple[WriteOp, WriteResult | Exception]] = []
        for op, reply in pending:
            try:
                (result,) = await reply.wait()
            except ActorStopped:
                raise
            except Exception as exc:
                outcomes.append((op, exc))
                continue
            outcomes.append((op, result))
        return outcomes

    @staticmethod
    def _fail_waiting(waiting: dict[str, list[Envelope[IngressMsg]]], error: BaseException) -> None:
        for envs in waiting.values():
            for env in envs:
                env.fail(error)

    def _hand_off(self, records: list[InboxRecord]) -> None:
        if self._on_new is not None:
            for record in records:
                self._on_new(record)
        skipped = 0
        for i, record in enumerate(records):
            if not self._direct:
                skipped = len(records) - i
                break
            try:
                self._consumer.tell_nowait(Process(record=record))
            except (MailboxFull, ActorStopped):
                self._direct = False
                skipped = len(records) - i
                break
        if skipped:
            self._generation = next(_GENERATIONS)
            self._kick()
            if self._on_overflow is not None:
                self._on_overflow(skipped)
