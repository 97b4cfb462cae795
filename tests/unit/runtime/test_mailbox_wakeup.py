"""The mailbox's wake-up path and the registry's send fast path: no lost wake-ups under mixed
senders, a busy actor stays cancellable without dropping the envelope in hand, close and seal
while parked or busy, per-sender FIFO per key under passivation and eviction."""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from creatorflow.errors import ActorStopped, MailboxFull
from creatorflow.runtime import Actor, Backoff, Envelope, Mailbox, Registry, run_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio

_MAILBOXES: list[Mailbox[Any]] = []


def Mbox(name: str, cap: int) -> Mailbox[Any]:
    mb: Mailbox[Any] = Mailbox(name, cap)
    _MAILBOXES.append(mb)
    return mb


@pytest.fixture(autouse=True)
def _close_mailboxes() -> Any:
    yield
    while _MAILBOXES:
        _MAILBOXES.pop().close()


# ---------------------------------------------------------------- cancellation of a busy actor


class SelfFeeding(Actor[Any]):
    """Sync handler that re-enqueues each message to its own mailbox (a busy actor that never
    empties), until ``stop`` is set. Stand-in for an actor under sustained load."""

    max_batch = 1

    def __init__(self, mailbox: Mailbox[Any]) -> None:
        self.mb = mailbox
        self.stop = False
        self.handled = 0

    async def handle(self, env: Envelope[Any]) -> None:
        self.handled += 1
        if not self.stop:
            self.mb.put_nowait(Envelope(env.msg))


async def test_busy_actor_is_cancellable() -> None:
    """A cancelled actor whose mailbox never empties must still stop (it did when take_batch
    awaited the stream's receive(), which starts with a checkpoint)."""
    mb = Mbox("busy", 16)
    actor = SelfFeeding(mb)
    for i in range(4):
        mb.put_nowait(Envelope(i))
    exited = anyio.Event()
    scope = anyio.CancelScope()

    async def consumer() -> None:
        with scope:
            await run_actor(actor, mb)
        exited.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        assert actor.handled > 0
        scope.cancel()
        with anyio.move_on_after(1.0):
            await exited.wait()
        stopped_by_cancel = exited.is_set()
        handled_after_cancel = actor.handled
        actor.stop = True  # let the test end either way: the mailbox drains, the actor parks
        await exited.wait()
    assert stopped_by_cancel, f"actor ignored cancellation; handled {handled_after_cancel}"


class Sink(Actor[Any]):
    max_batch = 8

    def __init__(self) -> None:
        self.handled = 0

    async def handle(self, env: Envelope[Any]) -> None:
        self.handled += 1


async def test_busy_actor_fed_from_outside_is_cancellable() -> None:
    """Same with an outside producer that keeps more than max_batch messages queued (load)."""
    mb = Mbox("busy", 256)
    actor = Sink()
    exited = anyio.Event()
    scope = anyio.CancelScope()
    producing = True

    async def producer() -> None:
        n = 0
        while producing:
            for _ in range(16):
                try:
                    mb.put_nowait(Envelope(n))
                except MailboxFull:
                    break
                n += 1
            await anyio.lowlevel.checkpoint()

    async def consumer() -> None:
        with scope:
            await run_actor(actor, mb)
        exited.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer)
        tg.start_soon(consumer)
        for _ in range(50):
            await anyio.lowlevel.checkpoint()
        scope.cancel()
        with anyio.move_on_after(1.0):
            await exited.wait()
        ok = exited.is_set()
        producing = False
        await exited.wait()
    assert ok, f"actor under load ignored cancellation (handled {actor.handled})"


# ---------------------------------------------------------------- fairness


async def test_busy_actor_lets_other_tasks_run() -> None:
    mb = Mbox("busy", 16)
    actor = SelfFeeding(mb)
    for i in range(4):
        mb.put_nowait(Envelope(i))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(200):
            ticks += 1
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_actor, actor, mb)
        with anyio.fail_after(5):
            await ticker()
        actor.stop = True
        mb.seal()
    assert ticks == 200


# ---------------------------------------------------------------- wake-ups / no loss


class Recorder(Actor[Any]):
    def __init__(self, seen: list[Any], max_batch: int, yield_every: int = 0) -> None:
        self.seen = seen
        self.max_batch = max_batch
        self.yield_every = yield_every

    async def handle(self, env: Envelope[Any]) -> None:
        self.seen.append(env.msg)
        if self.yield_every and len(self.seen) % self.yield_every == 0:
            await anyio.lowlevel.checkpoint()
        env.reply(env.msg)


@pytest.mark.parametrize("seed", range(30))
async def test_no_lost_wakeup_mixed_senders(seed: int) -> None:
    rnd = random.Random(seed)
    cap = rnd.choice([1, 2, 3, 8])
    mb = Mbox("m", cap)
    seen: list[Any] = []
    actor = Recorder(seen, max_batch=rnd.choice([1, 2, 5, 512]), yield_every=rnd.choice([0, 1, 3]))
    sent: list[Any] = []
    n_senders = rnd.choice([1, 2, 5])

    async def sender(sid: int) -> None:
        r = random.Random(seed * 100 + sid)
        for i in range(60):
            msg = (sid, i)
            how = r.choice(["put", "offer", "nowait"])
            if how == "put":
                await mb.put(Envelope(msg))
                sent.append(msg)
            elif how == "offer":
                if mb.offer(Envelope(msg)):
                    sent.append(msg)
                else:
                    await mb.put(Envelope(msg))
                    sent.append(msg)
            else:
                try:
                    mb.put_nowait(Envelope(msg))
                    sent.append(msg)
                except MailboxFull:
                    pass
            for _ in range(r.choice([0, 0, 1, 2, 5])):
                await anyio.lowlevel.checkpoint()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_actor, actor, mb)
            async with anyio.create_task_group() as senders:
                for s in range(n_senders):
                    senders.start_soon(sender, s)
            # all sent: everything must get handled without any further send (no lost wake-up)
            await wait_all_tasks_blocked()
            assert sorted(seen) == sorted(sent), "consumer parked with envelopes queued"
            mb.seal()
    for sid in range(n_senders):  # per-sender FIFO
        mine = [m for m in seen if m[0] == sid]
        assert mine == sorted(mine)


async def test_parked_consumer_woken_by_blocked_sender_and_seal() -> None:
    mb = Mbox("m", 1)
    seen: list[Any] = []
    actor = Recorder(seen, max_batch=1)
    gate = anyio.Event()

    class Slow(Recorder):
        async def handle(self, env: Envelope[Any]) -> None:
            if env.msg == "first":
                await gate.wait()
            await super().handle(env)

    actor = Slow(seen, max_batch=1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(run_actor, actor, mb)
        mb.put_nowait(Envelope("first"))
        await wait_all_tasks_blocked()
        mb.put_nowait(Envelope("second"))  # full
        tg.start_soon(mb.put, Envelope("third"))  # blocked sender
        await wait_all_tasks_blocked()
        gate.set()
        await wait_all_tasks_blocked()
        assert seen == ["first", "second", "third"]
        mb.seal()
        await wait_all_tasks_blocked()
    assert mb.closed


async def test_close_while_parked_raises_actor_stopped_and_fails_asks() -> None:
    mb = Mbox("m", 4)
    got: list[BaseException] = []

    async def consumer() -> None:
        try:
            await mb.take_batch(8)
        except ActorStopped as e:
            got.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        await wait_all_tasks_blocked()
        mb.close()
    assert len(got) == 1
    with pytest.raises(ActorStopped):
        mb.put_nowait(Envelope(1))


async def test_seal_while_parked_ends_consumer() -> None:
    mb = Mbox("m", 4)
    got: list[Any] = []

    async def consumer() -> None:
        while True:
            try:
                got.extend(e.msg for e in await mb.take_batch(8))
            except ActorStopped:
                got.append("stopped")
                return

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        await wait_all_tasks_blocked()
        mb.put_nowait(Envelope(1))
        mb.seal()
        await wait_all_tasks_blocked()
    assert got == [1, "stopped"]


# ---------------------------------------------------------------- cancellation safety


class Asker(Actor[Any]):
    def __init__(self, max_batch: int, rnd: random.Random) -> None:
        self.max_batch = max_batch
        self.rnd = rnd

    async def handle(self, env: Envelope[Any]) -> None:
        if self.rnd.random() < 0.3:
            await anyio.lowlevel.checkpoint()
        env.reply(env.msg)


@pytest.mark.parametrize("seed", range(20))
async def test_no_ask_stranded_when_consumer_cancelled_repeatedly(seed: int) -> None:
    """Cancel incarnations at random moments; every ask must end (answered or failed), and
    every envelope be handled by some incarnation or still queued."""
    rnd = random.Random(seed)
    mb = Mbox("m", rnd.choice([2, 8]))
    replies: list[Any] = []

    async def producer() -> None:
        from creatorflow.runtime import ActorRef

        ref = ActorRef(mb)
        for i in range(100):
            replies.append(await ref.request(i))
            if rnd.random() < 0.5:
                await anyio.lowlevel.checkpoint()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            for _ in range(30):
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as inner:
                        inner.start_soon(run_actor, Asker(rnd.choice([1, 3, 512]), rnd), mb)
                        for _ in range(rnd.randrange(0, 6)):
                            await anyio.lowlevel.checkpoint()
                        scope.cancel()
            # final incarnation drains the rest
            tg.start_soon(run_actor, Asker(512, rnd), mb)
            while len(replies) < 100:
                await anyio.lowlevel.checkpoint()
            await wait_all_tasks_blocked()
            mb.seal()
        results = []
        for r in replies:
            try:
                results.append(await r.wait())
            except ActorStopped:
                results.append("stopped")
    assert len(results) == 100


# ---------------------------------------------------------------- linger path (store writer)


class Linger(Actor[Any]):
    max_batch = 16
    batch_linger_s = 0.002

    def __init__(self, seen: list[Any], expected: int) -> None:
        self.seen = seen
        self.expected = expected
        self.all_seen = anyio.Event()

    async def handle_batch(self, batch: list[Envelope[Any]]) -> None:
        for env in batch:
            self.seen.append(env.msg)
            env.reply(env.msg)
        if len(self.seen) >= self.expected:
            self.all_seen.set()


@pytest.mark.parametrize("seed", range(10))
async def test_linger_actor_gets_everything(seed: int) -> None:
    rnd = random.Random(seed)
    mb = Mbox("w", 4)
    seen: list[Any] = []
    sent: list[Any] = []
    actor = Linger(seen, expected=3 * 40)

    async def sender(s: int) -> None:
        for i in range(40):
            await mb.put(Envelope((s, i)))
            sent.append((s, i))
            # Not a synchronisation: real pauses shorter and longer than the linger window, so
            # sends land both while a batch lingers and after it went.
            if rnd.random() < 0.3:
                await anyio.sleep(rnd.choice([0, 0.001, 0.003]))

    with anyio.fail_after(10):  # a stranded envelope would hang here: a deadline, not a wait
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_actor, actor, mb)
            async with anyio.create_task_group() as ss:
                for s in range(3):
                    ss.start_soon(sender, s)
            await actor.all_seen.wait()  # every envelope handled with no further send
            assert sorted(seen) == sorted(sent)
            mb.seal()


# ---------------------------------------------------------------- registry


def make_reg(log: list[Any], clock: FakeClock, **kw: Any) -> Registry[str, Any]:
    class P(Actor[Any]):
        def __init__(self, key: str) -> None:
            self.key = key

        async def handle(self, env: Envelope[Any]) -> None:
            log.append((self.key, env.msg))
            env.reply(env.msg)

    kw.setdefault("mailbox_size", 2)
    kw.setdefault("max_active", 2)
    kw.setdefault("idle_s", 1.0)
    return Registry("r", P, backoff=Backoff(0.0, 0.0), clock=clock, **kw)


@pytest.mark.parametrize("seed", range(25))
async def test_registry_per_sender_fifo_under_passivation_and_eviction(seed: int) -> None:
    rnd = random.Random(seed)
    log: list[Any] = []
    clock = FakeClock()
    reg = make_reg(log, clock, max_active=rnd.choice([1, 2]), mailbox_size=rnd.choice([1, 2]))
    keys = ["a", "b", "c"]
    sent: list[Any] = []

    async def sender(sid: int) -> None:
        r = random.Random(seed * 7 + sid)
        for i in range(40):
            key = r.choice(keys)
            msg = (sid, i)
            if r.random() < 0.5:
                await reg.tell(key, msg)
            else:
                assert await reg.ask(key, msg) == msg
            sent.append((key, msg))
            if r.random() < 0.5:
                await anyio.lowlevel.checkpoint()

    async def churn() -> None:
        while True:
            clock.advance(rnd.choice([0.0, 0.5, 2.0]))
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            await tg.start(reg.run)
            tg.start_soon(churn)
            async with anyio.create_task_group() as ss:
                for s in range(3):
                    ss.start_soon(sender, s)
            await reg.stop()
            tg.cancel_scope.cancel()
    assert sorted(log) == sorted(sent)
    for key in keys:
        for sid in range(3):
            mine = [m for k, m in log if k == key and m[0] == sid]
            assert mine == sorted(mine), (key, sid, mine)


# ---------------------------------------------------------------- consequence in a supervisor


async def test_one_for_all_restart_not_blocked_by_busy_sibling() -> None:
    from creatorflow.errors import ActorCrashed
    from creatorflow.runtime import ChildSpec, Strategy, Supervisor

    class Crashy(Actor[Any]):
        async def handle(self, env: Envelope[Any]) -> None:
            if env.msg == "crash":
                raise RuntimeError("boom")
            env.reply(env.msg)

    sup = Supervisor("root", strategy=Strategy.ONE_FOR_ALL, backoff=Backoff(0.0, 0.0))
    a = sup.add(ChildSpec(name="a", factory=Crashy, mailbox_size=4))
    busy = sup.add(ChildSpec(name="busy", factory=Sink, mailbox_size=256))
    producing = True

    async def producer() -> None:  # e.g. HTTP handlers feeding an actor under load
        while producing:
            for _ in range(16):
                try:
                    busy.tell_nowait(1)
                except (MailboxFull, ActorStopped):
                    break
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        await tg.start(sup.run)
        tg.start_soon(producer)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()
        with pytest.raises(ActorCrashed):
            await a.ask("crash")
        answered = None
        with anyio.move_on_after(1.0):
            answered = await a.ask("ping")  # a must be restarted; busy is cancelled+restarted
        producing = False
        await sup.stop()
    assert answered == "ping", "supervisor stuck waiting for a busy sibling to be cancelled"


# ---------------------------------------------------------- the envelope held across the yield


def _buffered(mb: Mailbox[Any]) -> int:
    return mb._recv.statistics().current_buffer_used


async def test_close_during_busy_yield_fails_every_ask() -> None:
    """close(reason) while the consumer is at its busy-path yield: before the commit nothing was
    taken yet (receive() checkpoints first) so both asks failed with reason; now the consumer
    returns the envelope it took and the actor answers it after close()."""
    from creatorflow.runtime import Reply

    mb = Mbox("m", 4)
    r1: Reply[Any] = Reply()
    r2: Reply[Any] = Reply()
    mb.put_nowait(Envelope(1, r1))
    mb.put_nowait(Envelope(2, r2))
    out: list[Any] = []

    async def consumer() -> None:
        try:
            out.append([e.msg for e in await mb.take_batch(8)])
        except ActorStopped:
            out.append("stopped")

    async with anyio.create_task_group() as tg:
        tg.start_soon(consumer)
        while _buffered(mb) == 2 and not out:
            await anyio.lowlevel.checkpoint()
        before = len(out)  # the old code takes both at once: then nothing is in flight
        mb.close(RuntimeError("gone"))
    after_close = out[before:]
    for r in (r1, r2):  # retrieve failures (asyncio warns about unretrieved future errors)
        if r.done:
            with pytest.raises((RuntimeError, ActorStopped)):
                await r.wait()
    assert after_close in ([], ["stopped"]), f"consumer got {after_close} after close()"


@pytest.mark.asyncio_only
async def test_native_task_cancel_at_the_busy_yield_keeps_the_envelope(anyio_backend: Any) -> None:
    """asyncio only: a plain Task.cancel() (asyncio.timeout/wait_for, loop teardown) landing
    at the busy yield must give the envelope just taken back, not drop it."""
    import asyncio

    mb = Mbox("m", 4)
    mb.put_nowait(Envelope(1))
    mb.put_nowait(Envelope(2))
    task = asyncio.ensure_future(mb.take_batch(8))
    while _buffered(mb) == 2 and not task.done():  # noqa: ASYNC110 (step the loop to the yield)
        await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    left = []
    while True:
        try:
            left.append(mb.take_nowait().msg)
        except anyio.WouldBlock:
            break
    got = task.result() if not task.cancelled() else []
    assert sorted([e.msg for e in got] + left) == [1, 2], f"left {left}, got {got}"
