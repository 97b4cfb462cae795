"""Rule conditions compiled to predicates over an order (pure).

Each condition of a rule's ``when`` table becomes a ``(label, predicate)`` pair: the label
(``"skus_any=MUG-RED"``) goes into the decision log, the predicate takes the order and the
per-evaluation :class:`Facts` (values derived from the order once: SKU set, units, folded
buyer message, normalised postal code, the tags so far). Semantics of each condition are
documented in ``config/rules.example.toml``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from creatorflow.domain.money import amount_to_minor, format_amount
from creatorflow.domain.order import Order
from creatorflow.domain.rules import When


class Facts:
    """Per-evaluation values derived from the order once, shared by every predicate."""

    __slots__ = ("message", "postal", "skus", "tag_order", "tags", "units")

    def __init__(self, order: Order, tags: Iterable[str]) -> None:
        skus: set[str] = set()
        units = 0
        for line in order.lines:
            skus.add(line.seller_sku)
            units += line.quantity
        self.skus = skus
        self.units = units
        self.message = order.buyer_message.casefold()
        self.postal = order.postal_code.replace(" ", "").upper()
        self.tag_order = list(dict.fromkeys(tags))  # tags in the order they were given/added
        self.tags = set(self.tag_order)

    def add_tags(self, tags: Iterable[str]) -> None:
        """Add tags a rule's action set; later rules' ``tags_*`` conditions see them."""
        for tag in tags:
            if tag not in self.tags:
                self.tags.add(tag)
                self.tag_order.append(tag)


Check = Callable[[Order, Facts], bool]


def labels(values: Iterable[str]) -> str:
    """``a,b,c``: how lists are shown in the decision log."""
    return ",".join(values)


def compile_conditions(when: When) -> tuple[tuple[str, Check], ...]:
    """One ``(label, predicate)`` per condition set in ``when``, in field order.

    Amounts are converted to minor units and lists to sets here, once, so a predicate is a
    comparison or a set operation. ``when`` must have passed ``rules.rules_from_mapping``.
    """
    out: list[tuple[str, Check]] = []
    cur = when.currency.upper() if when.currency is not None else ""
    if when.currency is not None:
        out.append((f"currency={cur}", lambda o, f: o.currency == cur))
    for key, value, at_least in (
        ("total_at_least", when.total_at_least, True),
        ("total_at_most", when.total_at_most, False),
        ("total_at_least_minor", when.total_at_least_minor, True),
        ("total_at_most_minor", when.total_at_most_minor, False),
    ):
        if value is None:
            continue
        minor = value if key.endswith("_minor") else amount_to_minor(value, cur)
        assert isinstance(minor, int)
        out.append((f"{key}={format_amount(minor, cur)} {cur}", _total(minor, at_least)))
    if when.skus_any is not None:
        wanted = frozenset(when.skus_any)
        out.append(
            (f"skus_any={labels(when.skus_any)}", lambda o, f: not wanted.isdisjoint(f.skus))
        )
    if when.skus_all is not None:
        needed = frozenset(when.skus_all)
        out.append((f"skus_all={labels(when.skus_all)}", lambda o, f: needed <= f.skus))
    if when.skus_none is not None:
        banned = frozenset(when.skus_none)
        out.append((f"skus_none={labels(when.skus_none)}", lambda o, f: banned.isdisjoint(f.skus)))
    if when.quantity_at_least is not None:
        low = when.quantity_at_least
        out.append((f"quantity_at_least={low}", lambda o, f: f.units >= low))
    if when.quantity_at_most is not None:
        high = when.quantity_at_most
        out.append((f"quantity_at_most={high}", lambda o, f: f.units <= high))
    if when.region_in is not None:
        regions = frozenset(r.upper() for r in when.region_in)
        out.append((f"region_in={labels(when.region_in)}", lambda o, f: o.region_code in regions))
    if when.postal_code_prefix is not None:
        prefixes = tuple(p.replace(" ", "").upper() for p in when.postal_code_prefix)
        label = f"postal_code_prefix={labels(when.postal_code_prefix)}"
        out.append((label, lambda o, f: f.postal.startswith(prefixes)))
    if when.buyer_message_contains is not None:
        needles = re.compile("|".join(re.escape(n.casefold()) for n in when.buyer_message_contains))
        label = f"buyer_message_contains={labels(when.buyer_message_contains)}"
        out.append((label, lambda o, f: needles.search(f.message) is not None))
    if when.is_cod is not None:
        cod = when.is_cod
        out.append((f"is_cod={str(cod).lower()}", lambda o, f: o.is_cod is cod))
    if when.order_type_in is not None:
        types = frozenset(t.upper() for t in when.order_type_in)
        label = f"order_type_in={labels(when.order_type_in)}"
        out.append((label, lambda o, f: o.order_type in types))
    if when.tags_any is not None:
        any_of = frozenset(when.tags_any)
        label = f"tags_any={labels(when.tags_any)}"
        out.append((label, lambda o, f: not any_of.isdisjoint(f.tags)))
    if when.tags_all is not None:
        all_of = frozenset(when.tags_all)
        out.append((f"tags_all={labels(when.tags_all)}", lambda o, f: all_of <= f.tags))
    if when.tags_none is not None:
        none_of = frozenset(when.tags_none)
        label = f"tags_none={labels(when.tags_none)}"
        out.append((label, lambda o, f: none_of.isdisjoint(f.tags)))
    if when.delivery_type_in is not None:
        kinds = frozenset(when.delivery_type_in)
        label = f"delivery_type_in={labels(when.delivery_type_in)}"
        out.append((label, lambda o, f: o.delivery_type in kinds))
    return tuple(out)


def _total(minor: int, at_least: bool) -> Check:
    if at_least:
        return lambda o, f: o.total_minor >= minor
    return lambda o, f: o.total_minor <= minor
