"""Configuration of the sandbox carriers: frozen structs, units in the names, every bound here.

:class:`CarrierSandboxConfig` is what ``CarrierSandbox`` is built from (and what
``creatorflow sandbox carriers`` fills from its flags). Each :class:`CarrierSpec` is one carrier
connection: its services (:class:`ServiceSpec`, a price table by weight bracket and zone plus
transit days per zone) and its initial :class:`CarrierFaultConfig`, replaced piecewise by
``POST /sandbox/carriers/faults``.

Zones (see ``_rates.zone_of``): 1 = same country and postal region (first character of the
postal code), 2 = same country elsewhere, 3 = another country. A service with no prices for a
zone does not serve it (no rate, no message: what a real rate sheet without that zone answers).
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

#: Upper bound (kg, inclusive) of each price bracket; a parcel over the last one is not rated.
WEIGHT_BRACKETS_KG: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
ZONES: Final = 3


class CarrierFaultConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Faults of one carrier, deterministic given the sandbox seed (one generator per carrier).

    Attributes:
        outage: every call that reaches this carrier fails (rating: in ``messages[]``;
            purchase / void: 424).
        error_rate: probability that a call fails like an outage does, once.
        timeout_rate: probability that the answer is held ``timeout_s`` (past a client's
            timeout); rating then lists the carrier in ``messages[]``.
        latency_ms: ``(low, high)`` added to every call, uniform in the range.
        timeout_s: how long a timed-out answer is held, on the sandbox's sleep.
        timeout_applied_rate: probability that a timed-out purchase (or void) still happened:
            the label exists although the client saw no answer (look it up by ``request_id``).
    """

    outage: bool = False
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    latency_ms: tuple[float, float] = (0.0, 0.0)
    timeout_s: float = 10.0
    timeout_applied_rate: float = 0.5

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        if not 0 <= low <= high <= 600_000:
            raise ValueError("latency_ms must be [low, high] with 0 <= low <= high <= 600000")
        for name in ("error_rate", "timeout_rate", "timeout_applied_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if not 0 <= self.timeout_s <= 3600:
            raise ValueError("timeout_s must be within [0, 3600]")


class ServiceSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One service: carrier-prefixed snake_case code, transit days and prices per zone.

    ``transit_days[z - 1]`` and ``prices_minor[z - 1]`` (one price per ``WEIGHT_BRACKETS_KG``
    bracket, minor units of the carrier's currency) describe zone ``z``; an empty price tuple
    means the zone is not served.
    """

    code: str
    name: str
    transit_days: tuple[int, int, int]
    prices_minor: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]

    def __post_init__(self) -> None:
        for days, prices in zip(self.transit_days, self.prices_minor, strict=True):
            if prices and (len(prices) != len(WEIGHT_BRACKETS_KG) or min(prices) < 0):
                raise ValueError(f"{self.code}: one price >= 0 per weight bracket, or none")
            if prices and days < 0:
                raise ValueError(f"{self.code}: transit days must not be negative")
        if not self.prices_minor[0]:
            raise ValueError(f"{self.code}: zone 1 (domestic) must be served")

    def price_minor(self, zone: int, weight_kg: float) -> int | None:
        """The price of one parcel, or None when the zone or the weight is not served."""
        prices = self.prices_minor[zone - 1]
        if not prices:
            return None
        for bound, price in zip(WEIGHT_BRACKETS_KG, prices, strict=True):
            if weight_kg <= bound:
                return price
        return None


class CarrierSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One carrier connection: slug ``name``, connection ``carrier_id``, services, faults."""

    name: str
    carrier_id: str
    display_name: str
    tracking_prefix: str
    services: tuple[ServiceSpec, ...]
    currency: str = "USD"
    faults: CarrierFaultConfig = msgspec.field(default_factory=CarrierFaultConfig)

    def service(self, code: str) -> ServiceSpec | None:
        """The service with this code, or None."""
        return next((s for s in self.services if s.code == code), None)


def _svc(code: str, name: str, days: tuple[int, int, int], *zones: tuple[int, ...]) -> ServiceSpec:
    z1, z2, z3 = zones
    return ServiceSpec(code=code, name=name, transit_days=days, prices_minor=(z1, z2, z3))


#: A cheap slow ground carrier (domestic only), a mid one, a fast express one.
DEFAULT_CARRIERS: Final = (
    CarrierSpec(
        name="terra", carrier_id="terra-sandbox", display_name="Terra Ground",
        tracking_prefix="TG",
        faults=CarrierFaultConfig(latency_ms=(40.0, 120.0)),
        services=(
            _svc("terra_economy", "Terra Economy", (5, 7, 0),
                 (390, 450, 540, 720, 990, 1490, 2090),
                 (490, 560, 670, 890, 1230, 1850, 2590), ()),
            _svc("terra_ground", "Terra Ground", (3, 5, 0),
                 (520, 590, 700, 930, 1280, 1930, 2690),
                 (640, 730, 870, 1150, 1590, 2390, 3340), ()),
        ),
    ),
    CarrierSpec(
        name="swift", carrier_id="swift-sandbox", display_name="Swift Parcel",
        tracking_prefix="SW",
        faults=CarrierFaultConfig(latency_ms=(20.0, 80.0)),
        services=(
            _svc("swift_standard", "Swift Standard", (2, 3, 7),
                 (690, 790, 930, 1240, 1690, 2590, 3590),
                 (840, 950, 1120, 1490, 2040, 3120, 4320),
                 (2190, 2490, 2990, 3990, 5490, 8490, 11490)),
            _svc("swift_priority", "Swift Priority", (1, 2, 5),
                 (990, 1120, 1320, 1740, 2390, 3640, 5040),
                 (1190, 1350, 1590, 2090, 2870, 4370, 6050),
                 (3290, 3690, 4390, 5890, 8090, 12490, 16990)),
        ),
    ),
    CarrierSpec(
        name="zoom", carrier_id="zoom-sandbox", display_name="Zoom Express",
        tracking_prefix="ZX",
        faults=CarrierFaultConfig(latency_ms=(10.0, 40.0)),
        services=(
            _svc("zoom_saver", "Zoom Saver", (2, 2, 3),
                 (890, 990, 1170, 1550, 2120, 3240, 4490),
                 (1040, 1160, 1370, 1810, 2480, 3790, 5250),
                 (2890, 3290, 3890, 5190, 7090, 10890, 14790)),
            _svc("zoom_express", "Zoom Express", (1, 1, 2),
                 (1390, 1590, 1890, 2490, 3390, 5190, 7190),
                 (1690, 1890, 2240, 2960, 4030, 6170, 8550),
                 (3990, 4490, 5390, 7190, 9890, 15190, 20690)),
        ),
    ),
)  # fmt: skip

#: Tracker walk after purchase: seconds until picked_up, in_transit, out_for_delivery, delivered.
DEFAULT_TRACKER_SCHEDULE_S: Final = (60.0, 300.0, 900.0, 1800.0)


class CarrierSandboxConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the sandbox carriers need; the defaults serve three ready carriers.

    Attributes:
        api_key: clients send ``Authorization: Token <api_key>`` (or Basic with it as the
            user name), else 401.
        admin_token: when set, ``/sandbox/carriers/...`` admin paths need ``Bearer <token>``.
        seed: seeds ids, tracking numbers and each carrier's fault generator.
        purchased_status: the status of a bought shipment: ``created`` (Karrio since
            2026.1.19, the server the contract tests pin) or ``purchased`` (older servers and
            the OpenAPI); clients must treat both alike.
        tracker_schedule_s: when a tracker reaches picked_up, in_transit, out_for_delivery
            and delivered, in seconds after the purchase (non-decreasing).
        tracker_tick_s: how often ``run`` moves due trackers (reads move them too).
        throttle_per_min: API calls allowed per sliding minute (429 beyond); 0 = no limit.
        max_*: the bounds; the oldest entry is forgotten first. A bought shipment with its
            tracker and purchases-log entry takes about 7 KB: ~0.7 GB at the default caps,
            which cover a 100-second run at 1,000 labels/s. A shipment forgotten is not found
            by a lookup any more: keep the cap above what clients may still look up.
        webhook_url / webhook_secret: where ``tracker_updated`` events are posted, with header
            ``X-Event-Id: <webhook_secret>`` (Karrio sends the secret itself); "" = no push.
        webhook_disable_after: consecutive failed pushes after which pushing stops (Karrio
            disables an endpoint after more than 5).
    """

    api_key: str = "sandbox-carriers-key"
    admin_token: str = ""
    seed: int = 0
    carriers: tuple[CarrierSpec, ...] = DEFAULT_CARRIERS
    test_mode: bool = True
    purchased_status: Literal["created", "purchased"] = "created"
    tracker_schedule_s: tuple[float, float, float, float] = DEFAULT_TRACKER_SCHEDULE_S
    tracker_tick_s: float = 1.0
    throttle_per_min: int = 0
    # --- bounded state
    max_body_bytes: int = 256 * 1024
    max_parcels: int = 50
    max_shipments: int = 100_000
    max_trackers: int = 100_000
    max_purchases: int = 100_000
    max_events_per_tracker: int = 32
    max_page_size: int = 1000
    # --- tracker_updated push
    webhook_url: str = ""
    webhook_secret: str = "whsec_sandbox"
    webhook_timeout_s: float = 3.0
    webhook_outbox_size: int = 1024
    webhook_disable_after: int = 6
    max_webhook_log: int = 1000

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key is required")
        if not self.carriers:
            raise ValueError("at least one carrier is required")
        names = [c.name for c in self.carriers] + [c.carrier_id for c in self.carriers]
        if len(set(names)) != len(names):
            raise ValueError("carrier names and carrier_ids must be unique")
        schedule = self.tracker_schedule_s
        if any(s < 0 for s in schedule) or list(schedule) != sorted(schedule):
            raise ValueError("tracker_schedule_s must be non-negative and non-decreasing")
        if self.tracker_tick_s <= 0 or self.throttle_per_min < 0:
            raise ValueError("tracker_tick_s must be > 0 and throttle_per_min >= 0")
        for name in (
            "max_body_bytes", "max_parcels", "max_shipments", "max_trackers", "max_purchases",
            "max_events_per_tracker", "max_page_size", "webhook_outbox_size",
            "webhook_disable_after", "max_webhook_log",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def carrier(self, name_or_id: str) -> CarrierSpec | None:
        """The carrier with this slug or connection id, or None."""
        return next((c for c in self.carriers if name_or_id in (c.name, c.carrier_id)), None)

    def __repr__(self) -> str:  # never print the key or the secret
        names = ",".join(c.name for c in self.carriers)
        return f"CarrierSandboxConfig(seed={self.seed}, carriers={names}, url={self.webhook_url!r})"
