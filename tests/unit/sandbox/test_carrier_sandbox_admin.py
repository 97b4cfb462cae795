"""The sandbox carriers' admin contract, faults, tracker walk, pushes, bounds and CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import msgspec
import pytest
import uvicorn
from sandbox_helpers import START_S, Collector, FakeWallClock, RecordingSleep

from creatorflow import cli
from creatorflow.sandbox.carriers import (
    PREFIX,
    CarrierSandbox,
    CarrierSandboxConfig,
    open_carrier_sandbox,
)

pytestmark = pytest.mark.anyio

KEY = "test-carriers-key"
AUTH = {"authorization": f"Token {KEY}"}
START_MS = START_S * 1000
SHIPPER = {"country_code": "US", "postal_code": "10118", "city": "New York",
           "person_name": "Jane Doe", "address_line1": "350 5th Ave"}  # fmt: skip
RECIPIENT = {"country_code": "US", "postal_code": "10001", "city": "New York",
             "person_name": "John Poe", "address_line1": "20 W 34th St"}  # fmt: skip
BODY = {"shipper": SHIPPER, "recipient": RECIPIENT, "parcels": [{"weight": 1, "weight_unit": "KG"}]}
PURCHASE_KEYS = {"shipment_id", "carrier", "service", "tracking_number", "reference",
                 "request_id", "status", "total_charge"}  # fmt: skip


def make(clock: FakeWallClock | None = None, sleep: Any = None, **config: Any) -> CarrierSandbox:
    deliver = config.pop("deliver", None)
    fields: dict[str, Any] = {"api_key": KEY, "seed": 5} | config
    return CarrierSandbox(
        CarrierSandboxConfig(**fields),
        clock=clock or FakeWallClock(),
        sleep=sleep or RecordingSleep(),
        deliver=deliver,
    )


def client(app: CarrierSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://carriers")


async def bought(
    http: httpx.AsyncClient, request_id: str = "rq", service: str = "terra_ground", **extra: Any
) -> Any:
    answer = await http.post(
        "/v1/shipments",
        json=BODY | {"service": service} | extra,
        headers=AUTH | {"x-request-id": request_id},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def faults(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post(f"{PREFIX}/faults", json=body)


# ------------------------------------------------------------------ the admin contract


async def test_carriers_lists_services_prices_and_faults_exactly() -> None:
    app = make()
    async with client(app) as http:
        listed = (await http.get(f"{PREFIX}/carriers")).json()
        rates = (await http.post("/v1/proxy/rates", json=BODY, headers=AUTH)).json()["rates"]
    assert list(listed) == ["carriers"]
    assert [c["name"] for c in listed["carriers"]] == ["terra", "swift", "zoom"]
    for carrier in listed["carriers"]:
        assert set(carrier) == {"name", "services", "faults"}
        assert {"outage", "error_rate", "timeout_rate", "latency_ms"} <= set(carrier["faults"])
        for service in carrier["services"]:
            assert set(service) == {"code", "transit_days", "price"}
            assert isinstance(service["price"], int)
    assert listed["carriers"][0]["services"] == [
        {"code": "terra_economy", "transit_days": 5, "price": 450},
        {"code": "terra_ground", "transit_days": 3, "price": 590},
    ]
    assert listed["carriers"][0]["faults"] == {
        "outage": False, "error_rate": 0.0, "timeout_rate": 0.0, "latency_ms": [40.0, 120.0],
        "timeout_s": 10.0, "timeout_applied_rate": 0.5,
    }  # fmt: skip
    # "price" is what a 1 kg zone-1 parcel is quoted, in minor units.
    quoted = {r["service"]: (round(r["total_charge"] * 100), r["transit_days"]) for r in rates}
    listed_prices = {
        s["code"]: (s["price"], s["transit_days"])
        for c in listed["carriers"]
        for s in c["services"]
    }  # fmt: skip
    assert quoted == listed_prices


async def test_faults_endpoint_sets_and_answers_that_carriers_faults() -> None:
    app = make()
    async with client(app) as http:
        first = await faults(http, carrier="zoom", error_rate=0.25, outage=True)
        by_id = await faults(http, carrier="zoom-sandbox", latency_ms=[0, 5])
        listed = (await http.get(f"{PREFIX}/carriers")).json()["carriers"][2]["faults"]
        reset = await faults(http, carrier="zoom", reset=True)
        refusals = [
            await faults(http, carrier="ups"),
            await faults(http, carrier="zoom", error_rate=2),
            await faults(http, carrier="zoom", latency_ms=[5, 1]),
            await faults(http, carrier="zoom", bogus=1),
            await faults(http, outage=True),
            await http.post(f"{PREFIX}/faults", content=b"not json"),
        ]
    assert first.status_code == 200
    assert first.json() | {"latency_ms": None} == {
        "outage": True, "error_rate": 0.25, "timeout_rate": 0.0, "latency_ms": None,
        "timeout_s": 10.0, "timeout_applied_rate": 0.5,
    }  # fmt: skip
    assert first.json()["latency_ms"] == [10.0, 40.0]  # untouched: only the given fields change
    assert by_id.json()["latency_ms"] == [0.0, 5.0] and by_id.json()["outage"] is True
    assert listed == by_id.json()
    assert reset.json()["outage"] is False and reset.json()["latency_ms"] == [10.0, 40.0]
    assert [r.status_code for r in refusals] == [404, 400, 400, 400, 400, 400]
    assert all(set(r.json()) == {"error", "detail"} for r in refusals)


async def test_purchases_lists_every_label_bought_exactly() -> None:
    app = make()
    async with client(app) as http:
        one = await bought(http, "att-1", reference="order-1")
        two = await bought(http, "att-2", service="zoom_express", reference="order-2")
        await http.post(f"/v1/shipments/{one['id']}/cancel", headers=AUTH)
        purchases = (await http.get(f"{PREFIX}/purchases")).json()
    assert list(purchases) == ["purchases"]
    assert purchases["purchases"] == [
        {"shipment_id": one["id"], "carrier": "terra", "service": "terra_ground",
         "tracking_number": one["tracking_number"], "reference": "order-1",
         "request_id": "att-1", "status": "cancelled", "total_charge": 590},
        {"shipment_id": two["id"], "carrier": "zoom", "service": "zoom_express",
         "tracking_number": two["tracking_number"], "reference": "order-2",
         "request_id": "att-2", "status": "created", "total_charge": 1590},
    ]  # fmt: skip
    assert all(set(p) == PURCHASE_KEYS for p in purchases["purchases"])


async def test_admin_paths_need_the_bearer_token_when_one_is_set() -> None:
    app = make(admin_token="s3cret")
    async with client(app) as http:
        none = await http.get(f"{PREFIX}/purchases")
        wrong = await http.get(f"{PREFIX}/purchases", headers={"authorization": "Bearer nope"})
        good = await http.get(f"{PREFIX}/purchases", headers={"authorization": "bearer s3cret"})
        api = await http.get("/v1/shipments", headers=AUTH)
        unknown = await http.get(f"{PREFIX}/carriers/x", headers={"authorization": "Bearer s3cret"})
    assert none.status_code == wrong.status_code == 401
    assert none.json()["error"] == "unauthorized"
    assert good.status_code == 200 and api.status_code == 200 and unknown.status_code == 404


# ------------------------------------------------------------------ faults


async def _rating_outcomes(seed: int) -> tuple[list[Any], list[float]]:
    sleep = RecordingSleep()
    app = make(sleep=sleep, seed=seed)
    outcomes = []
    async with client(app) as http:
        for name in ("terra", "swift", "zoom"):
            await faults(http, carrier=name, error_rate=0.3, timeout_rate=0.2, latency_ms=[10, 50])
        for _ in range(25):
            answer = await http.post("/v1/proxy/rates", json=BODY, headers=AUTH)
            messages = answer.json().get("messages", [])
            failed = {m["carrier_name"]: m["details"]["sandbox_fault"] for m in messages}
            outcomes.append((answer.status_code, failed))
    return outcomes, sleep.delays


async def test_error_and_timeout_faults_are_deterministic_given_the_seed() -> None:
    first, again, other = [await _rating_outcomes(seed) for seed in (1, 1, 2)]
    assert first == again and first != other
    outcomes, delays = first
    kinds = [kind for _, failed in outcomes for kind in failed.values()]
    assert {"error", "timeout"} <= set(kinds) and len(kinds) < 75
    assert {status for status, _ in outcomes} <= {200, 424}
    # A timed-out carrier holds the whole answer past a client's timeout (10 s by default).
    held = [d for d in delays if d >= 10]
    assert len(held) == sum(1 for _, failed in outcomes if "timeout" in failed.values())
    assert all(0.010 <= d <= 0.050 for d in delays if d < 10)


async def test_a_failing_carrier_fails_the_purchase_with_424_and_buys_nothing() -> None:
    app = make()
    async with client(app) as http:
        draft = (await http.post("/v1/shipments", json=BODY, headers=AUTH)).json()
        terra = next(r for r in draft["rates"] if r["carrier_name"] == "terra")
        path = f"/v1/shipments/{draft['id']}/purchase"
        await faults(http, carrier="terra", error_rate=1)
        failed = await http.post(path, json={"selected_rate_id": terra["id"]}, headers=AUTH)
        await faults(http, carrier="terra", error_rate=0, outage=True)
        down = await http.post(path, json={"selected_rate_id": terra["id"]}, headers=AUTH)
        await faults(http, carrier="terra", outage=False)
        ok = await http.post(path, json={"selected_rate_id": terra["id"]}, headers=AUTH)
    assert failed.status_code == down.status_code == 424
    assert failed.json()["messages"][0]["details"] == {"sandbox_fault": "error"}
    assert down.json()["messages"][0]["details"] == {"sandbox_fault": "outage"}
    assert ok.status_code == 200 and len(app.shipments.purchases) == 1


class HoldingSleep:
    """Latency returns at once; a hold of ``hold_s`` or more never ends (the client gives up)."""

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.holding = anyio.Event()

    async def __call__(self, seconds: float) -> None:
        if seconds >= self.hold_s:
            self.holding.set()
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()


@pytest.mark.parametrize(("applied_rate", "bought_anyway"), [(1.0, True), (0.0, False)])
async def test_a_timed_out_purchase_may_still_have_bought_the_label(
    applied_rate: float, bought_anyway: bool
) -> None:
    sleep = HoldingSleep(hold_s=10.0)
    app = make(sleep=sleep)
    async with client(app) as http:
        draft = (await http.post("/v1/shipments", json=BODY, headers=AUTH)).json()
        rate = draft["rates"][0]
        await faults(
            http, carrier=rate["carrier_name"], timeout_rate=1, timeout_applied_rate=applied_rate
        )
        path = f"/v1/shipments/{draft['id']}/purchase"

        async def purchase() -> None:
            body = {"selected_rate_id": rate["id"]}
            await http.post(path, json=body, headers=AUTH | {"x-request-id": "att-1"})

        async with anyio.create_task_group() as tg:
            tg.start_soon(purchase)
            await sleep.holding.wait()
            tg.cancel_scope.cancel()  # the client's timeout: no answer seen
        found = await http.get("/v1/shipments?request_id=att-1", headers=AUTH)
        await faults(http, carrier=rate["carrier_name"], timeout_rate=0)
        retry = await http.post(
            path, json={"selected_rate_id": rate["id"]}, headers=AUTH | {"x-request-id": "att-2"}
        )
    results = found.json()["results"]
    if bought_anyway:
        assert [s["status"] for s in results] == ["created"]
        assert retry.status_code == 409  # adopt it: a retry never buys a second label
    else:
        assert results == [] and retry.status_code == 200
    assert len(app.shipments.purchases) == 1


# ------------------------------------------------------------------ trackers


async def test_tracker_walks_the_schedule_on_the_fake_clock() -> None:
    clock = FakeWallClock()
    app = make(clock, tracker_schedule_s=(60, 300, 900, 1800))
    seen = []
    async with client(app) as http:
        shipment = await bought(http)
        number = shipment["tracking_number"]
        for seconds in (0, 59, 1, 240, 600, 899, 1, 3600):
            clock.advance(seconds)
            tracker = (await http.get(f"/v1/trackers/{number}", headers=AUTH)).json()
            state = (await http.get(f"/v1/shipments/{shipment['id']}", headers=AUTH)).json()
            seen.append((tracker["status"], state["status"], tracker["delivered"]))
        by_id = await http.get(f"/v1/trackers/{shipment['tracker_id']}", headers=AUTH)
        listed = await http.get("/v1/trackers?status=delivered", headers=AUTH)
        late_cancel = await http.post(f"/v1/shipments/{shipment['id']}/cancel", headers=AUTH)
        purchases = (await http.get(f"{PREFIX}/purchases")).json()["purchases"]
    assert seen == [
        ("pending", "created", False), ("pending", "created", False),
        ("picked_up", "shipped", False), ("in_transit", "in_transit", False),
        ("out_for_delivery", "out_for_delivery", False),
        ("out_for_delivery", "out_for_delivery", False),
        ("delivered", "delivered", True), ("delivered", "delivered", True),
    ]  # fmt: skip
    events = tracker["events"]
    assert [e["code"] for e in events] == ["DL", "OD", "IT", "PU", "CREATED"]
    assert [e["status"] for e in events[:4]] == ["delivered", "out_for_delivery", "in_transit",
                                                 "picked_up"]  # fmt: skip
    # Each step is dated when it was due, not when it was read.
    assert events[0]["timestamp"] == "2023-11-14T22:43:20.000Z"  # START + 1800 s
    assert (events[0]["date"], events[0]["time"]) == ("2023-11-14", "10:43 PM")
    assert tracker["info"]["signed_by"] and by_id.json()["tracking_number"] == number
    assert [t["tracking_number"] for t in listed.json()["results"]] == [number]
    assert late_cancel.status_code == 409
    assert late_cancel.json()["errors"][0]["code"] == "state_error"
    assert purchases[0]["status"] == "delivered"


async def test_admin_advance_moves_the_tracker_with_an_event() -> None:
    clock = FakeWallClock()
    app = make(clock)
    async with client(app) as http:
        one = (await bought(http, "a"))["tracking_number"]
        two = (await bought(http, "b"))["tracking_number"]

        async def advance(number: str, status: Any) -> httpx.Response:
            return await http.post(f"{PREFIX}/trackers/{number}/advance", json={"status": status})

        failed = await advance(one, "delivery_failed")
        returned = await advance(two, "return_to_sender")
        clock.advance(10_000)  # the walk stopped: a failed delivery waits for a human
        still = (await http.get(f"/v1/trackers/{one}", headers=AUTH)).json()["status"]
        resumed = await advance(one, "out_for_delivery")
        clock.advance(1)
        app.tick()
        after = (await http.get(f"/v1/trackers/{one}", headers=AUTH)).json()
        final = await advance(one, "in_transit")
        refusals = [await advance("NOPE", "delivered"), await advance(two, "flying"),
                    await advance(two, 5)]  # fmt: skip
        shipments = (await http.get("/v1/shipments", headers=AUTH)).json()["results"]
    assert failed.status_code == 200 and failed.json()["status"] == "delivery_failed"
    assert failed.json()["events"][0] | {"date": "", "time": "", "timestamp": ""} == {
        "code": "DF", "description": "Delivery attempt failed: recipient not available",
        "location": "New York", "status": "delivery_failed", "reason": "consignee_not_home",
        "latitude": None, "longitude": None, "date": "", "time": "", "timestamp": "",
    }  # fmt: skip
    assert still == "delivery_failed"
    assert resumed.json()["status"] == "out_for_delivery"
    assert after["status"] == "delivered"  # back on the walk, which was overdue
    assert final.status_code == 409 and final.json()["error"] == "invalid_move"
    assert returned.json()["status"] == "return_to_sender"
    assert [r.status_code for r in refusals] == [404, 400, 400]
    assert [s["status"] for s in shipments] == ["in_transit", "delivered"]


async def test_tracker_updated_is_pushed_with_the_shared_secret() -> None:
    clock = FakeWallClock()
    collector = Collector(answers=[200, 500, 500, 500, 500, 500, 500])
    config = CarrierSandboxConfig(api_key=KEY, webhook_secret="whsec_test", seed=1)
    async with (
        open_carrier_sandbox(
            config, clock=clock, sleep=RecordingSleep(), deliver=collector.deliver
        ) as app,
        client(app) as http,
    ):
        number = (await bought(http))["tracking_number"]
        clock.advance(60)
        app.tick()
        await app.wait_pushes_idle()
        for status in ("on_hold", "delivery_delayed", "unknown", "on_hold", "unknown",
                       "on_hold", "unknown"):  # fmt: skip
            await http.post(f"{PREFIX}/trackers/{number}/advance", json={"status": status})
            await app.wait_pushes_idle()
        stats = (await http.get(f"{PREFIX}/webhooks")).json()["stats"]
    body, headers = collector.received[0]
    event = msgspec.json.decode(body)
    assert event["event"] == "tracker_updated" and set(event) == {"event", "data"}
    assert event["data"]["status"] == "picked_up" and event["data"]["tracking_number"] == number
    assert headers["x-event-id"] == "whsec_test"
    # One attempt each, no retry; after 6 straight failures the endpoint is disabled.
    assert len(collector.received) == 7
    assert stats["disabled"] is True and stats["disabled_drops"] == 1 and stats["failed"] == 6


# ------------------------------------------------------------------ bounds


async def test_memory_is_bounded() -> None:
    clock = FakeWallClock()
    collector = Collector()
    app = make(
        clock, max_shipments=4, max_trackers=3, max_purchases=2, max_events_per_tracker=3,
        webhook_outbox_size=2, deliver=collector.deliver,
    )  # fmt: skip
    async with client(app) as http:
        made = [await bought(http, f"rq-{i}") for i in range(6)]
        gone = await http.get(f"/v1/shipments/{made[0]['id']}", headers=AUTH)
        old_lookup = (await http.get("/v1/shipments?request_id=rq-0", headers=AUTH)).json()
        number = made[-1]["tracking_number"]
        for status in ("on_hold", "unknown", "on_hold", "unknown", "on_hold"):
            await http.post(f"{PREFIX}/trackers/{number}/advance", json={"status": status})
        events = (await http.get(f"/v1/trackers/{number}", headers=AUTH)).json()["events"]
        clock.advance(10_000)
        app.tick()
    assert len(app.shipments) == 4 and gone.status_code == 404 and old_lookup["count"] == 0
    assert len(app.shipments._by_request) == 4
    assert len(app.trackers) == 3 and len(app.trackers._due) <= 2 * 3 + 16
    assert [p["shipment_id"] for p in app.shipments.purchases.values()] == [
        made[4]["id"], made[5]["id"],
    ]  # fmt: skip
    assert len(events) == 3
    stats = app.pushes.stats()
    assert stats["outbox"] == 2 and stats["dropped"] == stats["enqueued"] - 2 > 0


def test_config_refuses_bad_bounds() -> None:
    for bad in ({"max_shipments": 0}, {"api_key": ""}, {"tracker_schedule_s": (5, 1, 2, 3)},
                {"throttle_per_min": -1}):  # fmt: skip
        with pytest.raises(ValueError, match=r"."):
            CarrierSandboxConfig(**bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ CLI


def test_cli_flags_build_the_sandbox_served_by_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(kwargs, app=app))
    code = cli.main(["sandbox", "carriers", "--api-key", "k", "--seed", "9",
                     "--webhook-url", "http://127.0.0.1:1/hooks"])  # fmt: skip
    assert code == 0
    app = served["app"]
    assert isinstance(app, CarrierSandbox)
    assert (app.config.api_key, app.config.seed) == ("k", 9)
    assert app.config.webhook_url == "http://127.0.0.1:1/hooks"
    assert (served["host"], served["port"], served["lifespan"]) == ("127.0.0.1", 8092, "on")


@pytest.mark.slow
def test_cli_serves_the_karrio_api_at_the_root_standalone() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "creatorflow", "sandbox", "carriers", "--port", str(port),
               "--api-key", "smoke-key"]  # fmt: skip
    env = os.environ | {"CREATORFLOW_LOG_LEVEL": "INFO"}  # uvicorn says when it listens
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env) as server:
        try:
            assert server.stderr is not None
            for line in server.stderr:  # blocks until uvicorn says it listens (or exits)
                if "Uvicorn running on" in line:
                    break
            base = f"http://127.0.0.1:{port}"
            auth = {"authorization": "Token smoke-key"}
            rates = httpx.post(f"{base}/v1/proxy/rates", json=BODY, headers=auth, timeout=10)
            admin = httpx.get(f"{base}{PREFIX}/carriers", timeout=10)
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert rates.status_code == 200 and len(rates.json()["rates"]) == 6
    assert admin.status_code == 200 and len(admin.json()["carriers"]) == 3
