"""Evaluate the seller's automation rules against an order, with a decision log (pure).

Rules come from :mod:`creatorflow.domain.rules` and are compiled once at load
(:func:`load_rules` / :func:`compile_rules`): each condition becomes a small predicate with a
readable label (:mod:`creatorflow.domain.conditions`). :func:`evaluate` is then a
loop over predicates, cheap enough for the hot path (a few µs per order).

Semantics:

- Rules run in file order. A rule matches when every condition holds.
- A matching ``match = "first"`` rule applies its actions and stops the evaluation; a matching
  ``match = "all"`` rule applies its actions and the next rules run.
- Tags accumulate: a tag added by an earlier rule is visible to ``tags_*`` conditions of the
  rules after it (and to the priority scorer).
- Single-valued actions (``set_priority``, ``prefer_carrier``, ``prefer_service``): the first
  matching rule that sets one wins; later ones are logged as ignored.
- ``hold_for_review`` and ``skip_automation`` are sticky once set.

The :class:`Decision` (with its log of the rules that matched, the conditions they met and the
actions they took) is a msgspec struct the caller stores on the order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from creatorflow.domain.conditions import Check, Facts, compile_conditions, labels
from creatorflow.domain.order import Order
from creatorflow.domain.priority import PriorityLevel
from creatorflow.domain.rules import MatchMode, RuleSpec, Then, parse_rules


class RuleHit(msgspec.Struct, frozen=True, kw_only=True):
    """One matched rule in the decision log."""

    index: int  # 1-based position in the file
    rule: str
    match: MatchMode
    conditions: tuple[str, ...]  # labels of the conditions it met, e.g. "skus_any=MUG-RED"
    actions: tuple[str, ...]  # what it did, e.g. "set_priority=HIGH"


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules decided for one order; stored with the order."""

    hold_for_review: bool = False
    priority: PriorityLevel | None = None
    priority_rule: str | None = None  # the rule that set ``priority``
    carrier: str | None = None
    service: str | None = None
    tags: tuple[str, ...] = ()  # the order's tags after evaluation (given + added)
    skip_automation: bool = False
    log: tuple[RuleHit, ...] = ()
    rules_evaluated: int = 0


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """A compiled rule: its predicates, their labels, its actions."""

    index: int
    name: str
    match: MatchMode
    checks: tuple[Check, ...]
    labels: tuple[str, ...]  # one per check, for the decision log
    then: Then
    actions: tuple[str, ...]  # labels of ``then`` for the log (when no earlier rule overrode)


class RuleSet(msgspec.Struct, frozen=True):
    """Compiled rules in evaluation order (empty: no automation rules)."""

    rules: tuple[Rule, ...] = ()


EMPTY_RULES: Final = RuleSet()


def load_rules(text: str, *, source: str = "rules") -> RuleSet:
    """Parse, validate and compile a rules file's TOML text.

    Raises:
        InvalidRules: see :func:`creatorflow.domain.rules.parse_rules`.
    """
    return compile_rules(parse_rules(text, source=source))


def compile_rules(specs: Sequence[RuleSpec]) -> RuleSet:
    """Compile validated rules (:func:`~creatorflow.domain.rules.rules_from_mapping`)."""
    rules: list[Rule] = []
    for index, spec in enumerate(specs, start=1):
        pairs = compile_conditions(spec.when)
        rules.append(
            Rule(
                index=index,
                name=spec.name,
                match=spec.match,
                checks=tuple(check for _, check in pairs),
                labels=tuple(label for label, _ in pairs),
                then=spec.then,
                actions=_action_labels(spec.then, set()),
            )
        )
    return RuleSet(tuple(rules))


def evaluate(rules: RuleSet, order: Order, tags: Iterable[str] = ()) -> Decision:
    """Run ``rules`` over ``order`` (with the tags it already has). Never raises.

    Returns:
        The :class:`Decision`, with a log entry for every rule that matched.
    """
    if not rules.rules:
        return Decision(tags=tuple(tags))
    facts = Facts(order, tags)
    acc = _Accumulator()
    evaluated = 0
    for rule in rules.rules:
        evaluated += 1
        for check in rule.checks:  # a plain loop: ~2x cheaper than all(<genexpr>)
            if not check(order, facts):
                break
        else:
            actions = acc.apply(rule, facts)
            hit = RuleHit(
                index=rule.index,
                rule=rule.name,
                match=rule.match,
                conditions=rule.labels,
                actions=actions,
            )
            acc.log.append(hit)
            if rule.match == "first":
                break
    return Decision(
        hold_for_review=acc.hold,
        priority=acc.priority,
        priority_rule=acc.priority_rule,
        carrier=acc.carrier,
        service=acc.service,
        tags=tuple(facts.tag_order),
        skip_automation=acc.skip,
        log=tuple(acc.log),
        rules_evaluated=evaluated,
    )


class _Accumulator:
    __slots__ = ("carrier", "hold", "log", "priority", "priority_rule", "service", "skip")

    def __init__(self) -> None:
        self.hold = False
        self.skip = False
        self.priority: PriorityLevel | None = None
        self.priority_rule: str | None = None
        self.carrier: str | None = None
        self.service: str | None = None
        self.log: list[RuleHit] = []

    def apply(self, rule: Rule, facts: Facts) -> tuple[str, ...]:
        """Apply ``rule``'s actions; return their log labels."""
        then = rule.then
        ignored: set[str] = set()
        if then.hold_for_review:
            self.hold = True
        if then.set_priority is not None:
            if self.priority is None:
                self.priority, self.priority_rule = then.set_priority, rule.name
            else:
                ignored.add("set_priority")
        if then.prefer_carrier is not None:
            if self.carrier is None:
                self.carrier = then.prefer_carrier
            else:
                ignored.add("prefer_carrier")
        if then.prefer_service is not None:
            if self.service is None:
                self.service = then.prefer_service
            else:
                ignored.add("prefer_service")
        if then.add_tags is not None:
            facts.add_tags(then.add_tags)
        if then.skip_automation:
            self.skip = True
        return _action_labels(then, ignored) if ignored else rule.actions


def _action_labels(then: Then, ignored: set[str]) -> tuple[str, ...]:
    """Log labels of ``then``'s actions; those in ``ignored`` were set by an earlier rule."""
    done: list[str] = []
    if then.hold_for_review:
        done.append("hold_for_review")
    for key, value in (
        ("set_priority", then.set_priority),
        ("prefer_carrier", then.prefer_carrier),
        ("prefer_service", then.prefer_service),
    ):
        if value is not None:
            note = " (ignored: set by an earlier rule)" if key in ignored else ""
            done.append(f"{key}={value}{note}")
    if then.add_tags is not None:
        done.append(f"add_tags={labels(then.add_tags)}")
    if then.skip_automation:
        done.append("skip_automation")
    return tuple(done)
