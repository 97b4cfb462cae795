"""Inventory metrics (DESIGN §5: reservations by outcome), registered on a service's
:class:`~creatorflow.metrics.Metrics` registry.

- ``creatorflow_reservations_total{outcome}``: reserve answers: reserved (a new hold), held
  (an idempotent repeat), committed (the order already shipped), refused (no stock).
- ``creatorflow_stock_pushes_total{outcome}``: SKUs pushed to TikTok: ok, refused (TikTok
  rejected the SKU in ``data.errors``), failed (the call failed; retried).
- ``creatorflow_inventory_repairs_total``: SKUs whose reserved total was re-derived.
- ``creatorflow_viral_skus``: SKUs currently flagged viral; ``creatorflow_purchase_orders_total
  {outcome}``: purchase orders placed / failed; ``creatorflow_inventory_alerts_total{kind}``.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge

RESERVATION_OUTCOMES: Final = ("reserved", "held", "committed", "refused")
PUSH_OUTCOMES: Final = ("ok", "refused", "failed")


class InventoryMetrics:
    """The inventory's metrics on ``registry``; the ``count_*`` methods are hook-shaped."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.reservations = Counter(
            "creatorflow_reservations",
            "Reserve requests answered by the SKU actors, by outcome.",
            ["outcome"],
            registry=r,
        )
        self._reservation = {o: self.reservations.labels(o) for o in RESERVATION_OUTCOMES}
        self.stock_pushes = Counter(
            "creatorflow_stock_pushes",
            "SKU stock levels pushed to TikTok, by outcome.",
            ["outcome"],
            registry=r,
        )
        self._push = {o: self.stock_pushes.labels(o) for o in PUSH_OUTCOMES}
        self.repairs = Counter(
            "creatorflow_inventory_repairs",
            "SKUs whose reserved total drifted from their reservation rows and was repaired.",
            registry=r,
        )
        self.viral_skus = Gauge(
            "creatorflow_viral_skus", "SKUs currently flagged viral.", registry=r
        )
        self.purchase_orders = Counter(
            "creatorflow_purchase_orders",
            "Purchase orders to suppliers, by outcome (opened, placed, failed, received).",
            ["outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "creatorflow_inventory_alerts",
            "Inventory alerts raised, by kind (critical, viral, viral_ended, backorder).",
            ["kind"],
            registry=r,
        )

    def count_reservation(self, outcome: str) -> None:
        counter = self._reservation.get(outcome)
        (counter or self.reservations.labels(outcome)).inc()

    def count_stock_push(self, outcome: str, skus: int) -> None:
        if skus:
            (self._push.get(outcome) or self.stock_pushes.labels(outcome)).inc(skus)

    def count_inventory_repairs(self, repaired: int) -> None:
        if repaired:
            self.repairs.inc(repaired)


__all__ = ["InventoryMetrics"]
