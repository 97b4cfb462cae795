"""What crosses the carrier gateway: addresses, parcels, rates, shipments, labels (pure).

The shapes follow Karrio's REST API v1 (``../shared/reference/shipping-apis.md`` §1), which
the one carrier adapter speaks, but nothing here knows HTTP or JSON:

- money is :class:`Money`, integer minor units of an ISO 4217 currency, made *exactly* from
  the decimal a carrier sent (:func:`charge_to_minor`; never through a float);
- weights are whole grams and dimensions whole centimetres;
- every string is bounded (:data:`MAX_TEXT_CHARS` and the limits below) and carries no
  control characters, so a value can always be stored; a carrier's own stricter rules
  (Karrio documents 50-character address lines, it does not enforce them) are the carrier's
  to refuse, as :class:`~creatorflow.errors.CarrierRejected`.

Constructors check their bounds and raise ``ValueError`` naming the field (msgspec reports
the same check as a ``ValidationError`` when one of these is decoded).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final, Literal

import msgspec

from creatorflow.domain.money import parse_amount
from creatorflow.errors import InvalidAmount

__all__ = [
    "LABEL_MEDIA_TYPES",
    "MAX_LABEL_BYTES",
    "MAX_PARCELS",
    "MAX_REFERENCE_CHARS",
    "MAX_TEXT_CHARS",
    "REQUEST_ID_PATTERN",
    "Address",
    "CarrierFailure",
    "Label",
    "LabelType",
    "Money",
    "Parcel",
    "Rate",
    "RateQuote",
    "Shipment",
    "ShipmentRequest",
    "ShipmentStatus",
    "charge_to_minor",
    "check_reference",
    "check_request_id",
]

#: Longest free-text field (names, address lines, city, messages), in characters.
MAX_TEXT_CHARS: Final = 100
#: Longest id (carrier, service, shipment, rate, tracking number), in characters.
MAX_ID_CHARS: Final = 128
#: Longest shipment ``reference`` (Karrio documents 35; we send the TikTok order id).
MAX_REFERENCE_CHARS: Final = 35
#: What Karrio keeps as a client ``X-Request-ID``; anything else it silently replaces with
#: one of its own, and a lookup by our id would then find nothing.
REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9_.-]{1,200}"
#: Parcels per shipment.
MAX_PARCELS: Final = 50
#: Heaviest parcel accepted, in grams (a pallet, not a parcel, beyond this).
MAX_WEIGHT_G: Final = 1_000_000
#: Longest side accepted, in centimetres.
MAX_SIDE_CM: Final = 1_000
#: Largest label accepted from a carrier, in bytes (a 4x6 PDF label is ~170 KB).
MAX_LABEL_BYTES: Final = 4 * 1024 * 1024

LabelType = Literal["PDF", "ZPL", "PNG"]
#: Media type of each label format (ZPL is printer commands, served as text).
LABEL_MEDIA_TYPES: Final[dict[str, str]] = {
    "PDF": "application/pdf",
    "ZPL": "text/plain",
    "PNG": "image/png",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_MAX_REQUEST_ID_CHARS: Final = 200
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _text(owner: str, field: str, value: str, limit: int = MAX_TEXT_CHARS) -> None:
    if len(value) > limit:
        raise ValueError(f"{owner}.{field}: {len(value)} characters; at most {limit}")
    if _CONTROL.search(value):
        raise ValueError(f"{owner}.{field}: control characters are not allowed")


def _id(owner: str, field: str, value: str, *, required: bool = True) -> None:
    if required and not value:
        raise ValueError(f"{owner}.{field}: required")
    _text(owner, field, value, MAX_ID_CHARS)


def check_request_id(value: str) -> str:
    """``value`` when it is a request id Karrio keeps (:data:`REQUEST_ID_PATTERN`).

    Raises:
        ValueError: any other value (Karrio would replace it, losing the lookup).
    """
    if _REQUEST_ID.fullmatch(value) is None:
        raise ValueError(f"request_id {value[:40]!r}: must match {REQUEST_ID_PATTERN}")
    return value


def check_reference(value: str) -> str:
    """``value`` when it is a usable shipment reference: 1-35 characters, no controls.

    Raises:
        ValueError: empty, too long, or with control characters.
    """
    if not value:
        raise ValueError("reference: required")
    _text("shipment", "reference", value, MAX_REFERENCE_CHARS)
    return value


# --------------------------------------------------------------------------- money


class Money(msgspec.Struct, frozen=True, kw_only=True):
    """An amount in integer minor units (cents) of ``currency`` (ISO 4217, upper case)."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if _CURRENCY.fullmatch(self.currency) is None:
            raise ValueError(f"money.currency {self.currency[:8]!r}: not an ISO 4217 code")


def charge_to_minor(value: Decimal, currency: str) -> Money:
    """A carrier's decimal charge (``Decimal("29.99")``, ``"CAD"``) as exact :class:`Money`.

    The decimal must come from the JSON text (msgspec decodes numbers into ``Decimal``
    exactly); a float on the way would turn 29.99 into 29.989999….

    Raises:
        UnknownCurrency: no minor-unit exponent is known for ``currency``.
        InvalidAmount: negative, not finite, more decimals than the currency has, or too
            large; nothing is rounded.
    """
    try:
        text = format(value, "f")
    except (ValueError, InvalidOperation):  # pragma: no cover - format of a Decimal
        raise InvalidAmount(f"{value!r} is not a decimal amount") from None
    if not value.is_finite():
        raise InvalidAmount(f"{value!r} is not a finite amount")
    code = currency.upper()
    return Money(amount_minor=parse_amount(text, code), currency=code)


# --------------------------------------------------------------------------- requests


class Address(msgspec.Struct, frozen=True, kw_only=True):
    """A postal address (shipper or recipient). Only ``country_code`` is required here;
    carriers require more (name, line 1, city, postal code) when a label is bought."""

    country_code: str
    postal_code: str = ""
    city: str = ""
    state_code: str = ""
    address_line1: str = ""
    address_line2: str = ""
    person_name: str = ""
    company_name: str = ""
    phone_number: str = ""
    email: str = ""
    residential: bool = False

    def __post_init__(self) -> None:
        if _COUNTRY.fullmatch(self.country_code) is None:
            raise ValueError(
                f"address.country_code {self.country_code[:8]!r}: two upper-case letters"
            )
        for field in self.__struct_fields__:
            value = getattr(self, field)
            if isinstance(value, str):
                _text("address", field, value)


class Parcel(msgspec.Struct, frozen=True, kw_only=True):
    """One parcel: whole grams, whole centimetres (0 = side not known)."""

    weight_g: int
    length_cm: int = 0
    width_cm: int = 0
    height_cm: int = 0

    def __post_init__(self) -> None:
        # Karrio quotes a negative weight without complaint: the bound lives here.
        if not 1 <= self.weight_g <= MAX_WEIGHT_G:
            raise ValueError(f"parcel.weight_g {self.weight_g}: must be 1..{MAX_WEIGHT_G}")
        for side in ("length_cm", "width_cm", "height_cm"):
            if not 0 <= getattr(self, side) <= MAX_SIDE_CM:
                raise ValueError(f"parcel.{side}: must be 0..{MAX_SIDE_CM}")


class ShipmentRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to quote or ship: from, to, parcels, and optionally which carriers and services.

    ``carrier_ids`` are the gateway's connection ids (empty = every active carrier);
    ``services`` service codes (empty = all). At least one parcel is needed; the gateway
    refuses none (:class:`~creatorflow.errors.CarrierRejected`), so that is not checked here.
    ``label_type`` applies to shipments, not to quotes.
    """

    shipper: Address
    recipient: Address
    parcels: tuple[Parcel, ...]
    carrier_ids: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    label_type: LabelType = "PDF"

    def __post_init__(self) -> None:
        if len(self.parcels) > MAX_PARCELS:
            raise ValueError(f"shipment.parcels: at most {MAX_PARCELS}")
        if len(self.carrier_ids) > MAX_PARCELS or len(self.services) > MAX_PARCELS:
            raise ValueError(f"shipment.carrier_ids/services: at most {MAX_PARCELS} each")
        for value in (*self.carrier_ids, *self.services):
            _id("shipment", "carrier_ids/services", value)


# --------------------------------------------------------------------------- answers


class Rate(msgspec.Struct, frozen=True, kw_only=True):
    """One carrier service's price for a shipment.

    ``rate_id`` is the gateway's id of this quote (Karrio makes a new one on every rating:
    buy with an id from the shipment being bought). ``carrier`` is the carrier's name as
    quotes show it (Karrio's custom name for a generic carrier, e.g. ``acme``),
    ``carrier_id`` the gateway's connection id (``acme-local``: what ``carrier_ids`` take).
    """

    rate_id: str
    carrier: str
    carrier_id: str
    service: str
    service_name: str = ""
    total: Money
    transit_days: int | None = None

    def __post_init__(self) -> None:
        for field in ("rate_id", "carrier", "carrier_id", "service"):
            _id("rate", field, getattr(self, field))
        _text("rate", "service_name", self.service_name)
        if self.total.amount_minor < 0:
            raise ValueError("rate.total: negative")
        if self.transit_days is not None and not 0 <= self.transit_days <= 365:
            raise ValueError("rate.transit_days: must be 0..365")


class CarrierFailure(msgspec.Struct, frozen=True, kw_only=True):
    """A carrier that did not answer a call (Karrio's ``messages[]``), or a quote that was
    unusable; ``carrier``/``carrier_id`` are empty when the gateway did not say."""

    carrier: str = ""
    carrier_id: str = ""
    code: str = ""
    message: str = ""


class RateQuote(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a rate request: the usable rates (gateway order, cheapest first for
    Karrio) and the carriers that failed. Both may be empty: no carrier serves the route."""

    rates: tuple[Rate, ...] = ()
    failures: tuple[CarrierFailure, ...] = ()


class ShipmentStatus(StrEnum):
    """Karrio's shipment statuses; ``purchased`` (before 2026.1.19) is read as ``created``."""

    DRAFT = "draft"
    CREATED = "created"  # a label was bought
    CANCELLED = "cancelled"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    NEEDS_ATTENTION = "needs_attention"

    @classmethod
    def parse(cls, raw: str) -> ShipmentStatus:
        """The status a gateway's string stands for.

        Raises:
            ValueError: a status this code does not know (never guessed: a wrong guess could
                buy a second label).
        """
        if raw == "purchased":
            return cls.CREATED
        return cls(raw)

    @property
    def labelled(self) -> bool:
        """Whether a label was bought (and not voided)."""
        return self not in (ShipmentStatus.DRAFT, ShipmentStatus.CANCELLED)


class Label(msgspec.Struct, frozen=True, kw_only=True):
    """A label's bytes (decoded from the gateway's base64) and their format."""

    label_type: LabelType
    data: bytes

    def __post_init__(self) -> None:
        if len(self.data) > MAX_LABEL_BYTES:
            raise ValueError(f"label: {len(self.data)} bytes; at most {MAX_LABEL_BYTES}")

    @property
    def media_type(self) -> str:
        """``application/pdf``, ``text/plain`` (ZPL) or ``image/png``."""
        return LABEL_MEDIA_TYPES[self.label_type]

    def __repr__(self) -> str:  # never dump 200 KB into a log line
        return f"Label({self.label_type}, {len(self.data)} bytes)"


class Shipment(msgspec.Struct, frozen=True, kw_only=True):
    """A shipment as the gateway holds it.

    A ``DRAFT`` has ``rates`` to buy from and no carrier yet. Once bought (``CREATED`` and
    later) it has ``carrier``/``carrier_id``/``service``, ``tracking_number`` and ``cost``.
    ``label`` is present only in the answer to a purchase (Karrio's reads give no bytes;
    fetch them with the gateway's ``label``). ``request_id`` is the ``X-Request-ID`` of the
    call that created or, later, bought it; ``reference`` is ours (the order id).
    ``cost`` is None for a draft, or when the carrier's charge was not exact in minor units.
    """

    shipment_id: str
    status: ShipmentStatus
    reference: str = ""
    request_id: str = ""
    carrier: str = ""
    carrier_id: str = ""
    service: str = ""
    tracking_number: str = ""
    label_type: LabelType = "PDF"
    cost: Money | None = None
    transit_days: int | None = None
    rates: tuple[Rate, ...] = ()
    label: Label | None = None

    def __post_init__(self) -> None:
        _id("shipment", "shipment_id", self.shipment_id)
        for field in ("carrier", "carrier_id", "service", "tracking_number"):
            _id("shipment", field, getattr(self, field), required=False)
        _text("shipment", "reference", self.reference)
        _text("shipment", "request_id", self.request_id, _MAX_REQUEST_ID_CHARS)
