"""Webhook ingress: the dedupe in front of the store and the hand-off after it.

README: ``200`` "only after the event's row is committed, or was already there (duplicate)";
the dedupe key is ``tts_notification_id``. The ingress remembers ids it committed, so a repeat
is answered without a write; a row the store already had is a duplicate, never handed on twice;
new rows go to the consumer in order, or, while the pump catches up, are left to the pump, which
is kicked. Whatever fails, nobody waits forever and nobody gets a 200 for a row not stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import pytest

from creatorflow.actors.ingress import (
    IngressMsg,
    Kick,
    Process,
    PumpIdle,
    Receive,
    Received,
    WebhookIngress,
)
from creatorflow.actors.store_writer import Write
from creatorflow.errors import ActorStopped
from creatorflow.ports import InboxRecord, InsertInbox, WriteResult
from creatorflow.runtime import Actor, ActorRef, Envelope, Mailbox, open_actor
from creatorflow.runtime.testing import wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


def record(nid: str) -> InboxRecord:
    return InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")


class Writer(Actor[Write]):
    """The store writer: inserts ids into a set; ``already`` are rows the store had before;
    ``short`` answers one result too few (and commits nothing); ``hang`` never answers."""

    def __init__(self) -> None:
        self.rows: set[str] = set()
        self.already: set[str] = set()
        self.inserts: list[str] = []
        self.short = False
        self.hang = False
        self.held: list[Envelope[Write]] = []

    async def handle(self, env: Envelope[Write]) -> None:
        if self.hang:
            self.held.append(env)
            return
        results: list[WriteResult] = []
        for op in env.msg.ops:
            assert isinstance(op, InsertInbox)
            nid = op.record.notification_id
            self.inserts.append(nid)
            results.append(nid not in self.rows and nid not in self.already)
            if not self.short:
                self.rows.add(nid)
        env.reply(results[:-1] if self.short else results)


@dataclass
class Rig:
    ingress: ActorRef[IngressMsg]
    writer: Writer
    consumer: Mailbox[Process]
    pump: Mailbox[Kick]
    new: list[str] = field(default_factory=list)
    overflow: list[int] = field(default_factory=list)

    async def receive(self, nid: str) -> Received:
        reply: Received = await self.ingress.ask(Receive(record=record(nid)))
        return reply

    def consumed(self) -> list[str]:
        out: list[str] = []
        while self.consumer.depth:
            msg = self.consumer.take_nowait().msg
            out.append(msg.record.notification_id)
        return out

    def kicks(self) -> list[int]:
        out: list[int] = []
        while self.pump.depth:
            out.append(self.pump.take_nowait().msg.generation)
        return out

    async def pump_idle(self) -> None:
        """The pump reports a clean scan of the latest kick: new rows may go direct."""
        [generation] = self.kicks()[-1:] or [0]
        self.ingress.tell_nowait(PumpIdle(generation=generation))
        await self.ingress.flush()


@asynccontextmanager
async def rig(consumer_size: int = 16) -> AsyncIterator[Rig]:
    writer = Writer()
    consumer: Mailbox[Process] = Mailbox("consumer", consumer_size)
    pump: Mailbox[Kick] = Mailbox("pump", 4)
    new: list[str] = []
    overflow: list[int] = []
    async with open_actor(writer, "store_writer", 16) as writer_ref:
        actor = WebhookIngress(
            writer=writer_ref,
            consumer=ActorRef(consumer),
            pump=ActorRef(pump),
            dedupe_cache_size=8,
            on_new=lambda r: new.append(r.notification_id),
            on_overflow=overflow.append,
        )
        async with open_actor(actor, "webhook_ingress", 16) as ingress:
            await ingress.flush()
            yield Rig(ingress, writer, consumer, pump, new, overflow)
    consumer.close()
    pump.close()


async def test_a_repeat_of_a_committed_id_is_a_duplicate_without_a_write() -> None:
    async with rig() as r:
        assert await r.receive("n-1") == Received(new=True)
        assert await r.receive("n-1") == Received(new=False)
        assert await r.receive("n-1") == Received(new=False)
        assert r.writer.inserts == ["n-1"]  # answered from memory after the first commit
        assert await r.receive("n-2") == Received(new=True)
        assert r.writer.inserts == ["n-1", "n-2"]
        assert r.new == ["n-1", "n-2"]  # each new row announced once


async def test_a_row_the_store_already_had_is_a_duplicate_and_not_handed_on() -> None:
    async with rig() as r:
        await r.pump_idle()
        r.writer.already.add("n-old")
        assert await r.receive("n-old") == Received(new=False)
        assert r.consumed() == []
        assert r.new == []
        assert await r.receive("n-old") == Received(new=False)
        assert r.writer.inserts == ["n-old"]  # remembered as stored: no second write


async def test_until_the_pump_is_idle_new_rows_are_left_to_it_with_a_kick() -> None:
    async with rig() as r:
        first_kicks = r.kicks()
        assert len(first_kicks) == 1  # the start-up kick: rows of an earlier run go first
        assert await r.receive("n-1") == Received(new=True)
        assert r.consumed() == []  # not overtaking what the pump has not handed on yet
        [kick] = r.kicks()
        assert kick > first_kicks[0]
        assert r.overflow == [1]
        assert r.new == ["n-1"]


async def test_after_an_idle_scan_new_rows_go_straight_to_the_consumer_in_order() -> None:
    async with rig() as r:
        await r.pump_idle()
        for nid in ("n-1", "n-2", "n-3"):
            assert await r.receive(nid) == Received(new=True)
        assert r.consumed() == ["n-1", "n-2", "n-3"]
        assert r.kicks() == []
        assert r.overflow == []


async def test_a_stale_idle_report_does_not_open_the_direct_path() -> None:
    async with rig() as r:
        [generation] = r.kicks()
        r.ingress.tell_nowait(PumpIdle(generation=generation - 1))
        await r.ingress.flush()
        assert await r.receive("n-1") == Received(new=True)
        assert r.consumed() == []


async def test_once_the_consumer_is_full_later_rows_wait_for_the_pump() -> None:
    async with rig(consumer_size=1) as r:
        await r.pump_idle()
        assert await r.receive("n-1") == Received(new=True)  # fills the consumer
        assert await r.receive("n-2") == Received(new=True)  # overflows: left to the pump
        assert r.overflow == [1]
        assert len(r.kicks()) == 1
        assert r.consumed() == ["n-1"]  # room again, but n-2 is the pump's: n-3 may not pass it
        assert await r.receive("n-3") == Received(new=True)
        assert r.consumed() == []
        assert r.overflow == [1, 1]


async def test_a_batch_overflowing_the_consumer_leaves_the_rest_to_the_pump() -> None:
    async with rig(consumer_size=1) as r:
        await r.pump_idle()
        # All four queued before the ingress wakes: one batch, one write.
        replies = [r.ingress.ask_nowait(Receive(record=record(f"n-{i}"))) for i in range(4)]
        assert [await reply.wait() for reply in replies] == [Received(new=True)] * 4
        assert r.consumed() == ["n-0"]
        assert sum(r.overflow) == 3, r.overflow  # exactly the rows not handed on


async def test_an_idle_report_in_the_same_batch_does_not_drop_the_webhooks_after_it() -> None:
    async with rig() as r:
        [generation] = r.kicks()
        # Both queued before the ingress wakes: one batch.
        r.ingress.tell_nowait(PumpIdle(generation=generation))
        reply = r.ingress.ask_nowait(Receive(record=record("n-1")))
        assert await reply.wait() == Received(new=True)
        assert r.consumed() == ["n-1"]


async def test_a_short_answer_from_the_writer_fails_the_asker_instead_of_hanging() -> None:
    async with rig() as r:
        r.writer.short = True
        with anyio.fail_after(5), pytest.raises(ValueError, match="zip"):
            await r.receive("n-1")
        r.writer.short = False
        assert await r.receive("n-1") == Received(new=True)  # nothing was remembered


async def test_a_write_in_hand_when_the_ingress_stops_fails_its_asker() -> None:
    writer = Writer()
    writer.hang = True
    consumer: Mailbox[Process] = Mailbox("consumer", 4)
    pump: Mailbox[Kick] = Mailbox("pump", 4)
    async with open_actor(writer, "store_writer", 16) as writer_ref:
        actor = WebhookIngress(
            writer=writer_ref,
            consumer=ActorRef(consumer),
            pump=ActorRef(pump),
            dedupe_cache_size=8,
        )
        async with anyio.create_task_group() as tg:
            stop = anyio.Event()
            replies = []

            async def run_ingress() -> None:
                async with open_actor(actor, "webhook_ingress", 16) as ingress:
                    replies.append(ingress.ask_nowait(Receive(record=record("n-1"))))
                    await stop.wait()
                    tg.cancel_scope.cancel()

            tg.start_soon(run_ingress)
            await wait_all_tasks_blocked()
            assert len(writer.held) == 1  # the insert is in the writer's hands
            stop.set()
        [reply] = replies
        with pytest.raises(ActorStopped, match="webhook_ingress"):
            await reply.wait()
        for env in writer.held:
            env.fail(ActorStopped("store_writer"))
    consumer.close()
    pump.close()


async def test_a_known_duplicate_does_not_drop_the_webhooks_after_it_in_its_batch() -> None:
    async with rig() as r:
        assert await r.receive("n-1") == Received(new=True)
        first = r.ingress.ask_nowait(Receive(record=record("n-1")))
        second = r.ingress.ask_nowait(Receive(record=record("n-2")))
        assert await first.wait() == Received(new=False)
        assert await second.wait() == Received(new=True)
        assert r.writer.inserts == ["n-1", "n-2"]


async def test_a_stopped_writer_fails_every_asker_of_the_batch() -> None:
    writer_box: Mailbox[Write] = Mailbox("store_writer", 4)
    writer_box.close()
    consumer: Mailbox[Process] = Mailbox("consumer", 4)
    pump: Mailbox[Kick] = Mailbox("pump", 4)
    actor = WebhookIngress(
        writer=ActorRef(writer_box),
        consumer=ActorRef(consumer),
        pump=ActorRef(pump),
        dedupe_cache_size=8,
    )
    async with open_actor(actor, "webhook_ingress", 16) as ingress:
        replies = [ingress.ask_nowait(Receive(record=record(f"n-{i}"))) for i in range(2)]
        for reply in replies:
            with anyio.fail_after(5), pytest.raises(ActorStopped, match="store_writer"):
                await reply.wait()
    consumer.close()
    pump.close()
