"""The sandbox carriers' Karrio API: rating, shipments, lookups, labels, auth, bad bodies."""

from __future__ import annotations

import base64
import re
from typing import Any

import anyio
import httpx
import pytest
from sandbox_helpers import FakeWallClock, RecordingSleep

from creatorflow.sandbox.carriers import (
    PREFIX,
    CarrierSandbox,
    CarrierSandboxConfig,
    code128_values,
    zone_of,
)
from creatorflow.sandbox.carriers._labels import CODE128

pytestmark = pytest.mark.anyio

KEY = "test-carriers-key"
AUTH = {"authorization": f"Token {KEY}"}
NEW_YORK = {"country_code": "US", "postal_code": "10001", "city": "New York",
            "person_name": "Ann Seller", "address_line1": "1 Main St"}  # fmt: skip
BROOKLYN = {"country_code": "US", "postal_code": "11201", "city": "Brooklyn",
            "person_name": "Bo Buyer", "address_line1": "2 Court St"}  # fmt: skip
SAN_FRANCISCO = {"country_code": "US", "postal_code": "94103", "city": "San Francisco",
                 "person_name": "Cy Buyer", "address_line1": "3 Market St"}  # fmt: skip
TORONTO = {"country_code": "CA", "postal_code": "M5V 2T6", "city": "Toronto",
           "person_name": "Di Buyer", "address_line1": "4 King St"}  # fmt: skip


def make(**config: Any) -> CarrierSandbox:
    fields: dict[str, Any] = {"api_key": KEY, "seed": 3} | config
    return CarrierSandbox(
        CarrierSandboxConfig(**fields), clock=FakeWallClock(), sleep=RecordingSleep()
    )


def client(app: CarrierSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://carriers")


def body(recipient: dict[str, Any] = BROOKLYN, kg: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"shipper": dict(NEW_YORK), "recipient": dict(recipient),
            "parcels": [{"weight": kg, "weight_unit": "KG"}], **extra}  # fmt: skip


async def draft(http: httpx.AsyncClient, request_id: str = "rq-1", **extra: Any) -> Any:
    headers = AUTH | {"x-request-id": request_id}
    response = await http.post("/v1/shipments", json=body(**extra), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def buy(http: httpx.AsyncClient, shipment: Any, request_id: str = "rq-1") -> httpx.Response:
    rate_id = shipment["rates"][0]["id"]
    return await http.post(
        f"/v1/shipments/{shipment['id']}/purchase",
        json={"selected_rate_id": rate_id},
        headers=AUTH | {"x-request-id": request_id},
    )


# ------------------------------------------------------------------ rating


async def test_rates_offer_a_real_price_speed_trade_off() -> None:
    async with client(make()) as http:
        first = await http.post("/v1/proxy/rates", json=body(), headers=AUTH)
        again = await http.post("/v1/proxy/rates", json=body(), headers=AUTH)
    assert first.status_code == 200 and first.json()["messages"] == []
    rates = first.json()["rates"]
    assert {r["carrier_name"] for r in rates} == {"terra", "swift", "zoom"}
    prices = [r["total_charge"] for r in rates]
    assert prices == sorted(prices), "cheapest first"
    cheapest, dearest = rates[0], rates[-1]
    assert cheapest["service"] == "terra_economy" and cheapest["total_charge"] == 4.5
    assert cheapest["transit_days"] == max(r["transit_days"] for r in rates)
    assert dearest["service"] == "zoom_express" and dearest["transit_days"] == 1
    for rate in rates:
        assert rate["id"].startswith("rat_") and rate["object_type"] == "rate"
        assert isinstance(rate["total_charge"], float) and rate["currency"] == "USD"
        assert rate["service"].startswith(rate["carrier_name"] + "_")
        assert rate["carrier_id"] == f"{rate['carrier_name']}-sandbox"
    assert not {r["id"] for r in rates} & {r["id"] for r in again.json()["rates"]}


async def test_zone_and_weight_set_the_price() -> None:
    assert zone_of(NEW_YORK, BROOKLYN) == 1
    assert zone_of(NEW_YORK, SAN_FRANCISCO) == 2
    assert zone_of(NEW_YORK, TORONTO) == 3
    app = make()
    prices: dict[str, float] = {}
    async with client(app) as http:
        for name, recipient, kg in (("z1", BROOKLYN, 1), ("z2", SAN_FRANCISCO, 1),
                                    ("z3", TORONTO, 1), ("z1-heavy", BROOKLYN, 7)):  # fmt: skip
            answer = await http.post("/v1/proxy/rates", json=body(recipient, kg), headers=AUTH)
            std = [r for r in answer.json()["rates"] if r["service"] == "swift_standard"]
            prices[name] = std[0]["total_charge"]
            if recipient is TORONTO:  # the ground carrier is domestic only: no rate, no message
                assert "terra" not in {r["carrier_name"] for r in answer.json()["rates"]}
                assert answer.json()["messages"] == []
        too_heavy = await http.post("/v1/proxy/rates", json=body(kg=31), headers=AUTH)
        in_pounds = body()
        in_pounds["parcels"] = [{"weight": 2.2046, "weight_unit": "LB"}]
        pounds = await http.post("/v1/proxy/rates", json=in_pounds, headers=AUTH)
    assert prices == {"z1": 7.9, "z2": 9.5, "z3": 24.9, "z1-heavy": 16.9}
    assert too_heavy.status_code == 200 and too_heavy.json() == {"rates": [], "messages": []}
    assert pounds.json()["rates"][0]["total_charge"] == 4.5  # 2.2046 lb is within 1 kg


async def test_a_carrier_in_outage_is_in_messages_and_drops_out() -> None:
    app = make()
    async with client(app) as http:
        await http.post(f"{PREFIX}/faults", json={"carrier": "terra", "outage": True})
        answer = await http.post("/v1/proxy/rates", json=body(), headers=AUTH)
    assert answer.status_code == 200
    assert {r["carrier_name"] for r in answer.json()["rates"]} == {"swift", "zoom"}
    (message,) = answer.json()["messages"]
    assert message["carrier_name"] == "terra" and message["carrier_id"] == "terra-sandbox"
    assert message["code"] == "SHIPPING_SDK_INTERNAL_ERROR" and message["level"] == "error"
    assert message["details"] == {"sandbox_fault": "outage"}


async def test_every_carrier_down_is_424_with_their_messages() -> None:
    app = make()
    async with client(app) as http:
        for name in ("terra", "swift", "zoom"):
            await http.post(f"{PREFIX}/faults", json={"carrier": name, "outage": True})
        rated = await http.post("/v1/proxy/rates", json=body(), headers=AUTH)
        created = await http.post("/v1/shipments", json=body(), headers=AUTH)
    for answer in (rated, created):
        assert answer.status_code == 424
        assert [m["carrier_name"] for m in answer.json()["messages"]] == ["terra", "swift", "zoom"]
    assert len(app.shipments) == 0


async def test_carrier_ids_and_services_narrow_the_rating() -> None:
    async with client(make()) as http:
        zoom = await http.post(
            "/v1/proxy/rates", json=body(carrier_ids=["zoom-sandbox", "nope"]), headers=AUTH
        )
        one = await http.post(
            "/v1/proxy/rates", json=body(services=["swift_standard"]), headers=AUTH
        )
        unknown = await http.post("/v1/proxy/rates", json=body(carrier_ids=["ups"]), headers=AUTH)
    assert {r["carrier_name"] for r in zoom.json()["rates"]} == {"zoom"}
    assert [r["service"] for r in one.json()["rates"]] == ["swift_standard"]
    assert unknown.status_code == 404
    assert unknown.json() == {"errors": [{"code": "not_found", "level": "warning",
        "message": "No active carrier connection found to process the request"}]}  # fmt: skip


# ------------------------------------------------------------------ shipments


async def test_create_purchase_double_purchase_cancel() -> None:
    app = make()
    async with client(app) as http:
        shipment = await draft(http, reference="order-1", metadata={"order_id": "order-1"})
        bought = await buy(http, shipment, request_id="buy-1")
        twice = await buy(http, shipment, request_id="buy-2")
        read = await http.get(f"/v1/shipments/{shipment['id']}", headers=AUTH)
        cancelled = await http.post(f"/v1/shipments/{shipment['id']}/cancel", headers=AUTH)
        again = await http.post(f"/v1/shipments/{shipment['id']}/cancel", headers=AUTH)
        tracker = await http.get(f"/v1/trackers/{bought.json()['tracking_number']}", headers=AUTH)
        purchases = (await http.get(f"{PREFIX}/purchases")).json()["purchases"]
    assert shipment["status"] == "draft" and shipment["meta"] == {"request_id": "rq-1"}
    assert shipment["shipping_documents"] == [] and shipment["tracking_number"] is None
    assert bought.status_code == 200, bought.text
    got = bought.json()
    assert got["status"] == "created" and got["meta"]["request_id"] == "buy-1"
    assert got["tracking_number"].startswith("TG") and got["tracker_id"].startswith("trk_")
    assert got["shipment_identifier"] == got["tracking_number"]
    assert got["tracking_url"] == f"/v1/trackers/terra/{got['tracking_number']}"
    assert got["selected_rate_id"] == shipment["rates"][0]["id"]
    assert got["reference"] == "order-1" and got["metadata"] == {"order_id": "order-1"}
    (document,) = got["shipping_documents"]
    assert document["format"] == "PDF" and document["url"] == got["label_url"]
    assert base64.b64decode(document["base64"]).startswith(b"%PDF-1.4")
    refusal = "The shipment is 'created' and cannot be purchased again"
    assert twice.status_code == 409 and twice.json()["errors"] == [
        {"code": "state_error", "level": "error", "message": refusal}
    ]
    assert read.json()["shipping_documents"][0]["base64"] is None  # reads carry the URL only
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert (again.status_code, again.json()["status"]) == (202, "cancelled")
    assert tracker.status_code == 404
    assert [(p["shipment_id"], p["status"]) for p in purchases] == [(shipment["id"], "cancelled")]


async def test_concurrent_purchases_of_one_shipment_buy_one_label() -> None:
    app = make()
    answers: list[int] = []
    async with client(app) as http:
        shipment = await draft(http)

        async def purchase(request_id: str) -> None:
            answers.append((await buy(http, shipment, request_id)).status_code)

        async with anyio.create_task_group() as tg:
            for attempt in ("a-1", "a-2", "a-3"):
                tg.start_soon(purchase, attempt)
    assert sorted(answers) == [200, 409, 409]
    assert len(app.shipments.purchases) == 1 and len(app.trackers) == 1


async def test_purchase_refusals() -> None:
    app = make()
    async with client(app) as http:
        shipment = await draft(http)
        path = f"/v1/shipments/{shipment['id']}/purchase"
        bad_rate = await http.post(path, json={"selected_rate_id": "rat_nope"}, headers=AUTH)
        empty = await http.post(path, headers=AUTH)
        missing = await http.post("/v1/shipments/shp_nope/purchase", json={}, headers=AUTH)
        no_name = body()
        no_name["recipient"].pop("person_name")
        unnamed = (await http.post("/v1/shipments", json=no_name, headers=AUTH)).json()
        refused = await buy(http, unnamed)
        cancelled = await http.post(f"/v1/shipments/{shipment['id']}/cancel", headers=AUTH)
        after = await buy(http, shipment)
    assert (
        bad_rate.status_code == 400
        and bad_rate.json()["errors"][0]["code"] == "service_unavailable"
    )
    assert empty.status_code == 400 and empty.json()["errors"][0]["code"] == "validation_error"
    assert missing.status_code == 404 and missing.json()["errors"] == [
        {"code": "not_found", "message": "Shipment not found", "level": "warning"}
    ]
    assert refused.status_code == 400 and refused.json()["errors"] == [
        {"code": "validation", "message": "recipient.person_name: This field is required.",
         "level": "error"}
    ]  # fmt: skip
    assert cancelled.status_code == 200  # a draft is cancelled without asking the carrier
    assert after.status_code == 409 and after.json()["errors"][0]["code"] == "state_error"
    assert app.shipments.purchases == {}


async def test_create_with_a_service_buys_at_once_in_zpl() -> None:
    app = make()
    async with client(app) as http:
        answer = await http.post(
            "/v1/shipments", json=body(service="zoom_express", label_type="ZPL"), headers=AUTH
        )
        shipment = answer.json()
        label_url = await http.get(shipment["label_url"], headers=AUTH)
        document = await http.post(f"/v1/shipments/{shipment['id']}/documents/label", headers=AUTH)
        unavailable = await http.post(
            "/v1/shipments", json=body(TORONTO, service="terra_ground"), headers=AUTH
        )
    assert answer.status_code == 201 and shipment["status"] == "created"
    assert shipment["service"] == "zoom_express" and shipment["label_type"] == "ZPL"
    zpl = base64.b64decode(shipment["shipping_documents"][0]["base64"])
    assert zpl.startswith(b"^XA") and zpl.rstrip().endswith(b"^XZ")
    assert f"^FD{shipment['tracking_number']}^FS".encode() in zpl
    assert shipment["label_url"].endswith("/label.zpl") and label_url.content == zpl
    assert label_url.headers["content-type"].startswith("text/plain")
    encoded = shipment["shipping_documents"][0]["base64"]
    assert document.json() == {
        "category": "label",
        "format": "ZPL",
        "base64": encoded,
        "url": shipment["label_url"],
    }
    assert unavailable.status_code == 400
    assert unavailable.json()["errors"][0]["code"] == "service_unavailable"


async def test_lookups_by_request_id_and_reference_as_the_real_server_filters() -> None:
    app = make()
    async with client(app) as http:
        one = await draft(http, "att-1", reference="order-1")
        ten = await draft(http, "att-10", reference="ORDER-10")
        await buy(http, one, request_id="att-1-buy")  # purchase replaces meta.request_id

        async def ids(**params: str) -> list[str]:
            answer = await http.get("/v1/shipments", params=params, headers=AUTH)
            assert answer.status_code == 200
            return [s["id"] for s in answer.json()["results"]]

        by_create = await ids(request_id="att-1")
        by_purchase = await ids(request_id="att-1-buy")
        by_ten = await ids(request_id="att-10")
        by_reference = await ids(reference="order-1")
        exact_only = await ids(reference="order-10")
        by_status = await ids(status="created")
        cancel = await http.post("/v1/shipments/att-10/cancel", headers=AUTH)  # a request_id
    assert by_create == [] and by_purchase == [one["id"]] and by_ten == [ten["id"]]
    assert by_reference == [ten["id"], one["id"]]  # icontains, newest first: compare yourself
    assert exact_only == [ten["id"]] and by_status == [one["id"]]
    assert cancel.status_code == 200 and cancel.json()["id"] == ten["id"]


async def test_list_pages_like_karrio() -> None:
    app = make()
    async with client(app) as http:
        made = [(await draft(http, f"p-{i}"))["id"] for i in range(5)]
        first = (await http.get("/v1/shipments", params={"limit": 2}, headers=AUTH)).json()
        last = (await http.get("/v1/shipments?limit=2&offset=4", headers=AUTH)).json()
    assert first["count"] == 5 and [s["id"] for s in first["results"]] == made[::-1][:2]
    assert first["previous"] is None and "offset=2" in first["next"]
    assert [s["id"] for s in last["results"]] == [made[0]] and last["next"] is None


# ------------------------------------------------------------------ labels


def _bars_from_pdf(pdf: bytes) -> list[int]:
    """The barcode's bar/space widths in modules, read back from the drawn rectangles."""
    rects = [
        (float(x), float(w))
        for x, w in re.findall(rb"([0-9.]+) 120 ([0-9.]+) 72 re", pdf)
    ]  # fmt: skip
    module = min(w for _, w in rects)
    widths: list[int] = []
    for (x, w), nxt in zip(rects, [*rects[1:], None], strict=True):
        widths.append(round(w / module))
        if nxt is not None:
            widths.append(round((nxt[0] - x - w) / module))
    return widths


def _decode_code128(widths: list[int]) -> str:
    symbols = ["".join(map(str, widths[i : i + 6])) for i in range(0, len(widths) - 7, 6)]
    values = [CODE128.index(s) for s in symbols]
    assert "".join(map(str, widths[-7:])) == CODE128[106], "stop pattern"
    start, *data, check = values
    assert start == 104 and (start + sum(i * v for i, v in enumerate(data, 1))) % 103 == check
    return "".join(chr(v + 32) for v in data)


async def test_pdf_label_is_a_real_pdf_with_the_number_and_a_code128_barcode() -> None:
    app = make()
    async with client(app) as http:
        shipment = await draft(http, reference="order-(7)")
        bought = (await buy(http, shipment)).json()
        fetched = await http.get(bought["label_url"], headers=AUTH)
    pdf = base64.b64decode(bought["shipping_documents"][0]["base64"])
    number = bought["tracking_number"]
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) < 8000
    assert f"(TRACKING #: {number})".encode() in pdf and b"(REF: order-\\(7\\))" in pdf
    assert fetched.content == pdf and fetched.headers["content-type"] == "application/pdf"
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split()[0])
    assert pdf[xref:].startswith(b"xref\n0 6\n")
    offsets = [int(line[:10]) for line in pdf[xref:].split(b"\n")[3:8]]
    for number_, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number_)
    assert _decode_code128(_bars_from_pdf(pdf)) == number


def test_code128_table_and_checksum() -> None:
    assert len(CODE128) == 107 and len(set(CODE128)) == 107
    assert all(sum(map(int, p)) == 11 for p in CODE128[:106]) and sum(map(int, CODE128[106])) == 13
    # Code 128 B of "PJJ123C": start 104, data, check (104 + sum(i * v)) % 103 = 55, stop.
    assert code128_values("PJJ123C") == [104, 48, 42, 42, 17, 18, 19, 35, 55, 106]
    with pytest.raises(ValueError, match="cannot encode"):
        code128_values("é")


# ------------------------------------------------------------------ HTTP edges


async def test_auth_token_basic_and_errors() -> None:
    app = make()
    basic = base64.b64encode(f"{KEY}:".encode()).decode()
    async with client(app) as http:
        none = await http.post("/v1/proxy/rates", json=body())
        wrong = await http.post(
            "/v1/proxy/rates", json=body(), headers={"authorization": "Token x"}
        )
        bearer = await http.post(
            "/v1/proxy/rates", json=body(), headers={"authorization": f"Bearer {KEY}"}
        )
        ok = await http.post(
            "/v1/proxy/rates", json=body(), headers={"authorization": f"Basic {basic}"}
        )
        lower = await http.get("/v1/shipments", headers={"authorization": f"token {KEY}"})
        root = await http.get("/")
    assert none.status_code == 401 and none.json()["errors"] == [{"code": "not_authenticated",
        "message": "Authentication credentials were not provided.", "level": "error"}]  # fmt: skip
    assert wrong.status_code == bearer.status_code == 401
    assert wrong.json()["errors"][0]["code"] == "invalid_token"
    assert ok.status_code == 200 and lower.status_code == 200 and root.status_code == 200


async def test_x_request_id_is_echoed_or_made() -> None:
    async with client(make()) as http:
        kept = await http.get("/v1/shipments", headers=AUTH | {"x-request-id": "ord-1.a_2"})
        made = await http.get("/v1/shipments", headers=AUTH | {"x-request-id": "has space"})
        refused = await http.get("/v1/shipments", headers={"x-request-id": "ord-2"})
    assert kept.headers["x-request-id"] == "ord-1.a_2"
    assert re.fullmatch(r"req_[0-9a-f]{32}", made.headers["x-request-id"])
    assert refused.headers["x-request-id"] == "ord-2"


BAD_BODIES = [
    (b"{not json", 400, "parse_error"),
    (b"[1, 2]", 400, "validation"),
    (b'"text"', 400, "validation"),
    (b"{}", 400, "validation"),
    (b'{"shipper": 1, "recipient": [], "parcels": {}}', 400, "validation"),
    (b'{"shipper": {"country_code": "XX"}, "recipient": {}, "parcels": []}', 400, "validation"),
    (b'{"shipper": {"country_code": "CA", "postal_code": ""}, "recipient": '
     b'{"country_code": "US", "postal_code": "1"}, "parcels": [{"weight": "1", '
     b'"weight_unit": "ST", "length": true}]}', 400, "validation"),
    (b'{"shipper": {"country_code": "US", "city": {"a": 1}}, "recipient": {"country_code": '
     b'"US", "person_name": "' + b"x" * 60 + b'"}, "parcels": [{"weight": 1e308, '
     b'"weight_unit": "KG"}], "label_type": "PNG", "metadata": [], "carrier_ids": "ups"}',
     400, "validation"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, 400, "too_deep"),
    (b"{" + b" " * 300_000 + b"}", 413, "too_large"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "status", "code"), BAD_BODIES)
@pytest.mark.parametrize("path", ["/v1/proxy/rates", "/v1/shipments"])
async def test_bad_bodies_are_4xx_never_500(raw: bytes, status: int, code: str, path: str) -> None:
    async with client(make()) as http:
        headers = AUTH | {"content-type": "application/json"}
        answer = await http.post(path, content=raw, headers=headers)
    assert answer.status_code == status, answer.text
    errors = answer.json()["errors"]
    assert errors and all(e["code"] == code for e in errors)


async def test_bad_purchase_bodies_are_400() -> None:
    async with client(make()) as http:
        shipment = await draft(http)
        path = f"/v1/shipments/{shipment['id']}/purchase"
        answers = [
            await http.post(path, content=raw, headers=AUTH)
            for raw in (b"{", b"[]", b'{"selected_rate_id": 5.5, "label_type": "GIF"}',
                        b'{"service": {"a": 1}}', b'{"metadata": "x", "service": "s"}')
        ]  # fmt: skip
    assert [a.status_code for a in answers] == [400] * 5
    messages = [e["message"] for e in answers[2].json()["errors"]]
    assert messages == ['label_type: "GIF" is not a valid choice.']


async def test_mounted_under_the_prefix() -> None:
    app = make()
    async with client(app) as http:
        created = await http.post(
            f"{PREFIX}/v1/shipments", json=body(service="swift_standard"), headers=AUTH
        )
        shipment = created.json()
        label = await http.get(shipment["label_url"], headers=AUTH)
        tracker = await http.get(shipment["tracking_url"], headers=AUTH)
        admin = await http.get(f"{PREFIX}/carriers")
        unknown = await http.get(f"{PREFIX}/v1/nothing", headers=AUTH)
        put = await http.put(f"{PREFIX}/v1/shipments", headers=AUTH)
    assert created.status_code == 201
    assert shipment["label_url"].startswith(f"{PREFIX}/v1/shipments/")
    assert shipment["tracking_url"] == f"{PREFIX}/v1/trackers/swift/{shipment['tracking_number']}"
    assert label.content.startswith(b"%PDF") and tracker.json()["status"] == "pending"
    assert admin.status_code == 200 and unknown.status_code == 404 and put.status_code == 405


async def test_throttle_answers_429_with_retry_after() -> None:
    clock = FakeWallClock()
    app = CarrierSandbox(CarrierSandboxConfig(api_key=KEY, throttle_per_min=2), clock=clock)
    async with client(app) as http:
        codes = [(await http.get("/v1/shipments", headers=AUTH)).status_code for _ in range(2)]
        throttled = await http.get("/v1/shipments", headers=AUTH)
        clock.advance(60)
        later = await http.get("/v1/shipments", headers=AUTH)
    assert codes == [200, 200] and later.status_code == 200
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"
    assert throttled.json()["errors"] == [{"code": "throttled", "level": "warning",
        "message": "Request was throttled. Expected available in 60 seconds."}]  # fmt: skip


def test_public_surface() -> None:
    from creatorflow.sandbox import carriers

    assert set(carriers.__all__) == {
        "DEFAULT_CARRIERS", "DEFAULT_TRACKER_SCHEDULE_S", "PREFIX", "WEIGHT_BRACKETS_KG",
        "CarrierFaultConfig", "CarrierSandbox", "CarrierSandboxConfig", "CarrierSpec",
        "DeliverFn", "ServiceSpec", "code128_values", "open_carrier_sandbox", "zone_of",
    }  # fmt: skip
    assert carriers.PREFIX == "/sandbox/carriers"
