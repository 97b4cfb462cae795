"""A circuit breaker: stop calling a failing dependency, then probe it once before trusting it.

States (the number is what the metric exports)::

    CLOSED (0) ── N consecutive failures, or failure rate ≥ r over ≥ min_calls ──▶ OPEN (1)
    OPEN (1)   ── open_s elapsed, next caller becomes the one probe ──────────────▶ HALF_OPEN (2)
    HALF_OPEN  ── probe succeeds ──▶ CLOSED        probe fails ──▶ OPEN (for open_s again)

Invariants:

* While OPEN, :meth:`CircuitBreaker.allow` raises :class:`~creatorflow.errors.CircuitOpen`
  (with the seconds until the probe may run) without calling anything.
* In HALF_OPEN exactly one call is admitted (the probe); everyone else gets CircuitOpen until
  its verdict. A probe that ends without a verdict (cancelled, or an error that says nothing
  about the dependency's health) frees the slot for the next caller.
* Every permit carries the generation it was issued in; an outcome reported for an older
  generation is ignored, so a slow call admitted before the breaker opened cannot close it.
* The outcome window is a ``deque`` with ``maxlen=window``: memory is bounded.

Time is read only through the injected :class:`~creatorflow.runtime.MonotonicClock`. Nothing
here blocks or awaits; the breaker is not thread-safe and needs no lock on one event loop.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable
from typing import NewType

from creatorflow.errors import CircuitOpen
from creatorflow.runtime._clock import MonotonicClock

__all__ = ["BreakerState", "CircuitBreaker", "Permit"]

logger = logging.getLogger("creatorflow.runtime")


class BreakerState(enum.IntEnum):
    """Breaker state; the integer value is the ``circuit breaker state`` metric."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


#: A call admitted by :meth:`CircuitBreaker.allow`; hand it back with the outcome.
Permit = NewType("Permit", int)

StateObserver = Callable[[str, BreakerState], None]


class CircuitBreaker:
    """A failure-counting, rate-based circuit breaker with a single half-open probe.

    Args:
        name: shown in errors, logs and to the observer (e.g. ``"shop-1/order"``).
        clock: monotonic time source.
        failure_threshold: consecutive failures that open the breaker (seed: 5).
        failure_rate: fraction of failures in the window that opens it (``0 < r <= 1``)...
        min_calls: ...once the window holds at least this many outcomes.
        window: outcomes remembered for the rate (the last ``window`` calls).
        open_s: how long the breaker stays open before one probe is let through (seed: 60 s).
        on_state_change: called with ``(name, new_state)`` on every transition; must not raise
            (an exception is logged and swallowed).

    Raises:
        ValueError: on a non-positive threshold, window or ``open_s``, a rate outside (0, 1],
            or ``min_calls > window``.
    """

    def __init__(
        self,
        name: str,
        *,
        clock: MonotonicClock,
        failure_threshold: int = 5,
        failure_rate: float = 0.5,
        min_calls: int = 20,
        window: int = 50,
        open_s: float = 60.0,
        on_state_change: StateObserver | None = None,
    ) -> None:
        if failure_threshold < 1 or window < 1 or min_calls < 1 or open_s <= 0:
            raise ValueError("breaker needs failure_threshold, window, min_calls >= 1, open_s > 0")
        if not 0 < failure_rate <= 1 or min_calls > window:
            raise ValueError("breaker needs 0 < failure_rate <= 1 and min_calls <= window")
        self.name = name
        self._clock = clock
        self._threshold = failure_threshold
        self._rate = failure_rate
        self._min_calls = min_calls
        self._open_s = open_s
        self._observer = on_state_change
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=window)  # True = failure
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose time is up still reads OPEN until a call)."""
        return self._state

    def retry_after_s(self) -> float:
        """Seconds until a call may be admitted again (0 when closed or a probe may run)."""
        if self._state is BreakerState.OPEN:
            return max(0.0, self._opened_at + self._open_s - self._clock.now())
        if self._state is BreakerState.HALF_OPEN and self._probing:
            return self._open_s  # the probe may fail and re-open: assume the worst
        return 0.0

    def allow(self) -> Permit:
        """Admit one call or refuse it. Never blocks.

        Returns:
            a permit to pass to :meth:`record_success`, :meth:`record_failure` or
            :meth:`record_ignored` when the call ends.

        Raises:
            CircuitOpen: the breaker is open, or half-open with the probe already running.
        """
        if self._state is BreakerState.OPEN:
            wait = self.retry_after_s()
            if wait > 0:
                raise CircuitOpen(self.name, wait)
            self._transition(BreakerState.HALF_OPEN)
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpen(self.name, self.retry_after_s())
            self._probing = True
        return Permit(self._generation)

    def record_success(self, permit: Permit) -> None:
        """The admitted call succeeded: counts toward closing (a probe's success closes)."""
        if permit != self._generation:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._transition(BreakerState.CLOSED)
            return
        self._consecutive = 0
        self._outcomes.append(False)

    def record_failure(self, permit: Permit) -> None:
        """The admitted call failed in a way that says the dependency is unhealthy."""
        if permit != self._generation:
            return
        if self._state is BreakerState.HALF_OPEN:
            self._transition(BreakerState.OPEN)
            return
        self._consecutive += 1
        self._outcomes.append(True)
        if self._consecutive >= self._threshold or self._rate_exceeded():
            self._transition(BreakerState.OPEN)

    def record_ignored(self, permit: Permit) -> None:
        """The call ended without a verdict (cancelled, or refused for our own reasons).

        Counts nothing; a half-open probe's slot is freed for the next caller.
        """
        if permit == self._generation and self._state is BreakerState.HALF_OPEN:
            self._probing = False

    def _rate_exceeded(self) -> bool:
        calls = len(self._outcomes)
        return calls >= self._min_calls and sum(self._outcomes) >= self._rate * calls

    def _transition(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._probing = False
        if state is BreakerState.OPEN:
            self._opened_at = self._clock.now()
        if state is BreakerState.CLOSED:
            self._consecutive = 0
            self._outcomes.clear()
        logger.info("circuit breaker %s: %s", self.name, state.name.lower())
        if self._observer is not None:
            try:
                self._observer(self.name, state)
            except Exception:
                logger.exception("circuit breaker %s: state observer failed", self.name)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.name})"
