"""Idempotency-Keys of ``POST /api/inventory/{sku}/adjustments`` through the HTTP API, with real
SKU actors (keyed registry) on the real SQLite store: a key is applied once across a sleep of
the SKU's actor, a restart and a failed commit; keys are never truncated; another body is
``409 key_conflict``; bad keys are ``400 invalid_idempotency_key``; keys expire and are swept.

Written from the README's promise ("with the same key it is applied once; the same key with
another body is ``409 key_conflict``"), not from the code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from creatorflow.actors.inventory import InventoryMsg, SkuActor
from creatorflow.actors.inventory_keeper import InventoryKeeper, SweepNow
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.errors import StoreUnavailable
from creatorflow.ports import WriteOp, WriteResult
from creatorflow.runtime import Registry, open_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked
from creatorflow.web.api import build_api
from creatorflow.web.api.inventory import MAX_IDEMPOTENCY_KEY_CHARS, InventoryApi

pytestmark = pytest.mark.anyio

NOW_MS = 1_700_000_000_000
DAY_MS = 86_400_000
IDLE_S = 600.0  # inventory.idle_s
RECEIPT = {"delta": 5, "reason": "receipt"}


class WallClock:
    """The SKU actors' wall clock (``ports.Clock``), moved by the test."""

    def __init__(self) -> None:
        self.now = NOW_MS

    def now_ms(self) -> int:
        return self.now


class FlakyStore:
    """The real store, refusing every ``apply`` while ``down`` is set (nothing committed)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.down = False

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        if self.down:
            raise StoreUnavailable("down for the test")
        return await self.store.apply(ops)


@dataclass
class Tree:
    """One "service": store, writer, SKU actors and the inventory API over HTTP."""

    client: httpx.AsyncClient
    registry: Registry[str, InventoryMsg]
    store: SqliteStore
    flaky: FlakyStore
    idle: FakeClock

    async def adjust(self, sku: str, key: str | None, body: dict[str, Any]) -> httpx.Response:
        headers = {} if key is None else {"Idempotency-Key": key}
        return await self.client.post(
            f"/api/inventory/{sku}/adjustments", json=body, headers=headers
        )

    async def on_hand(self, sku: str) -> int:
        response = await self.client.get(f"/api/inventory/{sku}")
        assert response.status_code == 200, response.text
        value: int = response.json()["on_hand"]
        return value

    async def adjust_entries(self, sku: str) -> int:
        """How many adjustments the SKU's journal holds (each applied adjustment is one)."""
        events = await self.store.stock_events(sku, limit=100)
        return sum(1 for e in events if e.kind == "adjust")


@asynccontextmanager
async def service(
    db: Path, wall: WallClock, *, ttl_s: float = 86_400.0, max_active: int = 8
) -> AsyncIterator[Tree]:
    idle = FakeClock()
    async with open_sqlite_store(db, synchronous="OFF") as store:
        flaky = FlakyStore(store)
        async with open_actor(StoreWriter(flaky), "writer", 256) as writer:
            registry: Registry[str, InventoryMsg] = Registry(
                "inventory",
                lambda sku: SkuActor(
                    sku, writer=writer, reader=store, clock=wall, idempotency_ttl_s=ttl_s
                ),
                mailbox_size=64,
                max_active=max_active,
                idle_s=IDLE_S,
                clock=idle,
            )
            api = InventoryApi(ask=registry.ask, reader=store, clock_ms=wall.now_ms)

            transport = httpx.ASGITransport(app=build_api(api.routes(), token=""))
            async with (
                anyio.create_task_group() as tg,
                httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            ):
                await tg.start(registry.run)
                yield Tree(client, registry, store, flaky, idle)
                registry.request_stop()


async def create(tree: Tree, sku: str, on_hand: int) -> None:
    response = await tree.client.put(f"/api/inventory/{sku}", json={"on_hand": on_hand})
    assert response.status_code == 200, response.text


async def put_to_sleep(tree: Tree, sku: str, how: str) -> None:
    """Passivate the SKU's actor: idle for ``inventory.idle_s``, or evicted by others at the
    ``max_active_skus`` cap (the tree runs with ``max_active=2`` for that)."""
    before = tree.registry.stats().passivations
    if how == "idle":
        await wait_all_tasks_blocked()
        tree.idle.advance(IDLE_S)
    else:
        await create(tree, f"{sku}-other-1", 1)
        await create(tree, f"{sku}-other-2", 1)
    await wait_all_tasks_blocked()
    assert tree.registry.stats().passivations > before


# --------------------------------------------------------------------------- applied once


@pytest.mark.parametrize("how", ["idle", "evicted"])
async def test_a_retry_after_the_sku_actor_slept_applies_once(tmp_path: Path, how: str) -> None:
    wall = WallClock()
    async with service(tmp_path / "db.sqlite3", wall, max_active=2) as tree:
        await create(tree, "MUG", 10)
        first = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
        assert first.status_code == 200, first.text
        assert first.json()["on_hand"] == 15
        activations = tree.registry.stats().activations
        await put_to_sleep(tree, "MUG", how)
        retry = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
        assert retry.status_code == 200, retry.text
        assert tree.registry.stats().activations > activations  # a fresh actor answered
        assert retry.json()["on_hand"] == 15
        assert await tree.on_hand("MUG") == 15
        assert await tree.adjust_entries("MUG") == 1


async def test_a_retry_after_a_restart_applies_once(tmp_path: Path) -> None:
    db, wall = tmp_path / "db.sqlite3", WallClock()
    async with service(db, wall) as tree:
        await create(tree, "MUG", 10)
        first = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
        assert first.status_code == 200 and first.json()["on_hand"] == 15
    wall.now += 60_000
    async with service(db, wall) as tree:  # a new store, writer and actor tree on the file
        retry = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
        assert retry.status_code == 200, retry.text
        assert retry.json()["on_hand"] == 15
        assert await tree.adjust_entries("MUG") == 1
        # The same key with another body is still a conflict after the restart.
        other = await tree.adjust("MUG", "receipt-2024-001", {"delta": 6, "reason": "receipt"})
        assert other.status_code == 409 and other.json()["error"] == "key_conflict"
        # Another key is another adjustment.
        fresh = await tree.adjust("MUG", "receipt-2024-002", RECEIPT)
        assert fresh.status_code == 200 and fresh.json()["on_hand"] == 20


async def test_a_retry_after_a_failed_commit_applies_once(tmp_path: Path) -> None:
    # A 503 means "outcome unknown"; here nothing committed, so the retry must apply it.
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        tree.flaky.down = True
        failed = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
        assert failed.status_code == 503 and failed.json()["error"] == "store_unavailable"
        tree.flaky.down = False
        for _ in range(2):
            retry = await tree.adjust("MUG", "receipt-2024-001", RECEIPT)
            assert retry.status_code == 200, retry.text
            assert retry.json()["on_hand"] == 15
        assert await tree.adjust_entries("MUG") == 1


async def test_the_same_key_with_another_body_is_409_also_after_a_sleep(tmp_path: Path) -> None:
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).status_code == 200
        for body in ({"delta": 6, "reason": "receipt"}, {"delta": 5, "reason": "count"}):
            conflict = await tree.adjust("MUG", "k-1", body)
            assert conflict.status_code == 409, conflict.text
            assert conflict.json()["error"] == "key_conflict"
            assert conflict.json()["detail"]
        await put_to_sleep(tree, "MUG", "idle")
        conflict = await tree.adjust("MUG", "k-1", {"delta": -5, "reason": "receipt"})
        assert conflict.status_code == 409 and conflict.json()["error"] == "key_conflict"
        assert await tree.on_hand("MUG") == 15


async def test_keys_are_scoped_to_the_sku_and_adjustments_without_a_key_always_apply(
    tmp_path: Path,
) -> None:
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        await create(tree, "CAP", 10)
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).json()["on_hand"] == 15
        assert (await tree.adjust("CAP", "k-1", RECEIPT)).json()["on_hand"] == 15
        for expected in (20, 25):
            assert (await tree.adjust("MUG", None, RECEIPT)).json()["on_hand"] == expected


async def test_a_refused_adjustment_stores_no_key(tmp_path: Path) -> None:
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 3)
        take = {"delta": -5, "reason": "damaged"}
        refused = await tree.adjust("MUG", "k-1", take)
        assert refused.status_code == 409 and refused.json()["error"] == "negative"
        await create(tree, "MUG", 10)
        applied = await tree.adjust("MUG", "k-1", take)  # decided again, now it fits
        assert applied.status_code == 200 and applied.json()["on_hand"] == 5
        assert (await tree.adjust("MUG", "k-1", take)).json()["on_hand"] == 5


# --------------------------------------------------------------------------- bounded keys


async def test_keys_sharing_their_first_128_characters_are_two_keys(tmp_path: Path) -> None:
    common = "order-2024-" + "x" * 117
    assert len(common) == 128
    one, two = common + "-first", common + "-second"
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        assert (await tree.adjust("MUG", one, RECEIPT)).json()["on_hand"] == 15
        second = await tree.adjust("MUG", two, RECEIPT)
        assert second.status_code == 200, second.text
        assert second.json()["on_hand"] == 20
        assert (await tree.adjust("MUG", one, RECEIPT)).json()["on_hand"] == 20  # replays
        assert (await tree.adjust("MUG", two, RECEIPT)).json()["on_hand"] == 20
        assert await tree.adjust_entries("MUG") == 2


async def test_the_longest_key_is_kept_whole_and_a_longer_one_is_refused(tmp_path: Path) -> None:
    assert MAX_IDEMPOTENCY_KEY_CHARS == 255  # documented in the README
    longest = "k" * 254 + "1"
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        assert (await tree.adjust("MUG", longest, RECEIPT)).json()["on_hand"] == 15
        assert (await tree.adjust("MUG", "k" * 254 + "2", RECEIPT)).json()["on_hand"] == 20
        await put_to_sleep(tree, "MUG", "idle")
        assert (await tree.adjust("MUG", longest, RECEIPT)).json()["on_hand"] == 20
        too_long = await tree.adjust("MUG", "k" * 256, RECEIPT)
        assert too_long.status_code == 400, too_long.text
        body = too_long.json()
        assert body["error"] == "invalid_idempotency_key" and "255" in body["detail"]
        assert await tree.on_hand("MUG") == 20


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ([(b"idempotency-key", b"")], "empty"),
        ([(b"idempotency-key", b"   ")], "empty"),
        ([(b"idempotency-key", b"a\x01b")], "printable"),
        ([(b"idempotency-key", b"a\x7fb")], "printable"),
        ([(b"idempotency-key", "clé".encode())], "printable"),
        ([(b"idempotency-key", b"k-1"), (b"idempotency-key", b"k-2")], "one"),
    ],
)
async def test_bad_keys_are_400_and_apply_nothing(
    tmp_path: Path, headers: list[tuple[bytes, bytes]], why: str
) -> None:
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        request = tree.client.build_request("POST", "/api/inventory/MUG/adjustments", json=RECEIPT)
        # Raw header values (httpx would refuse some of them before sending).
        request.headers = httpx.Headers([*request.headers.raw, *headers])
        response = await tree.client.send(request)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "invalid_idempotency_key" and why in body["detail"]
        assert await tree.on_hand("MUG") == 10


async def test_spaces_around_a_key_are_not_part_of_it(tmp_path: Path) -> None:
    async with service(tmp_path / "db.sqlite3", WallClock()) as tree:
        await create(tree, "MUG", 10)
        assert (await tree.adjust("MUG", "k 1", RECEIPT)).json()["on_hand"] == 15
        request = tree.client.build_request("POST", "/api/inventory/MUG/adjustments", json=RECEIPT)
        request.headers = httpx.Headers([*request.headers.raw, (b"idempotency-key", b" k 1\t")])
        assert (await tree.client.send(request)).json()["on_hand"] == 15


# --------------------------------------------------------------------------- expiry


async def test_a_key_counts_for_its_ttl_then_is_swept_by_the_keeper(tmp_path: Path) -> None:
    wall = WallClock()
    async with service(tmp_path / "db.sqlite3", wall, ttl_s=DAY_MS / 1000) as tree:
        await create(tree, "MUG", 10)
        await create(tree, "CAP", 10)
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).json()["on_hand"] == 15
        assert (await tree.adjust("CAP", "k-1", RECEIPT)).json()["on_hand"] == 15
        wall.now += DAY_MS - 1
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).json()["on_hand"] == 15
        wall.now += 1
        # Expired: the same key is a new adjustment now (and a new key row, for a day).
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).json()["on_hand"] == 20
        assert (await tree.adjust("MUG", "k-1", RECEIPT)).json()["on_hand"] == 20
        expired = await tree.store.expired_adjustment_keys(wall.now, 10)
        assert [(k.sku, k.key) for k in expired] == [("CAP", "k-1")]
        await put_to_sleep(tree, "CAP", "idle")
        async with open_actor(
            InventoryKeeper(
                reader=tree.store,
                ask=tree.registry.ask,
                tell_nowait=tree.registry.tell_nowait,
                clock=wall,
                sweep_interval_s=3600,
                sweep_batch=100,
                repair_interval_s=3600,
            ),
            "keeper",
            4,
        ) as keeper:
            assert await keeper.ask(SweepNow()) == 1  # CAP, asleep, told to sweep its keys
            await tree.on_hand("CAP")  # answered after the told Sweep was handled
        assert await tree.store.expired_adjustment_keys(wall.now, 10) == []
        assert await tree.store.get_adjustment_key("CAP", "k-1") is None
        live = await tree.store.get_adjustment_key("MUG", "k-1")
        assert live is not None and live.expires_at_ms == wall.now + DAY_MS
