"""KarrioGateway against httpx.MockTransport: error translation, exact money, the wire it sends,
tolerance of Karrio's quirks, bounds. The real server is in tests/contract."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest

from creatorflow.adapters.carriers import KarrioGateway, KarrioSettings, open_karrio_gateway
from creatorflow.config import ShippingConfig
from creatorflow.domain.shipping import (
    Address,
    Money,
    Parcel,
    ShipmentRequest,
    ShipmentStatus,
    TrackingStatus,
)
from creatorflow.errors import (
    AllCarriersFailed,
    CarrierAuthError,
    CarrierError,
    CarrierNotFound,
    CarrierRateLimited,
    CarrierRejected,
    CarrierStateError,
    CarrierUnavailable,
    ConfigError,
)

pytestmark = pytest.mark.anyio

KEY = "key_0123456789abcdef0123456789abcdef"
REQUEST = ShipmentRequest(
    shipper=Address(country_code="US", postal_code="10118", person_name="Jane"),
    recipient=Address(country_code="US", postal_code="10001", address_line1="20 W 34th St"),
    parcels=(Parcel(weight_g=1500, length_cm=30, width_cm=20, height_cm=10),),
)
PDF = b"%PDF-1.4\n% a label\n"

Handler = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def gateway(handler: Handler, **settings: Any) -> AsyncIterator[KarrioGateway]:
    config = KarrioSettings(base_url="http://karrio.test", api_key=KEY, **settings)
    async with open_karrio_gateway(config, httpx.MockTransport(handler)) as opened:
        yield opened


def answer(status: int, body: Any, **headers: str) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handle


def rate(total: Any, currency: str = "USD", **extra: Any) -> dict[str, Any]:
    return {
        "id": "rat_1",
        "object_type": "rate",
        "carrier_name": "acme",
        "carrier_id": "acme-local",
        "service": "acme_ground",
        "total_charge": total,
        "currency": currency,
        "transit_days": 4,
        "meta": {"service_name": "ACME GROUND"},
        **extra,
    }


def shipment(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "shp_1",
        "object_type": "shipment",
        "status": "draft",
        "reference": "order-1",
        "label_type": "PDF",
        "rates": [rate(12.5)],
        "meta": {"request_id": "cf-1"},
        "messages": [],
    }
    body.update(fields)
    return body


BOUGHT = shipment(
    status="created",
    carrier_name="generic",  # Karrio's generic carrier: "generic" here, "acme" in quotes
    carrier_id="acme-local",
    service="acme_ground",
    tracking_number="10289ff133f8",
    selected_rate=rate(12.5, carrier_name="acme"),
    shipping_documents=[
        {"category": "label", "format": "PDF", "base64": base64.b64encode(PDF).decode()}
    ],
)


# --------------------------------------------------------------------------- errors


def errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "level": "error"}]}


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (400, errors("validation", "recipient: required"), CarrierRejected, "validation"),
        (401, errors("invalid_token", "Given token not valid"), CarrierAuthError, "invalid_token"),
        (403, errors("permission_denied", "no"), CarrierAuthError, "permission_denied"),
        (404, errors("not_found", "Shipment not found"), CarrierNotFound, "not_found"),
        (406, errors("not_supported", "no pickups"), CarrierRejected, "not_supported"),
        (409, errors("state_error", "cannot be purchased again"), CarrierStateError, "state_error"),
        (422, errors("invalid", "nope"), CarrierRejected, "invalid"),
        (500, "<html>oops</html>", CarrierUnavailable, ""),
        (502, errors("bad_gateway", "upstream"), CarrierUnavailable, "bad_gateway"),
        (503, errors("unavailable", "later"), CarrierUnavailable, "unavailable"),
        (408, errors("timeout", "slow"), CarrierUnavailable, "timeout"),
    ],
)  # fmt: skip
async def test_error_statuses_map_onto_the_carrier_error_tree(
    status: int, body: Any, kind: type[CarrierError], code: str
) -> None:
    async with gateway(answer(status, body)) as karrio:
        with pytest.raises(kind) as info:
            await karrio.rate(REQUEST)
    error = info.value
    assert type(error) is kind
    assert (error.status, error.code) == (status, code)
    assert error.retryable is (kind is CarrierUnavailable)
    assert "POST /v1/proxy/rates" in str(error)


async def test_a_carriers_own_validation_error_names_the_carrier() -> None:
    body = {
        "messages": [{"carrier_name": "ups", "carrier_id": "ups-1", "code": "X1", "message": "zip"}]
    }
    async with gateway(answer(400, body)) as karrio:
        with pytest.raises(CarrierRejected) as info:
            await karrio.rate(REQUEST)
    assert (info.value.carrier, info.value.code, info.value.detail) == (
        "ups",
        "X1",
        "POST /v1/proxy/rates: zip",
    )


async def test_424_lists_every_failed_carrier() -> None:
    body = {
        "messages": [
            {"carrier_name": "ups", "code": "SHIPPING_SDK_INTERNAL_ERROR", "message": "HTTP 503"},
            {
                "carrier_name": "fedex",
                "code": "SHIPPING_SDK_INTERNAL_ERROR",
                "message": "timed out",
            },
        ]
    }
    async with gateway(answer(424, body)) as karrio:
        with pytest.raises(AllCarriersFailed) as info:
            await karrio.rate(REQUEST)
    assert info.value.retryable and info.value.status == 424
    assert info.value.failures == (("ups", "HTTP 503"), ("fedex", "timed out"))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
async def test_429_is_rate_limited_with_retry_after(header: str, seconds: float | None) -> None:
    handler = answer(429, errors("throttled", "Request was throttled"), **{"retry-after": header})
    async with gateway(handler) as karrio:
        with pytest.raises(CarrierRateLimited) as info:
            await karrio.rate(REQUEST)
    assert info.value.retryable and info.value.retry_after_s == seconds


@pytest.mark.parametrize(
    ("failure", "applied"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("connect"), False),
        (httpx.PoolTimeout("pool"), False),
        (httpx.ReadTimeout("read"), True),
        (httpx.RemoteProtocolError("reset"), True),
    ],
)
async def test_transport_failures_are_unavailable_and_chained(
    failure: httpx.HTTPError, applied: bool
) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise failure

    async with gateway(handle) as karrio:
        with pytest.raises(CarrierUnavailable) as info:
            await karrio.purchase("shp_1", "rat_1", request_id="cf-1")
    assert info.value.retryable and info.value.maybe_applied is applied
    assert info.value.__cause__ is failure
    assert info.value.status == 0


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"<html>a proxy</html>", {"content-type": "text/html"}),  # 2xx, not JSON
        (b'{"rates": "many"}', {}),  # JSON, wrong shape
        (b"x" * 70_000, {}),  # over max_response_bytes, announced
    ],
    ids=["html", "shape", "too-large"],
)
async def test_a_2xx_that_cannot_be_read_is_unavailable(
    content: bytes, headers: dict[str, str]
) -> None:
    async with gateway(
        lambda r: httpx.Response(200, content=content, headers=headers),
        max_response_bytes=65_536,
    ) as karrio:
        with pytest.raises(CarrierUnavailable) as info:
            await karrio.rate(REQUEST)
    assert info.value.maybe_applied and info.value.retryable


async def test_a_streamed_answer_is_cut_at_the_bound() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b"x" * 1024

    async with gateway(
        lambda r: httpx.Response(200, content=chunks()), max_response_bytes=65_536
    ) as karrio:
        with pytest.raises(CarrierUnavailable, match="over 65536 bytes"):
            await karrio.rate(REQUEST)


# --------------------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("total", "currency", "minor"),
    [
        ("19.99", "USD", 1999),  # float 19.99 * 100 = 1998.9999999999998
        ("4.35", "USD", 435),  # float 4.35 * 100 = 434.99999999999994
        ("34.35", "CAD", 3435),
        ("12.5", "EUR", 1250),
        ("0.0", "USD", 0),
        ("1200", "JPY", 1200),
        ("1200.0", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("1e2", "USD", 10000),
        ("12.50000", "usd", 1250),
    ],
)
async def test_amounts_convert_exactly_from_the_json_text(
    total: str, currency: str, minor: int
) -> None:
    raw = json.dumps({"rates": [rate(0, currency)], "messages": []}).replace(
        '"total_charge": 0', f'"total_charge": {total}'
    )
    async with gateway(lambda r: httpx.Response(200, content=raw.encode())) as karrio:
        quote = await karrio.rate(REQUEST)
    assert [r.total for r in quote.rates] == [Money(amount_minor=minor, currency=currency.upper())]
    assert quote.failures == ()


@pytest.mark.parametrize(
    ("total", "currency"),
    [
        ("12.345", "USD"),
        ("0.30000000000000004", "USD"),
        ("12.5", "XYZ"),
        ("-1.0", "USD"),
        ("1.5", "JPY"),
    ],
)
async def test_a_rate_not_exact_in_minor_units_is_a_failure_not_rounded(
    total: str, currency: str
) -> None:
    good = rate(12.5, service="acme_express", id="rat_2")
    raw = json.dumps({"rates": [rate(0, currency), good], "messages": []}).replace(
        '"total_charge": 0,', f'"total_charge": {total},'
    )
    async with gateway(lambda r: httpx.Response(200, content=raw.encode())) as karrio:
        quote = await karrio.rate(REQUEST)
    assert [r.service for r in quote.rates] == ["acme_express"]
    (failure,) = quote.failures
    assert (failure.carrier, failure.code) == ("acme", "unusable_rate")


async def test_failed_carriers_drop_out_and_the_call_succeeds() -> None:
    body = {
        "rates": [rate(12.5)],
        "messages": [{"carrier_name": "ups", "carrier_id": "ups-1", "code": "E", "message": "503"}],
    }
    async with gateway(answer(200, body)) as karrio:
        quote = await karrio.rate(REQUEST)
    assert [r.carrier for r in quote.rates] == ["acme"]
    assert [(f.carrier, f.carrier_id, f.message) for f in quote.failures] == [
        ("ups", "ups-1", "503")
    ]


async def test_no_rate_and_failed_carriers_is_all_carriers_failed_even_under_200() -> None:
    body = {"rates": [], "messages": [{"carrier_name": "ups", "message": "down"}]}
    async with gateway(answer(200, body)) as karrio:
        with pytest.raises(AllCarriersFailed):
            await karrio.rate(REQUEST)


async def test_no_rate_and_no_failure_is_an_empty_quote() -> None:
    async with gateway(answer(200, {"rates": [], "messages": []})) as karrio:
        quote = await karrio.rate(REQUEST)
    assert (quote.rates, quote.failures) == ((), ())


# --------------------------------------------------------------------------- the wire sent


async def test_requests_carry_token_request_id_and_karrio_units() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/purchase"):
            return httpx.Response(200, json=BOUGHT)
        return httpx.Response(201, json=shipment())

    async with gateway(handle) as karrio:
        draft = await karrio.create_shipment(
            msgspec.structs.replace(REQUEST, label_type="ZPL", carrier_ids=("acme-local",)),
            request_id="cf-1",
            reference="order-1",
        )
        await karrio.purchase(draft.shipment_id, "rat_1", request_id="cf-1", label_type="ZPL")
    create, purchase = seen
    for request in seen:
        assert request.headers["authorization"] == f"Token {KEY}"
        assert request.headers["x-request-id"] == "cf-1"
    body = json.loads(create.content)
    assert body["parcels"] == [
        {
            "weight": 1.5,
            "weight_unit": "KG",
            "length": 30,
            "width": 20,
            "height": 10,
            "dimension_unit": "CM",
        }
    ]
    assert body["recipient"] == {
        "country_code": "US",
        "postal_code": "10001",
        "address_line1": "20 W 34th St",
        "residential": False,
    }
    assert (body["reference"], body["label_type"], body["carrier_ids"]) == (
        "order-1",
        "ZPL",
        ["acme-local"],
    )
    assert "service" not in body  # a draft: nothing is bought on create
    assert purchase.url.path == "/v1/shipments/shp_1/purchase"
    assert json.loads(purchase.content) == {"selected_rate_id": "rat_1", "label_type": "ZPL"}


@pytest.mark.parametrize("request_id", ["", "has space", "ünï", "x" * 201, "a/b"])
async def test_a_request_id_karrio_would_replace_is_refused_before_sending(request_id: str) -> None:
    async with gateway(lambda r: pytest.fail("nothing may be sent")) as karrio:
        with pytest.raises(ValueError, match="request_id"):
            await karrio.create_shipment(REQUEST, request_id=request_id, reference="order-1")
        with pytest.raises(ValueError, match="request_id"):
            await karrio.find_by_request_id(request_id)


@pytest.mark.parametrize("shipment_id", ["", "shp/../x", "shp?x=1", "a\nb", "x" * 129])
async def test_an_id_that_cannot_be_a_path_segment_is_refused(shipment_id: str) -> None:
    async with gateway(lambda r: pytest.fail("nothing may be sent")) as karrio:
        with pytest.raises(ValueError, match="shipment_id"):
            await karrio.get_shipment(shipment_id)
        with pytest.raises(ValueError, match="shipment_id"):
            await karrio.cancel(shipment_id)


async def test_a_reference_over_35_characters_is_refused() -> None:
    async with gateway(lambda r: pytest.fail("nothing may be sent")) as karrio:
        with pytest.raises(ValueError, match="reference"):
            await karrio.create_shipment(REQUEST, request_id="cf-1", reference="r" * 36)


# --------------------------------------------------------------------------- quirks


async def test_a_bought_shipment_keeps_the_quotes_carrier_name_and_label() -> None:
    async with gateway(answer(200, BOUGHT)) as karrio:
        done = await karrio.purchase("shp_1", "rat_1", request_id="cf-1")
    assert done.status is ShipmentStatus.CREATED
    assert (done.carrier, done.carrier_id, done.service) == ("acme", "acme-local", "acme_ground")
    assert done.cost == Money(amount_minor=1250, currency="USD")
    assert done.label is not None and done.label.data == PDF


async def test_purchased_reads_as_created_and_proxy_docs_label_is_read() -> None:
    body = {**BOUGHT, "status": "purchased", "shipping_documents": None}
    body["docs"] = {"label": base64.b64encode(b"^XA^XZ").decode(), "invoice": None}
    body["label_type"] = "ZPL"
    async with gateway(answer(200, body)) as karrio:
        done = await karrio.purchase("shp_1", "rat_1", request_id="cf-1")
    assert done.status is ShipmentStatus.CREATED
    assert done.label is not None and (done.label.label_type, done.label.data) == ("ZPL", b"^XA^XZ")


async def test_a_purchase_answer_without_bytes_fetches_the_label() -> None:
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/documents/label"):
            doc = {"category": "label", "format": "PDF", "base64": base64.b64encode(PDF).decode()}
            return httpx.Response(200, json=doc)
        return httpx.Response(
            200, json={**BOUGHT, "shipping_documents": [{"category": "label", "base64": None}]}
        )

    async with gateway(handle) as karrio:
        done = await karrio.purchase("shp_1", "rat_1", request_id="cf-1")
    assert paths == ["/v1/shipments/shp_1/purchase", "/v1/shipments/shp_1/documents/label"]
    assert done.label is not None and done.label.data == PDF


async def test_a_bought_shipment_with_an_inexact_cost_is_kept_without_cost() -> None:
    raw = json.dumps(BOUGHT).replace('"total_charge": 12.5', '"total_charge": 12.345')
    async with gateway(lambda r: httpx.Response(200, content=raw.encode())) as karrio:
        done = await karrio.purchase("shp_1", "rat_1", request_id="cf-1")
    assert done.cost is None and done.tracking_number  # the label exists: never lose it


async def test_an_unknown_shipment_status_is_unreadable_not_guessed() -> None:
    async with gateway(answer(200, {**BOUGHT, "status": "teleported"})) as karrio:
        with pytest.raises(CarrierUnavailable, match="teleported"):
            await karrio.get_shipment("shp_1")


async def test_a_label_that_is_not_base64_is_unreadable() -> None:
    body = {
        **BOUGHT,
        "shipping_documents": [{"category": "label", "format": "PDF", "base64": "%%%"}],
    }
    async with gateway(answer(200, body)) as karrio:
        with pytest.raises(CarrierUnavailable, match="base64"):
            await karrio.purchase("shp_1", "rat_1", request_id="cf-1")


async def test_find_by_reference_keeps_exact_matches_across_pages() -> None:
    first = [shipment(id="shp_a", reference="order-1"), shipment(id="shp_b", reference="order-10")]
    second = [
        shipment(id="shp_c", reference="ORDER-1"),
        shipment(id="shp_d", reference="order-1", status="cancelled"),
    ]
    pages = {
        "0": {"next": "http://karrio.test/v1/shipments?offset=2", "results": first},
        "2": {"next": None, "results": second},
    }
    asked: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json=pages[request.url.params["offset"]])

    async with gateway(handle, find_page_size=2) as karrio:
        found = await karrio.find_by_reference("order-1")
    assert [(s.shipment_id, s.status) for s in found] == [
        ("shp_a", ShipmentStatus.DRAFT),
        ("shp_d", ShipmentStatus.CANCELLED),
    ]
    assert asked == [
        {"reference": "order-1", "limit": "2", "offset": "0"},
        {"reference": "order-1", "limit": "2", "offset": "2"},
    ]


async def test_find_by_request_id_keeps_only_that_request_id() -> None:
    page = {
        "next": None,
        "results": [
            shipment(id="shp_a", meta={"request_id": "cf-1"}),
            shipment(id="shp_b", meta={}),
        ],
    }
    async with gateway(answer(200, page)) as karrio:
        found = await karrio.find_by_request_id("cf-1")
    assert [s.shipment_id for s in found] == ["shp_a"]


async def test_tracker_events_sorted_oldest_first_whatever_their_time_format() -> None:
    body = {
        "tracking_number": "1Z999",
        "carrier_name": "ups",
        "status": "in_transit",
        "delivered": False,
        "events": [
            {"date": "2026-01-03", "time": "10:39", "code": "IT", "description": "Departed"},
            {"date": "2026-01-02", "time": "04:15 PM", "code": "PU", "status": "picked_up"},
            {"timestamp": "2026-01-01T09:00:00Z", "date": "2026-01-05", "code": "LB"},
            {"description": "no time at all"},
        ],
    }
    async with gateway(answer(200, body)) as karrio:
        tracker = await karrio.track("1Z999")
    assert tracker.status is TrackingStatus.IN_TRANSIT and not tracker.delivered
    assert [e.code or e.description for e in tracker.events] == ["LB", "PU", "IT", "no time at all"]
    assert tracker.events[1].status is TrackingStatus.PICKED_UP


async def test_an_unknown_tracker_status_reads_as_unknown() -> None:
    body = {"tracking_number": "1Z999", "status": "abducted_by_aliens", "events": None}
    async with gateway(answer(200, body)) as karrio:
        tracker = await karrio.track("1Z999")
    assert tracker.status is TrackingStatus.UNKNOWN and tracker.events == ()


# --------------------------------------------------------------------------- settings


def test_settings_never_print_the_key_and_refuse_bad_values() -> None:
    settings = KarrioSettings(base_url="http://karrio.test", api_key=KEY)
    assert KEY not in repr(settings)
    for bad in ({"base_url": "karrio.test"}, {"timeout_s": 0}, {"find_page_size": 101}):
        with pytest.raises(ValueError, match="must"):
            KarrioSettings(**{"base_url": "http://karrio.test", "api_key": KEY, **bad})


def test_settings_from_the_shipping_section() -> None:
    config = ShippingConfig(base_url="http://karrio.test:5002", api_key=KEY, timeout_s=3.0)
    settings = KarrioSettings.from_config(config)
    assert (settings.base_url, settings.api_key, settings.timeout_s) == (
        "http://karrio.test:5002",
        KEY,
        3.0,
    )
    sandbox = KarrioSettings.from_config(ShippingConfig(), base_url="http://127.0.0.1:8092")
    assert sandbox.base_url == "http://127.0.0.1:8092"
    with pytest.raises(ConfigError, match=r"shipping\.base_url"):
        KarrioSettings.from_config(ShippingConfig())
