"""A token-bucket rate limiter driven by an injected monotonic clock.

The bucket holds up to ``burst`` tokens and refills at ``rate_per_s``. A call takes one token.

* :meth:`TokenBucket.try_acquire` never blocks: it takes a token if one is there.
* :meth:`TokenBucket.acquire` always takes its token at once and lets the balance go negative
  (a debt); then it sleeps, on the clock, until the refill has paid its share of the debt back.
  Concurrent waiters are thus served in arrival order, each at its own slot ``1 / rate`` apart,
  and N calls in a row at rate r take ``(N - burst) / r`` seconds. A waiter that is cancelled
  returns its token, so abandoned waits do not slow the others down for good.

The debt is a number, not a queue: memory stays constant however many callers wait. Callers
bound how long they are willing to wait with a cancel scope (``anyio.fail_after``).
"""

from __future__ import annotations

import anyio

from creatorflow.runtime._clock import MonotonicClock

__all__ = ["TokenBucket"]


class TokenBucket:
    """Token bucket: ``rate_per_s`` tokens per second, at most ``burst`` saved up.

    Starts full. Not thread-safe; needs no lock on one event loop.

    Raises:
        ValueError: ``rate_per_s <= 0`` or ``burst < 1``.
    """

    def __init__(self, rate_per_s: float, burst: int, *, clock: MonotonicClock) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(
                f"token bucket needs rate_per_s > 0 and burst >= 1, got {rate_per_s!r}, {burst!r}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_s)
        self._last = now

    @property
    def tokens(self) -> float:
        """Tokens available now; negative while callers wait (the debt they booked)."""
        self._refill()
        return self._tokens

    def try_acquire(self) -> bool:
        """Take a token if one is available now. Never blocks; never books a debt."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until a token would be free for a new caller (0 when one is there)."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate_per_s)

    async def acquire(self) -> None:
        """Take a token, waiting on the clock for the refill when the bucket is empty.

        A checkpoint only when it has to wait. Cancellable: a cancelled waiter gives its token
        back.
        """
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0:
            return
        wait = -self._tokens / self.rate_per_s
        try:
            await self._clock.sleep(wait)
        except anyio.get_cancelled_exc_class():
            self._refill()
            self._tokens = min(float(self.burst), self._tokens + 1.0)
            raise

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s!r}, burst={self.burst!r})"
