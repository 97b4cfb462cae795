"""The carrier gateway contract: the same assertions against every Karrio-speaking server.

Parametrized over ``carrier_gateways``: a real Karrio 2026.1.32 (``karrio``) and the built-in
sandbox carriers (``sandbox``, skipped until ``creatorflow.sandbox.carriers`` imports), each
on every async backend. What a server cannot do is skipped for it with the reason (Karrio's
generic carrier cannot track or fail); everything else must hold for both, so the sandbox
cannot drift from the real API.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
import pytest
from carrier_gateways import (
    RECIPIENT,
    GatewayUnderTest,
    karrio_gateway,
    sandbox_gateway,
)
from karrio_server import karrio_server  # noqa: F401  (the session fixture)

from creatorflow.domain.shipping import (
    LabelType,
    Rate,
    Shipment,
    ShipmentStatus,
    TrackingStatus,
)
from creatorflow.errors import (
    AllCarriersFailed,
    CarrierAuthError,
    CarrierNotFound,
    CarrierRejected,
    CarrierStateError,
)

pytestmark = pytest.mark.anyio

UNKNOWN_SHIPMENT = "shp_" + "0" * 32
UNKNOWN_RATE = "rat_" + "0" * 32

Opener = Callable[[], AbstractAsyncContextManager[GatewayUnderTest]]


@pytest.fixture(
    params=[
        pytest.param("karrio", marks=pytest.mark.services),
        pytest.param("sandbox"),
    ]
)
def opener(request: pytest.FixtureRequest) -> Opener:
    """How to open the implementation under test (the Karrio server starts on first use)."""
    if request.param == "karrio":
        server = request.getfixturevalue("karrio_server")
        return lambda: karrio_gateway(server)
    return sandbox_gateway


@pytest.fixture
async def carrier(opener: Opener, anyio_backend: Any) -> AsyncIterator[GatewayUnderTest]:
    async with opener() as opened:
        yield opened


def new_ids() -> tuple[str, str]:
    """A fresh request id (one per purchase attempt) and reference (an order id, ≤ 35)."""
    return f"cf-{uuid.uuid4().hex}", f"ord-{uuid.uuid4().hex[:24]}"


def cheapest(rates: tuple[Rate, ...]) -> Rate:
    assert rates, "no rate to buy"
    return min(rates, key=lambda r: (r.total.amount_minor, r.carrier, r.service))


async def bought(
    carrier: GatewayUnderTest, *, label_type: LabelType = "PDF"
) -> tuple[Shipment, Shipment, str, str]:
    """(draft, bought shipment, request_id, reference) at the draft's cheapest rate."""
    request_id, reference = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(label_type=label_type), request_id=request_id, reference=reference
    )
    rate = cheapest(draft.rates)
    done = await carrier.gateway.purchase(
        draft.shipment_id, rate.rate_id, request_id=request_id, label_type=label_type
    )
    return draft, done, request_id, reference


def assert_expected_rates(carrier: GatewayUnderTest, rates: tuple[Rate, ...]) -> None:
    seen = {(r.carrier, r.service): r for r in rates}
    assert set(seen) == set(carrier.expected), "carriers/services quoted"
    for key, want in carrier.expected.items():
        rate = seen[key]
        assert rate.total.amount_minor == want.amount_minor, key  # exact, never via a float
        assert rate.total.currency == want.currency, key
        assert rate.transit_days == want.transit_days, key
        assert rate.rate_id and rate.carrier_id and rate.service_name, key


# --------------------------------------------------------------------------- rating


async def test_rates_are_exact_minor_units_with_transit_days(carrier: GatewayUnderTest) -> None:
    quote = await carrier.gateway.rate(carrier.request())
    assert quote.failures == ()
    assert_expected_rates(carrier, quote.rates)
    assert len({r.rate_id for r in quote.rates}) == len(quote.rates)  # one id per quote


async def test_rates_limited_to_the_carrier_ids_asked(carrier: GatewayUnderTest) -> None:
    every = await carrier.gateway.rate(carrier.request())
    one = every.rates[0]
    quote = await carrier.gateway.rate(carrier.request(carrier_ids=(one.carrier_id,)))
    assert quote.rates
    assert {r.carrier_id for r in quote.rates} == {one.carrier_id}
    assert {r.carrier for r in quote.rates} == {one.carrier}


async def test_rates_limited_to_the_services_asked(carrier: GatewayUnderTest) -> None:
    # Karrio applies `services` per carrier (others quote everything): the adapter filters.
    (carrier_name, service), *_ = sorted(carrier.expected)
    quote = await carrier.gateway.rate(carrier.request(services=(service,)))
    assert [(r.carrier, r.service) for r in quote.rates] == [(carrier_name, service)]
    request_id, reference = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(services=(service,)), request_id=request_id, reference=reference
    )
    assert [(r.carrier, r.service) for r in draft.rates] == [(carrier_name, service)]


async def test_a_failed_carrier_drops_out_and_the_others_answer(
    carrier: GatewayUnderTest,
) -> None:
    if carrier.set_outage is None:
        pytest.skip(carrier.notes["faults"])
    down = sorted({c for c, _ in carrier.expected})[0]
    await carrier.set_outage(down, True)
    quote = await carrier.gateway.rate(carrier.request())
    assert quote.rates and all(r.carrier != down for r in quote.rates)
    assert [f.carrier for f in quote.failures] == [down]
    assert quote.failures[0].message


async def test_every_carrier_down_is_all_carriers_failed(carrier: GatewayUnderTest) -> None:
    if carrier.set_outage is None:
        pytest.skip(carrier.notes["faults"])
    names = sorted({c for c, _ in carrier.expected})
    for name in names:
        await carrier.set_outage(name, True)
    with pytest.raises(AllCarriersFailed) as info:
        await carrier.gateway.rate(carrier.request())
    assert info.value.retryable
    assert info.value.status == 424
    assert sorted(c for c, _ in info.value.failures) == names


# --------------------------------------------------------------------------- shipments


async def test_create_gives_a_draft_with_its_own_rates(carrier: GatewayUnderTest) -> None:
    request_id, reference = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(), request_id=request_id, reference=reference
    )
    assert draft.status is ShipmentStatus.DRAFT
    assert not draft.status.labelled
    assert draft.shipment_id and draft.reference == reference
    assert draft.request_id == request_id
    assert draft.tracking_number == "" and draft.label is None and draft.cost is None
    assert_expected_rates(carrier, draft.rates)


async def test_purchase_returns_tracking_number_cost_and_a_pdf_label(
    carrier: GatewayUnderTest,
) -> None:
    draft, done, request_id, reference = await bought(carrier)
    rate = cheapest(draft.rates)
    assert done.shipment_id == draft.shipment_id
    assert done.status is ShipmentStatus.CREATED and done.status.labelled
    assert done.tracking_number
    assert (done.carrier, done.carrier_id, done.service) == (
        rate.carrier,
        rate.carrier_id,
        rate.service,
    )
    assert done.cost == rate.total  # exact minor units and currency
    assert done.transit_days == rate.transit_days
    assert (done.reference, done.request_id) == (reference, request_id)
    assert done.label is not None
    assert done.label.label_type == "PDF"
    assert done.label.data.startswith(b"%PDF-")  # decoded from base64
    assert done.label.media_type == "application/pdf"


async def test_zpl_label_when_asked(carrier: GatewayUnderTest) -> None:
    _, done, _, _ = await bought(carrier, label_type="ZPL")
    assert done.label_type == "ZPL"
    assert done.label is not None and done.label.label_type == "ZPL"
    assert done.label.data.startswith(b"^XA")
    assert done.label.media_type == "text/plain"


async def test_buying_twice_is_a_state_error_never_a_second_label(
    carrier: GatewayUnderTest,
) -> None:
    draft, done, request_id, _ = await bought(carrier)
    with pytest.raises(CarrierStateError) as info:
        await carrier.gateway.purchase(
            draft.shipment_id, cheapest(draft.rates).rate_id, request_id=request_id
        )
    assert info.value.status == 409 and info.value.code == "state_error"
    assert not info.value.retryable
    again = await carrier.gateway.get_shipment(done.shipment_id)
    assert again.tracking_number == done.tracking_number


async def test_a_quote_id_cannot_buy_a_draft(carrier: GatewayUnderTest) -> None:
    # Rate ids are fresh on every rating: buy with one of the draft's own, never a quote's.
    quote = await carrier.gateway.rate(carrier.request())
    request_id, reference = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(), request_id=request_id, reference=reference
    )
    for rate_id in (cheapest(quote.rates).rate_id, UNKNOWN_RATE):
        with pytest.raises(CarrierRejected) as info:
            await carrier.gateway.purchase(draft.shipment_id, rate_id, request_id=request_id)
        assert info.value.status == 400 and info.value.code == "service_unavailable"
    assert (await carrier.gateway.get_shipment(draft.shipment_id)).status is ShipmentStatus.DRAFT


# --------------------------------------------------------------------------- lookups


async def test_lookup_after_a_lost_reply_finds_the_bought_shipment(
    carrier: GatewayUnderTest,
) -> None:
    gateway = carrier.gateway
    request_id, reference = new_ids()
    draft = await gateway.create_shipment(
        carrier.request(), request_id=request_id, reference=reference
    )
    (found,) = await gateway.find_by_request_id(request_id)
    assert (found.shipment_id, found.status) == (draft.shipment_id, ShipmentStatus.DRAFT)

    done = await gateway.purchase(
        draft.shipment_id, cheapest(draft.rates).rate_id, request_id=request_id
    )
    (by_request,) = await gateway.find_by_request_id(request_id)
    (by_reference,) = await gateway.find_by_reference(reference)
    fetched = await gateway.get_shipment(done.shipment_id)
    for shipment in (by_request, by_reference, fetched):
        assert shipment.shipment_id == done.shipment_id
        assert shipment.status is ShipmentStatus.CREATED
        assert shipment.tracking_number == done.tracking_number
        assert shipment.cost == done.cost
        assert shipment.label is None  # reads carry no bytes...
    label = await gateway.label(done.shipment_id)  # ...they are fetched on their own
    assert label.label_type == "PDF" and label.data.startswith(b"%PDF-")


async def test_reference_lookup_is_exact(carrier: GatewayUnderTest) -> None:
    # Karrio filters references by case-insensitive substring; the adapter keeps exact ones.
    request_id, reference = new_ids()
    await carrier.gateway.create_shipment(
        carrier.request(), request_id=request_id, reference=reference
    )
    assert await carrier.gateway.find_by_reference(reference[:-1]) == ()
    assert await carrier.gateway.find_by_reference(reference.upper()) == ()
    assert len(await carrier.gateway.find_by_reference(reference)) == 1
    assert await carrier.gateway.find_by_request_id(new_ids()[0]) == ()


async def test_the_purchase_request_id_replaces_the_create_one(carrier: GatewayUnderTest) -> None:
    # Why one request id per attempt goes on both calls: the stored one is the last call's.
    create_id, reference = new_ids()
    purchase_id, _ = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(), request_id=create_id, reference=reference
    )
    await carrier.gateway.purchase(
        draft.shipment_id, cheapest(draft.rates).rate_id, request_id=purchase_id
    )
    assert await carrier.gateway.find_by_request_id(create_id) == ()
    (found,) = await carrier.gateway.find_by_request_id(purchase_id)
    assert found.shipment_id == draft.shipment_id and found.request_id == purchase_id


# --------------------------------------------------------------------------- cancel


async def test_cancel_voids_the_label_and_is_idempotent(carrier: GatewayUnderTest) -> None:
    draft, done, request_id, reference = await bought(carrier)
    cancelled = await carrier.gateway.cancel(done.shipment_id)
    assert cancelled.status is ShipmentStatus.CANCELLED and not cancelled.status.labelled
    again = await carrier.gateway.cancel(done.shipment_id)  # Karrio: 202, same body
    assert again.status is ShipmentStatus.CANCELLED
    (listed,) = await carrier.gateway.find_by_reference(reference)
    assert listed.status is ShipmentStatus.CANCELLED
    with pytest.raises(CarrierStateError):
        await carrier.gateway.purchase(
            draft.shipment_id, cheapest(draft.rates).rate_id, request_id=request_id
        )


# --------------------------------------------------------------------------- errors


async def test_a_bad_address_is_rejected(carrier: GatewayUnderTest) -> None:
    nowhere = carrier.request(recipient=msgspec.structs.replace(RECIPIENT, country_code="XX"))
    with pytest.raises(CarrierRejected) as info:
        await carrier.gateway.rate(nowhere)
    assert info.value.status == 400 and info.value.code == "validation"
    assert "country_code" in str(info.value)
    request_id, reference = new_ids()
    with pytest.raises(CarrierRejected):
        await carrier.gateway.create_shipment(nowhere, request_id=request_id, reference=reference)


async def test_no_parcel_is_rejected(carrier: GatewayUnderTest) -> None:
    with pytest.raises(CarrierRejected) as info:
        await carrier.gateway.rate(carrier.request(parcels=()))
    assert info.value.status == 400 and info.value.code == "validation"
    assert not info.value.retryable


async def test_unknown_shipments_are_not_found(carrier: GatewayUnderTest) -> None:
    gateway = carrier.gateway
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: gateway.get_shipment(UNKNOWN_SHIPMENT),
        lambda: gateway.purchase(UNKNOWN_SHIPMENT, UNKNOWN_RATE, request_id=new_ids()[0]),
        lambda: gateway.cancel(UNKNOWN_SHIPMENT),
        lambda: gateway.label(UNKNOWN_SHIPMENT),
    ]
    for call in calls:
        with pytest.raises(CarrierNotFound) as info:
            await call()
        assert info.value.status == 404 and not info.value.retryable


async def test_a_draft_has_no_label(carrier: GatewayUnderTest) -> None:
    request_id, reference = new_ids()
    draft = await carrier.gateway.create_shipment(
        carrier.request(), request_id=request_id, reference=reference
    )
    with pytest.raises(CarrierNotFound):
        await carrier.gateway.label(draft.shipment_id)


@pytest.mark.parametrize(
    ("key", "code"),
    [("key_ffffffffffffffffffffffffffffffff", "invalid_token"), ("", "not_authenticated")],
    ids=["wrong-key", "no-key"],
)
async def test_a_bad_api_key_is_an_auth_error(
    carrier: GatewayUnderTest, key: str, code: str
) -> None:
    async with carrier.with_key(key) as gateway:
        with pytest.raises(CarrierAuthError) as info:
            await gateway.rate(carrier.request())
    assert info.value.status == 401 and info.value.code == code
    assert not info.value.retryable


# --------------------------------------------------------------------------- tracking


async def test_unknown_tracking_number_is_not_found(carrier: GatewayUnderTest) -> None:
    with pytest.raises(CarrierNotFound):
        await carrier.gateway.track("NOSUCHPARCEL0001")


async def test_tracking_walks_to_delivered(carrier: GatewayUnderTest) -> None:
    _, done, _, _ = await bought(carrier)
    if carrier.advance_tracker is None:
        with pytest.raises(CarrierNotFound):  # what the limitation looks like
            await carrier.gateway.track(done.tracking_number)
        pytest.skip(carrier.notes["track"])
    first = await carrier.gateway.track(done.tracking_number)
    assert first.tracking_number == done.tracking_number
    assert first.status is TrackingStatus.PENDING and not first.delivered
    await carrier.advance_tracker(done.tracking_number, "in_transit")
    moving = await carrier.gateway.track(done.tracking_number)
    assert moving.status is TrackingStatus.IN_TRANSIT and not moving.status.final
    assert moving.events and moving.events[-1].status is TrackingStatus.IN_TRANSIT
    times = [e.at_ms for e in moving.events]
    assert None not in times and times == sorted(times)  # oldest first
    await carrier.advance_tracker(done.tracking_number, "delivered")
    final = await carrier.gateway.track(done.tracking_number)
    assert final.status is TrackingStatus.DELIVERED and final.delivered and final.status.final
    assert len(final.events) > len(moving.events)
