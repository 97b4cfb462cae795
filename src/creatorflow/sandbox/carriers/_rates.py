"""Rating: zones, price tables, and Karrio rate objects (pure; no faults, no waiting).

The zone of a shipment is decided from the two addresses alone, so it is deterministic:

* 3 (international) when the countries differ;
* 1 (local) when the postal codes start with the same character (US ZIP: the same national
  area, ``1xxxx``; Canada: the same FSA letter, i.e. province or region);
* 2 (national) otherwise, or when a postal code is missing.

A rate's price is the sum over parcels of the service's bracket price for the parcel's weight
in that zone; a parcel over the heaviest bracket, or a zone the service does not serve, gives
no rate (and no message), which is what a real rate sheet answers. Rates are sorted cheapest
first, as Karrio sorts them, and each rating hands out fresh ``rat_`` ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from creatorflow.sandbox.carriers._config import CarrierSandboxConfig, CarrierSpec, ServiceSpec
from creatorflow.sandbox.carriers._validate import RateRequest
from creatorflow.sandbox.carriers._wire import Ids, day, not_found, to_major

_DAY_MS = 86_400_000
#: The admin endpoint's reference parcel: 1 kg, zone 1 (domestic, same postal region).
ADMIN_WEIGHT_KG = 1.0
ADMIN_ZONE = 1


@dataclass(frozen=True, slots=True)
class StoredRate:
    """One quoted rate, kept compact (a shipment holds a few; rendered when answered)."""

    id: str
    carrier: CarrierSpec
    service: ServiceSpec
    minor: int
    transit_days: int
    zone: int
    quoted_ms: int


def zone_of(shipper: dict[str, Any], recipient: dict[str, Any]) -> int:
    """1 (same postal region), 2 (same country), 3 (another country)."""
    if shipper.get("country_code") != recipient.get("country_code"):
        return 3
    origin = str(shipper.get("postal_code") or "").strip().upper()
    destination = str(recipient.get("postal_code") or "").strip().upper()
    if origin and destination and origin[0] == destination[0]:
        return 1
    return 2


def connection_id(carrier: CarrierSpec) -> str:
    """A stable ``car_`` id for the carrier's connection (Karrio's ``carrier_connection_id``)."""
    return "car_" + hashlib.sha256(carrier.carrier_id.encode()).hexdigest()[:32]


def select_carriers(
    config: CarrierSandboxConfig, carrier_ids: list[str], services: list[str]
) -> list[CarrierSpec]:
    """The carriers a rate request reaches (``carrier_ids`` empty = all of them).

    Like Karrio, unknown ids among known ones are ignored; with ``services``, only carriers
    offering one of them are asked.

    Raises:
        KarrioError: 404 ``not_found`` when no carrier is left.
    """
    chosen = [
        c for c in config.carriers if not carrier_ids or c.carrier_id in carrier_ids
    ]  # fmt: skip
    if services:
        chosen = [c for c in chosen if any(c.service(s) for s in services)]
    if not chosen:
        raise not_found("No active carrier connection found to process the request")
    return chosen


def price_minor(service: ServiceSpec, zone: int, weights_kg: list[float]) -> int | None:
    """The price of every parcel in this zone, summed; None when one cannot go."""
    total = 0
    for weight in weights_kg:
        price = service.price_minor(zone, weight)
        if price is None:
            return None
        total += price
    return total


def carrier_rates(
    carrier: CarrierSpec, request: RateRequest, *, ids: Ids, now_ms: int
) -> list[StoredRate]:
    """The rates this carrier quotes for the request (fresh ids), in its service order."""
    zone = zone_of(request.shipper, request.recipient)
    rates = []
    for service in carrier.services:
        if request.services and service.code not in request.services:
            continue
        minor = price_minor(service, zone, request.weights_kg)
        if minor is None:
            continue
        days = service.transit_days[zone - 1]
        rates.append(StoredRate(ids.new("rat"), carrier, service, minor, days, zone, now_ms))
    return rates


def render_rate(rate: StoredRate, *, test_mode: bool) -> dict[str, Any]:
    """The Karrio rate object; money as a JSON number plus its currency."""
    carrier = rate.carrier
    amount = to_major(rate.minor)
    return {
        "id": rate.id,
        "object_type": "rate",
        "carrier_name": carrier.name,
        "carrier_id": carrier.carrier_id,
        "currency": carrier.currency,
        "service": rate.service.code,
        "total_charge": amount,
        "transit_days": rate.transit_days,
        "extra_charges": [
            {"name": "Base Charge", "amount": amount, "currency": carrier.currency, "id": None}
        ],
        "estimated_delivery": day(rate.quoted_ms + rate.transit_days * _DAY_MS),
        "meta": {
            "service_name": rate.service.name.upper(),
            "ext": "sandbox",
            "carrier": carrier.name,
            "rate_provider": carrier.name,
            "carrier_connection_id": connection_id(carrier),
            "rate_source": "static",
            "sandbox_zone": rate.zone,
        },
        "test_mode": test_mode,
    }


def sort_rates(rates: list[StoredRate]) -> list[StoredRate]:
    """Cheapest first (stable: equal prices keep the carriers' order)."""
    return sorted(rates, key=lambda rate: rate.minor)


def admin_services(carrier: CarrierSpec) -> list[dict[str, Any]]:
    """``[{"code", "transit_days", "price"}]``: a 1 kg zone-1 parcel, price in minor units."""
    return [
        {
            "code": s.code,
            "transit_days": s.transit_days[ADMIN_ZONE - 1],
            "price": s.price_minor(ADMIN_ZONE, ADMIN_WEIGHT_KG),
        }
        for s in carrier.services
    ]
