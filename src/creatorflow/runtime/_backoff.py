"""Exponential backoff with jitter, for restarts and retries.

The delay before retry number ``attempt`` (0 for the first) is::

    base  = min(max_s, min_s * multiplier ** attempt)
    delay = max(min_s, base * (1 - jitter * u))      u uniform in [0, 1)

so every delay lies in ``[min_s, max_s]``, grows geometrically until it reaches ``max_s``, and
retries of many actors that failed together spread out instead of hitting the store in lockstep.
Given a seeded ``random.Random`` the sequence is deterministic (tests); with ``min_s = 0`` every
delay is 0.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]

# 2.0 ** 64 dwarfs any sensible max_s / min_s ratio; capping the exponent avoids OverflowError.
_MAX_EXPONENT = 64


class Backoff:
    """A backoff policy. ``delay()`` never blocks; the caller sleeps (through its clock).

    Raises:
        ValueError: on a negative or inverted range, ``multiplier < 1`` or ``jitter`` outside
            ``[0, 1]``.
    """

    __slots__ = ("_rng", "jitter", "max_s", "min_s", "multiplier")

    def __init__(
        self,
        min_s: float = 0.1,
        max_s: float = 10.0,
        *,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if min_s < 0 or max_s < min_s:
            raise ValueError(f"backoff needs 0 <= min_s <= max_s, got {min_s!r}, {max_s!r}")
        if multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {multiplier!r}")
        if not 0 <= jitter <= 1:
            raise ValueError(f"backoff jitter must be within [0, 1], got {jitter!r}")
        self.min_s = min_s
        self.max_s = max_s
        self.multiplier = multiplier
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based); within ``[min_s, max_s]``."""
        exponent = min(max(attempt, 0), _MAX_EXPONENT)
        base = min(self.max_s, self.min_s * self.multiplier**exponent)
        jittered = base * (1.0 - self.jitter * self._rng.random())
        return max(self.min_s, jittered)

    def __repr__(self) -> str:
        return (
            f"Backoff(min_s={self.min_s!r}, max_s={self.max_s!r}, "
            f"multiplier={self.multiplier!r}, jitter={self.jitter!r})"
        )
