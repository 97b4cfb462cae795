"""Ingress, consumer and pump against an in-memory store: outages, poison, overload."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from creatorflow.actors.inbox_pump import InboxPump
from creatorflow.actors.ingress import IngressMsg, Kick, Process, Receive, Received, WebhookIngress
from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.errors import StoreError, StoreUnavailable
from creatorflow.ports import (
    InboxCursor,
    InboxRecord,
    InboxStatus,
    InsertInbox,
    MarkInboxProcessed,
    WriteOp,
    WriteResult,
)
from creatorflow.runtime import (
    Actor,
    ActorRef,
    Backoff,
    ChildSpec,
    Envelope,
    Supervisor,
    open_actor,
)
from creatorflow.runtime.testing import wait_all_tasks_blocked
from unit.actors.inbox_consumer_fixture import InboxConsumer

pytestmark = pytest.mark.anyio


class MemoryStore:
    """Inbox rows in a dict; ``down`` makes every call raise StoreUnavailable."""

    def __init__(self) -> None:
        self.rows: dict[str, InboxRecord] = {}
        self.processed: dict[str, int] = {}  # id -> times marked
        self.down = False
        self.applies = 0

    def _check(self) -> None:
        if self.down:
            raise StoreUnavailable("memory store is down")

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self._check()
        self.applies += 1
        if any(isinstance(op, InsertInbox) and op.record.body == b"poison" for op in ops):
            raise StoreError("refused")
        results: list[WriteResult] = []
        for op in ops:
            if isinstance(op, InsertInbox):
                nid = op.record.notification_id
                results.append(nid not in self.rows)
                self.rows.setdefault(nid, op.record)
            elif isinstance(op, MarkInboxProcessed):
                self.processed[op.notification_id] = self.processed.get(op.notification_id, 0) + 1
                results.append(None)
            else:
                results.append(None)
        return results

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        return None

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        self._check()
        rows = sorted(
            (r for r in self.rows.values() if r.notification_id not in self.processed),
            key=lambda r: (r.received_at_ms, r.notification_id),
        )
        if after is not None:
            rows = [
                r
                for r in rows
                if (r.received_at_ms, r.notification_id)
                > (after.received_at_ms, after.notification_id)
            ]
        return rows[:limit]


class Clock:
    def now_ms(self) -> int:
        return 1_000


def record(nid: str, body: bytes = b"{}") -> InboxRecord:
    return InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=body)


@asynccontextmanager
async def pipeline(
    store: MemoryStore, *, consumer_size: int = 64, sleeps: list[float] | None = None
) -> AsyncIterator[tuple[Supervisor, ActorRef[IngressMsg]]]:
    """The inbox part of the tree, wired as app.py wires it."""
    root = Supervisor("t", max_restarts=0, within_s=1.0)

    async def fake_sleep(seconds: float) -> None:
        if sleeps is not None:
            sleeps.append(seconds)
        await anyio.lowlevel.checkpoint()

    writer: ActorRef[Write] = root.add(
        ChildSpec(name="writer", factory=lambda: StoreWriter(store), mailbox_size=256)
    )
    consumer: ActorRef[Process] = root.add(
        ChildSpec(
            name="consumer",
            factory=lambda: InboxConsumer(writer=writer, pump=pump, clock=Clock(), recent_cap=1000),
            mailbox_size=consumer_size,
        )
    )
    pump: ActorRef[Kick] = root.add(
        ChildSpec(
            name="pump",
            factory=lambda: InboxPump(
                reader=store,
                consumer=consumer,
                ingress=ingress,
                page_size=10,
                backoff=Backoff(0.01, 0.1),
                sleep=fake_sleep,
            ),
            mailbox_size=2,
        )
    )
    ingress: ActorRef[IngressMsg] = root.add(
        ChildSpec(
            name="ingress",
            factory=lambda: WebhookIngress(
                writer=writer, consumer=consumer, pump=pump, dedupe_cache_size=100
            ),
            mailbox_size=256,
        )
    )
    async with anyio.create_task_group() as tg:
        await tg.start(root.run)
        yield root, ingress
        await root.stop()


async def settle(root: Supervisor) -> None:
    for name in ("ingress", "pump", "consumer", "writer"):
        await root.ref(name).flush()


async def test_poison_webhook_fails_alone(anyio_backend: Any) -> None:
    store = MemoryStore()
    async with pipeline(store) as (root, ingress):
        replies = [ingress.ask_nowait(Receive(record=record(f"ok-{i}"))) for i in range(5)]
        bad = ingress.ask_nowait(Receive(record=record("bad", b"poison")))
        replies += [ingress.ask_nowait(Receive(record=record(f"ok-{i}"))) for i in range(5, 10)]
        with pytest.raises(StoreError):
            await bad.wait()
        assert [await r.wait() for r in replies] == [Received(new=True)] * 10
        await settle(root)
    assert set(store.rows) == {f"ok-{i}" for i in range(10)}


async def test_store_outage_does_not_crash_and_nothing_stays_unprocessed(
    anyio_backend: Any,
) -> None:
    store = MemoryStore()
    sleeps: list[float] = []
    async with pipeline(store, sleeps=sleeps) as (root, ingress):
        await settle(root)  # the start-up scan is done
        for i in range(20):
            assert await ingress.ask(Receive(record=record(f"n{i}"))) == Received(new=True)
            if i == 9:
                store.down = True  # the consumer's marks and the pump's reads fail from here
                break
        await settle(root)
        assert sleeps  # the pump is retrying, not crashed
        store.down = False
        await wait_all_tasks_blocked()
        await settle(root)
        assert all(child.restarts == 0 for _, child in root.stats().walk())
    assert set(store.processed) == {f"n{i}" for i in range(10)}


async def test_overload_does_not_process_a_row_twice(anyio_backend: Any) -> None:
    store = MemoryStore()
    async with pipeline(store, consumer_size=2) as (root, ingress):
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(ingress.ask, Receive(record=record(f"o{i:03d}")))
        await settle(root)
        await settle(root)
    assert set(store.processed) == {f"o{i:03d}" for i in range(200)}
    assert max(store.processed.values()) == 1


# --------------------------------------------------------------------------- one Write per batch


class RecordingWriter(Actor[Write]):
    """A writer that applies each Write alone and remembers what it was sent."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.writes: list[Write] = []

    async def handle(self, env: Envelope[Write]) -> None:
        self.writes.append(env.msg)
        try:
            env.reply(await self.store.apply(env.msg.ops))
        except Exception as exc:
            env.fail(exc)


class Sink(Actor[Any]):
    async def handle(self, env: Envelope[Any]) -> None:
        pass


@asynccontextmanager
async def lone_ingress(store: MemoryStore) -> AsyncIterator[tuple[RecordingWriter, Any]]:
    writer = RecordingWriter(store)
    async with (
        open_actor(writer, "writer", 64) as writer_ref,
        open_actor(Sink(), "consumer", 64) as consumer,
        open_actor(Sink(), "pump", 64) as pump,
        open_actor(
            WebhookIngress(writer=writer_ref, consumer=consumer, pump=pump, dedupe_cache_size=100),
            "ingress",
            64,
        ) as ingress,
    ):
        yield writer, ingress


def inserted(write: Write) -> list[str]:
    return [op.record.notification_id for op in write.ops if isinstance(op, InsertInbox)]


async def test_a_batch_of_webhooks_is_one_write(anyio_backend: Any) -> None:
    store = MemoryStore()
    async with lone_ingress(store) as (writer, ingress):
        # Queued before the ingress runs: one batch.
        replies = [ingress.ask_nowait(Receive(record=record(f"b{i}"))) for i in range(10)]
        twin = ingress.ask_nowait(Receive(record=record("b3")))  # a duplicate inside the batch
        assert [await r.wait() for r in replies] == [Received(new=True)] * 10
        assert await twin.wait() == Received(new=False)
    assert [inserted(w) for w in writer.writes] == [[f"b{i}" for i in range(10)]]


async def test_poison_in_a_batch_is_retried_one_by_one_and_fails_alone(anyio_backend: Any) -> None:
    store = MemoryStore()
    async with lone_ingress(store) as (writer, ingress):
        names = ["p0", "p1", "bad", "p3"]
        replies = {
            n: ingress.ask_nowait(Receive(record=record(n, b"poison" if n == "bad" else b"{}")))
            for n in names
        }
        with pytest.raises(StoreError):
            await replies.pop("bad").wait()
        assert [await r.wait() for r in replies.values()] == [Received(new=True)] * 3
        # The ingress did not crash: the next webhook is stored as usual.
        assert await ingress.ask(Receive(record=record("after"))) == Received(new=True)
    assert [inserted(w) for w in writer.writes] == [
        names,
        ["p0"],
        ["p1"],
        ["bad"],
        ["p3"],
        ["after"],
    ]
    assert set(store.rows) == {"p0", "p1", "p3", "after"}


async def test_a_lone_poison_webhook_fails_without_crashing_the_ingress(anyio_backend: Any) -> None:
    store = MemoryStore()
    async with lone_ingress(store) as (writer, ingress):
        with pytest.raises(StoreError):
            await ingress.ask(Receive(record=record("bad", b"poison")))
        assert await ingress.ask(Receive(record=record("good"))) == Received(new=True)
    assert [inserted(w) for w in writer.writes] == [["bad"], ["good"]]


async def test_store_outage_fails_every_webhook_of_the_batch(anyio_backend: Any) -> None:
    store = MemoryStore()
    store.down = True
    async with lone_ingress(store) as (writer, ingress):
        replies = [ingress.ask_nowait(Receive(record=record(f"d{i}"))) for i in range(3)]
        for reply in replies:
            with pytest.raises(StoreUnavailable):
                await reply.wait()
        store.down = False
        # Nothing was remembered as stored: a retry by TikTok is stored, not called a duplicate.
        assert await ingress.ask(Receive(record=record("d0"))) == Received(new=True)
    assert [inserted(w) for w in writer.writes] == [["d0", "d1", "d2"], ["d0"]]
