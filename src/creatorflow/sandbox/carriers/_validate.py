"""Request bodies of the sandbox's Karrio API, validated the way Karrio's serializers do.

Each ``parse_*`` takes the decoded JSON and returns a typed request, or raises a 400
:class:`~._wire.KarrioError` with one ``validation`` entry per bad field, worded like Karrio
(``"recipient: This field is required."``, ``"parcels[0].weight_unit: \\"ST\\" is not a valid
choice."``). Unknown fields are ignored, as Django REST framework does. Postal codes are
normalised like Karrio's ``AugmentedAddressSerializer`` (CA: ``Z9Z9Z9`` upper case, US:
``12345`` or ``12345-6789``); a negative weight is accepted (the real server rates it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from creatorflow.sandbox.carriers._wire import KarrioError, error, validation

#: Karrio's ``units.Country`` choices.
COUNTRIES: Final = frozenset(
    "AC AD AE AF AG AI AL AM AN AO AR AS AT AU AW AZ BA BB BD BE BF BG BH BI BJ BM BN BO BR BS "  # noqa: SIM905
    "BT BW BY BZ CA CD CF CG CH CI CK CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER "
    "ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT "
    "HU IC ID IE IL IN IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KV KW KY KZ LA LB LC LI "
    "LK LR LS LT LU LV LY MA MC MD ME MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA "
    "NC NE NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PR PT PW PY QA RE RO RS RU RW SA SB "
    "SC SD SE SG SH SI SK SL SM SN SO SR SS ST SV SY SZ TC TD TG TH TJ TL TN TO TR TT TV TW TZ "
    "UA UG US UY UZ VA VC VE VG VI VN VU WS XB XC XE XM XN XS XY YE YT ZA ZM ZW EH IM BL MF SX "
    "XK".split()
)
#: Address text fields and their maximum lengths (reference shipping-apis.md §1.3).
_ADDRESS_TEXT: Final = {
    "postal_code": 10, "city": 30, "state_code": 20, "address_line1": 50, "address_line2": 50,
    "street_number": 20, "person_name": 50, "company_name": 50, "phone_number": 20,
    "email": 100, "federal_tax_id": 20, "state_tax_id": 20,
}  # fmt: skip
#: Checked only when buying a label (Karrio rates without them).
PURCHASE_REQUIRED: Final = ("person_name", "address_line1", "city", "postal_code")
_TO_KG: Final = {"KG": 1.0, "G": 0.001, "LB": 0.45359237, "OZ": 0.028349523125}
_CA_POSTAL = re.compile(r"^([A-Za-z]\d[A-Za-z][-]?\d[A-Za-z]\d)")
_US_POSTAL = re.compile(r"^\d{5}(-\d{4})?$")
LABEL_TYPES: Final = ("PDF", "ZPL")
MAX_REFERENCE: Final = 100


@dataclass(slots=True)
class RateRequest:
    """``POST /v1/proxy/rates`` (and the rating half of ``POST /v1/shipments``)."""

    shipper: dict[str, Any]
    recipient: dict[str, Any]
    parcels: list[dict[str, Any]]
    weights_kg: list[float]
    carrier_ids: list[str]
    services: list[str]
    options: dict[str, Any]
    reference: str | None = None
    # --- POST /v1/shipments only
    service: str | None = None
    label_type: str = "PDF"
    metadata: dict[str, Any] = field(default_factory=dict)
    payment: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PurchaseRequest:
    """``POST /v1/shipments/{id}/purchase``."""

    selected_rate_id: str | None
    service: str | None
    label_type: str | None
    reference: str | None
    metadata: dict[str, Any] | None


def _kind(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", bool: "bool", int: "int"}.get(
        type(value), type(value).__name__
    )


def _text(value: Any, path: str, limit: int, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{path}: Not a valid string.")
        return None
    text = str(value)
    if len(text) > limit:
        problems.append(f"{path}: Ensure this field has no more than {limit} characters.")
    return text


def _dict(body: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f'{key}: Expected a dictionary of items but got type "{_kind(value)}".')
        return {}
    return value


def _strings(body: dict[str, Any], key: str, problems: list[str]) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f'{key}: Expected a list of items but got type "{_kind(value)}".')
        return []
    return value


def _address(value: Any, path: str, problems: list[str]) -> dict[str, Any]:
    if value is None:
        problems.append(f"{path}: This field is required.")
        return {}
    if not isinstance(value, dict):
        problems.append(
            f"{path}.non_field_errors: Invalid data. Expected a dictionary, but got {_kind(value)}."
        )
        return {}
    out: dict[str, Any] = {}
    country = value.get("country_code")
    if country is None:
        problems.append(f"{path}.country_code: This field is required.")
    elif not isinstance(country, str) or country not in COUNTRIES:
        problems.append(f'{path}.country_code: "{country}" is not a valid choice.')
    else:
        out["country_code"] = country
    for key, limit in _ADDRESS_TEXT.items():
        text = _text(value.get(key), f"{path}.{key}", limit, problems)
        if text is not None:
            out[key] = text
    if "residential" in value and isinstance(value["residential"], bool):
        out["residential"] = value["residential"]
    postal = out.get("postal_code")
    if postal is not None and country == "CA":
        postal = "".join(c for c in postal.split() if c not in ("-", "_")).upper()
        if not _CA_POSTAL.match(postal):
            problems.append(f"{path}.postal_code: The Canadian postal code must match Z9Z9Z9")
        out["postal_code"] = postal
    elif postal is not None and country == "US":
        postal = "".join(postal.split())
        if not _US_POSTAL.match(postal):
            problems.append(
                f"{path}.postal_code: The American postal code must match 12345 or 12345-6789"
            )
        out["postal_code"] = postal
    return out


def _number(value: Any, path: str, problems: list[str], *, required: bool) -> float | None:
    if value is None:
        if required:
            problems.append(f"{path}: This field is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{path}: A valid number is required.")
        return None
    if not -1e6 <= value <= 1e6:
        problems.append(f"{path}: Ensure this value is within [-1000000, 1000000].")
        return None
    return float(value)


def _parcel(value: Any, path: str, problems: list[str]) -> tuple[dict[str, Any], float]:
    if not isinstance(value, dict):
        problems.append(
            f"{path}.non_field_errors: Invalid data. Expected a dictionary, but got {_kind(value)}."
        )
        return {}, 0.0
    weight = _number(value.get("weight"), f"{path}.weight", problems, required=True)
    unit = value.get("weight_unit")
    if unit is None:
        problems.append(f"{path}.weight_unit: This field is required.")
    elif unit not in _TO_KG:
        problems.append(f'{path}.weight_unit: "{unit}" is not a valid choice.')
    out: dict[str, Any] = {"weight": weight, "weight_unit": unit}
    for key in ("length", "width", "height"):
        number = _number(value.get(key), f"{path}.{key}", problems, required=False)
        if number is not None:
            out[key] = number
    dim_unit = value.get("dimension_unit")
    if dim_unit is not None and dim_unit not in ("CM", "IN"):
        problems.append(f'{path}.dimension_unit: "{dim_unit}" is not a valid choice.')
    elif dim_unit is not None:
        out["dimension_unit"] = dim_unit
    for key in ("packaging_type", "package_preset", "reference_number", "description"):
        text = _text(value.get(key), f"{path}.{key}", 100, problems)
        if text is not None:
            out[key] = text
    if isinstance(value.get("is_document"), bool):
        out["is_document"] = value["is_document"]
    kg = (weight or 0.0) * _TO_KG.get(unit, 1.0) if isinstance(unit, str) else 0.0
    return out, kg


def parse_rate_request(
    body: dict[str, Any], *, max_parcels: int, shipment: bool = False
) -> RateRequest:
    """Validate a rate request (``shipment``: a ``POST /v1/shipments`` body)."""
    problems: list[str] = []
    shipper = _address(body.get("shipper"), "shipper", problems)
    recipient = _address(body.get("recipient"), "recipient", problems)
    raw = body.get("parcels")
    parcels: list[dict[str, Any]] = []
    weights: list[float] = []
    if raw is None:
        problems.append("parcels: This field is required.")
    elif not isinstance(raw, list):
        kind = _kind(raw)
        problems.append(
            f'parcels.non_field_errors: Expected a list of items but got type "{kind}".'
        )
    elif not raw:
        problems.append("parcels.non_field_errors: This list may not be empty.")
    elif len(raw) > max_parcels:
        most = f"Ensure this list has at most {max_parcels} elements."
        problems.append(f"parcels.non_field_errors: {most}")
    else:
        for index, item in enumerate(raw):
            parcel, kg = _parcel(item, f"parcels[{index}]", problems)
            parcels.append(parcel)
            weights.append(kg)
    request = RateRequest(
        shipper=shipper, recipient=recipient, parcels=parcels, weights_kg=weights,
        carrier_ids=_strings(body, "carrier_ids", problems),
        services=_strings(body, "services", problems),
        options=_dict(body, "options", problems),
        reference=_text(body.get("reference"), "reference", MAX_REFERENCE, problems),
    )  # fmt: skip
    if shipment:
        request.service = _text(body.get("service"), "service", 100, problems)
        request.label_type = _label_type(body.get("label_type"), problems) or "PDF"
        request.metadata = _dict(body, "metadata", problems)
        request.payment = _dict(body, "payment", problems)
    if problems:
        raise validation(problems)
    return request


def _label_type(value: Any, problems: list[str]) -> str | None:
    if value is None or value in LABEL_TYPES:
        return value  # type: ignore[no-any-return]
    if value == "PNG":
        problems.append('label_type: "PNG" is not supported by the sandbox carriers (PDF, ZPL).')
    else:
        problems.append(f'label_type: "{value}" is not a valid choice.')
    return None


def parse_purchase(body: dict[str, Any]) -> PurchaseRequest:
    """Validate a purchase body; 400 ``validation_error`` without a rate id or a service."""
    problems: list[str] = []
    rate_id = _text(body.get("selected_rate_id"), "selected_rate_id", 100, problems)
    service = _text(body.get("service"), "service", 100, problems)
    label_type = _label_type(body.get("label_type"), problems)
    reference = _text(body.get("reference"), "reference", MAX_REFERENCE, problems)
    metadata = _dict(body, "metadata", problems) if "metadata" in body else None
    if problems:
        raise validation(problems)
    if not rate_id and not service:
        message = "Either 'selected_rate_id' or 'service' must be provided."
        raise error(400, "validation_error", message)
    return PurchaseRequest(rate_id, service, label_type, reference, metadata)


def require_purchase_fields(shipper: dict[str, Any], recipient: dict[str, Any]) -> None:
    """The address fields Karrio enforces only at purchase (400 ``validation`` per missing one)."""
    problems = [
        f"{who}.{key}: This field is required."
        for who, address in (("shipper", shipper), ("recipient", recipient))
        for key in PURCHASE_REQUIRED
        if not address.get(key)
    ]
    if problems:
        raise validation(problems)


def expect_object(body: Any) -> dict[str, Any]:
    """The decoded body as a dict, or 400 like DRF answers a JSON array or scalar."""
    if not isinstance(body, dict):
        raise validation(
            [f"non_field_errors: Invalid data. Expected a dictionary, but got {_kind(body)}."]
        )
    return body


__all__ = [
    "COUNTRIES",
    "KarrioError",
    "PurchaseRequest",
    "RateRequest",
    "expect_object",
    "parse_purchase",
    "parse_rate_request",
    "require_purchase_fields",
]
