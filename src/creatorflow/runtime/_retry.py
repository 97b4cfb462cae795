"""Bounded retries with jittered exponential backoff and server-given ``Retry-After``.

:func:`retry` calls ``call`` up to ``attempts`` times. After a failure that ``is_retryable``
accepts, it sleeps (on the injected clock) for::

    max(policy.delay(n), min(retry_after(exc), max_retry_after_s))

so a server's ``Retry-After`` is honoured but capped, and never shortens our own backoff.
:class:`ExponentialJitter` is the policy of the TikTok rate-limit guide,
``min(base_s * 2**n + uniform(0, jitter_s), max_s)``; the runtime's
:class:`~creatorflow.runtime.Backoff` fits the same :class:`DelayPolicy` too.

Only ``Exception`` is caught: cancellation and ``KeyboardInterrupt`` always pass through.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from creatorflow.runtime._clock import MonotonicClock

__all__ = ["MAX_ATTEMPTS", "DelayPolicy", "ExponentialJitter", "retry"]

T = TypeVar("T")

#: The most attempts :func:`retry` accepts: a retry loop is always short.
MAX_ATTEMPTS = 20
_MAX_EXPONENT = 64


class DelayPolicy(Protocol):
    """Anything that says how long to wait before retry number ``attempt`` (0-based)."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait; never blocks."""
        ...


class ExponentialJitter:
    """``min(base_s * 2**attempt + uniform(0, jitter_s), max_s)`` (additive jitter).

    Raises:
        ValueError: a negative value, or ``max_s < base_s``.
    """

    __slots__ = ("_rng", "base_s", "jitter_s", "max_s")

    def __init__(
        self,
        base_s: float = 1.0,
        max_s: float = 60.0,
        *,
        jitter_s: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if base_s < 0 or jitter_s < 0 or max_s < base_s:
            raise ValueError("ExponentialJitter needs 0 <= base_s <= max_s, jitter_s >= 0")
        self.base_s = base_s
        self.max_s = max_s
        self.jitter_s = jitter_s
        self._rng = rng if rng is not None else random.Random()

    def delay(self, attempt: int) -> float:
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        return min(self.base_s * 2.0**exponent + self._rng.uniform(0.0, self.jitter_s), self.max_s)

    def __repr__(self) -> str:
        return (
            f"ExponentialJitter(base_s={self.base_s!r}, max_s={self.max_s!r}, "
            f"jitter_s={self.jitter_s!r})"
        )


def _no_retry_after(exc: Exception) -> float | None:
    return None


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    backoff: DelayPolicy,
    clock: MonotonicClock,
    is_retryable: Callable[[Exception], bool],
    retry_after: Callable[[Exception], float | None] = _no_retry_after,
    max_retry_after_s: float = 60.0,
    on_retry: Callable[[int, Exception, float], None] | None = None,
) -> T:
    """Await ``call()`` until it succeeds, fails for good, or ``attempts`` are used up.

    Blocks for the backoff between attempts (``clock.sleep``: a checkpoint, cancellable).

    Args:
        call: makes one attempt; called afresh each time.
        attempts: total attempts including the first, ``1 <= attempts <= MAX_ATTEMPTS``.
        backoff: delay policy; ``backoff.delay(0)`` precedes the second attempt.
        clock: where to sleep.
        is_retryable: whether an exception may succeed on a later attempt.
        retry_after: the server's requested wait for an exception, in seconds, or None.
        max_retry_after_s: cap on a server-given wait.
        on_retry: told ``(retry_number, exception, delay_s)`` before each sleep (logs,
            metrics); must not raise.

    Raises:
        ValueError: ``attempts`` out of range.
        Exception: the last attempt's exception, or the first one that is not retryable,
            unchanged.
    """
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise ValueError(f"retry attempts must be within [1, {MAX_ATTEMPTS}], got {attempts!r}")
    for number in range(attempts):
        try:
            return await call()
        except Exception as exc:
            if number + 1 >= attempts or not is_retryable(exc):
                raise
            delay = backoff.delay(number)
            asked = retry_after(exc)
            if asked is not None:
                delay = max(delay, min(max(asked, 0.0), max_retry_after_s))
            if on_retry is not None:
                on_retry(number + 1, exc, delay)
            await clock.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
