"""The rate selection policy (issue 12): written from the promise, not from the code."""

from __future__ import annotations

from creatorflow.domain.shipping import Money, Rate
from creatorflow.domain.shipping.selection import Preferences, select_rates


def rate(carrier: str, service: str, cents: int, days: int | None) -> Rate:
    return Rate(
        rate_id=f"r-{service}",
        carrier=carrier,
        carrier_id=f"{carrier}-id",
        service=service,
        total=Money(amount_minor=cents, currency="USD"),
        transit_days=days,
    )


RATES = [
    rate("terra", "ground", 450, 5),
    rate("terra", "two_day", 590, 3),
    rate("swift", "priority", 1120, 1),
    rate("zoom", "express", 1590, 1),
    rate("zoom", "mystery", 100, None),
]


def services(selection: object) -> list[str]:
    return [r.service for r in selection.ranked]  # type: ignore[attr-defined]


def test_high_takes_the_fastest_then_the_cheapest() -> None:
    chosen = select_rates(RATES, level="HIGH")
    assert services(chosen) == ["priority", "express", "two_day", "ground", "mystery"]
    assert any("fastest" in why for why in chosen.why)
    assert chosen.why[0].startswith("swift priority: 1120 USD")


def test_standard_takes_the_cheapest_within_the_promise() -> None:
    chosen = select_rates(RATES, level="STANDARD", promise_days=3)
    assert services(chosen)[:2] == ["two_day", "priority"]
    assert chosen.best is not None and chosen.best.service == "two_day"


def test_no_rate_meets_the_promise_then_the_fastest_first() -> None:
    slow = [rate("terra", "ground", 450, 5), rate("terra", "freight", 300, 9)]
    chosen = select_rates(slow, level="LOW", promise_days=2)
    assert services(chosen) == ["ground", "freight"]
    assert any("no service within 2" in why for why in chosen.why)


def test_no_promise_known_is_the_cheapest_with_a_known_time_first() -> None:
    chosen = select_rates(RATES, level="STANDARD")
    assert services(chosen)[0] == "mystery"  # cheapest of all (time unknown is last only on ties)


def test_open_breakers_and_forbidden_rates_are_left_out() -> None:
    chosen = select_rates(
        RATES,
        level="HIGH",
        unavailable=["swift"],
        preferences=Preferences(forbid_services=frozenset({"express"})),
    )
    assert services(chosen) == ["two_day", "ground", "mystery"]
    assert any("left out" in why for why in chosen.why)


def test_a_rule_preference_goes_first() -> None:
    chosen = select_rates(RATES, level="HIGH", preferences=Preferences(prefer_carrier="terra"))
    assert services(chosen)[:2] == ["two_day", "ground"]
    assert any("rule prefers carrier terra" in why for why in chosen.why)


def test_nothing_usable_is_an_empty_ranking_with_the_reason() -> None:
    chosen = select_rates(RATES, level="HIGH", unavailable=["terra", "swift", "zoom"])
    assert chosen.ranked == () and chosen.best is None
    assert chosen.why[-1] == "no usable rate"
