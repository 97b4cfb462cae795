"""Fault injection for the sandbox: API latency, 5xx, 429 bursts, outages; webhook fates.

One :class:`Faults` per sandbox. API faults and webhook fates draw from two separate seeded
generators, so the number of API calls never changes which webhooks are dropped. Checked per
API call, in this order: outage window (503) → 429 burst → error rate (500). Outage windows are
on the injected wall clock, so a test moves a fake clock past the end instead of waiting.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any, Final, NamedTuple

import msgspec

from creatorflow.ports import Clock
from creatorflow.sandbox._tiktok_config import FaultConfig
from creatorflow.sandbox._tiktok_wire import INTERNAL_ERROR, TOO_MANY_REQUESTS, ApiError

#: Outage windows kept (oldest forgotten first).
MAX_OUTAGES: Final = 16


class WebhookFate(NamedTuple):
    """What happens to one webhook: never sent, sent twice, held back (out of order)."""

    drop: bool
    duplicate: bool
    hold: bool


class Faults:
    """The current fault plan and its counters. Never blocks; no I/O."""

    def __init__(self, plan: FaultConfig, clock: Clock, seed: int) -> None:
        self._clock = clock
        self._api_rng = random.Random(f"api-faults:{seed}")
        self._hook_rng = random.Random(f"webhook-faults:{seed}")
        self._plan = FaultConfig()
        self._burst_left = 0
        self._outages: deque[tuple[float, float]] = deque(maxlen=MAX_OUTAGES)
        self.injected: dict[str, int] = {"latency": 0, "429": 0, "500": 0, "503": 0}
        self.apply(plan)

    @property
    def plan(self) -> FaultConfig:
        """The plan in force."""
        return self._plan

    def apply(self, plan: FaultConfig) -> None:
        """Put ``plan`` in force: its 429 burst restarts, its outage (if any) is added."""
        self._plan = plan
        self._burst_left = plan.burst_429
        if plan.outage_s > 0:
            start = plan.outage_at_s if plan.outage_at_s is not None else self._now()
            self._outages.append((start, start + plan.outage_s))

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Apply the current plan with ``changes`` over it (the admin endpoint's body).

        ``{"reset": true}`` starts from a clean plan and clears outage windows.

        Raises:
            msgspec.ValidationError: an unknown field or a bad value.
        """
        base: dict[str, Any] = {}
        if changes.pop("reset", False):
            self._outages.clear()
        else:
            base = msgspec.structs.asdict(self._plan)
            # A burst or an outage happens once: repeat it only when asked again.
            base.update(burst_429=0, outage_s=0.0, outage_at_s=None)
        base.update(changes)
        plan = msgspec.convert(base, FaultConfig)
        self.apply(plan)
        return plan

    def _now(self) -> float:
        return self._clock.now_ms() / 1000

    # ------------------------------------------------------------------ API calls

    def latency_s(self) -> float:
        """The delay to add before this API call's answer (seconds)."""
        low, high = self._plan.latency_ms
        if high <= 0:
            return 0.0
        self.injected["latency"] += 1
        delay = low if low == high else self._api_rng.uniform(low, high)
        return delay / 1000

    def api_fault(self) -> ApiError | None:
        """The injected error for this API call, or None to answer normally."""
        now = self._now()
        retry_after = ((b"retry-after", str(self._plan.retry_after_s).encode()),)
        for start, end in self._outages:
            if start <= now < end:
                self.injected["503"] += 1
                wait = ((b"retry-after", str(max(1, int(end - now + 0.999))).encode()),)
                return ApiError(503, INTERNAL_ERROR, "Service unavailable (sandbox outage)", wait)
        if self._burst_left > 0:
            self._burst_left -= 1
            self.injected["429"] += 1
            return ApiError(429, TOO_MANY_REQUESTS, "Too many requests", retry_after)
        if self._plan.error_rate > 0 and self._api_rng.random() < self._plan.error_rate:
            self.injected["500"] += 1
            return ApiError(500, INTERNAL_ERROR, "Internal error (sandbox fault)")
        return None

    @property
    def burst_left(self) -> int:
        """429 answers still to give."""
        return self._burst_left

    def in_outage(self) -> bool:
        """Whether the wall clock is inside an outage window now."""
        now = self._now()
        return any(start <= now < end for start, end in self._outages)

    # ------------------------------------------------------------------ webhooks

    def webhook_fate(self) -> WebhookFate:
        """Draw the fate of the next webhook (three draws per webhook, always: stable stream)."""
        drop, dup, hold = (self._hook_rng.random() for _ in range(3))
        plan = self._plan
        return WebhookFate(
            drop=drop < plan.webhook_drop_rate,
            duplicate=dup < plan.webhook_duplicate_rate,
            hold=hold < plan.webhook_reorder_rate,
        )

    def snapshot(self) -> dict[str, Any]:
        """The plan, the burst left, the outage windows and what was injected so far."""
        return {
            "plan": msgspec.structs.asdict(self._plan),
            "burst_429_left": self._burst_left,
            "outages": [list(window) for window in self._outages],
            "in_outage": self.in_outage(),
            "injected": dict(self.injected),
        }
