"""The seller's automation rules: file schema, validation and loading (pure).

A rules file is TOML (``config/rules.example.toml`` documents every condition and action)::

    [[rules]]
    name = "hold big orders"
    match = "first"                      # "first" (default) or "all"
    when = { currency = "USD", total_at_least = "500.00" }
    then = { hold_for_review = true, add_tags = ["big"] }

Rules are evaluated in file order (:mod:`creatorflow.domain.automation`). A rule matches when
every condition in ``when`` holds (an empty ``when`` always matches). A matching ``first``
rule stops the evaluation; a matching ``all`` rule applies its actions and lets the next
rules run.

:func:`parse_rules` validates everything at load: unknown keys, wrong types, unknown actions,
amounts that do not fit the currency, duplicate names, empty lists and rules without an action
raise :class:`~creatorflow.errors.InvalidRules` with one line naming the file, the rule
(1-based index and name) and the field. This module reads no file: the caller passes the text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from creatorflow.domain.money import amount_to_minor, exponent
from creatorflow.domain.order import DeliveryType
from creatorflow.domain.priority import PriorityLevel
from creatorflow.errors import InvalidAmount, InvalidRules

NonEmpty = Annotated[list[str], msgspec.Meta(min_length=1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Amount = str | Annotated[int, msgspec.Meta(ge=0)]
MatchMode = Literal["first", "all"]


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Unknown keys are errors: a misspelt condition must not silently match everything."""


class When(_Strict, frozen=True):
    """Conditions of a rule; all set ones must hold. See ``config/rules.example.toml``."""

    currency: str | None = None
    total_at_least: Amount | None = None  # major units: "49.99" or 50
    total_at_most: Amount | None = None
    total_at_least_minor: Count | None = None
    total_at_most_minor: Count | None = None
    skus_any: NonEmpty | None = None
    skus_all: NonEmpty | None = None
    skus_none: NonEmpty | None = None
    quantity_at_least: Count | None = None
    quantity_at_most: Count | None = None
    region_in: NonEmpty | None = None
    postal_code_prefix: NonEmpty | None = None
    buyer_message_contains: NonEmpty | None = None
    is_cod: bool | None = None
    order_type_in: NonEmpty | None = None
    tags_any: NonEmpty | None = None
    tags_all: NonEmpty | None = None
    tags_none: NonEmpty | None = None
    delivery_type_in: Annotated[list[DeliveryType], msgspec.Meta(min_length=1)] | None = None


class Then(_Strict, frozen=True):
    """Actions of a rule. See ``config/rules.example.toml``."""

    hold_for_review: bool = False
    set_priority: PriorityLevel | None = None
    prefer_carrier: str | None = None
    prefer_service: str | None = None
    add_tags: NonEmpty | None = None
    skip_automation: bool = False

    def is_empty(self) -> bool:
        """Whether the rule would do nothing."""
        return self == _NO_ACTION


_NO_ACTION = Then()


class RuleSpec(_Strict, frozen=True):
    """One ``[[rules]]`` entry as written in the file."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    match: MatchMode = "first"
    when: When = msgspec.field(default_factory=When)
    then: Then = msgspec.field(default_factory=Then)


class RulesFile(_Strict, frozen=True):
    """The whole file: ``[[rules]]`` entries in evaluation order."""

    rules: list[RuleSpec] = msgspec.field(default_factory=list)


_MSGSPEC_PATH = re.compile(r"^(?P<problem>.*) - at `\$(?P<path>[^`]*)`$")
_RULE_PATH = re.compile(r"^\.rules\[(?P<index>\d+)\]\.?(?P<field>.*)$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")


def parse_rules(text: str, *, source: str = "rules") -> list[RuleSpec]:
    """Parse and validate a rules file's TOML text.

    Args:
        text: the file's content.
        source: how to name the file in errors (its path).

    Raises:
        InvalidRules: invalid TOML or an invalid rule; one line naming ``source``, the rule
            (1-based index and name) and the field.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRules(f"{source}: invalid TOML: {exc}") from None
    return rules_from_mapping(raw, source=source)


def rules_from_mapping(raw: Mapping[str, Any], *, source: str = "rules") -> list[RuleSpec]:
    """Validate already-decoded rules (e.g. from a config API); see :func:`parse_rules`.

    Raises:
        InvalidRules: as :func:`parse_rules`.
    """
    try:
        parsed = msgspec.convert(raw, RulesFile)
    except msgspec.ValidationError as exc:
        raise InvalidRules(_explain(source, raw, str(exc))) from None
    seen: dict[str, int] = {}
    for index, rule in enumerate(parsed.rules, start=1):
        where = f"{source}: rule #{index} {rule.name!r}"
        if rule.name in seen:
            raise InvalidRules(f"{where}: name: duplicate of rule #{seen[rule.name]}")
        seen[rule.name] = index
        _check_rule(where, rule)
    return parsed.rules


def _check_rule(where: str, rule: RuleSpec) -> None:
    """Checks msgspec cannot express: cross-field constraints and amounts per currency."""
    when = rule.when
    totals = {
        "total_at_least": when.total_at_least,
        "total_at_most": when.total_at_most,
        "total_at_least_minor": when.total_at_least_minor,
        "total_at_most_minor": when.total_at_most_minor,
    }
    used = [key for key, value in totals.items() if value is not None]
    if used and when.currency is None:
        raise InvalidRules(
            f"{where}: when.{used[0]}: needs when.currency (amounts are per currency)"
        )
    if when.currency is not None:
        try:
            exponent(when.currency)
        except InvalidAmount as exc:
            raise InvalidRules(f"{where}: when.currency: {exc}") from None
        for key in ("total_at_least", "total_at_most"):
            value = totals[key]
            if isinstance(value, str | int):
                try:
                    amount_to_minor(value, when.currency)
                except InvalidAmount as exc:
                    raise InvalidRules(f"{where}: when.{key}: {exc}") from None
    low, high = when.quantity_at_least, when.quantity_at_most
    if low is not None and high is not None and low > high:
        raise InvalidRules(f"{where}: when.quantity_at_least: greater than quantity_at_most")
    if rule.then.is_empty():
        raise InvalidRules(f"{where}: then: no action (add at least one, e.g. add_tags)")


def _explain(source: str, raw: Mapping[str, Any], message: str) -> str:
    """Turn msgspec's ``problem - at `$.rules[1].when.x``` into a line naming the rule."""
    match = _MSGSPEC_PATH.match(message)
    problem, path = (match["problem"], match["path"]) if match else (message, "")
    if problem.endswith("got `float`"):
        problem += ' (write amounts as strings, e.g. "9.99")'
    unknown = _UNKNOWN_FIELD.match(problem)
    if unknown is not None:
        path = f"{path}.{unknown['name']}"
        problem = "unknown field"
        known = _known_fields(path.rsplit(".", 1)[0])
        if known:
            problem += f" (expected one of: {', '.join(known)})"
    rule = _RULE_PATH.match(path)
    if rule is None:
        return f"{source}: {path.lstrip('.') or 'file'}: {problem}"
    index = int(rule["index"])
    rules = raw.get("rules")
    entry = rules[index] if isinstance(rules, list) and index < len(rules) else None
    name = entry.get("name") if isinstance(entry, Mapping) else None
    label = f"rule #{index + 1}" + (f" {name!r}" if isinstance(name, str) else "")
    return f"{source}: {label}: {rule['field'] or 'rule'}: {problem}"


def _known_fields(path: str) -> list[str]:
    tail = path.rsplit(".", 1)[-1]
    if tail == "when":
        return list(When.__struct_fields__)
    if tail == "then":
        return list(Then.__struct_fields__)
    if re.fullmatch(r"\.rules\[\d+\]", path):
        return list(RuleSpec.__struct_fields__)
    if path == "":
        return list(RulesFile.__struct_fields__)
    return []
