"""Fault injection of the sandbox carriers: per-carrier outage, errors, timeouts, latency.

One :class:`CarrierFaults` per carrier, each with its own generator seeded by the sandbox seed
and the carrier's name, so calls to one carrier never change what another one draws. Every
carrier call draws exactly four numbers (latency, error, timeout, applied) whatever the plan,
so changing a rate does not shift the stream: the same seed and the same sequence of calls per
carrier meet the same faults every run.

Checked per call, in this order: outage → error → timeout. A timeout holds the answer for
``timeout_s``; for a purchase or a void it happened anyway with ``timeout_applied_rate``.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Literal, NamedTuple

import msgspec

from creatorflow.sandbox.carriers._config import CarrierFaultConfig, CarrierSpec

Outcome = Literal["ok", "outage", "error", "timeout"]


class Draw(NamedTuple):
    """What happens to one carrier call."""

    latency_s: float
    outcome: Outcome
    #: For a timeout: whether the purchase / void took effect before the answer was lost.
    applied: bool
    hold_s: float


class CarrierFaults:
    """The plan in force for one carrier and its counters. Never blocks; no I/O."""

    def __init__(self, carrier: CarrierSpec, seed: int) -> None:
        self.carrier = carrier
        self._initial = carrier.faults
        self._rng = random.Random(f"carrier-faults:{seed}:{carrier.name}")
        self.plan = carrier.faults
        self.injected: dict[str, int] = {"outage": 0, "error": 0, "timeout": 0, "applied": 0}

    def update(self, changes: dict[str, Any]) -> CarrierFaultConfig:
        """The plan with ``changes`` over it (the admin body without ``carrier``), in force.

        ``{"reset": true}`` starts from the carrier's configured plan.

        Raises:
            msgspec.ValidationError: an unknown field or a bad value.
        """
        base = msgspec.structs.asdict(self._initial if changes.pop("reset", False) else self.plan)
        base.update(changes)
        self.plan = msgspec.convert(base, CarrierFaultConfig)
        return self.plan

    def draw(self) -> Draw:
        """Draw the fate of the next call to this carrier."""
        plan = self.plan
        u_latency, u_error, u_timeout, u_applied = (self._rng.random() for _ in range(4))
        low, high = plan.latency_ms
        latency_s = (low + (high - low) * u_latency) / 1000
        outcome: Outcome = "ok"
        applied = False
        if plan.outage:
            outcome = "outage"
        elif u_error < plan.error_rate:
            outcome = "error"
        elif u_timeout < plan.timeout_rate:
            outcome = "timeout"
            applied = u_applied < plan.timeout_applied_rate
        if outcome != "ok":
            self.injected[outcome] += 1
        if applied:
            self.injected["applied"] += 1
        hold_s = plan.timeout_s if outcome == "timeout" else 0.0
        return Draw(latency_s, outcome, applied, hold_s)

    def render(self) -> dict[str, Any]:
        """The plan as the admin endpoints show it (``latency_ms`` as a list)."""
        plan = self.plan
        return {
            "outage": plan.outage,
            "error_rate": plan.error_rate,
            "timeout_rate": plan.timeout_rate,
            "latency_ms": list(plan.latency_ms),
            "timeout_s": plan.timeout_s,
            "timeout_applied_rate": plan.timeout_applied_rate,
        }


class Throttle:
    """At most ``per_min`` calls in any sliding minute of the wall clock (0 = unlimited)."""

    def __init__(self, per_min: int) -> None:
        self._per_min = per_min
        self._times: deque[int] = deque(maxlen=max(1, per_min))

    def retry_after_s(self, now_ms: int) -> int:
        """0 when the call may go ahead (and counts it), else seconds until it could."""
        if self._per_min <= 0:
            return 0
        cutoff = now_ms - 60_000
        times = self._times
        while times and times[0] <= cutoff:
            times.popleft()
        if len(times) >= self._per_min:
            return max(1, (times[0] - cutoff + 999) // 1000)
        times.append(now_ms)
        return 0
