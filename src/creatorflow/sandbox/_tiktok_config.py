"""Configuration of the sandbox TikTok Shop: one frozen struct, units in the names.

:class:`TikTokSandboxConfig` is what ``TikTokSandbox`` is built from (and what the
``creatorflow sandbox tiktok`` command fills from its flags). :class:`FaultConfig` is the fault
plan: given at construction and replaced piecewise by ``POST /sandbox/tiktok/faults``.
Every bound the sandbox keeps (orders, calls, tokens, outbox, held webhooks) is a field here.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

#: How the webhook spells a cancellation: the reference §1.5 documents ``CANCEL`` on the webhook
#: while the API says ``CANCELLED``. ``random`` picks one per webhook from the seeded generator.
CancelSpelling = Literal["random", "CANCEL", "CANCELLED"]

#: TikTok's own retry schedule for unacknowledged webhooks (reference §1.1): +2 min, +30 min,
#: +3 h, +12 h, then the event is dropped. Tests pass a scaled-down schedule.
TIKTOK_RETRY_SCHEDULE_S: Final = (120.0, 1800.0, 10800.0, 43200.0)

_WEEK_S: Final = 7 * 24 * 3600


class FaultConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Faults to inject, deterministic given the sandbox seed.

    Attributes:
        latency_ms: ``(low, high)`` added before every API answer, uniform in the range;
            ``low == high`` is a fixed delay, ``(0, 0)`` none.
        error_rate: probability that an API call answers HTTP 500 (code 36009003).
        burst_429: the next N API calls answer HTTP 429, code 36009002, ``Retry-After``.
        retry_after_s: the ``Retry-After`` of 429 and outage answers.
        outage_s: an outage window of this many seconds: every API call answers 503.
        outage_at_s: wall-clock Unix second the outage starts; None = when the plan is applied.
        webhook_drop_rate: probability that a webhook is never sent (TikTok loses it).
        webhook_duplicate_rate: probability that a webhook is delivered twice (same id).
        webhook_reorder_rate: probability that a webhook is held back and released after the
            ones behind it (out of order).
    """

    latency_ms: tuple[float, float] = (0.0, 0.0)
    error_rate: float = 0.0
    burst_429: int = 0
    retry_after_s: int = 1
    outage_s: float = 0.0
    outage_at_s: float | None = None
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0
    webhook_reorder_rate: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not 0 <= low <= high:
            raise ValueError("latency_ms must be (low, high) with 0 <= low <= high")
        for name in ("error_rate", "webhook_drop_rate", "webhook_duplicate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if not 0.0 <= self.webhook_reorder_rate <= 1.0:
            raise ValueError("webhook_reorder_rate must be within [0, 1]")
        if self.burst_429 < 0 or self.outage_s < 0 or self.retry_after_s < 0:
            raise ValueError("burst_429, outage_s and retry_after_s must not be negative")


class TikTokSandboxConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the sandbox needs; the defaults serve a ready-to-use shop.

    The access token ``access_token`` is valid from construction for ``access_token_ttl_s``, so
    a client configured with it works without the OAuth dance; ``/api/v2/token/get`` issues more.
    """

    app_key: str = "sandbox-app-key"
    app_secret: str = "sandbox-app-secret"
    seed: int = 0
    # --- the one authorized shop
    shop_id: str = "7490000000000000001"
    shop_cipher: str = "ROW_sandbox"
    shop_name: str = "Sandbox Shop"
    shop_region: str = "US"
    warehouse_id: str = "7000000000000000003"
    currency: str = "USD"
    # --- tokens (expiries are absolute timestamps in the answers, like the real API)
    access_token: str = "TTP_sandbox_access"
    refresh_token: str = "TTP_sandbox_refresh"
    access_token_ttl_s: int = _WEEK_S
    refresh_token_ttl_s: int = 365 * 24 * 3600
    max_tokens: int = 256
    # --- request checks (reference §3.2: timestamp within [now - 5 min, now + 30 s])
    timestamp_past_s: int = 300
    timestamp_future_s: int = 30
    max_body_bytes: int = 1 << 20
    # --- bounded state
    max_orders: int = 100_000
    max_calls: int = 10_000
    max_units_per_order: int = 500
    max_generate: int = 10_000
    # --- orders
    ship_advances_status: bool = True
    # --- webhooks
    webhook_url: str = ""
    webhook_timeout_s: float = 3.0
    webhook_retry_s: tuple[float, ...] = TIKTOK_RETRY_SCHEDULE_S
    webhook_outbox_size: int = 1024
    webhook_max_retrying: int = 1024
    webhook_reorder_window: int = 8
    webhook_reorder_hold_s: float = 0.05
    max_webhook_log: int = 10_000
    cancel_spelling: CancelSpelling = "random"
    # --- admin endpoints: Authorization: Bearer <admin_token> when set
    admin_token: str = ""
    faults: FaultConfig = msgspec.field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if not self.app_key or not self.app_secret:
            raise ValueError("app_key and app_secret are required")
        for name in (
            "max_tokens",
            "max_orders",
            "max_calls",
            "max_units_per_order",
            "max_generate",
            "webhook_outbox_size",
            "webhook_max_retrying",
            "webhook_reorder_window",
            "max_webhook_log",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def __repr__(self) -> str:  # never print the secret
        return (
            f"TikTokSandboxConfig(app_key={self.app_key!r}, shop_id={self.shop_id!r}, "
            f"seed={self.seed}, webhook_url={self.webhook_url!r})"
        )


#: Ids a sandbox makes are ``prefix * 10**15 + id_base(seed) + n`` (18-19 digits, like TikTok's).
_IDS_PER_SEED: Final = 1000


def id_base(seed: int) -> int:
    """Where the sandbox's own id counter starts for ``seed``: ``seed * 1000`` (mod 10**15).

    ``serve`` seeds its built-in sandbox with milliseconds since 2024-01-01 (see
    ``clock_seed``): a later start begins above every id an earlier run could have made unless
    that run made more than 1,000 ids per millisecond it lived, so a restart on the same store
    never reuses an order or notification id (the range wraps after ~31 years).
    """
    return (seed * _IDS_PER_SEED) % 10**15


#: 2024-01-01T00:00:00Z in Unix milliseconds, the origin of :func:`clock_seed`.
_SEED_EPOCH_MS: Final = 1_704_067_200_000


def clock_seed(now_ms: int) -> int:
    """A seed from the wall clock (milliseconds since 2024-01-01) for :func:`id_base`."""
    return max(0, now_ms - _SEED_EPOCH_MS)
