"""Rules files: validation at load with one clear line; the shipped example loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from creatorflow.config import load_config, load_rules_file
from creatorflow.domain.automation import evaluate, load_rules
from creatorflow.domain.rules import Then, When, parse_rules
from creatorflow.errors import ConfigError, InvalidRules
from unit.domain.tiktok_orders import make_order

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "rules.example.toml"


def test_example_file_loads_and_documents_everything() -> None:
    text = EXAMPLE.read_text()
    specs = parse_rules(text, source=str(EXAMPLE))
    assert len(specs) >= 5
    assert {s.match for s in specs} == {"first", "all"}
    used_when = {k for s in specs for k in When.__struct_fields__ if getattr(s.when, k) is not None}
    used_then = {
        k for s in specs for k in Then.__struct_fields__ if getattr(s.then, k) not in (None, False)
    }
    assert used_when == set(When.__struct_fields__), "an example for every condition"
    assert used_then == set(Then.__struct_fields__), "an example for every action"
    for key in (*When.__struct_fields__, *Then.__struct_fields__):
        assert f"#   {key} = " in text, f"{key} is documented in the header"
    rules = load_rules(text)
    assert evaluate(rules, make_order()).log  # the catch-all matches at least


def test_example_file_through_config(tmp_path: Path) -> None:
    config = load_config(environ={"CREATORFLOW_RULES_FILE": str(EXAMPLE)})
    assert len(load_rules_file(config).rules) == len(parse_rules(EXAMPLE.read_text()))
    assert load_rules_file(load_config(environ={})).rules == ()


def test_invalid_rules_file_stops_config_loading(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rules]]\nname = "x"\nthen = { hold = true }\n')
    with pytest.raises(InvalidRules, match=r"rule #1 'x': then.hold: unknown field") as info:
        load_config(environ={"CREATORFLOW_RULES__FILE": str(bad)})
    assert isinstance(info.value, ConfigError)
    assert str(bad) in str(info.value)
    with pytest.raises(ConfigError, match=r"rules\.file: cannot read"):
        load_config(environ={"CREATORFLOW_RULES_FILE": str(tmp_path / "missing.toml")})


TAG = 'then = { add_tags = ["t"] }\n'
GOOD = 'name = "ok"\n' + TAG


def rule(name: str, body: str, then: str = TAG) -> str:
    """One ``[[rules]]`` entry named ``name`` with ``body`` lines and (by default) an action."""
    return f'[[rules]]\nname = "{name}"\n{body}\n{then}'


INVALID = [
    (
        f"[[rules]]\n{GOOD}" + rule("big", "when = { totl_at_least = 5 }"),
        "rules.toml: rule #2 'big': when.totl_at_least: unknown field (expected one of: "
        "currency, total_at_least,",
    ),
    (
        rule("act", "", "then = { hold_forever = true }"),
        "rule #1 'act': then.hold_forever: unknown field (expected one of: hold_for_review,",
    ),
    (
        rule("top", "whenever = {}"),
        "rule #1 'top': whenever: unknown field (expected one of: name, match, when, then)",
    ),
    (
        "version = 2\n" + rule("v", ""),
        "rules.toml: version: unknown field (expected one of: rules)",
    ),
    (
        rule("t", 'when = { quantity_at_least = "3" }'),
        "rule #1 't': when.quantity_at_least: Expected `int | null`, got `str`",
    ),
    (
        rule("t", 'when = { is_cod = "yes" }'),
        "rule #1 't': when.is_cod: Expected `bool | null`, got `str`",
    ),
    (
        rule("f", 'when = { currency = "USD", total_at_least = 9.99 }'),
        "rule #1 'f': when.total_at_least: Expected `int | str | null`, got `float` "
        '(write amounts as strings, e.g. "9.99")',
    ),
    (
        rule("p", "", 'then = { set_priority = "URGENT" }'),
        "rule #1 'p': then.set_priority: Invalid enum value 'URGENT'",
    ),
    (rule("m", 'match = "any"'), "rule #1 'm': match: Invalid enum value 'any'"),
    (
        rule("d", 'when = { delivery_type_in = ["FAST"] }'),
        "rule #1 'd': when.delivery_type_in[0]: Invalid enum value 'FAST'",
    ),
    (
        rule("e", "when = { skus_any = [] }"),
        "rule #1 'e': when.skus_any: Expected `array` of length >= 1",
    ),
    ("[[rules]]\n" + TAG, "rule #1: rule: Object missing required field `name`"),
    (rule("", ""), "rule #1 '': name: Expected `str` of length >= 1"),
    (
        rule("c", 'when = { total_at_least = "10.00" }'),
        "rule #1 'c': when.total_at_least: needs when.currency",
    ),
    (
        rule("c", 'when = { currency = "USD", total_at_most = "10.001" }'),
        "rule #1 'c': when.total_at_most: '10.001' has 3 decimals; USD allows 2",
    ),
    (
        rule("c", 'when = { currency = "ABC", total_at_most_minor = 5 }'),
        "rule #1 'c': when.currency: unknown currency 'ABC'",
    ),
    (
        rule("q", "when = { quantity_at_least = 5, quantity_at_most = 2 }"),
        "rule #1 'q': when.quantity_at_least: greater than quantity_at_most",
    ),
    (rule("noop", "when = { is_cod = true }", ""), "rule #1 'noop': then: no action"),
    (rule("noop", "", "then = { hold_for_review = false }"), "rule #1 'noop': then: no action"),
    (f"[[rules]]\n{GOOD}[[rules]]\n{GOOD}", "rule #2 'ok': name: duplicate of rule #1"),
    ("[[rules]\n", "rules.toml: invalid TOML"),
    ("rules = 5\n", "rules.toml: rules: Expected `array`, got `int`"),
    ("rules = [5]\n", "rules.toml: rule #1: rule: Expected `object`, got `int`"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_rules_give_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(InvalidRules) as info:
        parse_rules(text, source="rules.toml")
    text_of_error = str(info.value)
    assert message in text_of_error
    assert "\n" not in text_of_error
    assert text_of_error.startswith("rules.toml: ")


def test_defaults_and_empty_file() -> None:
    assert parse_rules("") == []
    (spec,) = parse_rules("[[rules]]\n" + GOOD)
    assert spec.match == "first"
    assert spec.when == When()
