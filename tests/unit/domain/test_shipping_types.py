"""Shipping domain types: exact money from decimals, bounds, statuses, event times."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from creatorflow.domain.shipping import (
    MAX_EVENTS,
    Address,
    Label,
    Money,
    Parcel,
    Shipment,
    ShipmentRequest,
    ShipmentStatus,
    TrackingEvent,
    TrackingStatus,
    charge_to_minor,
    check_reference,
    check_request_id,
    event_time_ms,
    sort_events,
)
from creatorflow.errors import InvalidAmount, UnknownCurrency

US = Address(country_code="US")


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("19.99", "USD", 1999),
        ("4.35", "usd", 435),
        ("0", "USD", 0),
        ("1E+2", "USD", 10000),
        ("1200.00", "JPY", 1200),
        ("0.001", "KWD", 1),
        ("92233720368547758.07", "USD", 2**63 - 1),
    ],
)
def test_charges_convert_exactly(text: str, currency: str, minor: int) -> None:
    # Decimals as msgspec decodes a JSON number: from its text, never through a float.
    value = msgspec.json.decode(text.encode(), type=Decimal)
    assert charge_to_minor(value, currency) == Money(amount_minor=minor, currency=currency.upper())


@pytest.mark.parametrize(
    ("value", "currency", "error"),
    [
        (Decimal("12.345"), "USD", InvalidAmount),
        (Decimal("-1"), "USD", InvalidAmount),
        (Decimal("NaN"), "USD", InvalidAmount),
        (Decimal("Infinity"), "USD", InvalidAmount),
        (Decimal("0.5"), "JPY", InvalidAmount),
        (Decimal("92233720368547758.08"), "USD", InvalidAmount),
        (Decimal("1"), "XYZ", UnknownCurrency),
    ],
)
def test_charges_that_are_not_exact_are_refused_not_rounded(
    value: Decimal, currency: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        charge_to_minor(value, currency)


def test_money_needs_an_iso_code() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(amount_minor=1, currency="dollars")


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"country_code": "usa"}, "country_code"),
        ({"country_code": "US", "city": "x" * 101}, "address.city"),
        ({"country_code": "US", "person_name": "a\x00b"}, "address.person_name"),
    ],
)
def test_addresses_are_bounded(fields: dict[str, str], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Address(**fields)  # type: ignore[arg-type]


def test_an_address_decoded_from_json_is_checked_the_same_way() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"address\.city"):
        msgspec.json.decode(b'{"country_code": "US", "city": "' + b"x" * 101 + b'"}', type=Address)


@pytest.mark.parametrize(
    "fields",
    [{"weight_g": 0}, {"weight_g": -5}, {"weight_g": 1_000_001}, {"weight_g": 1, "height_cm": -1}],
)
def test_parcels_are_bounded(fields: dict[str, int]) -> None:
    # Karrio quotes a negative weight without complaint; the domain does not let one out.
    with pytest.raises(ValueError, match="parcel"):
        Parcel(**fields)


def test_shipment_requests_bound_their_lists() -> None:
    with pytest.raises(ValueError, match="parcels"):
        ShipmentRequest(shipper=US, recipient=US, parcels=(Parcel(weight_g=1),) * 51)
    with pytest.raises(ValueError, match="carrier_ids"):
        ShipmentRequest(shipper=US, recipient=US, parcels=(), carrier_ids=("",))


@pytest.mark.parametrize("value", ["cf-1", "a.b_c-D", "x" * 200])
def test_request_ids_karrio_keeps(value: str) -> None:
    assert check_request_id(value) == value


@pytest.mark.parametrize("value", ["", "a b", "é", "x" * 201, "a/b", "a\n"])
def test_request_ids_karrio_would_replace(value: str) -> None:
    with pytest.raises(ValueError, match="request_id"):
        check_request_id(value)


def test_references_are_one_to_35_characters() -> None:
    assert check_reference("5770123456789012345") == "5770123456789012345"
    for bad in ("", "r" * 36, "a\tb"):
        with pytest.raises(ValueError, match="reference"):
            check_reference(bad)


def test_purchased_is_created_and_unknown_statuses_are_refused() -> None:
    assert ShipmentStatus.parse("purchased") is ShipmentStatus.CREATED
    assert ShipmentStatus.parse("created").labelled
    assert not ShipmentStatus.parse("draft").labelled
    assert not ShipmentStatus.parse("cancelled").labelled
    assert ShipmentStatus.parse("delivered").labelled
    with pytest.raises(ValueError, match="teleported"):
        ShipmentStatus.parse("teleported")


def test_tracking_statuses_normalise_and_classify() -> None:
    assert TrackingStatus.parse("picked_up") is TrackingStatus.PICKED_UP
    assert TrackingStatus.parse("a_new_status") is TrackingStatus.UNKNOWN
    assert TrackingStatus.parse(None) is TrackingStatus.UNKNOWN
    assert {s for s in TrackingStatus if s.final} == {
        TrackingStatus.DELIVERED,
        TrackingStatus.RETURN_TO_SENDER,
        TrackingStatus.CANCELLED,
    }
    assert {s for s in TrackingStatus if s.exception} == {
        TrackingStatus.DELIVERY_FAILED,
        TrackingStatus.RETURN_TO_SENDER,
    }


JAN_2_1615_MS = 1767370500000  # 2026-01-02T16:15:00Z


@pytest.mark.parametrize(
    ("date", "time", "timestamp", "ms"),
    [
        (None, None, "2026-01-02T16:15:00Z", JAN_2_1615_MS),
        (None, None, "2026-01-02T17:15:00+01:00", JAN_2_1615_MS),
        ("1999-01-01", "00:00", "2026-01-02T16:15:00", JAN_2_1615_MS),  # timestamp wins
        ("2026-01-02", "16:15", None, JAN_2_1615_MS),
        ("2026-01-02", "16:15:00", None, JAN_2_1615_MS),
        ("2026-01-02", "04:15 PM", None, JAN_2_1615_MS),
        ("2026-01-02", "4:15pm", None, JAN_2_1615_MS),
        ("2026-01-02", None, None, JAN_2_1615_MS - (16 * 3600 + 15 * 60) * 1000),
        ("2026-01-02", "teatime", None, JAN_2_1615_MS - (16 * 3600 + 15 * 60) * 1000),
        ("02/01/2026", "16:15", "not a time", None),
        (None, "16:15", None, None),
    ],
)
def test_event_times_from_every_shape(
    date: str | None, time: str | None, timestamp: str | None, ms: int | None
) -> None:
    assert event_time_ms(date, time, timestamp) == ms


def test_events_sorted_oldest_first_and_bounded() -> None:
    events = [TrackingEvent(at_ms=t, code=str(t)) for t in (3, 1, 2)]
    events.append(TrackingEvent(at_ms=None, code="untimed"))
    assert [e.code for e in sort_events(events)] == ["1", "2", "3", "untimed"]
    many = [TrackingEvent(at_ms=t) for t in range(MAX_EVENTS + 10)]
    kept = sort_events(many)
    assert len(kept) == MAX_EVENTS and kept[0].at_ms == 10  # the newest are kept


@pytest.mark.parametrize(
    ("listed", "oldest_first"),
    [
        ([(5, "c"), (5, "b"), (1, "a")], ["a", "b", "c"]),  # newest first, a tie inside
        ([(1, "a"), (5, "b"), (5, "c")], ["a", "b", "c"]),  # oldest first, a tie inside
        ([(5, "b"), (5, "a")], ["a", "b"]),  # all equal: read as newest first (Karrio)
    ],
)
def test_events_at_the_same_time_keep_the_gateways_order_read_oldest_first(
    listed: list[tuple[int, str]], oldest_first: list[str]
) -> None:
    events = [TrackingEvent(at_ms=t, code=c) for t, c in listed]
    assert [e.code for e in sort_events(events)] == oldest_first


def test_labels_are_bounded_and_never_dumped_in_repr() -> None:
    label = Label(label_type="ZPL", data=b"^XA^XZ")
    assert label.media_type == "text/plain" and repr(label) == "Label(ZPL, 6 bytes)"
    with pytest.raises(ValueError, match="label"):
        Label(label_type="PDF", data=b"x" * (4 * 1024 * 1024 + 1))


def test_shipments_need_an_id_and_bound_their_fields() -> None:
    with pytest.raises(ValueError, match="shipment_id"):
        Shipment(shipment_id="", status=ShipmentStatus.DRAFT)
    with pytest.raises(ValueError, match="tracking_number"):
        Shipment(shipment_id="shp_1", status=ShipmentStatus.CREATED, tracking_number="t" * 129)
