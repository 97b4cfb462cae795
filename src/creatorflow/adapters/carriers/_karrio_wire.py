"""Karrio's JSON, both ways: request bodies out, tolerant msgspec Structs in, domain types out.

Tolerance (``../shared/reference/karrio-server.md`` §5 "Quirks", ``shipping-apis.md`` §1.4):

- every field may be missing or null; unknown fields are ignored;
- money arrives as a JSON number and is decoded into ``Decimal`` from its text, then
  converted exactly (:func:`~creatorflow.domain.shipping.charge_to_minor`); a rate whose
  charge is not exact in minor units (or has an unknown currency) is not usable and is
  reported as a failure of its carrier rather than rounded;
- the carrier's name differs between calls (quotes say ``acme``, the bought shipment says
  ``generic`` and keeps ``acme`` in ``selected_rate``): the quote's name is kept;
- ``purchased`` (before 2026.1.19) reads as ``created``;
- the label is in ``shipping_documents[].base64`` (stateful routes) or ``docs.label``
  (proxy routes); reads give URLs only;
- event times come in several shapes and either order (``domain.shipping.tracking``).

A shape that cannot be read raises :class:`Unreadable`; the gateway turns it into
``CarrierUnavailable`` (a 2xx it cannot use: the call may have taken effect).
"""

from __future__ import annotations

import base64
import binascii
import logging
from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

from creatorflow.domain.shipping import (
    MAX_LABEL_BYTES,
    Address,
    CarrierFailure,
    Label,
    LabelType,
    Parcel,
    Rate,
    Shipment,
    ShipmentRequest,
    ShipmentStatus,
    Tracker,
    TrackingEvent,
    TrackingStatus,
    charge_to_minor,
    event_time_ms,
    sort_events,
)
from creatorflow.errors import InvalidAmount

logger = logging.getLogger("creatorflow.carriers")

_LABEL_TYPES: Final[dict[str, LabelType]] = {"PDF": "PDF", "ZPL": "ZPL", "PNG": "PNG"}
#: Longest message kept from an error or a carrier message.
MAX_MESSAGE_CHARS: Final = 500


T = TypeVar("T")


class Unreadable(Exception):
    """A 2xx answer whose JSON is not the shape this adapter knows."""


# --------------------------------------------------------------------------- wire shapes

Code = str | int | None


class WireMessage(msgspec.Struct):
    carrier_name: str | None = None
    carrier_id: str | None = None
    code: Code = None
    message: str | None = None


class WireError(msgspec.Struct):
    code: Code = None
    message: str | None = None


class WireErrors(msgspec.Struct):
    errors: list[WireError] | None = None
    messages: list[WireMessage] | None = None


class WireRate(msgspec.Struct):
    id: str | None = None
    carrier_name: str | None = None
    carrier_id: str | None = None
    service: str | None = None
    total_charge: Decimal | None = None
    currency: str | None = None
    transit_days: int | None = None
    meta: dict[str, Any] | None = None


class WireRates(msgspec.Struct):
    rates: list[WireRate] | None = None
    messages: list[WireMessage] | None = None


class WireDocument(msgspec.Struct):
    category: str | None = None
    format: str | None = None
    base64: str | None = None


class WireDocs(msgspec.Struct):
    label: str | None = None


class WireShipment(msgspec.Struct):
    id: str
    status: str
    carrier_name: str | None = None
    carrier_id: str | None = None
    service: str | None = None
    tracking_number: str | None = None
    reference: str | None = None
    label_type: str | None = None
    selected_rate: WireRate | None = None
    rates: list[WireRate] | None = None
    shipping_documents: list[WireDocument] | None = None
    docs: WireDocs | None = None
    meta: dict[str, Any] | None = None


class WireShipmentPage(msgspec.Struct):
    results: list[WireShipment] | None = None
    next: str | None = None


class WireEvent(msgspec.Struct):
    date: str | None = None
    time: str | None = None
    timestamp: str | None = None
    status: str | None = None
    code: Code = None
    description: str | None = None
    location: str | None = None


class WireTracker(msgspec.Struct):
    tracking_number: str
    carrier_name: str | None = None
    status: str | None = None
    delivered: bool | None = None
    estimated_delivery: str | None = None
    events: list[WireEvent] | None = None


def decode(data: bytes, kind: type[T]) -> T:
    """``data`` decoded as ``kind``; raises :class:`Unreadable` naming what failed."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise Unreadable(f"not a {kind.__name__.removeprefix('Wire')} answer: {exc}") from exc


# --------------------------------------------------------------------------- requests


def _address(address: Address) -> dict[str, Any]:
    body: dict[str, Any] = {"residential": address.residential}
    for field in address.__struct_fields__:
        value = getattr(address, field)
        if isinstance(value, str) and value:
            body[field] = value
    return body


def _parcel(parcel: Parcel) -> dict[str, Any]:
    # Grams as a KG decimal: 1500 g → 1.5 (exact in the JSON text for any whole gram).
    body: dict[str, Any] = {"weight": parcel.weight_g / 1000, "weight_unit": "KG"}
    if parcel.length_cm and parcel.width_cm and parcel.height_cm:
        body.update(
            length=parcel.length_cm,
            width=parcel.width_cm,
            height=parcel.height_cm,
            dimension_unit="CM",
        )
    return body


def rate_body(request: ShipmentRequest) -> dict[str, Any]:
    """``POST /v1/proxy/rates`` body (RateRequest)."""
    body: dict[str, Any] = {
        "shipper": _address(request.shipper),
        "recipient": _address(request.recipient),
        "parcels": [_parcel(p) for p in request.parcels],
    }
    if request.carrier_ids:
        body["carrier_ids"] = list(request.carrier_ids)
    if request.services:
        body["services"] = list(request.services)
    return body


def shipment_body(request: ShipmentRequest, reference: str) -> dict[str, Any]:
    """``POST /v1/shipments`` body: a draft (no ``service``), so nothing is bought."""
    return {**rate_body(request), "label_type": request.label_type, "reference": reference}


# --------------------------------------------------------------------------- answers


def _text(value: Code, limit: int = MAX_MESSAGE_CHARS) -> str:
    return "" if value is None else str(value)[:limit]


def failure(message: WireMessage) -> CarrierFailure:
    """A carrier message as a :class:`CarrierFailure` (texts cut to a bound)."""
    return CarrierFailure(
        carrier=_text(message.carrier_name, 128),
        carrier_id=_text(message.carrier_id, 128),
        code=_text(message.code, 128),
        message=_text(message.message),
    )


def rate(wire: WireRate) -> Rate:
    """One quote as a :class:`Rate`.

    Raises:
        ValueError: a field is missing or out of bounds.
        InvalidAmount: the charge is not exact in minor units of a known currency.
    """
    meta = wire.meta or {}
    if wire.total_charge is None or not wire.currency:
        raise ValueError("no total_charge/currency")
    service_name = meta.get("service_name")
    return Rate(
        rate_id=wire.id or "",
        carrier=wire.carrier_name or str(meta.get("carrier") or ""),
        carrier_id=wire.carrier_id or "",
        service=wire.service or "",
        service_name=service_name[:100] if isinstance(service_name, str) else "",
        total=charge_to_minor(wire.total_charge, wire.currency),
        transit_days=wire.transit_days,
    )


def rates(wires: list[WireRate] | None) -> tuple[list[Rate], list[CarrierFailure]]:
    """The usable rates, and a failure for each quote that is not (kept apart, never
    rounded: buying at a price we cannot state exactly is not allowed)."""
    usable: list[Rate] = []
    unusable: list[CarrierFailure] = []
    for wire in wires or ():
        try:
            usable.append(rate(wire))
        except (ValueError, InvalidAmount) as exc:
            unusable.append(
                CarrierFailure(
                    carrier=_text(wire.carrier_name, 128),
                    carrier_id=_text(wire.carrier_id, 128),
                    code="unusable_rate",
                    message=_text(f"{wire.service}: {exc}"),
                )
            )
    return usable, unusable


def _label(wire: WireShipment) -> Label | None:
    encoded: str | None = None
    fmt = wire.label_type
    for doc in wire.shipping_documents or ():
        if (doc.category or "label") == "label" and doc.base64:
            encoded, fmt = doc.base64, doc.format or fmt
            break
    if encoded is None and wire.docs is not None and wire.docs.label:
        encoded = wire.docs.label
    if encoded is None:
        return None
    return label_of(encoded, fmt)


def label_of(encoded: str, fmt: str | None) -> Label:
    """A label from its base64 text and format name.

    Raises:
        Unreadable: not base64, too large, or a format this code does not know.
    """
    if len(encoded) > (MAX_LABEL_BYTES // 3 + 1) * 4:
        raise Unreadable(f"label over {MAX_LABEL_BYTES} bytes")
    label_type = _LABEL_TYPES.get((fmt or "PDF").upper())
    if label_type is None:
        raise Unreadable(f"label format {fmt!r} unknown")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unreadable(f"label is not base64: {exc}") from exc
    return Label(label_type=label_type, data=data)


def shipment(wire: WireShipment) -> Shipment:
    """A shipment answer as a :class:`Shipment` (label bytes when the answer has them).

    Raises:
        Unreadable: unknown status, a field out of bounds, an unreadable label.
    """
    selected = wire.selected_rate
    meta = wire.meta or {}
    cost = None
    if selected is not None and selected.total_charge is not None and selected.currency:
        try:
            cost = charge_to_minor(selected.total_charge, selected.currency)
        except InvalidAmount as exc:  # the label exists whatever its price: keep it
            logger.warning("shipment %s: cost not kept: %s", wire.id, exc)
    usable, _ = rates(wire.rates)
    request_id = meta.get("request_id")
    label_type = _LABEL_TYPES.get((wire.label_type or "PDF").upper(), "PDF")
    try:
        return Shipment(
            shipment_id=wire.id,
            status=ShipmentStatus.parse(wire.status),
            reference=wire.reference or "",
            request_id=request_id if isinstance(request_id, str) else "",
            # The quote's carrier name (Karrio's generic carrier says "generic" here and
            # keeps the custom name, the one quotes showed, in selected_rate).
            carrier=(selected.carrier_name if selected else None) or wire.carrier_name or "",
            carrier_id=wire.carrier_id or (selected.carrier_id if selected else None) or "",
            service=wire.service or (selected.service if selected else None) or "",
            tracking_number=wire.tracking_number or "",
            label_type=label_type,
            cost=cost,
            transit_days=selected.transit_days if selected else None,
            rates=tuple(usable),
            label=_label(wire),
        )
    except ValueError as exc:
        raise Unreadable(f"shipment {wire.id[:40]!r}: {exc}") from exc


def tracker(wire: WireTracker) -> Tracker:
    """A tracker answer as a :class:`Tracker`, events oldest first.

    Raises:
        Unreadable: a field out of bounds.
    """
    try:
        events = sort_events(
            TrackingEvent(
                at_ms=event_time_ms(e.date, e.time, e.timestamp),
                status=TrackingStatus.parse(e.status) if e.status else None,
                code=_text(e.code, 128),
                description=_text(e.description),
                location=_text(e.location),
            )
            for e in wire.events or ()
        )
        status = TrackingStatus.parse(wire.status)
        return Tracker(
            tracking_number=wire.tracking_number,
            carrier=_text(wire.carrier_name, 128),
            status=status,
            delivered=bool(wire.delivered) or status is TrackingStatus.DELIVERED,
            estimated_delivery=_text(wire.estimated_delivery, 64),
            events=events,
        )
    except ValueError as exc:
        raise Unreadable(f"tracker {wire.tracking_number[:40]!r}: {exc}") from exc
