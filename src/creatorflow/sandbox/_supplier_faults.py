"""Fault injection of the sandbox supplier: latency, 5xx, 429 bursts, outages, lost answers.

One :class:`SupplierFaults` per sandbox, drawing from one generator seeded by the sandbox seed,
so a given sequence of calls meets the same faults every run. Outage windows are on the
sandbox clock, so a test moves the clock past the end instead of waiting.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Final, NamedTuple

import msgspec

from creatorflow.ports import Clock
from creatorflow.sandbox._supplier_config import SupplierFaultConfig

#: Outage windows kept (oldest forgotten first).
MAX_OUTAGES: Final = 16


class Injected(NamedTuple):
    """An injected error answer: HTTP status, error code, detail, extra headers."""

    status: int
    code: str
    detail: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


class SupplierFaults:
    """The fault plan in force and its counters. Never blocks; no I/O."""

    def __init__(self, plan: SupplierFaultConfig, clock: Clock, seed: int) -> None:
        self._clock = clock
        self._seed = seed
        self._rng = random.Random(f"supplier-faults:{seed}")
        self._plan = SupplierFaultConfig()
        self._burst_429 = 0
        self._burst_500 = 0
        self._lost = 0
        self._outages: deque[tuple[float, float]] = deque(maxlen=MAX_OUTAGES)
        self.injected: dict[str, int] = {"latency": 0, "429": 0, "500": 0, "503": 0, "lost": 0}
        self.apply(plan)

    @property
    def plan(self) -> SupplierFaultConfig:
        """The plan in force."""
        return self._plan

    def apply(self, plan: SupplierFaultConfig) -> None:
        """Put ``plan`` in force: its bursts restart, its outage (if any) is added."""
        self._plan = plan
        self._burst_429 = plan.burst_429
        self._burst_500 = plan.burst_500
        self._lost = plan.lost_responses
        if plan.outage_s > 0:
            start = plan.outage_at_s if plan.outage_at_s is not None else self._now()
            self._outages.append((start, start + plan.outage_s))

    def update(self, changes: dict[str, Any]) -> SupplierFaultConfig:
        """Apply the current plan with ``changes`` over it (the admin endpoint's body).

        Bursts, lost answers and outages happen once: they are not repeated unless given again.
        ``{"reset": true}`` starts from a clean plan and clears outage windows.

        Raises:
            msgspec.ValidationError: an unknown field or a bad value.
        """
        base: dict[str, Any] = {}
        if changes.pop("reset", False):
            self._outages.clear()
        else:
            base = msgspec.structs.asdict(self._plan)
            base.update(burst_429=0, burst_500=0, lost_responses=0, outage_s=0.0, outage_at_s=None)
        base.update(changes)
        plan = msgspec.convert(base, SupplierFaultConfig)
        self.apply(plan)
        return plan

    def reset(self, plan: SupplierFaultConfig) -> None:
        """Back to a fresh state with ``plan``: counters, outages and the generator too."""
        self._rng = random.Random(f"supplier-faults:{self._seed}")
        self._outages.clear()
        self.injected = dict.fromkeys(self.injected, 0)
        self.apply(plan)

    def _now(self) -> float:
        return self._clock.now_ms() / 1000

    def latency_s(self) -> float:
        """The delay to add before this API call's answer (seconds)."""
        low, high = self._plan.latency_ms
        if high <= 0:
            return 0.0
        self.injected["latency"] += 1
        delay = low if low == high else self._rng.uniform(low, high)
        return delay / 1000

    def before_call(self) -> Injected | None:
        """The injected error for this API call, or None to handle it normally."""
        now = self._now()
        for start, end in self._outages:
            if start <= now < end:
                self.injected["503"] += 1
                wait = str(max(1, int(end - now + 0.999))).encode()
                return Injected(503, "unavailable", "sandbox outage", ((b"retry-after", wait),))
        if self._burst_429 > 0:
            self._burst_429 -= 1
            self.injected["429"] += 1
            wait = str(self._plan.retry_after_s).encode()
            return Injected(429, "rate_limited", "too many requests", ((b"retry-after", wait),))
        if self._burst_500 > 0 or (
            self._plan.error_rate > 0 and self._rng.random() < self._plan.error_rate
        ):
            self._burst_500 = max(0, self._burst_500 - 1)
            self.injected["500"] += 1
            return Injected(500, "internal", "internal error (sandbox fault)")
        return None

    def lose_answer(self) -> bool:
        """Whether the answer of this successful ``POST`` is lost (the order stays created)."""
        lost = self._lost > 0 or (
            self._plan.lost_response_rate > 0 and self._rng.random() < self._plan.lost_response_rate
        )
        if lost:
            self._lost = max(0, self._lost - 1)
            self.injected["lost"] += 1
        return lost

    def in_outage(self) -> bool:
        """Whether the sandbox clock is inside an outage window now."""
        now = self._now()
        return any(start <= now < end for start, end in self._outages)

    def snapshot(self) -> dict[str, Any]:
        """The plan, what is left of its bursts, the outage windows and what was injected."""
        return {
            "plan": msgspec.structs.asdict(self._plan),
            "burst_429_left": self._burst_429,
            "burst_500_left": self._burst_500,
            "lost_responses_left": self._lost,
            "outages": [list(window) for window in self._outages],
            "in_outage": self.in_outage(),
            "injected": dict(self.injected),
        }
