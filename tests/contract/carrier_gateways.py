"""The implementations the carrier gateway contract runs against, behind one small harness.

Each :class:`GatewayUnderTest` is the *same* adapter (:class:`KarrioGateway`) pointed at one
Karrio-speaking server, plus what a test needs to know about that server: which rates a
1 kg parcel from ``SHIPPER`` to ``RECIPIENT`` must get, and the server's test hooks (move a
tracker, take a carrier down) where it has them.

- ``karrio``: a real Karrio 2026.1.32 (``karrio_server.py``), reached over loopback HTTP;
  expected rates from the rate sheets the fixture created. It cannot track (the ``generic``
  carrier has no tracking) nor fail a carrier on request.
- ``sandbox``: :class:`creatorflow.sandbox.carriers.CarrierSandbox`, in-process through
  ``httpx.ASGITransport``; expected rates from its admin ``GET /sandbox/carriers/carriers``
  (1 kg, zone 1: ``SHIPPER`` and ``RECIPIENT`` share the country and the postal code's first
  character), latency set to 0 through ``POST /sandbox/carriers/faults``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from karrio_server import CARRIERS, KarrioServer

from creatorflow.adapters.carriers import KarrioGateway, KarrioSettings, open_karrio_gateway
from creatorflow.domain.shipping import Address, Parcel, ShipmentRequest

SHIPPER = Address(
    person_name="Jane Doe",
    company_name="CreatorFlow",
    address_line1="350 5th Ave",
    city="New York",
    state_code="NY",
    postal_code="10118",
    country_code="US",
    phone_number="+1 212 555 0100",
)
RECIPIENT = Address(
    person_name="John Poe",
    address_line1="20 W 34th St",
    city="New York",
    state_code="NY",
    postal_code="10001",
    country_code="US",
    phone_number="+1 212 555 0199",
)
PARCEL = Parcel(weight_g=1000, length_cm=30, width_cm=20, height_cm=10)
SANDBOX_KEY = "sandbox-contract-key"


@dataclass(frozen=True)
class ExpectedRate:
    amount_minor: int
    currency: str
    transit_days: int


@dataclass
class GatewayUnderTest:
    """One implementation: the opened gateway and what to expect from it."""

    name: str
    gateway: KarrioGateway
    #: (carrier, service) → the rate a 1 kg SHIPPER → RECIPIENT parcel must get.
    expected: dict[tuple[str, str], ExpectedRate]
    #: Opens the same adapter on the same server with another API key.
    with_key: Callable[[str], Any]
    #: Moves a tracker to a status (None: the server cannot track).
    advance_tracker: Callable[[str, str], Awaitable[None]] | None = None
    #: Puts a carrier (by name) in or out of a full outage (None: no fault hooks).
    set_outage: Callable[[str, bool], Awaitable[None]] | None = None
    notes: dict[str, str] = field(default_factory=dict)

    def request(self, **changes: Any) -> ShipmentRequest:
        fields: dict[str, Any] = {
            "shipper": SHIPPER,
            "recipient": RECIPIENT,
            "parcels": (PARCEL,),
        }
        fields.update(changes)
        return ShipmentRequest(**fields)


@asynccontextmanager
async def karrio_gateway(server: KarrioServer) -> AsyncIterator[GatewayUnderTest]:
    def with_key(key: str) -> Any:
        return open_karrio_gateway(KarrioSettings(base_url=server.base_url, api_key=key))

    expected = {
        (s.carrier, s.code): ExpectedRate(s.price_minor, s.currency, s.transit_days)
        for _, _, services in CARRIERS.values()
        for s in services
    }
    async with with_key(server.api_key) as gateway:
        yield GatewayUnderTest(
            name="karrio",
            gateway=gateway,
            expected=expected,
            with_key=with_key,
            notes={
                "track": "Karrio's generic carrier cannot track: every tracker call is 404",
                "faults": "Karrio's generic carrier never fails: no partial or total failure",
            },
        )


@asynccontextmanager
async def sandbox_gateway() -> AsyncIterator[GatewayUnderTest]:
    carriers = pytest.importorskip("creatorflow.sandbox.carriers")
    sandbox = carriers.CarrierSandbox(carriers.CarrierSandboxConfig(api_key=SANDBOX_KEY, seed=7))
    base_url = "http://sandbox-carriers"

    def with_key(key: str) -> Any:
        transport = httpx.ASGITransport(app=sandbox)
        return open_karrio_gateway(KarrioSettings(base_url=base_url, api_key=key), transport)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox), base_url=base_url
    ) as admin:
        listed = (await admin.get("/sandbox/carriers/carriers")).raise_for_status().json()
        expected: dict[tuple[str, str], ExpectedRate] = {}
        for carrier in listed["carriers"]:
            await _admin(
                admin, "/sandbox/carriers/faults", carrier=carrier["name"], latency_ms=[0, 0]
            )
            for service in carrier["services"]:
                expected[(carrier["name"], service["code"])] = ExpectedRate(
                    service["price"], carrier.get("currency", "USD"), service["transit_days"]
                )

        async def advance_tracker(tracking_number: str, status: str) -> None:
            path = f"/sandbox/carriers/trackers/{tracking_number}/advance"
            await _admin(admin, path, status=status)

        async def set_outage(carrier: str, outage: bool) -> None:
            await _admin(admin, "/sandbox/carriers/faults", carrier=carrier, outage=outage)

        async with with_key(SANDBOX_KEY) as gateway:
            yield GatewayUnderTest(
                name="sandbox",
                gateway=gateway,
                expected=expected,
                with_key=with_key,
                advance_tracker=advance_tracker,
                set_outage=set_outage,
            )


async def _admin(client: httpx.AsyncClient, path: str, **body: Any) -> None:
    answer = await client.post(path, json=body)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
