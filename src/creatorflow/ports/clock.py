"""Wall-clock time, injected so tests control it."""

from __future__ import annotations

import time
from typing import Protocol

# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    """Wall-clock time for logic that tests must control."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000
