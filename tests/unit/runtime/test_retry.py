"""retry(): bounded attempts, backoff policy, Retry-After honoured and capped."""

from __future__ import annotations

import random

import anyio
import pytest

from creatorflow.runtime import Backoff, ExponentialJitter, retry
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked

pytestmark = pytest.mark.anyio


class Flaky(Exception):
    def __init__(self, after: float | None = None) -> None:
        super().__init__("flaky")
        self.after = after


async def run(clock: FakeClock, failures: list[Exception], attempts: int = 6) -> list[float]:
    """Run retry() over a call failing with ``failures`` then succeeding; return the sleeps."""
    sleeps: list[float] = []
    done = anyio.Event()
    box: list[object] = []

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "ok"

    async def go() -> None:
        try:
            box.append(
                await retry(
                    call,
                    attempts=attempts,
                    backoff=ExponentialJitter(1.0, 60.0, jitter_s=0.0),
                    clock=clock,
                    is_retryable=lambda e: isinstance(e, Flaky),
                    retry_after=lambda e: e.after if isinstance(e, Flaky) else None,
                    max_retry_after_s=30.0,
                    on_retry=lambda n, e, d: sleeps.append(d),
                )
            )
        except Exception as exc:
            box.append(exc)
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(go)
        while not done.is_set():
            await wait_all_tasks_blocked()
            if clock.next_deadline is not None:
                clock.advance(clock.next_deadline - clock.now())
    sleeps.append(-1.0 if box[0] == "ok" else -2.0)
    return sleeps


async def test_exponential_backoff_until_success() -> None:
    clock = FakeClock()
    assert await run(clock, [Flaky(), Flaky(), Flaky()]) == [1.0, 2.0, 4.0, -1.0]
    assert clock.now() == 7.0


async def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    clock = FakeClock()
    assert await run(clock, [Flaky() for _ in range(10)], attempts=3) == [1.0, 2.0, -2.0]


async def test_non_retryable_errors_raise_at_once() -> None:
    assert await run(FakeClock(), [ValueError("no")]) == [-2.0]


async def test_retry_after_is_honoured_capped_and_never_shortens_backoff() -> None:
    clock = FakeClock()
    assert await run(clock, [Flaky(5.0), Flaky(0.1), Flaky(999.0)]) == [5.0, 2.0, 30.0, -1.0]


async def test_attempt_bounds() -> None:
    async def call() -> None:
        return None

    for attempts in (0, 21):
        with pytest.raises(ValueError, match="attempts"):
            await retry(
                call,
                attempts=attempts,
                backoff=Backoff(),
                clock=FakeClock(),
                is_retryable=lambda e: True,
            )


def test_exponential_jitter_matches_the_guide() -> None:
    policy = ExponentialJitter(1.0, 60.0, jitter_s=0.5, rng=random.Random(3))
    for n in range(10):
        delay = policy.delay(n)
        assert min(2.0**n, 60.0) <= delay <= min(2.0**n + 0.5, 60.0)
    assert policy.delay(10**6) == 60.0
    with pytest.raises(ValueError, match="ExponentialJitter"):
        ExponentialJitter(2.0, 1.0)
    assert "max_s=60.0" in repr(policy)
