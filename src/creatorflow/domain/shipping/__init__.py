"""Shipping domain types (pure): what the carrier gateway takes and gives.

:mod:`~creatorflow.domain.shipping.types` has addresses, parcels, rates, shipments and
labels, with money as exact minor units; :mod:`~creatorflow.domain.shipping.tracking` has
trackers and their normalised statuses. The port is :mod:`creatorflow.ports.shipping`.
"""

from creatorflow.domain.shipping.tracking import (
    MAX_EVENTS,
    Tracker,
    TrackingEvent,
    TrackingStatus,
    event_time_ms,
    sort_events,
)
from creatorflow.domain.shipping.types import (
    LABEL_MEDIA_TYPES,
    MAX_LABEL_BYTES,
    MAX_PARCELS,
    MAX_REFERENCE_CHARS,
    MAX_TEXT_CHARS,
    REQUEST_ID_PATTERN,
    Address,
    CarrierFailure,
    Label,
    LabelType,
    Money,
    Parcel,
    Rate,
    RateQuote,
    Shipment,
    ShipmentRequest,
    ShipmentStatus,
    charge_to_minor,
    check_reference,
    check_request_id,
)

__all__ = [
    "LABEL_MEDIA_TYPES",
    "MAX_EVENTS",
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
    "Tracker",
    "TrackingEvent",
    "TrackingStatus",
    "charge_to_minor",
    "check_reference",
    "check_request_id",
    "event_time_ms",
    "sort_events",
]
