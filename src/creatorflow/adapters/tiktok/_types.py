"""Small types shared by the client's modules: endpoints, resilience policy, metrics events."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import msgspec

from creatorflow.runtime import BreakerState

__all__ = ["BreakerObserver", "CallObserved", "CallObserver", "Endpoint", "Policy"]


class Endpoint(NamedTuple):
    """A TikTok API operation: its metric name, method, path, and resilience group."""

    api: str
    method: str
    group: str
    idempotent: bool


class CallObserved(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP attempt (or one refused by the breaker), for metrics.

    ``outcome``: ok, rate_limited, unavailable, auth, rejected, error, circuit_open. ``code`` is
    TikTok's envelope code (-1 when none), ``http_status`` 0 when no answer came.
    """

    api: str
    shop_id: str
    outcome: str
    code: int
    http_status: int
    latency_s: float


CallObserver = Callable[[CallObserved], None]
BreakerObserver = Callable[[str, BreakerState], None]


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """Resilience settings of the caller (see ``TikTokClientSettings``)."""

    rate_per_s: float
    burst: int
    max_retries: int
    retry_max_wait_s: float
    breaker_failures: int
    breaker_failure_rate: float
    breaker_min_calls: int
    breaker_window: int
    breaker_open_s: float
    max_shops: int
