"""Priority scoring: explanations, determinism, thresholds, config; classification."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from creatorflow.domain.automation import load_rules
from creatorflow.domain.classify import classify
from creatorflow.domain.order import DeliveryType, Order, OrderLine
from creatorflow.domain.priority import (
    Priority,
    PriorityContext,
    PriorityLevel,
    PrioritySettings,
    level_for,
    score,
)
from unit.domain.tiktok_orders import ECONOMY_OPTION, EXPRESS_OPTION, NOW, make_order

HOUR = 3600
FAR = {"rts_sla_time": NOW + 72 * HOUR}


def test_standard_order_scores_base_only() -> None:
    result = score(make_order(**FAR), NOW)
    assert result == Priority(level=PriorityLevel.STANDARD, score=30, reasons=[("base", 30)])


def test_express_is_high() -> None:
    result = score(make_order(delivery_option_id=EXPRESS_OPTION, **FAR), NOW)
    assert result.level is PriorityLevel.HIGH
    assert result.reasons == [("base", 30), ("delivery_express", 30)]
    assert result.score == 60


def test_economy_is_low() -> None:
    result = score(make_order(delivery_option_id=ECONOMY_OPTION, **FAR), NOW)
    assert (result.level, result.score) == (PriorityLevel.LOW, 20)
    assert ("delivery_economy", -10) in result.reasons


@pytest.mark.parametrize(
    ("left_s", "reason", "level"),
    [
        (-1, ("sla_overdue", 40), PriorityLevel.HIGH),
        (0, ("sla_overdue", 40), PriorityLevel.HIGH),
        (2 * HOUR, ("sla_urgent", 30), PriorityLevel.HIGH),
        (6 * HOUR, ("sla_urgent", 30), PriorityLevel.HIGH),
        (6 * HOUR + 1, ("sla_soon", 10), PriorityLevel.STANDARD),
        (24 * HOUR, ("sla_soon", 10), PriorityLevel.STANDARD),
        (24 * HOUR + 1, None, PriorityLevel.STANDARD),
    ],
)
def test_time_left_to_rts_sla(
    left_s: int, reason: tuple[str, int] | None, level: PriorityLevel
) -> None:
    result = score(make_order(rts_sla_time=NOW + left_s), NOW)
    sla = [r for r in result.reasons if r[0].startswith("sla_")]
    assert sla == ([reason] if reason else [])
    assert result.level is level


def test_no_sla_time_no_sla_reason() -> None:
    assert score(make_order(rts_sla_time=None), NOW).reasons == [("base", 30)]


def test_value_is_per_currency() -> None:
    big_usd = make_order(payment={"total_amount": "100.00"}, **FAR)
    small_usd = make_order(payment={"total_amount": "99.99"}, **FAR)
    unlisted = make_order(payment={"currency": "MXN", "total_amount": "5000.00"}, **FAR)
    assert ("value_high", 10) in score(big_usd, NOW).reasons
    assert ("value_high", 10) not in score(small_usd, NOW).reasons
    assert ("value_high", 10) not in score(unlisted, NOW).reasons


def test_viral_repeat_buyer_cod_and_boosts_explain_themselves() -> None:
    order = make_order(units={"MUG-RED": 1, "CAP": 1, "MUG-BLUE": 2}, is_cod=True, **FAR)
    settings = PrioritySettings(
        sku_boost_points={"CAP": 7, "MUG-BLUE": -3}, tag_boost_points={"vip": 12, "other": 50}
    )
    context = PriorityContext(
        viral_skus=frozenset({"MUG-RED", "MUG-BLUE"}),
        buyer_order_count=lambda buyer: 2 if buyer == "7000000000000000009" else 0,
        tags=frozenset({"vip"}),
    )
    result = score(order, NOW, context, settings)
    assert result.reasons == [
        ("base", 30),
        ("viral_sku:MUG-BLUE,MUG-RED", 15),
        ("repeat_buyer", 5),
        ("cod", -5),
        ("sku_boost:CAP", 7),
        ("sku_boost:MUG-BLUE", -3),
        ("tag_boost:vip", 12),
    ]
    assert result.score == sum(points for _, points in result.reasons) == 61
    assert result.level is PriorityLevel.HIGH


def test_repeat_buyer_threshold() -> None:
    settings = PrioritySettings(repeat_buyer_min_orders=3)
    order = make_order(**FAR)
    for count, expected in ((2, False), (3, True)):
        context = PriorityContext(buyer_order_count=lambda _buyer, n=count: n)
        assert (("repeat_buyer", 5) in score(order, NOW, context, settings).reasons) is expected


def test_score_is_clamped_and_the_clamp_is_a_reason() -> None:
    loud = PrioritySettings(base_points=100, express_points=100)
    quiet = PrioritySettings(base_points=-100)
    express = make_order(delivery_option_id=EXPRESS_OPTION, **FAR)
    capped = score(express, NOW, settings=loud)
    assert capped.score == 100
    assert capped.reasons == [("base", 100), ("delivery_express", 100), ("capped_at_100", -100)]
    floored = score(express, NOW, settings=quiet)
    assert floored.score == 0
    assert floored.reasons == [("base", -100), ("delivery_express", 30), ("floored_at_0", 70)]
    # Exactly at a bound: nothing to show.
    exact = score(express, NOW, settings=PrioritySettings(base_points=70))
    assert exact.score == 100 and exact.reasons[-1] == ("delivery_express", 30)


def test_express_overdue_high_value_viral_order_reasons_add_up_to_100() -> None:
    # The README's example: 30 base + 30 express + 40 overdue + 10 value + 15 viral = 125.
    order = make_order(
        delivery_option_id=EXPRESS_OPTION,
        rts_sla_time=NOW - 1,
        payment={"total_amount": "150.00"},
    )
    result = score(order, NOW, PriorityContext(viral_skus=frozenset({"MUG-RED"})))
    assert result.score == 100
    assert result.reasons == [
        ("base", 30),
        ("delivery_express", 30),
        ("sla_overdue", 40),
        ("value_high", 10),
        ("viral_sku:MUG-RED", 15),
        ("capped_at_100", -25),
    ]


def test_thresholds() -> None:
    settings = PrioritySettings(high_threshold=70, low_threshold=40)
    assert level_for(settings, 70) is PriorityLevel.HIGH
    assert level_for(settings, 69) is PriorityLevel.STANDARD
    assert level_for(settings, 40) is PriorityLevel.STANDARD
    assert level_for(settings, 39) is PriorityLevel.LOW
    express = make_order(delivery_option_id=EXPRESS_OPTION, **FAR)
    assert score(express, NOW, settings=settings).level is PriorityLevel.STANDARD


def test_settings_validate_like_config() -> None:
    with pytest.raises(msgspec.ValidationError, match="low_threshold must be <= high_threshold"):
        msgspec.convert({"low_threshold": 80, "high_threshold": 50}, PrioritySettings)
    with pytest.raises(msgspec.ValidationError, match="unknown field `expres_points`"):
        msgspec.convert({"expres_points": 1}, PrioritySettings)
    with pytest.raises(msgspec.ValidationError, match="high_threshold"):
        msgspec.convert({"high_threshold": 101}, PrioritySettings)


orders = st.builds(
    Order,
    order_id=st.just("1"),
    shop_id=st.just("s"),
    tiktok_status=st.just("AWAITING_SHIPMENT"),
    update_time=st.just(0),
    rts_sla_time=st.integers(0, 2 * NOW),
    delivery_type=st.sampled_from(list(DeliveryType)),
    is_cod=st.booleans(),
    total_minor=st.integers(0, 10**9),
    currency=st.sampled_from(["USD", "JPY", "MXN", ""]),
    buyer_user_id=st.sampled_from(["", "b1"]),
)


@given(orders, st.integers(0, 2 * NOW))
def test_deterministic_and_bounded(order: Order, now: int) -> None:
    context = PriorityContext(buyer_order_count=lambda buyer: len(buyer))
    first, second = score(order, now, context), score(order, now, context)
    assert first == second
    assert 0 <= first.score <= 100
    assert first.reasons[0] == ("base", 30)
    assert first.level is level_for(PrioritySettings(), first.score)


points = st.integers(-100, 100)
settings_strategy = st.builds(
    PrioritySettings,
    base_points=points,
    express_points=points,
    standard_points=points,
    economy_points=points,
    send_by_seller_points=points,
    unknown_delivery_points=points,
    sla_overdue_points=points,
    sla_urgent_points=points,
    sla_soon_points=points,
    value_high_points=points,
    viral_sku_points=points,
    repeat_buyer_points=points,
    cod_points=points,
    sku_boost_points=st.dictionaries(st.sampled_from(["A", "B", "C"]), points, max_size=3),
    tag_boost_points=st.dictionaries(st.sampled_from(["vip", "gift"]), points, max_size=2),
)
contexts = st.builds(
    PriorityContext,
    viral_skus=st.frozensets(st.sampled_from(["A", "B", "C"])),
    buyer_order_count=st.sampled_from([lambda _buyer: 0, lambda _buyer: 5]),
    tags=st.frozensets(st.sampled_from(["vip", "gift", "other"])),
)
units = st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(1, 3), min_size=1)


@given(orders, st.integers(0, 2 * NOW), settings_strategy, contexts, units)
def test_reasons_always_add_up_to_the_score(
    order: Order,
    now: int,
    settings: PrioritySettings,
    context: PriorityContext,
    skus: dict[str, int],
) -> None:
    lines = tuple(
        OrderLine(
            seller_sku=sku,
            sku_id=f"id-{sku}",
            product_id="p",
            quantity=n,
            unit_price_minor=100,
            total_minor=100 * n,
        )
        for sku, n in skus.items()
    )
    order = msgspec.structs.replace(order, lines=lines)
    result = score(order, now, context, settings)
    assert sum(points for _, points in result.reasons) == result.score
    assert 0 <= result.score <= 100
    assert result.level is level_for(settings, result.score)
    clamps = [r for r in result.reasons if r[0] in ("capped_at_100", "floored_at_0")]
    assert len(clamps) <= 1 and (not clamps or result.reasons[-1] == clamps[0])


def test_line_order_does_not_change_the_explanation() -> None:
    a = make_order(units={"A": 1, "B": 1}, **FAR)
    b = make_order(units={"B": 1, "A": 1}, **FAR)
    context = PriorityContext(viral_skus=frozenset({"A", "B"}))
    assert score(a, NOW, context).reasons == score(b, NOW, context).reasons


# --------------------------------------------------------------------------- classify

RULES = load_rules(
    """
[[rules]]
name = "vip tag"
match = "all"
when = { buyer_message_contains = ["VIP"] }
then = { add_tags = ["vip"] }

[[rules]]
name = "cod low"
when = { is_cod = true }
then = { set_priority = "LOW" }
"""
)


def test_classify_feeds_rule_tags_to_tag_boosts() -> None:
    order = make_order(buyer_message="vip customer", **FAR)
    settings = PrioritySettings(tag_boost_points={"vip": 30})
    result = classify(order, NOW, rules=RULES, settings=settings)
    assert result.decision.tags == ("vip",)
    assert ("tag_boost:vip", 30) in result.priority.reasons
    assert result.priority.level is PriorityLevel.HIGH


def test_classify_rule_overrides_level_not_score() -> None:
    order = make_order(is_cod=True, delivery_option_id=EXPRESS_OPTION, **FAR)
    result = classify(order, NOW, rules=RULES)
    assert result.priority.level is PriorityLevel.LOW
    assert result.priority.score == 55  # 30 base + 30 express - 5 cod
    assert result.priority.reasons[-1] == ("rule:cod low", 0)


def test_classify_without_rules_is_score() -> None:
    order = make_order(**FAR)
    assert classify(order, NOW).priority == score(order, NOW)
    encoded = msgspec.json.encode(classify(order, NOW, rules=RULES))
    assert b'"priority":{"level":"STANDARD","score":30,"reasons":[["base",30]]}' in encoded
