"""Stock-out forecast and reorder sizing for one SKU (pure; integers for quantities).

The demand model is a constant rate: ``rate_per_hour`` units per hour, usually the velocity
detector's short-window rate (:attr:`creatorflow.domain.velocity.SkuDetector.rate_per_hour`)
while the SKU is viral, or its baseline otherwise; choosing it is the caller's policy.

* :func:`time_to_stockout_s` = ``available / rate`` (None when nothing sells).
* :func:`needs_reorder`: the stock runs out before a PO placed now could land plus a safety
  margin, ``time_to_stockout < lead_time + safety``.
* :func:`reorder_quantity`: units to buy so that stock covers the lead time and then
  ``cover_days`` more: ``ceil(rate * (lead_time + cover)) - available - open POs``, zero when
  that is not positive, else at least ``min_qty``, rounded up to whole packs.
* :func:`reorder_window`: the number of the ``cooldown_s``-long window ``now`` falls in, for
  the PO's idempotency key (``po:{sku}:{window}``): the same need raised twice in one window
  (a retry, a restart, two checks) maps to one PO.

Demand in units is ``ceil`` of the float product, after rounding it to 6 decimals so that
binary noise (``1.1 * 108_000 / 3600 = 33.00000000000001``) does not buy a whole extra unit.
Out-of-stock caveat: a SKU that cannot sell shows no demand, so a rate measured while
``available <= 0`` understates it; the caller should not read "rate 0" there as "no need".
"""

from __future__ import annotations

import math
from typing import Final

SECONDS_PER_HOUR: Final = 3600
SECONDS_PER_DAY: Final = 86_400


def _check_rate(rate_per_hour: float) -> None:
    if not rate_per_hour >= 0.0 or math.isinf(rate_per_hour):  # also refuses NaN
        raise ValueError(f"rate_per_hour must be finite and >= 0, got {rate_per_hour!r}")


def demand_units(rate_per_hour: float, horizon_s: float) -> int:
    """Whole units sold over ``horizon_s`` at ``rate_per_hour`` (rounded up).

    Raises:
        ValueError: a negative, infinite or NaN rate, or a negative horizon.
    """
    _check_rate(rate_per_hour)
    if not horizon_s >= 0:
        raise ValueError(f"horizon_s must be >= 0, got {horizon_s!r}")
    return math.ceil(round(rate_per_hour * horizon_s / SECONDS_PER_HOUR, 6))


def time_to_stockout_s(available: int, rate_per_hour: float) -> float | None:
    """Seconds until ``available`` units are sold at ``rate_per_hour``.

    Returns None when the rate is 0 (never, at this rate) and 0.0 when nothing is available.

    Raises:
        ValueError: a negative, infinite or NaN rate.
    """
    _check_rate(rate_per_hour)
    if rate_per_hour == 0:
        return None
    if available <= 0:
        return 0.0
    return available / rate_per_hour * SECONDS_PER_HOUR


def needs_reorder(
    available: int, rate_per_hour: float, lead_time_s: float, safety_s: float
) -> bool:
    """Whether stock runs out before ``lead_time_s + safety_s`` from now (False at rate 0).

    Raises:
        ValueError: a negative, infinite or NaN rate.
    """
    left = time_to_stockout_s(available, rate_per_hour)
    return left is not None and left < lead_time_s + safety_s


def reorder_quantity(
    rate_per_hour: float,
    lead_time_s: float,
    cover_days: float,
    on_hand: int,
    open_po_qty: int,
    pack_size: int = 1,
    min_qty: int = 1,
) -> int:
    """Units to order now: demand over the lead time and ``cover_days``, less what is coming.

    ``need = demand_units(rate, lead_time_s + cover_days * 86400) - on_hand - open_po_qty``;
    0 when ``need <= 0``, else ``max(need, min_qty)`` rounded up to a multiple of
    ``pack_size``. Never negative; non-decreasing in the rate, the lead time and the cover;
    non-increasing in ``on_hand`` and ``open_po_qty``.

    Args:
        on_hand: units that will serve future demand, i.e. *available* (on hand minus
            reserved: reserved units are sold already). Negative (backorders) adds to the need.
        open_po_qty: units already ordered and not yet received.
        pack_size: the supplier sells whole packs of this many units.
        min_qty: the supplier's minimum order, in units (applies only when something is due).

    Raises:
        ValueError: a bad rate, a negative lead time, cover or open PO quantity, a pack size
            below 1 or a negative minimum.
    """
    if lead_time_s < 0 or cover_days < 0:
        raise ValueError("lead_time_s and cover_days must be >= 0")
    if open_po_qty < 0:
        raise ValueError("open_po_qty must be >= 0")
    if pack_size < 1 or min_qty < 0:
        raise ValueError("pack_size must be >= 1 and min_qty >= 0")
    demand = demand_units(rate_per_hour, lead_time_s + cover_days * SECONDS_PER_DAY)
    need = demand - on_hand - open_po_qty
    if need <= 0:
        return 0
    qty = max(need, min_qty)
    return -(-qty // pack_size) * pack_size


def reorder_window(now_ms: int, cooldown_s: int) -> int:
    """Number of the ``cooldown_s`` window holding ``now_ms``: stable across the window.

    Used in a PO's idempotency key, so one need raised many times in a window buys once.
    Windows are fixed (aligned on the epoch), so two needs on either side of a boundary get
    two numbers even if less than ``cooldown_s`` apart: a hard "one PO per cooldown" also needs
    the time of the SKU's last PO (durable), which the caller checks.

    Raises:
        ValueError: ``cooldown_s < 1``.
    """
    if cooldown_s < 1:
        raise ValueError("cooldown_s must be >= 1")
    return now_ms // (cooldown_s * 1000)
