"""The SKU actor's Idempotency-Keys, against the real SQLite store: a key counts until its expiry
and not at it, a retry while the actor is awake is answered from the actor's memory (the store is
read once per key), and a keyed adjustment works beside holds that have not expired yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from creatorflow.actors.inventory import (
    Adjust,
    InventoryMsg,
    Reservation,
    Reserve,
    SetStock,
    SkuActor,
    StockView,
)
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.errors import InventoryRefused, StoreUnavailable
from creatorflow.ports import AdjustmentKeyRow
from creatorflow.runtime import Registry, open_actor
from creatorflow.runtime.testing import FakeClock

pytestmark = pytest.mark.anyio

NOW_MS = 1_700_000_000_000
TTL_S = 60.0


class WallClock:
    def __init__(self) -> None:
        self.now = NOW_MS

    def now_ms(self) -> int:
        return self.now


class CountingReader:
    """The real store as the actors' reader, counting Idempotency-Key reads; ``keys_down``:
    reading a key fails as a store outage does."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self.key_reads: list[str] = []
        self.keys_down = False

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        self.key_reads.append(key)
        if self.keys_down:
            raise StoreUnavailable("keys unreadable")
        return await self._store.get_adjustment_key(sku, key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class Skus:
    registry: Registry[str, InventoryMsg]
    reader: CountingReader
    wall: WallClock

    async def ask(self, msg: InventoryMsg) -> Any:
        return await self.registry.ask("MUG", msg)

    async def adjust(self, delta: int, key: str, reason: str = "receipt") -> StockView:
        view = await self.ask(Adjust(delta=delta, reason=reason, key=key))
        assert isinstance(view, StockView)
        return view


@asynccontextmanager
async def skus(tmp_path: Path, now_ms: int = NOW_MS) -> AsyncIterator[Skus]:
    wall = WallClock()
    wall.now = now_ms
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 64) as writer,
    ):
        reader = CountingReader(store)
        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(
                sku, writer=writer, reader=reader, clock=wall, idempotency_ttl_s=TTL_S
            ),
            mailbox_size=64,
            max_active=8,
            idle_s=600.0,
            clock=FakeClock(),
        )
        async with anyio.create_task_group() as tg:
            await tg.start(registry.run)
            yield Skus(registry, reader, wall)
            registry.request_stop()


async def test_a_retry_while_awake_is_answered_from_memory(tmp_path: Path) -> None:
    async with skus(tmp_path) as s:
        await s.ask(SetStock(on_hand=10))
        assert (await s.adjust(5, "k-1")).on_hand == 15
        assert (await s.adjust(5, "k-1")).on_hand == 15
        assert (await s.adjust(5, "k-1")).on_hand == 15
        assert s.reader.key_reads == ["k-1"]  # read once, before it was first applied
        with pytest.raises(InventoryRefused) as info:
            await s.adjust(6, "k-1")
        assert info.value.code == "key_conflict"
        assert s.reader.key_reads == ["k-1"]


async def test_a_key_counts_until_its_expiry_and_not_at_it(tmp_path: Path) -> None:
    async with skus(tmp_path) as s:
        await s.ask(SetStock(on_hand=10))
        assert (await s.adjust(5, "k-1")).on_hand == 15
        s.wall.now = NOW_MS + int(TTL_S * 1000) - 1
        assert (await s.adjust(5, "k-1")).on_hand == 15  # still the same adjustment
        s.wall.now = NOW_MS + int(TTL_S * 1000)
        assert (await s.adjust(5, "k-1")).on_hand == 20  # expired: a new adjustment


async def test_a_keyed_adjustment_beside_a_hold_that_expires_later(tmp_path: Path) -> None:
    async with skus(tmp_path) as s:
        await s.ask(SetStock(on_hand=10))
        held = await s.ask(Reserve(order_id="o-1", qty=2, expires_at_ms=NOW_MS + 60_000))
        assert isinstance(held, Reservation) and held.outcome == "reserved"
        view = await s.adjust(3, "k-1")
        assert (view.on_hand, view.reserved) == (13, 2)
        assert (await s.adjust(3, "k-1")).on_hand == 13


@pytest.mark.parametrize(("after_ms", "on_hand"), [(-1, 15), (0, 20)])
async def test_a_stored_key_counts_until_its_expiry_after_a_restart(
    tmp_path: Path, after_ms: int, on_hand: int
) -> None:
    async with skus(tmp_path) as s:
        await s.ask(SetStock(on_hand=10))
        assert (await s.adjust(5, "k-1")).on_hand == 15
    expiry = NOW_MS + int(TTL_S * 1000)
    async with skus(tmp_path, now_ms=expiry + after_ms) as s:  # a new actor: read from the store
        assert (await s.adjust(5, "k-1")).on_hand == on_hand
        assert s.reader.key_reads == ["k-1"]


async def test_a_key_that_cannot_be_read_fails_its_adjustment_only(tmp_path: Path) -> None:
    async with skus(tmp_path) as s:
        await s.ask(SetStock(on_hand=10))
        s.reader.keys_down = True
        results: dict[str, object] = {}

        async def send(name: str, msg: Adjust) -> None:
            try:
                results[name] = await s.ask(msg)
            except StoreUnavailable as exc:
                results[name] = exc

        # Sent together (one batch where the backend allows): the keyless one is not held up.
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, "keyed", Adjust(delta=5, reason="receipt", key="k-1"))
            tg.start_soon(send, "plain", Adjust(delta=1, reason="found"))
        assert isinstance(results["keyed"], StoreUnavailable)
        plain = results["plain"]
        assert isinstance(plain, StockView) and plain.on_hand == 11
        s.reader.keys_down = False
        assert (await s.adjust(5, "k-1")).on_hand == 16  # the failed one applied nothing
