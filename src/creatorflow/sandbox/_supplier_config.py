"""Configuration of the sandbox supplier: one frozen struct, units in the names.

:class:`SupplierSandboxConfig` is what ``SupplierSandbox`` is built from (and what the
``creatorflow sandbox supplier`` command fills from its flags). :class:`SupplierFaultConfig` is
the fault plan: given at construction and changed piecewise by ``POST /_admin/faults``.
Every bound the sandbox keeps (orders, calls, body size, quantity) is a field here.
"""

from __future__ import annotations

from typing import Final

import msgspec

#: A ``po_id`` is 1-128 of these characters (it travels in a URL path and a header).
PO_ID_CHARS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-")
MAX_ID_LEN: Final = 128


class SupplierFaultConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Faults to inject into API calls (not admin calls), deterministic given the seed.

    Checked per API call, in this order: outage window (503) → 429 burst → 500 burst → error
    rate (500); then the call is handled; then a successful ``POST`` may lose its answer.

    Attributes:
        latency_ms: ``(low, high)`` added before every API answer, uniform in the range;
            ``low == high`` is a fixed delay, ``(0, 0)`` none.
        error_rate: probability that an API call answers HTTP 500 without doing anything.
        burst_500: the next N API calls answer HTTP 500 without doing anything.
        burst_429: the next N API calls answer HTTP 429 with ``Retry-After``.
        retry_after_s: the ``Retry-After`` of 429 answers.
        outage_s: an outage window of this many seconds: every API call answers 503 with
            ``Retry-After`` = the seconds left.
        outage_at_s: sandbox-clock Unix second the outage starts; None = when applied.
        lost_responses: the next N successful ``POST /v1/purchase-orders`` are applied (the
            order exists) but answered 500: the client must retry with the same key.
        lost_response_rate: probability of the same for any successful ``POST``.
        lost_response_delay_s: wait this long before a lost answer (longer than the client's
            timeout, it becomes a timeout rather than a 500).
    """

    latency_ms: tuple[float, float] = (0.0, 0.0)
    error_rate: float = 0.0
    burst_500: int = 0
    burst_429: int = 0
    retry_after_s: int = 1
    outage_s: float = 0.0
    outage_at_s: float | None = None
    lost_responses: int = 0
    lost_response_rate: float = 0.0
    lost_response_delay_s: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not 0 <= low <= high:
            raise ValueError("latency_ms must be (low, high) with 0 <= low <= high")
        for name in ("error_rate", "lost_response_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        for name in (
            "burst_500",
            "burst_429",
            "retry_after_s",
            "outage_s",
            "lost_responses",
            "lost_response_delay_s",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


class SupplierSandboxConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the sandbox supplier needs; the defaults serve a demo-scale supplier.

    Life cycle of an order, on the sandbox clock from its creation: ``accepted``, then
    ``confirmed`` after ``confirm_after_s``, ``shipped`` during the last ``transit_s`` before
    delivery (none when 0), ``delivered`` after the lead time (``sku_lead_time_s`` for the SKU,
    else ``lead_time_s``). An order for a SKU in ``reject_skus`` is ``rejected`` at once.

    Attributes:
        api_key: clients send ``Authorization: Bearer <api_key>`` (401 otherwise).
        admin_token: when set, ``/_admin`` requires ``Authorization: Bearer <admin_token>``.
        seed: seeds the fault generator; supplier refs are numbered from it.
        catalog: the SKUs supplied; empty = any SKU. Others are refused (422 ``unknown_sku``).
        max_qty: the largest quantity one order may have (422 above it).
        max_orders: orders kept; when full, the oldest finished (delivered or rejected) order
            is forgotten, and with none finished a new order is refused (507).
        max_calls: API calls remembered for ``GET /_admin/calls`` (a ring).
        max_body_bytes: larger request bodies are refused (413).
    """

    api_key: str = "sandbox-supplier-key"
    admin_token: str = ""
    seed: int = 0
    # --- life cycle
    confirm_after_s: float = 5.0
    lead_time_s: float = 300.0
    transit_s: float = 0.0
    sku_lead_time_s: dict[str, float] = msgspec.field(default_factory=dict)
    reject_skus: frozenset[str] = msgspec.field(default_factory=frozenset)
    catalog: frozenset[str] = msgspec.field(default_factory=frozenset)
    max_qty: int = 100_000
    # --- bounded state
    max_orders: int = 10_000
    max_calls: int = 10_000
    max_body_bytes: int = 64 * 1024
    faults: SupplierFaultConfig = msgspec.field(default_factory=SupplierFaultConfig)

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required")
        for name in ("max_qty", "max_orders", "max_calls", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.confirm_after_s < 0 or self.lead_time_s < 0 or self.transit_s < 0:
            raise ValueError("confirm_after_s, lead_time_s and transit_s must not be negative")
        if any(lead < 0 for lead in self.sku_lead_time_s.values()):
            raise ValueError("sku_lead_time_s values must not be negative")

    def lead_time_of(self, sku: str) -> float:
        """The lead time of ``sku`` in seconds (its override, else ``lead_time_s``)."""
        return self.sku_lead_time_s.get(sku, self.lead_time_s)

    def __repr__(self) -> str:  # never print the keys
        return (
            f"SupplierSandboxConfig(seed={self.seed}, lead_time_s={self.lead_time_s!r}, "
            f"max_orders={self.max_orders})"
        )
