"""The mailbox/actor core: tell, ask, backpressure, crashes, stops, batches, statistics."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from runtime_helpers import Boom, Probe

from creatorflow.errors import ActorCrashed, ActorStopped, MailboxFull
from creatorflow.runtime import Actor, ActorRef, Envelope, Mailbox, open_actor, run_actor
from creatorflow.runtime.testing import wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


async def test_tell_and_ask_round_trip(log: list[Any]) -> None:
    async with open_actor(Probe(log, "p"), "p", 8) as ref:
        await ref.tell("hello")
        assert await ref.ask(("echo", 42)) == 42
    assert log == [("start", "p"), ("p", "hello"), ("stop", "p")]


async def test_tell_nowait_raises_mailbox_full_and_counts_rejections(log: list[Any]) -> None:
    gate = anyio.Event()
    async with open_actor(Probe(log), "p", 2) as ref:
        ref.tell_nowait(("wait", gate))
        await wait_all_tasks_blocked()  # the actor holds the wait message
        ref.tell_nowait("a")
        ref.tell_nowait("b")
        with pytest.raises(MailboxFull) as info:
            ref.tell_nowait("c")
        assert info.value.actor == "p"
        stats = ref.mailbox.stats()
        assert (stats.depth, stats.rejected, stats.capacity) == (2, 1, 2)
        assert stats.high_water == 2
        gate.set()
    stats = ref.mailbox.stats()
    assert (stats.sent, stats.handled, stats.depth) == (3, 3, 0)
    assert [m for t, m in log if t == ""] == ["a", "b"]


async def test_tell_waits_while_full(log: list[Any]) -> None:
    gate = anyio.Event()
    delivered = anyio.Event()
    async with open_actor(Probe(log), "p", 1) as ref, anyio.create_task_group() as tg:
        ref.tell_nowait(("wait", gate))
        await wait_all_tasks_blocked()
        ref.tell_nowait("queued")

        async def sender() -> None:
            await ref.tell("late")
            delivered.set()

        tg.start_soon(sender)
        await wait_all_tasks_blocked()
        assert not delivered.is_set()  # backpressure: the sender waits
        gate.set()
        await delivered.wait()
    assert [m for t, m in log if t == ""] == ["queued", "late"]


async def test_crash_fails_only_the_message_in_hand(log: list[Any]) -> None:
    mailbox: Mailbox[Any] = Mailbox("m", 8)
    ref = ActorRef(mailbox)
    first = ref.ask_nowait(("crash",))
    second = ref.ask_nowait(("echo", 2))
    with pytest.raises(Boom):
        await run_actor(Probe(log), mailbox)
    with pytest.raises(ActorCrashed) as info:
        await first.wait()
    assert isinstance(info.value.__cause__, Boom)
    assert not second.done
    assert mailbox.depth == 1  # the rest of the batch went back
    mailbox.seal()
    await run_actor(Probe(log), mailbox)  # the next incarnation answers it, then drains out
    assert await second.wait() == 2
    mailbox.close()


async def test_sealed_and_closed_mailboxes_raise_actor_stopped() -> None:
    mailbox: Mailbox[Any] = Mailbox("m", 4)
    ref = ActorRef(mailbox)
    pending = ref.ask_nowait("x")
    mailbox.seal()
    with pytest.raises(ActorStopped):
        ref.tell_nowait("y")
    with pytest.raises(ActorStopped):
        await ref.tell("y")
    with pytest.raises(ActorStopped):
        await ref.ask("y")
    mailbox.close()  # fails what was still queued
    with pytest.raises(ActorStopped):
        await pending.wait()
    assert mailbox.depth == 0


async def test_close_with_reason_fails_waiting_asks_with_it() -> None:
    mailbox: Mailbox[Any] = Mailbox("m", 4)
    reply = ActorRef(mailbox).ask_nowait("x")
    mailbox.close(Boom("gone"))
    with pytest.raises(Boom):
        await reply.wait()


async def test_take_batch_drains_what_is_buffered_up_to_max() -> None:
    mailbox: Mailbox[int] = Mailbox("m", 8)
    for i in range(5):
        mailbox.put_nowait(Envelope(i))
    assert [e.msg for e in await mailbox.take_batch(3)] == [0, 1, 2]
    assert [e.msg for e in await mailbox.take_batch(3)] == [3, 4]
    mailbox.seal()
    with pytest.raises(ActorStopped):
        await mailbox.take_batch(3)
    mailbox.close()


class Batcher(Actor[int]):
    def __init__(self, batches: list[list[int]], gate: anyio.Event | None = None) -> None:
        self.batches = batches
        self.gate = gate

    async def handle_batch(self, batch: list[Envelope[int]]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        self.batches.append([e.msg for e in batch])
        for env in batch:
            env.reply(env.msg * 10)


async def test_handle_batch_sees_everything_buffered() -> None:
    mailbox: Mailbox[int] = Mailbox("m", 16)
    replies = [ActorRef(mailbox).ask_nowait(i) for i in range(4)]
    mailbox.seal()
    batches: list[list[int]] = []
    await run_actor(Batcher(batches), mailbox)
    assert batches == [[0, 1, 2, 3]]
    assert [await r.wait() for r in replies] == [0, 10, 20, 30]
    assert mailbox.stats().handled == 4
    mailbox.close()


async def test_cancelled_handle_batch_fails_its_asks() -> None:
    mailbox: Mailbox[int] = Mailbox("m", 4)
    reply = ActorRef(mailbox).ask_nowait(1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_actor, Batcher([], gate=anyio.Event()), mailbox)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    with pytest.raises(ActorStopped):
        await reply.wait()
    mailbox.close()


async def test_cancelled_handle_requeues_the_rest_of_the_batch(log: list[Any]) -> None:
    mailbox: Mailbox[Any] = Mailbox("m", 4)
    ref = ActorRef(mailbox)
    held = ref.ask_nowait(("wait", anyio.Event()))
    later = ref.ask_nowait(("echo", 7))
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_actor, Probe(log), mailbox)
        await wait_all_tasks_blocked()
        tg.cancel_scope.cancel()
    with pytest.raises(ActorStopped):
        await held.wait()
    assert mailbox.depth == 1
    assert mailbox.take_nowait().msg == ("echo", 7)
    assert not later.done
    mailbox.close()


async def test_cancel_while_lingering_gives_the_batch_back() -> None:
    mailbox: Mailbox[int] = Mailbox("m", 4)
    mailbox.put_nowait(Envelope(1))
    async with anyio.create_task_group() as tg:
        tg.start_soon(mailbox.take_batch, 4, 3600.0)
        await wait_all_tasks_blocked()  # took 1, lingering for more
        assert mailbox.stats().depth == 0
        tg.cancel_scope.cancel()
    assert mailbox.depth == 1
    assert mailbox.take_nowait().msg == 1
    mailbox.close()


async def test_open_actor_propagates_a_crash(log: list[Any]) -> None:
    with pytest.raises(ExceptionGroup) as info:
        async with open_actor(Probe(log), "p", 4) as ref:
            ref.tell_nowait(("crash",))
            await anyio.sleep_forever()
    assert info.group_contains(Boom)


def test_mailbox_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox("m", 0)


class WholeBatches(Actor[Any]):
    """Handles whole batches and records their sizes."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    async def handle_batch(self, batch: list[Envelope[Any]]) -> None:
        self.batches.append([env.msg for env in batch])


async def test_flush_returns_after_earlier_messages_were_handled(log: list[Any]) -> None:
    async with open_actor(Probe(log), "p", 16) as ref:
        gate = anyio.Event()
        blocked = ref.ask_nowait(("wait", gate))
        for i in range(3):
            ref.tell_nowait(i)
        flushed = anyio.Event()

        async def flusher() -> None:
            await ref.flush()
            flushed.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(flusher)
            await wait_all_tasks_blocked()
            assert not flushed.is_set()  # the actor is still on the blocked message
            gate.set()
        assert await blocked.wait() == "waited"
        assert [entry for entry in log if entry[0] == ""] == [("", 0), ("", 1), ("", 2)]
        assert ref.mailbox.flushes_pending == 0


async def test_flush_never_reaches_a_batch_handler(anyio_backend: Any) -> None:
    actor = WholeBatches()
    async with open_actor(actor, "b", 16) as ref:
        ref.tell_nowait("a")
        await ref.flush()
        await ref.flush()  # a barrier alone in its batch
        ref.tell_nowait("b")
        await ref.flush()
    assert [m for batch in actor.batches for m in batch] == ["a", "b"]


class Spawner(Actor[Any]):
    """Starts a background task per message: ``("crash",)`` crashes in it, else waits a gate."""

    def __init__(self, gate: anyio.Event, done: list[str]) -> None:
        self.gate = gate
        self.done = done

    async def handle(self, env: Envelope[Any]) -> None:
        self.start_background(self.work, env.msg)

    async def work(self, msg: Any) -> None:
        if msg == ("crash",):
            raise Boom("in the background")
        await self.gate.wait()
        self.done.append(msg)

    async def on_stop(self) -> None:
        self.done.append("stopped")


async def test_graceful_stop_waits_for_background_tasks(anyio_backend: Any) -> None:
    gate = anyio.Event()
    done: list[str] = []
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            async with open_actor(Spawner(gate, done), "s", 8) as ref:
                ref.tell_nowait("a")
                await ref.flush()
            # leaving the block sealed the mailbox; on_stop came after the background task

        tg.start_soon(run)
        await wait_all_tasks_blocked()
        assert done == []  # still waiting for the background task
        gate.set()
    assert done == ["a", "stopped"]


async def test_background_crash_crashes_the_actor(anyio_backend: Any) -> None:
    done: list[str] = []
    with pytest.raises(ExceptionGroup) as info:
        async with open_actor(Spawner(anyio.Event(), done), "s", 8) as ref:
            ref.tell_nowait(("crash",))
            await anyio.sleep_forever()
    assert info.group_contains(Boom)
    assert "stopped" not in done  # a crash is not a graceful stop


def test_start_background_needs_a_running_actor() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Spawner(anyio.Event(), []).start_background(anyio.sleep, 0)


async def test_flush_waits_for_background_tasks_started_before_it(anyio_backend: Any) -> None:
    gate = anyio.Event()
    done: list[str] = []
    async with open_actor(Spawner(gate, done), "s", 8) as ref:
        ref.tell_nowait("a")
        flushed = anyio.Event()

        async def flusher() -> None:
            await ref.flush()
            flushed.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(flusher)
            await wait_all_tasks_blocked()
            assert not flushed.is_set()  # "a" is still running in the background
            gate.set()
        assert done == ["a"]
        await ref.flush()  # nothing in the background: answered at once


class Ticker(Actor[Any]):
    """A daemon loop that ticks until the actor stops."""

    def __init__(self, ticks: list[int]) -> None:
        self.ticks = ticks

    async def on_start(self) -> None:
        self.start_daemon(self.loop)

    async def loop(self) -> None:
        while True:
            self.ticks.append(len(self.ticks))
            await anyio.sleep_forever()

    async def handle(self, env: Envelope[Any]) -> None:
        env.reply("ok")


async def test_graceful_stop_cancels_daemons_instead_of_waiting(anyio_backend: Any) -> None:
    ticks: list[int] = []
    with anyio.fail_after(5):  # a daemon that was waited for would hang here
        async with open_actor(Ticker(ticks), "t", 8) as ref:
            assert await ref.ask("x") == "ok"
            await ref.flush()  # does not wait for the daemon either
    assert ticks == [0]
