"""Suppliers (purchase orders) and content metrics (viral detection)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

# --------------------------------------------------------------------------- suppliers
#
# Reordering stock (DESIGN §3 "Viral → reorder", §6.3). The purchase order is durable (state
# ``requested``) before ``place_order`` is called, and ``po_id`` is sent as the idempotency key,
# so a retry after a crash or a timeout can never order twice.

SupplierOrderState = Literal["accepted", "confirmed", "shipped", "delivered", "rejected"]


class SupplierOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What the supplier says about one purchase order.

    ``expected_at_ms``: when the supplier expects to deliver (0 when unknown);
    ``delivered_qty``: units delivered so far (the full ``qty`` once ``delivered``).
    """

    po_id: str
    supplier_ref: str
    sku: str
    qty: int
    state: SupplierOrderState
    expected_at_ms: int = 0
    delivered_qty: int = 0
    reason: str = ""


class Supplier(Protocol):
    """One supplier. Raises SupplierError (``retryable`` tells whether to repeat) and
    CircuitOpen; callers own timeouts."""

    @property
    def supplier_id(self) -> str:
        """Stable id of this supplier (config key), stored on purchase orders."""
        ...

    @property
    def lead_time_s(self) -> float:
        """Nominal time from order to delivery, used by forecasts before the supplier answers."""
        ...

    async def place_order(self, *, po_id: str, sku: str, qty: int) -> SupplierOrder:
        """Order ``qty`` (>= 1) units of ``sku``; ``po_id`` is the idempotency key: placing the
        same ``po_id`` again returns the existing order unchanged (never a second order)."""
        ...

    async def get_order(self, po_id: str) -> SupplierOrder | None:
        """The current state of ``po_id``, or None when the supplier does not know it."""
        ...


# --------------------------------------------------------------------------- content metrics
#
# Views, likes and shares of videos linked to SKUs feed viral detection (DESIGN §3). They are
# pushed to ``POST /api/content-metrics`` or pulled through this port by the stock watcher.


class ContentSample(msgspec.Struct, frozen=True, kw_only=True):
    """Cumulative counters of one video linked to a SKU, as read at ``at_ms``."""

    sku: str
    video_id: str
    views: int
    likes: int = 0
    shares: int = 0
    at_ms: int


class ContentMetricsSource(Protocol):
    """Somewhere content metrics can be pulled from (a creator-analytics API, a file drop)."""

    async def fetch(self, *, limit: int) -> Sequence[ContentSample]:
        """Up to ``limit`` samples newer than the last ones returned (the source keeps its own
        position). Raises AdapterError subclasses when unreachable."""
        ...
