"""Priority scoring: an explainable, deterministic 0..100 score and a level per order (pure).

``score = clamp(base + delivery + sla + value + viral + repeat buyer + cod + boosts, 0, 100)``;
every non-zero term is a reason ``(name, points)``, in that fixed order, so the dashboard can
say *why* an order is HIGH. When the clamp bites it is a reason too, last:
``("capped_at_100", 100 - sum)`` or ``("floored_at_0", -sum)``, so the points of the reasons
always add up to the score. The level is HIGH at ``score >= high_threshold``, LOW below
``low_threshold``, STANDARD between. All points and thresholds come from the ``[priority]``
config section, which *is* :class:`PrioritySettings` (documented in ``config/default.toml``).

Inputs only: ``now`` is passed in (Unix s), the viral SKUs and the buyer's past orders come
through :class:`PriorityContext` (hooks for the inventory and store work). No clock, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Final

import msgspec

from creatorflow.domain.order import DeliveryType, Order

#: Bounds of a score, and the reasons that show the clamp to them.
MIN_SCORE: Final = 0
MAX_SCORE: Final = 100
CAPPED: Final = f"capped_at_{MAX_SCORE}"
FLOORED: Final = f"floored_at_{MIN_SCORE}"

Points = Annotated[int, msgspec.Meta(ge=-100, le=100)]
Score = Annotated[int, msgspec.Meta(ge=0, le=100)]
Seconds = Annotated[int, msgspec.Meta(ge=0)]
Minor = Annotated[int, msgspec.Meta(ge=0)]


class PriorityLevel(enum.StrEnum):
    """Queue an order is scheduled on."""

    HIGH = "HIGH"
    STANDARD = "STANDARD"
    LOW = "LOW"


class PrioritySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Weights and thresholds of :func:`score` (the ``[priority]`` config section)."""

    high_threshold: Score = 60
    low_threshold: Score = 25
    base_points: Points = 30
    express_points: Points = 30
    standard_points: Points = 0
    economy_points: Points = -10
    send_by_seller_points: Points = 0
    unknown_delivery_points: Points = 0
    sla_overdue_points: Points = 40
    sla_urgent_within_s: Seconds = 6 * 3600
    sla_urgent_points: Points = 30
    sla_soon_within_s: Seconds = 24 * 3600
    sla_soon_points: Points = 10
    value_high_minor: dict[str, Minor] = msgspec.field(
        default_factory=lambda: {"USD": 10_000, "GBP": 10_000, "EUR": 10_000, "JPY": 15_000}
    )
    value_high_points: Points = 10
    viral_sku_points: Points = 15
    repeat_buyer_min_orders: Annotated[int, msgspec.Meta(ge=1)] = 1
    repeat_buyer_points: Points = 5
    cod_points: Points = -5
    sku_boost_points: dict[str, Points] = msgspec.field(default_factory=dict)
    tag_boost_points: dict[str, Points] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.low_threshold > self.high_threshold:
            raise ValueError("low_threshold must be <= high_threshold")
        if self.sla_urgent_within_s > self.sla_soon_within_s:
            raise ValueError("sla_urgent_within_s must be <= sla_soon_within_s")


def _no_history(_buyer: str) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class PriorityContext:
    """What the scorer needs beyond the order; the caller (an actor) fills it in.

    Attributes:
        viral_skus: seller SKUs currently flagged viral by the stock watcher.
        buyer_order_count: earlier orders of a buyer (by TikTok ``user_id``); must be cheap
            (an in-memory lookup), it is called once per scored order.
        tags: the order's tags (stored ones plus those the rules just added).
    """

    viral_skus: frozenset[str] = frozenset()
    buyer_order_count: Callable[[str], int] = _no_history
    tags: frozenset[str] = field(default_factory=frozenset)


EMPTY_CONTEXT: Final = PriorityContext()


class Priority(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of :func:`score`: level, score and the reasons with their points (they
    add up to the score)."""

    level: PriorityLevel
    score: int
    reasons: list[tuple[str, int]]


def _delivery_points(settings: PrioritySettings, delivery: DeliveryType) -> int:
    if delivery is DeliveryType.EXPRESS:
        return settings.express_points
    if delivery is DeliveryType.STANDARD:
        return settings.standard_points
    if delivery is DeliveryType.ECONOMY:
        return settings.economy_points
    if delivery is DeliveryType.SEND_BY_SELLER:
        return settings.send_by_seller_points
    return settings.unknown_delivery_points


def _sla(settings: PrioritySettings, order: Order, now: int) -> tuple[str, int] | None:
    if not order.rts_sla_time:
        return None
    left = order.rts_sla_time - now
    if left <= 0:
        return ("sla_overdue", settings.sla_overdue_points)
    if left <= settings.sla_urgent_within_s:
        return ("sla_urgent", settings.sla_urgent_points)
    if left <= settings.sla_soon_within_s:
        return ("sla_soon", settings.sla_soon_points)
    return None


def level_for(settings: PrioritySettings, value: int) -> PriorityLevel:
    """The level a score falls in under ``settings``' thresholds."""
    if value >= settings.high_threshold:
        return PriorityLevel.HIGH
    if value < settings.low_threshold:
        return PriorityLevel.LOW
    return PriorityLevel.STANDARD


def score(
    order: Order,
    now: int,
    context: PriorityContext = EMPTY_CONTEXT,
    settings: PrioritySettings | None = None,
) -> Priority:
    """Score ``order`` at time ``now`` (Unix s). Pure and deterministic; never raises.

    Same order, ``now``, context and settings → same :class:`Priority`, reasons in the same
    order (fixed term order; SKUs and tags sorted).
    """
    s = settings if settings is not None else DEFAULT_SETTINGS
    reasons: list[tuple[str, int]] = [("base", s.base_points)]
    delivery = _delivery_points(s, order.delivery_type)
    if delivery:
        reasons.append((f"delivery_{order.delivery_type.lower()}", delivery))
    sla = _sla(s, order, now)
    if sla is not None and sla[1]:
        reasons.append(sla)
    threshold = s.value_high_minor.get(order.currency)
    if threshold is not None and order.total_minor >= threshold and s.value_high_points:
        reasons.append(("value_high", s.value_high_points))
    skus = sorted({line.seller_sku for line in order.lines})
    if s.viral_sku_points and context.viral_skus:
        viral = [sku for sku in skus if sku in context.viral_skus]
        if viral:
            reasons.append((f"viral_sku:{','.join(viral)}", s.viral_sku_points))
    if (
        s.repeat_buyer_points
        and order.buyer_user_id
        and context.buyer_order_count(order.buyer_user_id) >= s.repeat_buyer_min_orders
    ):
        reasons.append(("repeat_buyer", s.repeat_buyer_points))
    if order.is_cod and s.cod_points:
        reasons.append(("cod", s.cod_points))
    if s.sku_boost_points:
        for sku in skus:
            boost = s.sku_boost_points.get(sku)
            if boost:
                reasons.append((f"sku_boost:{sku}", boost))
    if s.tag_boost_points and context.tags:
        for tag in sorted(context.tags):
            boost = s.tag_boost_points.get(tag)
            if boost:
                reasons.append((f"tag_boost:{tag}", boost))
    raw = sum(points for _, points in reasons)
    total = max(MIN_SCORE, min(MAX_SCORE, raw))
    if total != raw:  # the clamp is shown, so the reasons add up to the score
        reasons.append((CAPPED if raw > MAX_SCORE else FLOORED, total - raw))
    return Priority(level=level_for(s, total), score=total, reasons=reasons)


DEFAULT_SETTINGS: Final = PrioritySettings()
