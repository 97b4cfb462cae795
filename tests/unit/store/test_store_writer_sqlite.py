"""StoreWriter over the real SQLite store (FULL sync, WAL) in a temporary directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.store import SqliteStore, open_sqlite_store
from creatorflow.errors import StoreError, StoreUnavailable
from creatorflow.ports import InboxRecord, InsertInbox, WriteOp, WriteResult
from creatorflow.runtime import ActorRef, open_actor

pytestmark = pytest.mark.anyio


def rec(nid: str) -> InboxRecord:
    return InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")


def write(*nids: str) -> Write:
    return Write(ops=tuple(InsertInbox(record=rec(n)) for n in nids))


class CountingStore:
    """Delegates to the real store, counting ``apply`` calls; the first one can be held."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.sizes: list[int] = []
        self.gate: anyio.Event | None = None
        self.entered = anyio.Event()

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        self.sizes.append(len(ops))
        self.entered.set()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        return await self.inner.apply(ops)


async def test_group_commit_on_sqlite(tmp_path: Path, anyio_backend: Any) -> None:
    async with open_sqlite_store(tmp_path / "w.sqlite3") as sqlite:
        await sqlite.apply([InsertInbox(record=rec(f"n{i}")) for i in range(0, 200, 4)])
        store = CountingStore(sqlite)
        store.gate = gate = anyio.Event()
        answers: dict[int, Any] = {}

        async def asker(i: int) -> None:
            answers[i] = await ref.ask(write(f"n{i}"))

        async with open_actor_writer(store) as ref, anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(asker, i)
            await store.entered.wait()
            await anyio.wait_all_tasks_blocked()
            gate.set()
        assert 1 <= len(store.sizes) <= 2
        assert sum(store.sizes) == 200
        assert answers == {i: [i % 4 != 0] for i in range(200)}  # every 4th was already there
        for i in range(200):
            assert await sqlite.get_inbox(f"n{i}") is not None


async def test_poison_isolated_on_sqlite(tmp_path: Path, anyio_backend: Any) -> None:
    # A None where the schema says NOT NULL: refused by the database, not by msgspec.
    poison = Write(ops=(InsertInbox(record=msgspec.structs.replace(rec("bad"), shop_id=None)),))
    async with open_sqlite_store(tmp_path / "w.sqlite3") as sqlite:
        store = CountingStore(sqlite)
        async with open_actor_writer(store) as ref:
            before = [ref.ask_nowait(write(f"a{i}", f"b{i}")) for i in range(5)]
            bad = ref.ask_nowait(poison)
            after = [ref.ask_nowait(write(f"c{i}")) for i in range(5)]
            for reply in before:
                assert await reply.wait() == [True, True]
            with pytest.raises(StoreError) as caught:
                await bad.wait()
            assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
            for reply in after:
                assert await reply.wait() == [True]
        assert store.sizes[0] == 16  # all tried together first
        for nid in ["a0", "b4", "c0", "c4"]:
            assert await sqlite.get_inbox(nid) is not None
        assert await sqlite.get_inbox("bad") is None


async def test_locked_database_fails_the_batch_then_recovers(
    tmp_path: Path, anyio_backend: Any
) -> None:
    db = tmp_path / "w.sqlite3"
    async with open_sqlite_store(db, busy_timeout_ms=50) as sqlite:
        store = CountingStore(sqlite)
        async with open_actor_writer(store) as ref:
            other = sqlite3.connect(db, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
                replies = [ref.ask_nowait(write(f"n{i}")) for i in range(3)]
                for reply in replies:
                    with pytest.raises(StoreUnavailable):
                        await reply.wait()
                other.execute("ROLLBACK")
            finally:
                other.close()
            assert await ref.ask(write("n0")) == [True]  # the writer survived
        assert store.sizes == [3, 1]


def open_actor_writer(store: CountingStore) -> AbstractAsyncContextManager[ActorRef[Write]]:
    return open_actor(StoreWriter(store, batch_max_size=1000, batch_max_wait_ms=1.0), "w", 1024)
