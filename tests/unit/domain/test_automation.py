"""Rule evaluation: every condition and action, first-match vs all-match, the decision log."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from creatorflow.domain.automation import EMPTY_RULES, Decision, RuleHit, evaluate, load_rules
from creatorflow.domain.order import Order
from creatorflow.domain.priority import PriorityLevel
from unit.domain.tiktok_orders import ECONOMY_OPTION, EXPRESS_OPTION, line_item, make_order


def one_rule(when: str, then: str = 'add_tags = ["hit"]', match: str = "first") -> str:
    return f'[[rules]]\nname = "r"\nmatch = "{match}"\nwhen = {{ {when} }}\nthen = {{ {then} }}\n'


def matches(when: str, order: Order, tags: tuple[str, ...] = ()) -> bool:
    return bool(evaluate(load_rules(one_rule(when)), order, tags).log)


# The reference order: 2 x MUG-RED, 43.18 USD, US 10001, prepaid, NORMAL, STANDARD delivery.
REF = make_order()
JPY: dict[str, Any] = {
    "payment": {"currency": "JPY", "total_amount": "3980"},
    "line_items": [line_item(1, "A", "1990"), line_item(2, "A", "1990")],
}

CONDITIONS: list[tuple[str, dict[str, Any], bool]] = [
    ('currency = "usd"', {}, True),
    ('currency = "GBP"', {}, False),
    ('currency = "USD", total_at_least = "43.18"', {}, True),
    ('currency = "USD", total_at_least = "43.19"', {}, False),
    ('currency = "USD", total_at_least = 43', {}, True),
    ('currency = "USD", total_at_most = "43.18"', {}, True),
    ('currency = "USD", total_at_most = 43', {}, False),
    ('currency = "GBP", total_at_least = 1', {}, False),  # other currency never matches
    ('currency = "USD", total_at_least_minor = 4318', {}, True),
    ('currency = "USD", total_at_least_minor = 4319', {}, False),
    ('currency = "USD", total_at_most_minor = 4318', {}, True),
    ('currency = "USD", total_at_most_minor = 4317', {}, False),
    ('currency = "JPY", total_at_least = 3000', JPY, True),
    ('currency = "JPY", total_at_least = 3981', JPY, False),
    ('skus_any = ["MUG-BLUE", "MUG-RED"]', {}, True),
    ('skus_any = ["MUG-BLUE"]', {}, False),
    ('skus_all = ["MUG-RED"]', {}, True),
    ('skus_all = ["MUG-RED", "MUG-BLUE"]', {}, False),
    ('skus_all = ["MUG-RED", "MUG-BLUE"]', {"units": {"MUG-RED": 1, "MUG-BLUE": 1}}, True),
    ('skus_none = ["MUG-BLUE"]', {}, True),
    ('skus_none = ["MUG-RED"]', {}, False),
    ("quantity_at_least = 2", {}, True),
    ("quantity_at_least = 3", {}, False),
    ("quantity_at_most = 2", {}, True),
    ("quantity_at_most = 1", {}, False),
    ("quantity_at_least = 4", {"units": {"A": 3, "B": 1}}, True),
    ('region_in = ["gb", "us"]', {}, True),
    ('region_in = ["GB"]', {}, False),
    ('postal_code_prefix = ["100", "200"]', {}, True),
    ('postal_code_prefix = ["101"]', {}, False),
    ('postal_code_prefix = ["sw1a"]', {"recipient_address": {"postal_code": "SW1A 1AA"}}, True),
    ('postal_code_prefix = ["SW1A1"]', {"recipient_address": {"postal_code": "sw1a 1aa"}}, True),
    ('buyer_message_contains = ["gift"]', {"buyer_message": "Please GIFT wrap"}, True),
    ('buyer_message_contains = ["gift"]', {"buyer_message": "no wrapping"}, False),
    ('buyer_message_contains = ["a.b"]', {"buyer_message": "axb"}, False),  # literal, not regex
    ('buyer_message_contains = ["Straße"]', {"buyer_message": "STRASSE 5"}, True),  # casefold
    ("is_cod = true", {"is_cod": True}, True),
    ("is_cod = true", {}, False),
    ("is_cod = false", {}, True),
    ('order_type_in = ["normal"]', {}, True),
    ('order_type_in = ["PRE_ORDER"]', {}, False),
    ('order_type_in = ["PRE_ORDER"]', {"order_type": "PRE_ORDER"}, True),
    ('delivery_type_in = ["EXPRESS"]', {"delivery_option_id": EXPRESS_OPTION}, True),
    ('delivery_type_in = ["EXPRESS", "STANDARD"]', {}, True),
    ('delivery_type_in = ["EXPRESS"]', {"delivery_option_id": ECONOMY_OPTION}, False),
    ('delivery_type_in = ["UNKNOWN"]', {"delivery_option_id": "x"}, True),
]


@pytest.mark.parametrize(("when", "fields", "expected"), CONDITIONS)
def test_condition(when: str, fields: dict[str, Any], expected: bool) -> None:
    assert matches(when, make_order(**fields)) is expected


@pytest.mark.parametrize(
    ("when", "tags", "expected"),
    [
        ('tags_any = ["vip", "gift"]', ("gift",), True),
        ('tags_any = ["vip"]', ("gift",), False),
        ('tags_all = ["vip", "gift"]', ("gift", "vip", "x"), True),
        ('tags_all = ["vip", "gift"]', ("gift",), False),
        ('tags_none = ["fraud"]', ("gift",), True),
        ('tags_none = ["fraud"]', ("fraud",), False),
    ],
)
def test_tag_conditions(when: str, tags: tuple[str, ...], expected: bool) -> None:
    assert matches(when, REF, tags) is expected


def test_all_conditions_must_hold() -> None:
    assert matches('skus_any = ["MUG-RED"], region_in = ["US"]', REF)
    assert not matches('skus_any = ["MUG-RED"], region_in = ["GB"]', REF)


def test_empty_when_always_matches() -> None:
    rules = load_rules('[[rules]]\nname = "any"\nthen = { add_tags = ["x"] }\n')
    assert evaluate(rules, REF).log[0].conditions == ()


def test_every_action() -> None:
    rules = load_rules(
        one_rule(
            "is_cod = false",
            'hold_for_review = true, set_priority = "HIGH", prefer_carrier = "ups", '
            'prefer_service = "ground", add_tags = ["a", "b"], skip_automation = true',
        )
    )
    decision = evaluate(rules, REF, tags=("seen",))
    assert decision == Decision(
        hold_for_review=True,
        priority=PriorityLevel.HIGH,
        priority_rule="r",
        carrier="ups",
        service="ground",
        tags=("seen", "a", "b"),
        skip_automation=True,
        log=(
            RuleHit(
                index=1,
                rule="r",
                match="first",
                conditions=("is_cod=false",),
                actions=(
                    "hold_for_review",
                    "set_priority=HIGH",
                    "prefer_carrier=ups",
                    "prefer_service=ground",
                    "add_tags=a,b",
                    "skip_automation",
                ),
            ),
        ),
        rules_evaluated=1,
    )


FIRST_VS_ALL = """
[[rules]]
name = "tag mugs"
match = "all"
when = { skus_any = ["MUG-RED"] }
then = { add_tags = ["mug"], prefer_carrier = "usps" }

[[rules]]
name = "mugs in the US"
match = "first"
when = { tags_any = ["mug"], region_in = ["US"] }
then = { set_priority = "HIGH", prefer_carrier = "ups" }

[[rules]]
name = "never reached for US mugs"
match = "all"
then = { add_tags = ["late"] }
"""


def test_first_match_stops_all_match_continues() -> None:
    rules = load_rules(FIRST_VS_ALL)
    decision = evaluate(rules, REF)
    assert [hit.rule for hit in decision.log] == ["tag mugs", "mugs in the US"]
    assert decision.rules_evaluated == 2
    assert decision.tags == ("mug",)
    assert decision.priority is PriorityLevel.HIGH
    assert decision.carrier == "usps"  # the first rule that set it wins
    assert decision.log[1].actions == (
        "set_priority=HIGH",
        "prefer_carrier=ups (ignored: set by an earlier rule)",
    )
    assert decision.log[1].conditions == ("region_in=US", "tags_any=mug")


def test_non_matching_first_rule_does_not_stop() -> None:
    rules = load_rules(FIRST_VS_ALL)
    uk = make_order(recipient_address={"region_code": "GB"})
    decision = evaluate(rules, uk)
    assert [hit.rule for hit in decision.log] == ["tag mugs", "never reached for US mugs"]
    assert decision.tags == ("mug", "late")
    assert decision.rules_evaluated == 3


def test_first_rule_set_priority_wins_over_later_all_rules() -> None:
    rules = load_rules(
        one_rule("is_cod = false", 'set_priority = "LOW"', match="all")
        + one_rule("is_cod = false", 'set_priority = "HIGH"').replace('"r"', '"r2"')
    )
    decision = evaluate(rules, REF)
    assert (decision.priority, decision.priority_rule) == (PriorityLevel.LOW, "r")


def test_hold_and_skip_are_sticky() -> None:
    rules = load_rules(
        one_rule("is_cod = false", "hold_for_review = true", match="all")
        + one_rule("is_cod = false", 'add_tags = ["x"]', match="all").replace('"r"', '"r2"')
    )
    decision = evaluate(rules, REF)
    assert decision.hold_for_review and not decision.skip_automation


def test_no_rules() -> None:
    assert evaluate(EMPTY_RULES, REF, ("t",)) == Decision(tags=("t",))


def test_decision_is_storable() -> None:
    decision = evaluate(load_rules(FIRST_VS_ALL), REF)
    assert msgspec.json.decode(msgspec.json.encode(decision), type=Decision) == decision


def test_realistic_multi_sku_order() -> None:
    order = make_order(
        line_items=[line_item(i, sku, "12.50") for i, sku in enumerate(["A", "B", "A", "C"])],
        payment={"total_amount": "50.00"},
        buyer_message="Birthday present!",
    )
    rules = load_rules(
        one_rule(
            'skus_all = ["A", "C"], quantity_at_least = 4, currency = "USD", total_at_least = 50, '
            'buyer_message_contains = ["birthday"]',
            'add_tags = ["bundle"]',
        )
    )
    assert evaluate(rules, order).tags == ("bundle",)
