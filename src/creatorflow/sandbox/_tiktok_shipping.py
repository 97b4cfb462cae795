"""Seller shipping in the sandbox: shipping providers, tracking checks, Mark Package As Shipped
warnings, Ship Package by region (reference shipping-apis §2.1-§2.7).

Shipping providers (Get Shipping Providers, the same six for every delivery option of the
sandbox warehouse): USPS, UPS, FedEx and the sandbox carriers Terra, Swift and Zoom (the
names ``sandbox/carriers`` uses, so CreatorFlow maps its carrier to a provider by name).
:data:`PLATFORM_OPTION_ID` is an option TikTok fulfils itself (21008117); any other unknown
option id answers 21008116 (no subscription).

Tracking numbers: 1-64 characters of ``[A-Za-z0-9-]`` (21004012 otherwise; the code is the
sandbox's pick among the §2.7 "bad characters" codes). Mark Package As Shipped answers code 0
with a ``warning.message`` when the provider is not one of the order's delivery option, or
when the number does not start the way that provider's numbers do (Terra ``TG``, Swift
``SW``, Zoom ``ZX``, UPS ``1Z``), like TikTok's US verification.

Region: Mark Package As Shipped is served only when the shop's region (``shop_region``) is
one where TikTok offers it (US, GB/UK, ES, IE, IT, DE, FR, JP); elsewhere it answers 21008106
and Ship Package is the way. Ship Package works in every region.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from creatorflow.ports.tiktok import MARK_SHIPPED_REGIONS
from creatorflow.sandbox._tiktok_wire import (
    NO_PROVIDER_SUBSCRIPTION,
    NOT_IN_REGION,
    PLATFORM_FULFILLED_OPTION,
    TRACKING_INVALID,
    business_error,
    gateway_error,
)

__all__ = [
    "MARK_SHIPPED_REGIONS",
    "MAX_TRACKING_CHARS",
    "PLATFORM_OPTION_ID",
    "PROVIDERS",
    "Provider",
    "check_mark_region",
    "check_tracking",
    "mark_warning",
    "provider_name",
    "providers_of",
]


class Provider(NamedTuple):
    """A shipping provider: id, name, and how its tracking numbers start ("" = any)."""

    id: str
    name: str
    tracking_prefix: str


PROVIDERS: Final = (
    Provider("7117858858072016686", "USPS", ""),  # the reference's sample id
    Provider("7000000000000000201", "UPS", "1Z"),
    Provider("7000000000000000202", "FedEx", ""),
    Provider("7000000000000000211", "Terra", "TG"),
    Provider("7000000000000000212", "Swift", "SW"),
    Provider("7000000000000000213", "Zoom", "ZX"),
)
_BY_ID: Final = {p.id: p for p in PROVIDERS}

#: A delivery option fulfilled by TikTok: Get Shipping Providers answers 21008117.
PLATFORM_OPTION_ID: Final = "7000000000000000109"

MAX_TRACKING_CHARS: Final = 64
_TRACKING: Final = re.compile(r"^[A-Za-z0-9-]+$")


def providers_of(option_id: str, known_options: frozenset[str]) -> list[dict[str, str]]:
    """``data.shipping_providers`` of a delivery option.

    Raises:
        ApiError: 21008117 for the platform option, 21008116 for an option not in
            ``known_options`` (the seller has no subscription to it).
    """
    if option_id == PLATFORM_OPTION_ID:
        raise business_error(
            PLATFORM_FULFILLED_OPTION,
            f"delivery option {option_id} is fulfilled by TikTok: no shipping providers",
        )
    if option_id not in known_options:
        raise business_error(
            NO_PROVIDER_SUBSCRIPTION,
            f"no shipping provider subscription for delivery option {option_id}",
        )
    return [{"id": p.id, "name": p.name} for p in PROVIDERS]


def provider_name(provider_id: str) -> str:
    """The provider's name, or "" for an id the sandbox does not know."""
    provider = _BY_ID.get(provider_id)
    return "" if provider is None else provider.name


def check_tracking(tracking_number: str) -> str:
    """The tracking number as stored (stripped).

    Raises:
        ApiError: 36009004 when missing, 21004012 when too long or with bad characters.
    """
    number = tracking_number.strip()
    if not number:
        raise gateway_error("Invalid params: tracking_number is required")
    if len(number) > MAX_TRACKING_CHARS or not _TRACKING.match(number):
        raise business_error(
            TRACKING_INVALID,
            f"tracking number must be 1-{MAX_TRACKING_CHARS} letters, digits or '-'",
        )
    return number


def mark_warning(tracking_number: str, provider_id: str) -> str:
    """``warning.message`` of a Mark Package As Shipped that succeeded ("" when none)."""
    provider = _BY_ID.get(provider_id)
    if provider is None:
        return f"shipping provider {provider_id} is not offered for this delivery option"
    prefix = provider.tracking_prefix
    if prefix and not tracking_number.upper().startswith(prefix):
        return f"tracking number {tracking_number} does not match shipping provider {provider.name}"
    return ""


def check_mark_region(region: str) -> None:
    """Raises ApiError 21008106 when Mark Package As Shipped is not offered in ``region``."""
    if region.upper() not in MARK_SHIPPED_REGIONS:
        raise business_error(
            NOT_IN_REGION, f"Mark Package As Shipped is not available in region {region}"
        )
