"""Stateful shipments: the bounded book, its lookups, the purchases log, the Karrio object.

Lookups behave as Karrio 2026.1.32's ``ShipmentFilters`` do: ``request_id`` is an exact match
on ``meta.request_id`` (set by the request that created the shipment, then overwritten by the
request that bought it: Karrio stores every request's id, sent or generated); ``reference``
and ``tracking_number`` are case-insensitive *substring* matches (``icontains``), so
``reference=1001`` also finds ``10010``: a client must compare exactly itself; ``status``
(comma-separated), ``carrier_name``, ``metadata_key`` and ``metadata_value`` are exact.
Results are newest first. ``request_id`` is indexed; the other filters scan the book.

Bounds: ``max_shipments`` shipments (the oldest forgotten first, with its index entries),
``max_purchases`` entries in the purchases log (every label bought, cancelled ones too).
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from creatorflow.sandbox.carriers._config import CarrierSandboxConfig, CarrierSpec
from creatorflow.sandbox.carriers._labels import LabelData, render_label
from creatorflow.sandbox.carriers._rates import StoredRate, render_rate
from creatorflow.sandbox.carriers._wire import iso


@dataclass(slots=True)
class Shipment:
    """One shipment; mutable, owned by :class:`ShipmentBook`."""

    id: str
    created_ms: int
    shipper: dict[str, Any]
    recipient: dict[str, Any]
    parcels: list[dict[str, Any]]
    weights_kg: list[float]
    options: dict[str, Any]
    payment: dict[str, Any]
    reference: str | None
    metadata: dict[str, Any]
    label_type: str
    rates: list[StoredRate]
    messages: list[dict[str, Any]]
    meta: dict[str, Any]
    status: str = "draft"
    carrier: CarrierSpec | None = None
    selected_rate: StoredRate | None = None
    tracking_number: str | None = None
    tracker_id: str | None = None
    purchased_ms: int | None = None

    @property
    def request_id(self) -> str | None:
        """``meta.request_id``: the id of the last request that created or bought it."""
        value = self.meta.get("request_id")
        return value if isinstance(value, str) else None

    def label(self) -> bytes | None:
        """The label bytes (rebuilt on each call), or None before the purchase."""
        if self.carrier is None or self.tracking_number is None or self.selected_rate is None:
            return None
        data = LabelData(
            carrier=self.carrier.display_name.upper(),
            service=self.selected_rate.service.name,
            tracking_number=self.tracking_number,
            shipper=self.shipper,
            recipient=self.recipient,
            reference=self.reference or "",
            weight_kg=sum(self.weights_kg),
        )
        return render_label(data, self.label_type)


class ShipmentBook:
    """Bounded shipments by id, the ``request_id`` index, the purchases log."""

    def __init__(self, config: CarrierSandboxConfig) -> None:
        self._config = config
        self._shipments: OrderedDict[str, Shipment] = OrderedDict()
        self._by_request: dict[str, list[str]] = {}
        #: Every label bought (shipment id → entry), oldest first, ``max_purchases`` at most.
        self.purchases: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._shipments)

    def add(self, shipment: Shipment) -> None:
        """Store a new shipment; the oldest is forgotten beyond ``max_shipments``."""
        self._shipments[shipment.id] = shipment
        self._index(shipment)
        while len(self._shipments) > self._config.max_shipments:
            _, old = self._shipments.popitem(last=False)
            self._unindex(old)

    def get(self, shipment_id: str) -> Shipment | None:
        """The shipment, or None."""
        return self._shipments.get(shipment_id)

    def set_request_id(self, shipment: Shipment, request_id: str) -> None:
        """Record the request that touched the shipment last (``meta.request_id``)."""
        self._unindex(shipment)
        shipment.meta["request_id"] = request_id
        self._index(shipment)

    def _index(self, shipment: Shipment) -> None:
        if shipment.request_id is not None:
            self._by_request.setdefault(shipment.request_id, []).append(shipment.id)

    def _unindex(self, shipment: Shipment) -> None:
        rid = shipment.request_id
        ids = self._by_request.get(rid) if rid is not None else None
        if ids is not None and shipment.id in ids:
            ids.remove(shipment.id)
            if not ids:
                del self._by_request[rid]  # type: ignore[arg-type]

    def latest_by_request_id(self, request_id: str) -> Shipment | None:
        """The newest shipment whose ``meta.request_id`` is ``request_id`` (cancel's fallback)."""
        ids = self._by_request.get(request_id)
        return self._shipments.get(ids[-1]) if ids else None

    def query(self, filters: dict[str, str]) -> list[Shipment]:
        """Shipments matching every filter, newest first (see the module docstring)."""
        rid = filters.get("request_id")
        pool: Iterable[Shipment]
        if rid is not None:
            pool = [self._shipments[i] for i in self._by_request.get(rid, ())]
        else:
            pool = self._shipments.values()
        tests: list[Callable[[Shipment], bool]] = []
        if (ref := filters.get("reference")) is not None:
            needle = ref.lower()
            tests.append(lambda s: s.reference is not None and needle in s.reference.lower())
        if (number := filters.get("tracking_number")) is not None:
            tn = number.lower()
            tests.append(
                lambda s: s.tracking_number is not None and tn in s.tracking_number.lower()
            )
        if (status := filters.get("status")) is not None:
            wanted = set(status.split(","))
            tests.append(lambda s: s.status in wanted)
        if (name := filters.get("carrier_name")) is not None:
            tests.append(lambda s: s.carrier is not None and s.carrier.name == name)
        if (key := filters.get("metadata_key")) is not None:
            tests.append(lambda s: key in s.metadata)
        if (value := filters.get("metadata_value")) is not None:
            tests.append(lambda s: value in [str(v) for v in s.metadata.values()])
        found = [s for s in pool if all(test(s) for test in tests)]
        found.reverse()
        return found

    # ------------------------------------------------------------------ purchases log

    def log_purchase(self, shipment: Shipment) -> None:
        """Add a bought label to the purchases log (oldest forgotten beyond the bound)."""
        assert shipment.carrier is not None and shipment.selected_rate is not None
        self.purchases[shipment.id] = {
            "shipment_id": shipment.id,
            "carrier": shipment.carrier.name,
            "service": shipment.selected_rate.service.code,
            "tracking_number": shipment.tracking_number,
            "reference": shipment.reference,
            "request_id": shipment.request_id,
            "status": shipment.status,
            "total_charge": shipment.selected_rate.minor,
        }
        while len(self.purchases) > self._config.max_purchases:
            self.purchases.popitem(last=False)

    def set_status(self, shipment: Shipment, status: str) -> None:
        """Change the shipment's status, and its purchases-log entry's with it."""
        shipment.status = status
        entry = self.purchases.get(shipment.id)
        if entry is not None:
            entry["status"] = status


def render_shipment(
    shipment: Shipment, *, base: str, with_label: bool, test_mode: bool
) -> dict[str, Any]:
    """The Karrio shipment object; ``with_label``: base64 in ``shipping_documents`` (create and
    purchase answers; reads and cancels give the URL only, as Karrio since 2026.1.19)."""
    carrier = shipment.carrier
    rate = shipment.selected_rate
    bought = carrier is not None and shipment.tracking_number is not None
    label_url = documents = tracking_url = None
    if bought:
        assert carrier is not None
        ext = "zpl" if shipment.label_type == "ZPL" else "pdf"
        label_url = f"{base}/v1/shipments/{shipment.id}/label.{ext}"
        tracking_url = f"{base}/v1/trackers/{carrier.name}/{shipment.tracking_number}"
        label = shipment.label() if with_label else None
        encoded = base64.b64encode(label).decode("ascii") if label is not None else None
        documents = [
            {"category": "label", "format": shipment.label_type, "url": label_url,
             "base64": encoded}
        ]  # fmt: skip
    return {
        "id": shipment.id,
        "object_type": "shipment",
        "status": shipment.status,
        "carrier_name": carrier.name if carrier else None,
        "carrier_id": carrier.carrier_id if carrier else None,
        "service": rate.service.code if rate else None,
        "tracking_number": shipment.tracking_number,
        "shipment_identifier": shipment.tracking_number,
        "tracking_url": tracking_url,
        "tracker_id": shipment.tracker_id,
        "selected_rate": render_rate(rate, test_mode=test_mode) if rate else None,
        "selected_rate_id": rate.id if rate else None,
        "rates": [render_rate(r, test_mode=test_mode) for r in shipment.rates],
        "label_type": shipment.label_type,
        "label_url": label_url,
        "invoice_url": None,
        "shipping_documents": documents or [],
        "shipper": shipment.shipper,
        "recipient": shipment.recipient,
        "return_address": None,
        "billing_address": None,
        "parcels": shipment.parcels,
        "options": shipment.options,
        "payment": shipment.payment,
        "customs": None,
        "reference": shipment.reference,
        "metadata": shipment.metadata,
        "meta": shipment.meta,
        "messages": shipment.messages,
        "is_return": False,
        "test_mode": test_mode,
        "created_at": iso(shipment.created_ms),
    }
