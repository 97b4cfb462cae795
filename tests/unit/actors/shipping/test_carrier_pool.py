"""Carrier pool on the real SQLite store, the Karrio adapter and the sandbox carriers (in
process): rate shopping, failover, breakers, exactly one label, voids, tracking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from creatorflow.actors.shipping.carrier_pool import CarrierPool, CarrierPoolSettings
from creatorflow.actors.shipping.messages import (
    BuyLabel,
    CarrierPoolMsg,
    GetCarriers,
    LabelOutcome,
    MarkShipped,
    ShipmentDoc,
    TrackingSeen,
    VoidLabel,
    VoidOutcome,
)
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.carriers import KarrioSettings, open_karrio_gateway
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.shipping import (
    Address,
    Parcel,
    ShipmentRequest,
    Tracker,
    TrackingStatus,
)
from creatorflow.errors import CarrierUnavailable
from creatorflow.runtime import ActorRef, open_actor
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked
from creatorflow.sandbox.carriers import CarrierSandbox, CarrierSandboxConfig

pytestmark = pytest.mark.anyio

KEY = "pool-test-key"
SHIPPER = Address(
    person_name="Warehouse",
    address_line1="100 Demo Way",
    city="Los Angeles",
    state_code="CA",
    postal_code="90012",
    country_code="US",
    phone_number="+1 213 555 0100",
)
RECIPIENT = Address(
    person_name="Buyer",
    address_line1="1 Main St",
    city="Pasadena",
    state_code="CA",
    postal_code="91101",
    country_code="US",
)
REQUEST = ShipmentRequest(shipper=SHIPPER, recipient=RECIPIENT, parcels=(Parcel(weight_g=900),))


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000

    def now_ms(self) -> int:
        return self.now


async def no_latency(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


@dataclass
class Rig:
    pool: ActorRef[CarrierPoolMsg]
    store: SqliteStore
    sandbox: CarrierSandbox
    admin: httpx.AsyncClient
    timer: FakeClock
    wall: Wall
    moves: list[tuple[str, str, str]] = field(default_factory=list)

    async def buy(self, order_id: str = "o1", level: Any = "STANDARD", **kw: Any) -> LabelOutcome:
        msg = BuyLabel(order_id=order_id, shop_id="shop", level=level, request=REQUEST, **kw)
        outcome = await self.pool.ask(msg)
        assert isinstance(outcome, LabelOutcome)
        return outcome

    async def purchases(self) -> list[dict[str, Any]]:
        answer = await self.admin.get("/sandbox/carriers/purchases")
        return list(answer.json()["purchases"])

    async def faults(self, carrier: str, **faults: Any) -> None:
        answer = await self.admin.post(
            "/sandbox/carriers/faults", json={"carrier": carrier} | faults
        )
        assert answer.status_code == 200, answer.text

    async def doc(self, order_id: str = "o1") -> ShipmentDoc:
        row = await self.store.get_shipment(order_id)
        assert row is not None
        return msgspec.json.decode(row.doc, type=ShipmentDoc)


class LosingReplies:
    """The real gateway, but the first ``lose`` purchase replies are lost after the label was
    bought (as a timeout would: ``CarrierUnavailable``, maybe applied)."""

    def __init__(self, gateway: Any, lose: int) -> None:
        self._gateway = gateway
        self.lose = lose

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)

    async def purchase(self, *args: Any, **kwargs: Any) -> Any:
        shipment = await self._gateway.purchase(*args, **kwargs)
        if self.lose > 0:
            self.lose -= 1
            raise CarrierUnavailable("the reply was lost")
        return shipment


@asynccontextmanager
async def rig(tmp_path: Path, lose_replies: int = 0, **settings: Any) -> AsyncIterator[Rig]:
    timer, wall = FakeClock(), Wall()
    sandbox = CarrierSandbox(
        CarrierSandboxConfig(api_key=KEY, seed=3), clock=wall, sleep=no_latency
    )
    moves: list[tuple[str, str, str]] = []
    transport = httpx.ASGITransport(app=sandbox)
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 64) as writer,
        open_karrio_gateway(
            KarrioSettings(base_url="http://carriers.test", api_key=KEY), transport
        ) as gateway,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://t") as admin,
    ):
        pool = CarrierPool(
            gateway=LosingReplies(gateway, lose_replies),
            writer=writer,
            shipments=store,
            clock=wall,
            timer=timer,
            settings=CarrierPoolSettings(**settings),
            move_order=lambda *move: moves.append(move),
        )
        async with open_actor(pool, "carrier_pool", 64) as ref:
            yield Rig(ref, store, sandbox, admin, timer, wall, moves)


async def test_standard_buys_the_cheapest_within_the_promise_high_the_fastest(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as r:
        standard = await r.buy("o1", "STANDARD", promise_days=3)
        high = await r.buy("o2", "HIGH")
        purchases = await r.purchases()
        doc = await r.doc("o1")
    # terra_ground: 3 days, the cheapest within 3 (terra_economy takes 5).
    assert (standard.state, standard.carrier, standard.service) == (
        "labeled",
        "terra",
        "terra_ground",
    )
    assert high.state == "labeled"
    assert high.service in ("swift_priority", "zoom_express")  # 1 day: the fastest
    assert len(purchases) == 2
    assert {p["reference"] for p in purchases} == {"o1", "o2"}
    assert doc.selection[0].startswith("terra terra_ground")
    assert [a.outcome for a in doc.attempts] == ["labeled"]
    assert doc.cost is not None and doc.cost.amount_minor > 0


async def test_asking_again_never_buys_a_second_label(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        first = await r.buy()
        again = await r.buy()
        # Concurrent asks for one order join the same purchase.
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(r.buy, "o3")
        purchases = await r.purchases()
        label = await r.store.get_label("o1")
    assert first == again
    assert [p["reference"] for p in purchases].count("o1") == 1
    assert [p["reference"] for p in purchases].count("o3") == 1
    assert label is not None and label.data.startswith(b"%PDF")


async def test_a_carrier_in_outage_fails_over_and_its_breaker_opens_after_three(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, breaker_failures=3, breaker_open_s=30.0) as r:
        await r.faults("terra", outage=True)
        outcomes = [await r.buy(f"o{i}", "STANDARD", promise_days=5) for i in range(5)]
        views = {v.name: v for v in await r.pool.ask(GetCarriers())}
        calls_while_open = len(await r.purchases())
        r.timer.advance(30.0)  # the breaker lets one probe through
        await r.faults("terra", outage=False)
        probe = await r.buy("o9", "STANDARD", promise_days=5)
    assert all(o.state == "labeled" and o.carrier != "terra" for o in outcomes)
    assert views["terra"].breaker == "open"
    assert calls_while_open == 5
    assert probe.carrier == "terra"  # closed again after a good probe


async def test_every_carrier_down_waits_durably_with_a_retry_time(tmp_path: Path) -> None:
    async with rig(tmp_path, retry_min_s=5.0) as r:
        for carrier in ("terra", "swift", "zoom"):
            await r.faults(carrier, outage=True)
        outcome = await r.buy()
        row = await r.store.get_shipment("o1")
        purchases = await r.purchases()
    assert outcome.state == "awaiting_label"
    assert row is not None and row.state == "awaiting_label"
    assert row.next_check_at_ms == r.wall.now + 5_000
    assert purchases == []


async def test_a_purchase_whose_reply_was_lost_is_adopted_not_bought_again(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path, call_timeout_s=10.0, lose_replies=1) as r:
        task_done = anyio.Event()
        result: list[LabelOutcome] = []

        async def buy() -> None:
            result.append(await r.buy())
            task_done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(buy)
            await wait_all_tasks_blocked()
            if not task_done.is_set():
                r.timer.advance(10.0)  # the pool waits call_timeout_s before its last lookup
            await task_done.wait()
        purchases = await r.purchases()
        doc = await r.doc()
    assert result[0].state == "labeled"
    assert len(purchases) == 1  # adopted, not bought twice
    assert [a.outcome for a in doc.attempts] == ["adopted"]


async def test_void_after_label_and_tracking_to_delivery(tmp_path: Path) -> None:
    async with rig(tmp_path) as r:
        await r.buy("o1")
        voided = await r.pool.ask(VoidLabel(order_id="o1"))
        again = await r.pool.ask(VoidLabel(order_id="o1"))
        assert isinstance(voided, VoidOutcome) and voided.state == "voided"
        assert isinstance(again, VoidOutcome) and again.state == "none"
        assert (await r.purchases())[0]["status"] == "cancelled"

        labeled = await r.buy("o2")
        await r.pool.ask(MarkShipped(order_id="o2", package_id="pkg-1"))
        row = await r.store.get_shipment("o2")
        assert row is not None and row.state == "shipped"
        assert row.next_check_at_ms == r.wall.now + 60_000
        for status in (TrackingStatus.IN_TRANSIT, TrackingStatus.DELIVERED):
            tracker = Tracker(tracking_number=labeled.tracking_number, status=status)
            await r.pool.tell(TrackingSeen(order_id="o2", tracker=tracker))
        await r.pool.flush()
        await wait_all_tasks_blocked()
        row = await r.store.get_shipment("o2")
        doc = await r.doc("o2")
    assert row is not None and (row.state, row.next_check_at_ms) == ("delivered", None)
    assert doc.package_id == "pkg-1"
    assert [(m[0], m[1]) for m in r.moves] == [("o2", "transit"), ("o2", "deliver")]
