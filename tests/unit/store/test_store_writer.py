"""StoreWriter against an in-memory, counting TransactionalStore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.errors import ActorStopped, StoreError, StoreUnavailable
from creatorflow.ports import InboxRecord, InsertInbox, WriteOp, WriteResult
from creatorflow.runtime import Reply, open_actor
from creatorflow.runtime.testing import wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


def ins(nid: str) -> InsertInbox:
    record = InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"")
    return InsertInbox(record=record)


def write(*nids: str) -> Write:
    return Write(ops=tuple(ins(n) for n in nids))


class FakeStore:
    """Inserts into a set; refuses ids starting with ``poison``; can be gated or made down."""

    def __init__(self) -> None:
        self.rows: set[str] = set()
        self.calls: list[list[WriteOp]] = []
        self.gate: anyio.Event | None = None  # the next apply waits for it, once
        self.entered = anyio.Event()
        self.down_for = 0  # this many applies raise StoreUnavailable

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.calls.append(list(ops))
        self.entered.set()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        if self.down_for:
            self.down_for -= 1
            raise StoreUnavailable("fake store is down")
        ids = [op.record.notification_id for op in ops if isinstance(op, InsertInbox)]
        if any(nid.startswith("poison") for nid in ids):
            raise StoreError("fake store refused a poison")
        results: list[WriteResult] = []
        for nid in ids:
            results.append(nid not in self.rows)
            self.rows.add(nid)
        return results


async def test_concurrent_asks_share_a_few_transactions(anyio_backend: Any) -> None:
    store = FakeStore()
    store.gate = gate = anyio.Event()
    answers: dict[int, Any] = {}

    async def asker(i: int) -> None:
        answers[i] = await ref.ask(write(f"n{i}"))

    writer = StoreWriter(store)
    async with open_actor(writer, "writer", 1024) as ref, anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(asker, i)
        await store.entered.wait()
        await anyio.wait_all_tasks_blocked()  # every other ask is queued behind the first
        gate.set()
    # The first batch holds whatever arrived before (or within the linger after) the first
    # message; the gate holds its apply until every other ask is queued, so they all share
    # the second transaction. 200 asks, at most 2 transactions on every backend.
    assert 1 <= len(store.calls) <= 2
    assert sum(len(call) for call in store.calls) == 200
    assert answers == {i: [True] for i in range(200)}
    assert store.rows == {f"n{i}" for i in range(200)}


async def test_each_caller_gets_its_own_results(anyio_backend: Any) -> None:
    store = FakeStore()
    store.rows = {"old-1", "old-2"}
    messages = [
        write("a", "old-1"),
        write("b"),
        write("old-2", "c", "a"),  # "a" was inserted by the first message of the same batch
        write("d"),
        write("a"),
    ]
    async with open_actor(StoreWriter(store), "writer", 64) as ref:
        replies = [ref.ask_nowait(m) for m in messages]  # all queued before the writer runs
        answers = [await r.wait() for r in replies]
    assert len(store.calls) == 1
    assert answers == [[True, False], [True], [False, True, False], [True], [False]]


async def test_poison_gets_the_error_and_the_rest_commit(anyio_backend: Any) -> None:
    store = FakeStore()
    names = [f"n{i}" for i in range(16)]
    names[5], names[11] = "poison-5", "poison-11"
    async with open_actor(StoreWriter(store), "writer", 64) as ref:
        replies = [ref.ask_nowait(write(n)) for n in names]
        outcomes: list[Any] = []
        for reply in replies:
            try:
                outcomes.append(await reply.wait())
            except StoreError as exc:
                outcomes.append(exc)
        assert await ref.ask(write("after")) == [True]  # still alive
    for name, outcome in zip(names, outcomes, strict=True):
        if name.startswith("poison"):
            assert isinstance(outcome, StoreError)
        else:
            assert outcome == [True]
    assert store.rows == {n for n in names if not n.startswith("poison")} | {"after"}
    # Bisection: far fewer transactions than one per message (16), plus the final ask.
    assert len(store.calls) - 1 < len(names)


async def test_store_unavailable_fails_the_batch_and_the_writer_lives(anyio_backend: Any) -> None:
    store = FakeStore()
    store.down_for = 1
    async with open_actor(StoreWriter(store), "writer", 64) as ref:
        replies = [ref.ask_nowait(write(f"n{i}")) for i in range(5)]
        for reply in replies:
            with pytest.raises(StoreUnavailable):
                await reply.wait()
        assert await ref.ask(write("n0")) == [True]  # next batch tries again
    assert len(store.calls) == 2
    assert store.rows == {"n0"}


async def test_unavailable_fails_later_groups_without_trying_them(anyio_backend: Any) -> None:
    store = FakeStore()
    store.down_for = 1
    async with open_actor(StoreWriter(store, batch_max_size=2), "writer", 64) as ref:
        replies = [ref.ask_nowait(write(f"n{i}")) for i in range(2)]
        for reply in replies:
            with pytest.raises(StoreUnavailable):
                await reply.wait()
    assert len(store.calls) == 1


async def test_groups_respect_batch_max_size(anyio_backend: Any) -> None:
    store = FakeStore()
    async with open_actor(StoreWriter(store, batch_max_size=10), "writer", 64) as ref:
        replies: list[Reply[Any]] = [ref.ask_nowait(write(f"a{i}")) for i in range(25)]
        for reply in replies:
            await reply.wait()
        sizes_single = [len(call) for call in store.calls]
        store.calls.clear()
        replies = [ref.ask_nowait(write(*(f"b{i}-{j}" for j in range(3)))) for i in range(7)]
        replies.append(ref.ask_nowait(write(*(f"big-{j}" for j in range(15)))))
        answers = [await reply.wait() for reply in replies]
    assert sizes_single == [10, 10, 5]
    # Messages are never split: 3-op messages make groups of 9; the 15-op one goes alone.
    assert [len(call) for call in store.calls] == [9, 9, 3, 15]
    assert answers[-1] == [True] * 15


async def test_empty_write_is_answered_without_a_transaction(anyio_backend: Any) -> None:
    store = FakeStore()
    async with open_actor(StoreWriter(store), "writer", 8) as ref:
        assert await ref.ask(Write(ops=())) == []
    assert store.calls == []


async def test_observer_sees_batch_size_and_latency(anyio_backend: Any) -> None:
    store = FakeStore()
    seen: list[tuple[int, float]] = []
    async with open_actor(
        StoreWriter(store, on_commit=lambda n, s: seen.append((n, s))), "w", 8
    ) as ref:
        replies = [ref.ask_nowait(write("a", "b")), ref.ask_nowait(write("c"))]
        for reply in replies:
            await reply.wait()
    assert [n for n, _ in seen] == [3]
    assert all(0 <= s < 60 for _, s in seen)


async def test_a_failing_observer_does_not_hurt_the_write(anyio_backend: Any) -> None:
    def broken(n: int, s: float) -> None:
        raise RuntimeError("metrics are broken")

    store = FakeStore()
    async with open_actor(StoreWriter(store, on_commit=broken), "writer", 8) as ref:
        assert await ref.ask(write("a")) == [True]
        assert await ref.ask(write("a")) == [False]


async def test_tell_is_committed_in_order(anyio_backend: Any) -> None:
    store = FakeStore()
    async with open_actor(StoreWriter(store), "writer", 8) as ref:
        await ref.tell(write("told"))
        assert await ref.ask(write("told")) == [False]  # FIFO: the tell committed first


async def test_cancelled_mid_batch_answers_actor_stopped(anyio_backend: Any) -> None:
    store = FakeStore()
    store.gate = anyio.Event()  # never set: apply hangs until cancelled
    outcome: list[BaseException] = []

    async def wait_for(reply: Reply[Any]) -> None:
        try:
            await reply.wait()
        except ActorStopped as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as outer:
        with anyio.CancelScope() as scope:
            async with open_actor(StoreWriter(store, name="writer"), "writer", 8) as ref:
                outer.start_soon(wait_for, ref.ask_nowait(write("a")))
                await store.entered.wait()
                scope.cancel()
    assert len(outcome) == 1
    assert "writer" in str(outcome[0])
    assert store.rows == set()


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="batch_max_size"):
        StoreWriter(FakeStore(), batch_max_size=0)
    with pytest.raises(ValueError, match="batch_max_wait_ms"):
        StoreWriter(FakeStore(), batch_max_wait_ms=-1)
    writer = StoreWriter(FakeStore(), batch_max_size=500, batch_max_wait_ms=2.5)
    assert (writer.max_batch, writer.batch_linger_s) == (500, 0.0025)


class GatedStore:
    """Every apply waits until the test releases it; records how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most_at_once = 0
        self.calls = 0
        self.release = anyio.Event()

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.calls += 1
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return [True for _ in ops]


@pytest.mark.parametrize("slots", [1, 3])
async def test_commits_in_flight_are_bounded_by_the_setting(anyio_backend: Any, slots: int) -> None:
    store = GatedStore()
    writer = StoreWriter(store, batch_max_size=1, batch_max_wait_ms=0, max_concurrent_commits=slots)
    answers: list[Any] = []

    async def asker(i: int) -> None:
        answers.append(await ref.ask(write(f"c{i}")))

    async with open_actor(writer, "writer", 64) as ref, anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(asker, i)
        await wait_all_tasks_blocked()
        assert store.running == slots  # exactly as many transactions in flight as allowed
        store.release.set()
    assert store.most_at_once == slots
    assert answers == [[True]] * 6


async def test_unavailable_with_concurrent_commits_fails_only_its_group(anyio_backend: Any) -> None:
    store = FakeStore()
    store.down_for = 1
    writer = StoreWriter(store, batch_max_size=1, batch_max_wait_ms=0, max_concurrent_commits=2)
    async with open_actor(writer, "writer", 64) as ref:
        first = ref.ask_nowait(write("u1"))
        second = ref.ask_nowait(write("u2"))
        with pytest.raises(StoreUnavailable):
            await first.wait()
        assert await second.wait() == [True]
    assert store.rows == {"u2"}


async def test_failure_observer_counts_unavailable_and_refused(anyio_backend: Any) -> None:
    store = FakeStore()
    store.down_for = 1
    kinds: list[str] = []
    writer = StoreWriter(store, batch_max_wait_ms=0, on_failure=kinds.append)
    async with open_actor(writer, "writer", 64) as ref:
        with pytest.raises(StoreUnavailable):
            await ref.ask(write("f1"))
        with pytest.raises(StoreError):
            await ref.ask(write("poison-1"))
    assert kinds == ["unavailable", "refused"]
