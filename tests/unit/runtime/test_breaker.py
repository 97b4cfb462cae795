"""Circuit breaker: thresholds, rate, one half-open probe, stale permits, observer."""

from __future__ import annotations

import pytest

from creatorflow.errors import CircuitOpen
from creatorflow.runtime import BreakerState, CircuitBreaker
from creatorflow.runtime.testing import FakeClock


def make(clock: FakeClock, **kw: object) -> tuple[CircuitBreaker, list[BreakerState]]:
    seen: list[BreakerState] = []
    breaker = CircuitBreaker(
        "dep",
        clock=clock,
        on_state_change=lambda _, s: seen.append(s),
        **kw,  # type: ignore[arg-type]
    )
    return breaker, seen


def fail(breaker: CircuitBreaker, n: int = 1) -> None:
    for _ in range(n):
        breaker.record_failure(breaker.allow())


def test_opens_after_5_consecutive_failures_and_refuses_with_time_left() -> None:
    clock = FakeClock()
    breaker, seen = make(clock)
    fail(breaker, 4)
    breaker.record_success(breaker.allow())  # a success resets the streak
    fail(breaker, 4)
    assert breaker.state is BreakerState.CLOSED
    fail(breaker)
    assert breaker.state is BreakerState.OPEN and int(breaker.state) == 1
    clock.advance(20.0)
    with pytest.raises(CircuitOpen) as info:
        breaker.allow()
    assert info.value.retry_after_s == pytest.approx(40.0)
    assert info.value.retryable and info.value.name == "dep"
    assert seen == [BreakerState.OPEN]


def test_exactly_one_half_open_probe_success_closes() -> None:
    clock = FakeClock()
    breaker, seen = make(clock)
    fail(breaker, 5)
    clock.advance(60.0)
    probe = breaker.allow()
    assert breaker.state is BreakerState.HALF_OPEN and int(breaker.state) == 2
    for _ in range(3):
        with pytest.raises(CircuitOpen):
            breaker.allow()  # only one probe
    breaker.record_success(probe)
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success(breaker.allow())
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens_for_another_open_s() -> None:
    clock = FakeClock()
    breaker, seen = make(clock, open_s=10.0)
    fail(breaker, 5)
    clock.advance(10.0)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(10.0)
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.allow()
    clock.advance(0.1)
    breaker.record_success(breaker.allow())
    assert seen == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


def test_probe_without_verdict_frees_the_slot() -> None:
    clock = FakeClock()
    breaker, _ = make(clock)
    fail(breaker, 5)
    clock.advance(60.0)
    breaker.record_ignored(breaker.allow())  # e.g. cancelled
    probe = breaker.allow()  # the next caller probes
    breaker.record_success(probe)
    assert breaker.state is BreakerState.CLOSED


def test_outcomes_of_calls_admitted_before_a_transition_are_ignored() -> None:
    clock = FakeClock()
    breaker, _ = make(clock)
    slow = breaker.allow()
    fail(breaker, 5)
    clock.advance(60.0)
    probe = breaker.allow()
    breaker.record_success(slow)  # admitted while closed: must not close the half-open breaker
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_failure(probe)
    assert breaker.state is BreakerState.OPEN
    breaker.record_failure(slow)
    breaker.record_ignored(slow)
    assert breaker.state is BreakerState.OPEN


def test_failure_rate_over_a_minimum_call_count() -> None:
    clock = FakeClock()
    breaker, _ = make(clock, failure_threshold=100, failure_rate=0.5, min_calls=10, window=10)
    for _ in range(4):
        fail(breaker)
        breaker.record_success(breaker.allow())
    assert breaker.state is BreakerState.CLOSED  # 4 of 8: below min_calls
    fail(breaker)
    assert breaker.state is BreakerState.CLOSED  # 5 of 9
    breaker.record_success(breaker.allow())
    assert breaker.state is BreakerState.CLOSED  # the rate is checked on failures
    fail(breaker)
    assert breaker.state is BreakerState.OPEN  # 5 of the last 10 (window keeps 10)


def test_observer_errors_are_swallowed_and_validation() -> None:
    def boom(name: str, state: BreakerState) -> None:
        raise RuntimeError("observer bug")

    breaker = CircuitBreaker("x", clock=FakeClock(), failure_threshold=1, on_state_change=boom)
    fail(breaker)
    assert breaker.state is BreakerState.OPEN
    assert "OPEN" in repr(breaker)
    for bad in (
        {"failure_threshold": 0},
        {"open_s": 0},
        {"failure_rate": 1.5},
        {"min_calls": 60, "window": 50},
    ):
        with pytest.raises(ValueError, match="breaker"):
            CircuitBreaker("x", clock=FakeClock(), **bad)  # type: ignore[arg-type]
