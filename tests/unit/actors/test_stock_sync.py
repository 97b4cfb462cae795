"""Stock sync: latest value per SKU, one call per product, one call in flight per product,
retries, refusals, clamping and the resync."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import pairwise

import anyio
import msgspec
import pytest

from creatorflow.actors.inventory import TikTokSkuRef
from creatorflow.actors.stock_sync import Resync, StockLevel, StockSync, StockSyncMsg
from creatorflow.errors import TikTokAuthError, TikTokUnavailable
from creatorflow.ports import TikTokItemError, TikTokSkuInventory, TikTokWriteResult
from creatorflow.runtime import ActorRef, open_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


def level(sku: str, n: int, product: str = "p1", sku_id: str | None = None) -> StockLevel:
    ref = TikTokSkuRef(
        shop_id="shop", product_id=product, sku_id=sku_id or f"id-{sku}", warehouse_id="w1"
    )
    return StockLevel(sku=sku, sellable=n, ref=ref)


class FakeTikTok:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, int]]] = []
        self.gate: anyio.Event | None = None
        self.fail = 0
        self.refuse: set[str] = set()

    async def update_inventory(
        self,
        shop_id: str,
        product_id: str,
        skus: Sequence[TikTokSkuInventory],
        *,
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        assert idempotent and shop_id == "shop"
        self.calls.append((product_id, {s.sku_id: s.quantities["w1"] for s in skus}))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise TikTokUnavailable("down")
        return TikTokWriteResult(
            errors=[TikTokItemError(code=1, message="frozen", sku_id=s) for s in self.refuse]
        )

    async def ship_package(self, *args: object, **kwargs: object) -> TikTokWriteResult:
        raise NotImplementedError

    async def mark_package_shipped(self, *args: object, **kwargs: object) -> TikTokWriteResult:
        raise NotImplementedError


@asynccontextmanager
async def sync(tiktok: FakeTikTok, **kwargs: object) -> AsyncIterator[ActorRef[StockSyncMsg]]:
    actor = StockSync(
        tiktok=tiktok,
        debounce_s=0,
        max_pending=kwargs.pop("max_pending", 100),  # type: ignore[arg-type]
        max_in_flight=2,
        retry_s=0,
        **kwargs,  # type: ignore[arg-type]
    )
    async with open_actor(actor, "stock_sync", 64) as ref:
        yield ref


async def settle(ref: ActorRef[StockSyncMsg]) -> None:
    """Every told level handled and every call that can start done or blocked (no flush: it
    would wait for calls the test holds at its gate)."""
    await wait_all_tasks_blocked()


async def test_only_the_latest_level_of_a_sku_is_pushed_with_its_product() -> None:
    tiktok = FakeTikTok()
    async with sync(tiktok) as ref:
        for msg in (
            level("A", 5),
            level("A", 4),
            level("B", 7),
            level("A", 3),
            level("C", 1, product="p2"),
        ):
            ref.tell_nowait(msg)
        await settle(ref)
    assert sorted(tiktok.calls) == [("p1", {"id-A": 3, "id-B": 7}), ("p2", {"id-C": 1})]


async def test_an_unchanged_level_is_not_sent_again_and_quantities_are_clamped() -> None:
    tiktok = FakeTikTok()
    async with sync(tiktok, max_quantity=100) as ref:
        ref.tell_nowait(level("A", 500))
        await settle(ref)
        ref.tell_nowait(level("A", 500))
        await settle(ref)
        ref.tell_nowait(level("A", -3))
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 100}), ("p1", {"id-A": 0})]


async def test_one_call_per_product_in_flight_and_changes_wait_for_it() -> None:
    tiktok = FakeTikTok()
    tiktok.gate = anyio.Event()
    async with sync(tiktok) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        ref.tell_nowait(level("A", 4))
        ref.tell_nowait(level("A", 2))
        await settle(ref)
        assert tiktok.calls == [("p1", {"id-A": 5})]  # the second waits for the first
        tiktok.gate.set()
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 5}), ("p1", {"id-A": 2})]


async def test_a_failed_call_is_retried_unless_a_newer_level_arrived() -> None:
    tiktok = FakeTikTok()
    tiktok.fail = 1
    async with sync(tiktok) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 5}), ("p1", {"id-A": 5})]


async def test_a_refused_sku_is_not_retried_until_it_changes_and_resync_forces() -> None:
    tiktok = FakeTikTok()
    tiktok.refuse = {"id-A"}
    pushes: list[tuple[str, int]] = []
    async with sync(tiktok, on_push=lambda o, n: pushes.append((o, n))) as ref:
        ref.tell_nowait(level("A", 5))
        ref.tell_nowait(level("B", 5))
        await settle(ref)
        tiktok.refuse = set()
        ref.tell_nowait(level("B", 5))  # unchanged and accepted: not sent
        await settle(ref)
        assert len(tiktok.calls) == 1
        ref.tell_nowait(Resync(levels=(level("B", 5),)))
        await settle(ref)
    assert tiktok.calls[-1] == ("p1", {"id-B": 5})
    assert ("refused", 1) in pushes and ("ok", 1) in pushes


async def test_pending_levels_are_bounded() -> None:
    tiktok = FakeTikTok()
    tiktok.gate = anyio.Event()
    actor = StockSync(tiktok=tiktok, debounce_s=0, max_pending=3, max_in_flight=1, retry_s=0)
    async with open_actor(actor, "stock_sync", 64) as ref:
        ref.tell_nowait(level("X", 1, product="px"))
        await settle(ref)  # px in flight; slot taken: the rest wait
        for i in range(10):
            ref.tell_nowait(level(f"S{i}", i, product=f"p{i}"))
        await settle(ref)
        assert actor.pending == 3 and actor.dropped == 7
        tiktok.gate.set()
        await settle(ref)
    assert [product for product, _ in tiktok.calls] == ["px", "p7", "p8", "p9"]


async def test_a_resync_level_older_than_a_change_is_dropped() -> None:
    tiktok = FakeTikTok()
    async with sync(tiktok) as ref:
        newer = msgspec.structs.replace(level("A", 0), version=200)
        ref.tell_nowait(newer)
        await settle(ref)
        stale = msgspec.structs.replace(level("A", 5), version=100)  # read before the change
        ref.tell_nowait(Resync(levels=(stale,)))
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 0})]


# --------------------------------------------------------------------------- timers on a clock


@asynccontextmanager
async def timed_sync(
    tiktok: FakeTikTok, timer: FakeClock, **kwargs: object
) -> AsyncIterator[ActorRef[StockSyncMsg]]:
    """Stock sync with its real timers (debounce, retry wait, resync) on a fake clock."""
    actor = StockSync(
        tiktok=tiktok,
        max_pending=100,
        max_in_flight=2,
        timer=timer,
        **kwargs,  # type: ignore[arg-type]
    )
    async with open_actor(actor, "stock_sync", 64) as ref:
        yield ref


async def test_changes_of_a_sku_within_the_debounce_window_become_one_push() -> None:
    # README: changes of one SKU within stock_sync.debounce_ms become one value.
    tiktok, timer = FakeTikTok(), FakeClock()
    async with timed_sync(tiktok, timer, debounce_s=1.0) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        assert tiktok.calls == []  # the window of the first change is open
        timer.advance(0.5)
        ref.tell_nowait(level("A", 4))
        await settle(ref)
        timer.advance(0.499)
        await settle(ref)
        assert tiktok.calls == []
        timer.advance(0.001)  # one window after the first change: the latest value goes
        await settle(ref)
        assert tiktok.calls == [("p1", {"id-A": 4})]

        # After the window, a change opens a window of its own: a second push.
        ref.tell_nowait(level("A", 3))
        await settle(ref)
        assert len(tiktok.calls) == 1
        timer.advance(1.0)
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 4}), ("p1", {"id-A": 3})]


async def test_a_failed_push_is_retried_after_the_retry_wait() -> None:
    tiktok, timer = FakeTikTok(), FakeClock()
    tiktok.fail = 1
    async with timed_sync(tiktok, timer, debounce_s=0, retry_s=5.0) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        assert len(tiktok.calls) == 1  # failed
        timer.advance(4.9)
        await settle(ref)
        assert len(tiktok.calls) == 1
        timer.advance(0.1)
        await settle(ref)
    assert tiktok.calls == [("p1", {"id-A": 5}), ("p1", {"id-A": 5})]


async def test_every_resync_interval_every_sku_is_pushed_again() -> None:
    # README: every stock_sync.resync_interval_s all SKUs are pushed again (even unchanged).
    tiktok, timer = FakeTikTok(), FakeClock()

    async def list_levels() -> list[StockLevel]:
        return [level("A", 5), level("B", 2, product="p2")]

    async with timed_sync(
        tiktok, timer, debounce_s=0, resync_interval_s=900.0, list_levels=list_levels
    ) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        assert tiktok.calls == [("p1", {"id-A": 5})]
        timer.advance(899.0)
        await settle(ref)
        assert len(tiktok.calls) == 1
        for rounds in (1, 2):
            timer.advance(900.0 if rounds == 2 else 1.0)
            await settle(ref)
            assert sorted(tiktok.calls[-2:]) == [("p1", {"id-A": 5}), ("p2", {"id-B": 2})]
            assert len(tiktok.calls) == 1 + 2 * rounds


class TwoShops(FakeTikTok):
    """``shop`` answers; ``orphan`` has no tokens (every call: TikTokAuthError)."""

    def __init__(self) -> None:
        super().__init__()
        self.orphan_calls = 0

    async def update_inventory(
        self,
        shop_id: str,
        product_id: str,
        skus: Sequence[TikTokSkuInventory],
        *,
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        if shop_id == "orphan":
            self.orphan_calls += 1
            if self.fail_orphan:
                raise TikTokAuthError("no tokens for shop orphan")
            return TikTokWriteResult(errors=[])
        return await super().update_inventory(shop_id, product_id, skus, idempotent=idempotent)

    fail_orphan = True


def orphan_level(sku: str, n: int) -> StockLevel:
    ref = TikTokSkuRef(shop_id="orphan", product_id="q", sku_id=f"id-{sku}", warehouse_id="w1")
    return StockLevel(sku=sku, sellable=n, ref=ref)


async def test_a_shop_without_tokens_is_parked_not_retried_every_few_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The report: a shop id with no tokens was retried every 5 s forever (and held back
    # every other push with the shared retry wait).
    caplog.set_level(logging.INFO, logger="creatorflow.stock_sync")
    tiktok, timer = TwoShops(), FakeClock()
    async with timed_sync(tiktok, timer, debounce_s=0, retry_s=5.0, retry_max_s=300.0) as ref:
        ref.tell_nowait(orphan_level("X", 3))
        await settle(ref)
        assert tiktok.orphan_calls == 1
        # Another shop's pushes go through at once meanwhile.
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        assert tiktok.calls == [("p1", {"id-A": 5})]
        for _ in range(60):  # ten minutes in 10 s steps
            timer.advance(10.0)
            await settle(ref)
        assert tiktok.orphan_calls == 3  # at 0, 300 and 600 s: parked, not every 5 s
        parked_logs = [r for r in caplog.records if "parked" in r.getMessage()]
        assert len(parked_logs) == 1  # logged once per episode
        tiktok.fail_orphan = False  # the seller authorized the shop
        timer.advance(300.0)
        await settle(ref)
        assert tiktok.orphan_calls == 4
        assert any("accepts updates again" in r.getMessage() for r in caplog.records)


async def test_an_outage_backs_off_doubling_up_to_the_cap() -> None:
    tiktok, timer = FakeTikTok(), FakeClock()
    tiktok.fail = 100
    async with timed_sync(tiktok, timer, debounce_s=0, retry_s=5.0, retry_max_s=40.0) as ref:
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        times = [0.0]
        for second in range(1, 200):
            timer.advance(1.0)
            await settle(ref)
            if len(tiktok.calls) > len(times):
                times.append(float(second))
    # Waits of 5, 10, 20, then 40 s (the cap), 40 s ...
    assert [b - a for a, b in pairwise(times)][:6] == [5, 10, 20, 40, 40, 40]


async def test_ids_tiktok_cannot_take_are_refused_not_a_crash() -> None:
    class BadIds(FakeTikTok):
        async def update_inventory(
            self,
            shop_id: str,
            product_id: str,
            skus: Sequence[TikTokSkuInventory],
            *,
            idempotent: bool = False,
        ) -> TikTokWriteResult:
            if product_id == "bad/id":
                raise ValueError("product_id 'bad/id' is not a TikTok id")
            return await super().update_inventory(shop_id, product_id, skus, idempotent=idempotent)

    tiktok = BadIds()
    async with sync(tiktok) as ref:
        ref.tell_nowait(level("X", 3, product="bad/id"))
        ref.tell_nowait(level("A", 5))
        await settle(ref)
        ref.tell_nowait(level("B", 2))  # the actor is still there, and pushes on
        await settle(ref)
    assert ("p1", {"id-A": 5}) in tiktok.calls and ("p1", {"id-B": 2}) in tiktok.calls
