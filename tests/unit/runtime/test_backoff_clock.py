"""Backoff bounds and jitter, the fake clock, the settling helper, and the boundedness check."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import anyio
import pytest

from creatorflow.runtime import Backoff, SystemMonotonicClock
from creatorflow.runtime.testing import FakeClock, ShiftedClock, wait_all_tasks_blocked


def test_backoff_without_jitter_doubles_up_to_the_max() -> None:
    backoff = Backoff(0.1, 1.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_backoff_stays_within_bounds_and_jitters() -> None:
    backoff = Backoff(0.5, 8.0, jitter=0.5, rng=random.Random(7))
    delays = [backoff.delay(n) for n in range(200) for _ in range(3)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    late = [backoff.delay(50) for _ in range(50)]
    assert min(late) >= 4.0 and len(set(late)) > 1  # jitter spreads, never below base/2


def test_backoff_is_deterministic_with_a_seeded_rng() -> None:
    def run(seed: int) -> list[float]:
        backoff = Backoff(0.1, 5.0, rng=random.Random(seed))
        return [backoff.delay(n) for n in range(10)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_backoff_edge_cases() -> None:
    assert Backoff(0.0, 0.0).delay(3) == 0.0
    assert Backoff(1.0, 2.0, jitter=0.0).delay(10**9) == 2.0  # no overflow
    for bad in ({"min_s": -1.0}, {"min_s": 2.0, "max_s": 1.0}, {"multiplier": 0.5}, {"jitter": 2}):
        with pytest.raises(ValueError, match="backoff"):
            Backoff(**bad)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock(start=100.0)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(f"{name}@{clock.now():g}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "late", 5.0)
        tg.start_soon(sleeper, "early", 2.0)
        await clock.wait_for_sleepers(2)
        assert clock.next_deadline == 102.0
        clock.advance(1.0)
        await wait_all_tasks_blocked()
        assert woke == []
        clock.advance(1.0)
        await wait_all_tasks_blocked()
        assert woke == ["early@102"]
        clock.advance(10.0)
    assert woke == ["early@102", "late@112"]
    assert clock.sleepers == 0


@pytest.mark.anyio
async def test_fake_clock_forgets_cancelled_sleepers() -> None:
    clock = FakeClock()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep, 5.0)
        await clock.wait_for_sleepers(1)
        tg.cancel_scope.cancel()
    assert clock.sleepers == 0
    await clock.sleep(0)  # a plain checkpoint
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1.0)


@pytest.mark.anyio
async def test_shifted_clock_is_real_time_plus_what_was_advanced() -> None:
    clock = ShiftedClock()
    mono, wall = clock.now(), clock.now_ms()
    clock.advance(30.0)
    assert clock.offset_s == 30.0
    assert clock.now() - mono >= 30.0
    assert clock.now_ms() - wall >= 30_000  # the wall clock moves with it
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1.0)


@pytest.mark.anyio
async def test_shifted_clock_wakes_the_sleepers_an_advance_takes_past_their_deadline() -> None:
    clock = ShiftedClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper, "short", 5.0)
        tg.start_soon(sleeper, "long", 3600.0)
        await wait_all_tasks_blocked()
        clock.advance(5.0)
        await wait_all_tasks_blocked()
        assert woke == ["short"]  # the other sleeps on for what is left
        clock.advance(3600.0)
    assert woke == ["short", "long"]


@pytest.mark.anyio
async def test_wait_all_tasks_blocked_lets_other_tasks_run_to_their_block() -> None:
    steps: list[int] = []

    async def worker() -> None:
        for i in range(20):
            steps.append(i)
            await anyio.lowlevel.checkpoint()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker)
        await wait_all_tasks_blocked()
        assert steps == list(range(20))
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_system_clock_is_monotonic() -> None:
    clock = SystemMonotonicClock()
    before = clock.now()
    await clock.sleep(0)
    assert clock.now() >= before


def test_src_has_no_unbounded_queue() -> None:
    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("check_bounded", root / "tools/check_bounded.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(str(root / "src/creatorflow/runtime")) == 0
