"""Which rate to buy (pure): the selection policy, explained like priority is.

Given the usable rates of an order's shipment, rank them best first (the carrier pool buys
the first and fails over down the list):

- **HIGH** orders: the fastest service, then the cheapest among equally fast ones.
- **STANDARD / LOW** orders: the cheapest service that meets the delivery promise of the
  order's delivery option (``promise_days``: at most that many transit days); when none
  meets it, the fastest ones (the promise is missed least), cheapest first.
- A rate with no transit time is ranked after every rate with one, for both.
- The seller's rules (``config/rules.example.toml``): ``forbid_carriers`` / ``forbid_services``
  drop rates; ``prefer_carrier`` / ``prefer_service`` move matching rates to the front (in
  the policy's order among themselves). Carriers whose breaker is open are dropped.

Every decision is a reason (``why``), so an operator sees why this rate was bought.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal

import msgspec

from creatorflow.domain.shipping.types import Rate

Level = Literal["HIGH", "STANDARD", "LOW"]

#: Transit days assumed for a rate that gives none (ranked after every known one).
_UNKNOWN_DAYS = 10_000


class Preferences(msgspec.Struct, frozen=True, kw_only=True):
    """What the seller's rules ask of the carrier (``Decision.carrier`` & co.)."""

    prefer_carrier: str | None = None
    prefer_service: str | None = None
    forbid_carriers: frozenset[str] = frozenset()
    forbid_services: frozenset[str] = frozenset()


_NO_PREFERENCES: Final = Preferences()


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """The rates to try, best first, and why (the first reason explains the first rate)."""

    ranked: tuple[Rate, ...]
    why: tuple[str, ...]

    @property
    def best(self) -> Rate | None:
        return self.ranked[0] if self.ranked else None


def select_rates(
    rates: Sequence[Rate],
    *,
    level: Level,
    promise_days: int | None = None,
    preferences: Preferences | None = None,
    unavailable: Iterable[str] = (),
) -> Selection:
    """Rank ``rates`` for an order of priority ``level`` (see the module docstring).

    ``unavailable``: carriers (names) whose breaker is open. Never raises; no usable rate
    gives an empty ranking with the reasons.
    """
    preferences = preferences or _NO_PREFERENCES
    why: list[str] = []
    down = frozenset(unavailable)
    usable: list[Rate] = []
    for rate in rates:
        if rate.carrier in down:
            continue
        if rate.carrier in preferences.forbid_carriers:
            continue
        if rate.service in preferences.forbid_services:
            continue
        usable.append(rate)
    dropped = len(rates) - len(usable)
    if dropped:
        why.append(f"{dropped} rate(s) left out (breaker open or forbidden by a rule)")
    if not usable:
        why.append("no usable rate")
        return Selection(ranked=(), why=tuple(why))

    def days(rate: Rate) -> int:
        return _UNKNOWN_DAYS if rate.transit_days is None else rate.transit_days

    def price(rate: Rate) -> int:
        return rate.total.amount_minor

    if level == "HIGH":
        ranked = sorted(usable, key=lambda r: (days(r), price(r), r.carrier, r.service))
        why.append("HIGH priority: fastest service, then cheapest")
    elif promise_days is None:
        ranked = sorted(usable, key=lambda r: (price(r), days(r), r.carrier, r.service))
        why.append(f"{level} priority: cheapest service (no delivery promise known)")
    else:
        meets = [r for r in usable if days(r) <= promise_days]
        misses = [r for r in usable if days(r) > promise_days]
        ranked = sorted(meets, key=lambda r: (price(r), days(r), r.carrier, r.service))
        ranked += sorted(misses, key=lambda r: (days(r), price(r), r.carrier, r.service))
        if meets:
            why.append(f"{level} priority: cheapest service within {promise_days} day(s)")
        else:
            why.append(f"{level} priority: no service within {promise_days} day(s); fastest")
    preferred = [r for r in ranked if _preferred(r, preferences)]
    if preferred:
        ranked = preferred + [r for r in ranked if not _preferred(r, preferences)]
        why.append(f"rule prefers {_describe(preferences)}")
    best = ranked[0]
    why.insert(
        0,
        f"{best.carrier} {best.service}: {best.total.amount_minor} {best.total.currency} minor "
        f"units, {_days(best)}",
    )
    return Selection(ranked=tuple(ranked), why=tuple(why))


def _preferred(rate: Rate, preferences: Preferences) -> bool:
    if preferences.prefer_service is not None and rate.service == preferences.prefer_service:
        return True
    return preferences.prefer_carrier is not None and rate.carrier == preferences.prefer_carrier


def _describe(preferences: Preferences) -> str:
    parts = [
        f"carrier {preferences.prefer_carrier}" if preferences.prefer_carrier else "",
        f"service {preferences.prefer_service}" if preferences.prefer_service else "",
    ]
    return " / ".join(p for p in parts if p)


def _days(rate: Rate) -> str:
    return "transit time unknown" if rate.transit_days is None else f"{rate.transit_days} day(s)"
