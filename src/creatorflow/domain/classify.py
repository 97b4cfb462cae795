"""Classification of an order: the seller's rules, then the priority score (pure).

The one call the order scheduler makes per order (and what ``bench/orders`` measures):

1. :func:`~creatorflow.domain.automation.evaluate` runs the rules; tags they add are visible to
   the scorer's tag boosts.
2. :func:`~creatorflow.domain.priority.score` computes the explainable score.
3. A rule's ``set_priority`` overrides the level (never the score); the override is the last
   reason, ``("rule:<name>", 0)``, so the explanation says who decided.
"""

from __future__ import annotations

import msgspec

from creatorflow.domain.automation import EMPTY_RULES, Decision, RuleSet, evaluate
from creatorflow.domain.order import Order
from creatorflow.domain.priority import (
    EMPTY_CONTEXT,
    Priority,
    PriorityContext,
    PrioritySettings,
    score,
)


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    """Priority and rules decision of one order, stored with it."""

    priority: Priority
    decision: Decision


def classify(
    order: Order,
    now: int,
    *,
    rules: RuleSet = EMPTY_RULES,
    context: PriorityContext = EMPTY_CONTEXT,
    settings: PrioritySettings | None = None,
) -> Classification:
    """Evaluate ``rules`` and score ``order`` at ``now`` (Unix s). Deterministic; never raises.

    Args:
        order: the order to classify.
        now: current time in Unix seconds (the caller's clock).
        rules: compiled seller rules (:func:`~creatorflow.domain.automation.load_rules`).
        context: viral SKUs, buyer history and the order's current tags.
        settings: the ``[priority]`` config section (defaults when ``None``).
    """
    decision = evaluate(rules, order, context.tags)
    if len(decision.tags) != len(context.tags):  # rules only ever add tags
        context = PriorityContext(
            viral_skus=context.viral_skus,
            buyer_order_count=context.buyer_order_count,
            tags=frozenset(decision.tags),
        )
    priority = score(order, now, context, settings)
    if decision.priority is not None:
        reason = (f"rule:{decision.priority_rule}", 0)
        priority = Priority(
            level=decision.priority, score=priority.score, reasons=[*priority.reasons, reason]
        )
    return Classification(priority=priority, decision=decision)
