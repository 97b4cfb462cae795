"""The monotonic clock port: where supervisors and registries read time and sleep.

Restart intensity, backoff and idle passivation read time only through a
:class:`MonotonicClock`, so tests drive them with
:class:`creatorflow.runtime.testing.FakeClock` instead of waiting.
Wall-clock time (timestamps written to the store) is ``creatorflow.ports.Clock``, not this.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["MonotonicClock", "SystemMonotonicClock"]


class MonotonicClock(Protocol):
    """A monotonic clock with a matching sleep.

    ``now()`` never goes backwards and means nothing on its own: only differences count.
    ``sleep(s)`` returns once ``now()`` has advanced by at least ``s``; it is a checkpoint and
    can be cancelled like ``anyio.sleep``.
    """

    def now(self) -> float:
        """Seconds on a monotonic scale. Never blocks."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock (a checkpoint)."""
        ...


class SystemMonotonicClock:
    """The real clock: ``time.monotonic()`` and ``anyio.sleep``."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemMonotonicClock()"
