"""Stock-out forecast and reorder sizing: exact integers, edge cases, properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creatorflow.domain.forecast import (
    demand_units,
    needs_reorder,
    reorder_quantity,
    reorder_window,
    time_to_stockout_s,
)

HOUR = 3600
DAY = 86_400

rates = st.floats(min_value=0.0, max_value=1e5, allow_nan=False, allow_infinity=False)
stock = st.integers(min_value=-1_000, max_value=1_000_000)
open_po = st.integers(min_value=0, max_value=1_000_000)
lead = st.integers(min_value=0, max_value=60 * DAY)
cover = st.integers(min_value=0, max_value=90)
packs = st.integers(min_value=1, max_value=500)
minimums = st.integers(min_value=0, max_value=5_000)


# --------------------------------------------------------------------------- time to stock-out


def test_time_to_stockout_exact() -> None:
    assert time_to_stockout_s(100, 50.0) == 2 * HOUR
    assert time_to_stockout_s(1, 3600.0) == 1.0


def test_time_to_stockout_zero_rate_is_none() -> None:
    assert time_to_stockout_s(100, 0.0) is None
    assert time_to_stockout_s(0, 0.0) is None


def test_time_to_stockout_nothing_available_is_now() -> None:
    assert time_to_stockout_s(0, 10.0) == 0.0
    assert time_to_stockout_s(-3, 10.0) == 0.0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_rates_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="rate_per_hour"):
        time_to_stockout_s(10, bad)
    with pytest.raises(ValueError, match="rate_per_hour"):
        reorder_quantity(bad, HOUR, 1, 0, 0)


# --------------------------------------------------------------------------- needs_reorder


def test_needs_reorder_when_stock_runs_out_within_lead_plus_safety() -> None:
    # 100 units at 10/h last 10 h; lead 8 h + safety 1 h = 9 h: not yet; + safety 3 h: yes
    assert not needs_reorder(100, 10.0, 8 * HOUR, 1 * HOUR)
    assert needs_reorder(100, 10.0, 8 * HOUR, 3 * HOUR)


def test_needs_reorder_boundary_is_strict() -> None:
    assert not needs_reorder(100, 10.0, 9 * HOUR, 1 * HOUR)  # exactly 10 h = 10 h
    assert needs_reorder(99, 10.0, 9 * HOUR, 1 * HOUR)


def test_no_reorder_without_demand() -> None:
    assert not needs_reorder(0, 0.0, 30 * DAY, DAY)


def test_out_of_stock_and_selling_needs_reorder() -> None:
    assert needs_reorder(0, 1.0, HOUR, 0)


# --------------------------------------------------------------------------- reorder_quantity


def test_demand_units_rounds_up_and_ignores_float_noise() -> None:
    assert demand_units(10.0, 90 * 60) == 15  # 15.0 exactly
    assert demand_units(10.0, 91 * 60) == 16  # 15.17 -> 16
    assert 1.1 * 108_000 / 3600 > 33  # the float product is 33.00000000000001 ...
    assert demand_units(1.1, 108_000) == 33  # ... but the demand is 33 units, not 34
    assert demand_units(0.0, 30 * DAY) == 0


def test_reorder_quantity_exact() -> None:
    # 20/h over a 2-day lead + 5 days of cover = 7 days = 3360 units; minus 500 and 360
    assert reorder_quantity(20.0, 2 * DAY, 5, on_hand=500, open_po_qty=360) == 2500


def test_reorder_quantity_rounds_up_to_packs() -> None:
    assert reorder_quantity(20.0, 2 * DAY, 5, on_hand=500, open_po_qty=360, pack_size=24) == 2520
    assert reorder_quantity(20.0, 2 * DAY, 5, on_hand=500, open_po_qty=360, pack_size=2500) == 2500
    assert reorder_quantity(1.0, HOUR, 0, on_hand=0, open_po_qty=0, pack_size=12) == 12


def test_reorder_quantity_applies_the_minimum_only_when_something_is_due() -> None:
    assert reorder_quantity(1.0, 10 * HOUR, 0, on_hand=7, open_po_qty=0, min_qty=100) == 100
    assert reorder_quantity(1.0, 10 * HOUR, 0, on_hand=10, open_po_qty=0, min_qty=100) == 0
    assert reorder_quantity(1.0, 10 * HOUR, 0, 7, 0, pack_size=40, min_qty=100) == 120


def test_reorder_quantity_is_zero_when_covered() -> None:
    assert reorder_quantity(10.0, DAY, 1, on_hand=480, open_po_qty=0) == 0  # exactly covered
    assert reorder_quantity(10.0, DAY, 1, on_hand=100, open_po_qty=10_000) == 0  # negative need
    assert reorder_quantity(0.0, 30 * DAY, 30, on_hand=0, open_po_qty=0) == 0  # no demand


def test_backorders_add_to_the_need() -> None:
    assert reorder_quantity(1.0, 10 * HOUR, 0, on_hand=-5, open_po_qty=0) == 15


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lead_time_s": -1},
        {"cover_days": -1},
        {"open_po_qty": -1},
        {"pack_size": 0},
        {"min_qty": -1},
    ],
)
def test_reorder_quantity_refuses_bad_arguments(kwargs: dict[str, int]) -> None:
    args: dict[str, float] = {
        "rate_per_hour": 1.0,
        "lead_time_s": HOUR,
        "cover_days": 1,
        "on_hand": 0,
        "open_po_qty": 0,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=">="):
        reorder_quantity(**args)  # type: ignore[arg-type]


@given(rates, lead, cover, stock, open_po, packs, minimums)
def test_reorder_quantity_properties(
    rate: float, lead_s: int, days: int, on_hand: int, po: int, pack: int, minimum: int
) -> None:
    qty = reorder_quantity(rate, lead_s, days, on_hand, po, pack_size=pack, min_qty=minimum)
    demand = demand_units(rate, lead_s + days * DAY)
    assert qty >= 0
    assert qty % pack == 0
    if qty:
        assert qty >= minimum
        assert on_hand + po + qty >= demand  # what is due gets covered
        assert qty - pack < max(demand - on_hand - po, minimum)  # by less than one extra pack
    else:
        assert on_hand + po >= demand


@given(rates, rates, lead, cover, stock, open_po, packs, minimums)
def test_reorder_quantity_is_monotone_in_the_rate(
    r1: float, r2: float, lead_s: int, days: int, on_hand: int, po: int, pack: int, minimum: int
) -> None:
    lo, hi = sorted((r1, r2))
    q_lo = reorder_quantity(lo, lead_s, days, on_hand, po, pack_size=pack, min_qty=minimum)
    q_hi = reorder_quantity(hi, lead_s, days, on_hand, po, pack_size=pack, min_qty=minimum)
    assert q_lo <= q_hi


@given(rates, lead, cover, stock, stock, open_po)
def test_reorder_quantity_is_antitone_in_stock(
    rate: float, lead_s: int, days: int, a: int, b: int, po: int
) -> None:
    lo, hi = sorted((a, b))
    assert reorder_quantity(rate, lead_s, days, hi, po) <= reorder_quantity(
        rate, lead_s, days, lo, po
    )


# --------------------------------------------------------------------------- reorder_window


def test_reorder_window_is_stable_within_a_cooldown() -> None:
    cooldown = 6 * HOUR
    start = 1_767_225_600_000  # a multiple of 6 h in ms
    first = reorder_window(start, cooldown)
    assert reorder_window(start + cooldown * 1000 - 1, cooldown) == first
    assert reorder_window(start + cooldown * 1000, cooldown) == first + 1


@given(st.integers(min_value=0, max_value=2**62), st.integers(min_value=1, max_value=30 * DAY))
def test_reorder_window_contains_now(now_ms: int, cooldown: int) -> None:
    window = reorder_window(now_ms, cooldown)
    assert window * cooldown * 1000 <= now_ms < (window + 1) * cooldown * 1000


def test_reorder_window_refuses_a_zero_cooldown() -> None:
    with pytest.raises(ValueError, match="cooldown_s"):
        reorder_window(0, 0)
