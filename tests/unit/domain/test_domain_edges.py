"""Edges of the money, priority, inventory and webhook rules that the mutation run
(``make mutation``) found unguarded: each test names the rule it holds, and would fail on a
changed boundary, a dropped argument or a swapped code.
"""

from __future__ import annotations

import pytest

from creatorflow.domain.inventory import Hold, SkuStock
from creatorflow.domain.money import MAX_MINOR, format_amount, parse_amount
from creatorflow.domain.order import DeliveryType, Order, OrderLine
from creatorflow.domain.priority import PriorityContext, PrioritySettings, score
from creatorflow.domain.webhook import (
    parse_envelope,
    shop_of,
    verify_signature,
)
from creatorflow.errors import InventoryRefused, WebhookRejected

NOW_MS = 1_700_000_000_000

# --------------------------------------------------------------------------- money


def test_zero_has_no_sign() -> None:
    assert format_amount(0, "USD") == "0.00"
    assert format_amount(0, "JPY") == "0"
    assert format_amount(-1, "USD") == "-0.01"


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("9223372036854775807", MAX_MINOR),  # 19 digits: the largest bigint is accepted
        ("1000000000000000000", 10**18),
        ("0009223372036854775807", MAX_MINOR),  # leading zeros are not digits that count
    ],
)
def test_nineteen_digit_amounts_in_a_zero_decimal_currency(text: str, minor: int) -> None:
    assert parse_amount(text, "JPY") == minor


# --------------------------------------------------------------------------- priority


def order(**fields: object) -> Order:
    base: dict[str, object] = {
        "order_id": "o-1",
        "shop_id": "s",
        "tiktok_status": "AWAITING_SHIPMENT",
        "update_time": 1,
        "lines": (
            OrderLine(
                seller_sku="MUG", sku_id="k", product_id="p", quantity=1,
                unit_price_minor=100, total_minor=100,
            ),
        ),
    }  # fmt: skip
    base.update(fields)
    return Order(**base)  # type: ignore[arg-type]


def test_equal_thresholds_and_equal_sla_windows_are_valid_settings() -> None:
    settings = PrioritySettings(
        low_threshold=50, high_threshold=50, sla_urgent_within_s=60, sla_soon_within_s=60
    )
    assert (settings.low_threshold, settings.sla_soon_within_s) == (50, 60)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"low_threshold": 61, "high_threshold": 60}, "low_threshold must be <= high_threshold"),
        ({"sla_urgent_within_s": 61, "sla_soon_within_s": 60},
         "sla_urgent_within_s must be <= sla_soon_within_s"),
    ],
)  # fmt: skip
def test_crossed_settings_are_refused_naming_both_keys(
    fields: dict[str, int], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        PrioritySettings(**fields)  # type: ignore[arg-type]


def test_each_delivery_type_has_its_own_points() -> None:
    settings = PrioritySettings(
        express_points=11, standard_points=12, economy_points=-13,
        send_by_seller_points=14, unknown_delivery_points=-15,
    )  # fmt: skip
    got = {
        delivery: score(order(delivery_type=delivery), 0, settings=settings).score - 30
        for delivery in DeliveryType
    }
    assert got == {
        DeliveryType.EXPRESS: 11,
        DeliveryType.STANDARD: 12,
        DeliveryType.ECONOMY: -13,
        DeliveryType.SEND_BY_SELLER: 14,
        DeliveryType.UNKNOWN: -15,
    }


def test_one_second_before_the_sla_is_urgent_not_overdue() -> None:
    now = 1_700_000_000
    reasons = dict(score(order(rts_sla_time=now + 1), now).reasons)
    assert "sla_urgent" in reasons
    assert "sla_overdue" not in reasons


def test_a_viral_sku_is_no_reason_when_viral_is_worth_nothing() -> None:
    settings = PrioritySettings(viral_sku_points=0)
    result = score(order(), 0, PriorityContext(viral_skus=frozenset({"MUG"})), settings)
    assert not any(name.startswith("viral_sku") for name, _ in result.reasons)
    assert result.reasons == [("base", 30)]


# --------------------------------------------------------------------------- inventory


def test_hold_of_finds_the_orders_hold() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o-1", 2, NOW_MS)
    hold = stock.hold_of("o-1")
    assert hold is not None and (hold.order_id, hold.qty) == ("o-1", 2)
    assert stock.hold_of("o-2") is None


def test_next_expiry_follows_the_live_holds() -> None:
    stock = SkuStock("MUG", on_hand=5)
    assert stock.next_expiry_ms() is None
    stock.reserve("o-1", 1, NOW_MS, expires_at_ms=NOW_MS + 500)
    stock.reserve("o-2", 1, NOW_MS, expires_at_ms=NOW_MS + 900)
    assert stock.next_expiry_ms() == NOW_MS + 500
    stock.release("o-1", NOW_MS)  # its heap entry goes stale
    assert stock.next_expiry_ms() == NOW_MS + 900
    stock.reserve("o-2", 1, NOW_MS, expires_at_ms=NOW_MS + 700)  # re-held with a new expiry
    assert stock.next_expiry_ms() == NOW_MS + 700
    stock.reserve("o-2", 1, NOW_MS)  # paid: firm
    assert stock.next_expiry_ms() is None


def test_release_and_commit_journal_the_reason_given_and_none_by_default() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o-1", 1, NOW_MS)
    stock.reserve("o-2", 1, NOW_MS)
    stock.reserve("o-3", 1, NOW_MS)
    stock.reserve("o-4", 1, NOW_MS)
    [released] = stock.release("o-1", NOW_MS, reason="cancelled by buyer")
    [plain_release] = stock.release("o-2", NOW_MS)
    [committed] = stock.commit("o-3", NOW_MS, reason="shipped")
    [plain_commit] = stock.commit("o-4", NOW_MS)
    assert (released.kind, released.reason) == ("release", "cancelled by buyer")
    assert (plain_release.kind, plain_release.reason) == ("release", "")
    assert (committed.kind, committed.reason) == ("commit", "shipped")
    assert (plain_commit.kind, plain_commit.reason) == ("commit", "")


def test_committing_one_unit_of_a_larger_hold_ships_one_and_frees_the_rest() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("o-1", 3, NOW_MS, expires_at_ms=NOW_MS + 60_000)
    [change] = stock.commit("o-1", NOW_MS, qty=1)
    assert (change.delta_on_hand, change.delta_reserved) == (-1, -3)
    assert (stock.on_hand, stock.reserved) == (9, 0)
    assert change.hold is not None
    assert (change.hold.qty, change.hold.expires_at_ms) == (1, NOW_MS + 60_000)


def test_an_unreserved_commit_says_so_and_how_much_was_missing() -> None:
    stock = SkuStock("MUG", on_hand=5)
    [full] = stock.commit("o-1", NOW_MS, qty=2)
    assert (full.kind, full.reason, full.delta_on_hand) == ("commit", "unreserved", -2)
    [short] = stock.commit("o-2", NOW_MS, qty=4)
    assert (short.kind, short.delta_on_hand) == ("commit", -3)
    assert short.reason == "unreserved: shipped 4, only 3 free on record"
    [given] = stock.commit("o-3", NOW_MS, qty=1, reason="seller center")
    assert given.reason == "seller center: shipped 1, only 0 free on record"


def test_a_negative_commit_without_a_hold_is_bad_quantity() -> None:
    stock = SkuStock("MUG", on_hand=5)
    with pytest.raises(InventoryRefused) as info:
        stock.commit("o-1", NOW_MS, qty=-1)
    assert info.value.code == "bad_quantity"
    assert info.value.detail == "MUG: commit qty must be >= 0"
    assert stock.on_hand == 5


def test_the_safety_buffer_may_be_zero_but_not_negative() -> None:
    stock = SkuStock("MUG", on_hand=5, safety_buffer=2)
    stock.set_safety_buffer(0)
    assert stock.safety_buffer == 0
    with pytest.raises(InventoryRefused) as info:
        stock.set_safety_buffer(-1)
    assert (info.value.code, info.value.detail) == ("negative", "MUG: safety_buffer must be >= 0")
    assert stock.safety_buffer == 0


def test_closed_memory_keeps_exactly_its_capacity() -> None:
    stock = SkuStock("MUG", on_hand=5, closed_capacity=2)
    for order_id in ("o-1", "o-2", "o-3"):
        stock.reserve(order_id, 1, NOW_MS)
        stock.release(order_id, NOW_MS)
    assert stock.closed_state("o-1") is None
    assert stock.closed_state("o-2") == "released"
    assert stock.closed_state("o-3") == "released"


def test_loaded_holds_are_live() -> None:
    hold = Hold(order_id="o-1", qty=2, expires_at_ms=None, created_at_ms=NOW_MS)
    stock = SkuStock("MUG", on_hand=5, holds=[hold])
    assert stock.hold_of("o-1") == hold


# --------------------------------------------------------------------------- webhook


@pytest.mark.parametrize(
    ("header", "code", "detail"),
    [
        (None, "missing_signature", "Authorization header is required"),
        ("0" * 64, "bad_signature", "signature does not match any configured app"),
    ],
)
def test_signature_refusals_say_why(header: str | None, code: str, detail: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        verify_signature([], b"{}", header)
    assert (info.value.status, info.value.code, info.value.detail) == (401, code, detail)


def test_too_deep_json_is_400_too_deep() -> None:
    body = b'{"type":2,"timestamp":1,"data":{"a":' + b"[" * 40 + b"]" * 40 + b"}}"
    with pytest.raises(WebhookRejected) as info:
        parse_envelope(body)
    assert (info.value.status, info.value.code) == (400, "too_deep")
    assert info.value.detail == "JSON nested deeper than 32 levels"


def test_invalid_json_says_what_the_decoder_saw() -> None:
    with pytest.raises(WebhookRejected) as info:
        parse_envelope(b'{"type": 1,')
    assert (info.value.status, info.value.code) == (400, "invalid_json")
    assert "malformed" in info.value.detail or "truncated" in info.value.detail


def test_no_shop_seller_or_creator_is_an_empty_shop() -> None:
    envelope = parse_envelope(b'{"type":6,"timestamp":1,"data":{}}')
    assert shop_of(envelope) == ""
    creator = parse_envelope(b'{"type":6,"timestamp":1,"creator_open_id":"cr","data":{}}')
    assert shop_of(creator) == "cr"


# --------------------------------------------------------------------------- reservations


def refused(call: object) -> InventoryRefused:
    assert callable(call)
    with pytest.raises(InventoryRefused) as info:
        call()
    return info.value


def test_bad_reservations_are_bad_quantity_saying_why() -> None:
    stock = SkuStock("MUG", on_hand=5)
    zero = refused(lambda: stock.reserve("o-1", 0, NOW_MS))
    assert (zero.code, zero.detail) == ("bad_quantity", "MUG: reserve qty must be >= 1")
    past = refused(lambda: stock.reserve("o-1", 1, NOW_MS, expires_at_ms=NOW_MS))
    assert (past.code, past.detail) == ("bad_quantity", "MUG: hold would expire at once")
    reasonless = refused(lambda: stock.adjust(1, NOW_MS, reason=""))
    assert (reasonless.code, reasonless.detail) == (
        "bad_quantity",
        "MUG: an adjustment needs a reason",
    )
    hold = Hold(order_id="o-9", qty=0, expires_at_ms=None, created_at_ms=NOW_MS)
    empty = refused(lambda: SkuStock("MUG", on_hand=5, holds=[hold]))
    assert (empty.code, empty.detail) == ("bad_quantity", "MUG: hold of o-9 < 1")
    assert (stock.on_hand, stock.reserved) == (5, 0)


def test_every_reserve_outcome_reports_qty_available_and_the_expiries_it_noticed() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("lapsing", 1, NOW_MS, expires_at_ms=NOW_MS + 10)
    stock.reserve("shipped", 2, NOW_MS)
    stock.commit("shipped", NOW_MS)  # on hand 8
    later = NOW_MS + 10  # "lapsing" expires now: every outcome below reports it once

    new = stock.reserve("o-1", 3, later)
    assert (new.outcome, new.qty, new.available) == ("reserved", 3, 5)
    assert [c.kind for c in new.changes] == ["expire", "reserve"]
    assert (new.changes[1].delta_reserved, new.changes[1].reason) == (3, "")

    stock.reserve("lapsing-2", 1, later, expires_at_ms=later + 10)
    again = stock.reserve("o-1", 3, later + 10)
    assert (again.outcome, again.qty, again.available) == ("held", 3, 5)
    assert [c.kind for c in again.changes] == ["expire"]

    stock.reserve("lapsing-3", 1, later + 10, expires_at_ms=later + 20)
    done = stock.reserve("shipped", 2, later + 20)
    assert (done.outcome, done.qty, done.available) == ("committed", 0, 5)
    assert [c.kind for c in done.changes] == ["expire"]

    stock.reserve("lapsing-4", 1, later + 20, expires_at_ms=later + 30)
    no = stock.reserve("o-2", 6, later + 30)
    assert (no.outcome, no.qty, no.available) == ("refused", 6, 5)
    assert [c.kind for c in no.changes] == ["expire"]

    stock.reserve("lapsing-5", 1, later + 30, expires_at_ms=later + 40)
    more = stock.reserve("o-1", 9, later + 40)  # 6 more than held: only 5 free
    assert (more.outcome, more.qty, more.available) == ("refused", 9, 5)
    assert [c.kind for c in more.changes] == ["expire"]


def test_changing_a_hold_keeps_its_age_and_says_what_changed() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("o-1", 2, NOW_MS, expires_at_ms=NOW_MS + 1_000)
    later = NOW_MS + 500
    grown = stock.reserve("o-1", 4, later, expires_at_ms=NOW_MS + 2_000)
    assert (grown.outcome, grown.qty, grown.available) == ("held", 4, 6)
    [change] = grown.changes
    assert (change.kind, change.delta_reserved) == ("reserve", 2)
    assert change.reason == f"hold until {NOW_MS + 2_000}"
    assert change.hold is not None and change.hold.created_at_ms == NOW_MS
    firm = stock.reserve("o-1", 4, later)  # paid: the hold becomes firm
    [change] = firm.changes
    assert (change.kind, change.delta_reserved, change.reason) == ("reserve", 0, "firm")
    hold = stock.hold_of("o-1")
    assert hold is not None and (hold.created_at_ms, hold.expires_at_ms) == (NOW_MS, None)


def test_a_hold_may_grow_to_the_last_free_unit_and_be_made_firm_when_short() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("o-1", 3, NOW_MS, expires_at_ms=NOW_MS + 1_000)
    assert stock.reserve("o-1", 10, NOW_MS, expires_at_ms=NOW_MS + 1_000).outcome == "held"
    assert stock.available == 0
    stock.set_safety_buffer(2)  # the buffer now exceeds what is free
    paid = stock.reserve("o-1", 10, NOW_MS)  # no more units: making it firm never fails
    assert paid.outcome == "held"
    assert stock.hold_of("o-1") is not None


def test_a_released_order_reserved_again_is_held_not_closed() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("o-1", 1, NOW_MS)
    stock.release("o-1", NOW_MS)
    assert stock.closed_state("o-1") == "released"
    stock.reserve("o-1", 1, NOW_MS)
    assert stock.closed_state("o-1") is None


def test_stock_changes_journal_their_reason() -> None:
    stock = SkuStock("MUG", on_hand=10)
    [adjusted] = stock.adjust(2, NOW_MS, reason="receipt 42")
    [counted] = stock.set_on_hand(7, NOW_MS)
    [recounted] = stock.set_on_hand(8, NOW_MS, reason="cycle count")
    assert (adjusted.kind, adjusted.reason) == ("adjust", "receipt 42")
    assert (counted.kind, counted.reason) == ("set", "count")
    assert (recounted.kind, recounted.reason) == ("set", "cycle count")


def test_a_new_sku_is_empty_and_refuses_negative_counts_by_name() -> None:
    assert (SkuStock("MUG").on_hand, SkuStock("MUG").safety_buffer) == (0, 0)
    for counts in ({"on_hand": -1}, {"safety_buffer": -1}):
        error = refused(lambda counts=counts: SkuStock("MUG", **counts))
        assert (error.code, error.detail) == (
            "negative",
            "MUG: on_hand and safety_buffer must be >= 0",
        )


def test_a_closed_memory_of_one_keeps_the_last_order() -> None:
    stock = SkuStock("MUG", on_hand=5, closed_capacity=1)
    for order_id in ("o-1", "o-2"):
        stock.reserve(order_id, 1, NOW_MS)
        stock.release(order_id, NOW_MS)
    assert (stock.closed_state("o-1"), stock.closed_state("o-2")) == (None, "released")


def test_stock_refusals_say_what_the_count_would_be() -> None:
    stock = SkuStock("MUG", on_hand=5)
    stock.reserve("o-1", 2, NOW_MS)
    big = refused(lambda: stock.adjust(1_000_000_000, NOW_MS, reason="typo"))
    assert (big.code, big.detail) == (
        "too_large",
        "MUG: on hand would be 1000000005, over the 1000000000 limit",
    )
    low = refused(lambda: stock.set_on_hand(-1, NOW_MS))
    assert (low.code, low.detail) == ("negative", "MUG: on hand would be -1 (now 5)")
    held = refused(lambda: stock.adjust(-4, NOW_MS, reason="damage"))
    assert (held.code, held.detail) == (
        "below_reserved",
        "MUG: on hand would be 1 but 2 units are reserved by open orders; "
        "release or cancel them first",
    )


def test_a_stock_change_names_no_order_and_moves_no_reservation() -> None:
    stock = SkuStock("MUG", on_hand=5)
    [change] = stock.adjust(1, NOW_MS, reason="found")
    assert (change.order_id, change.delta_reserved, change.hold, change.hold_state) == (
        "",
        0,
        None,
        None,
    )


def test_expiry_journals_each_lapsed_hold_past_stale_entries() -> None:
    stock = SkuStock("MUG", on_hand=10)
    stock.reserve("o-1", 1, NOW_MS, expires_at_ms=NOW_MS + 10)
    stock.reserve("o-2", 3, NOW_MS, expires_at_ms=NOW_MS + 20)
    stock.release("o-1", NOW_MS)  # its heap entry, due first, is now stale
    [change] = stock.expire(NOW_MS + 20)
    assert (change.kind, change.order_id, change.delta_reserved) == ("expire", "o-2", -3)
    assert (change.reason, change.hold_state, change.reserved) == ("expired", "expired", 0)
    assert stock.closed_state("o-2") == "expired"
