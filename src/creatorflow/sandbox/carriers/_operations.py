"""The operations that reach a carrier: rate, create (and buy), purchase, void.

Each carrier call draws its fate first (``_faults``), in arrival order, then waits its latency
on the sandbox's sleep, then checks the shipment's state and acts, with no wait between the
check and the change: two concurrent purchases of one shipment buy one label and the other
gets 409. A timed-out purchase or void that ``applied`` changes the state *before* holding the
answer for ``timeout_s``, so a client that gave up finds the label by ``request_id``.

Rating asks every selected carrier "at once", as Karrio does: the answer waits for the slowest
one (the largest latency, or ``timeout_s`` if one timed out); failed carriers go to
``messages[]``; no rate and some messages is 424.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from creatorflow.ports import Clock
from creatorflow.sandbox.carriers._config import CarrierSandboxConfig, CarrierSpec
from creatorflow.sandbox.carriers._faults import CarrierFaults, Draw
from creatorflow.sandbox.carriers._rates import (
    StoredRate,
    carrier_rates,
    select_carriers,
    sort_rates,
)
from creatorflow.sandbox.carriers._shipments import Shipment, ShipmentBook
from creatorflow.sandbox.carriers._tracking import TrackerBook
from creatorflow.sandbox.carriers._validate import (
    PurchaseRequest,
    RateRequest,
    require_purchase_fields,
)
from creatorflow.sandbox.carriers._wire import (
    Ids,
    carrier_message,
    carriers_failed,
    not_found,
    service_unavailable,
    state_error,
)

SleepFn = Callable[[float], Awaitable[None]]


class Gateway:
    """The Karrio operations over the sandbox's carriers, books and faults."""

    def __init__(
        self,
        config: CarrierSandboxConfig,
        *,
        faults: dict[str, CarrierFaults],
        shipments: ShipmentBook,
        trackers: TrackerBook,
        ids: Ids,
        clock: Clock,
        sleep: SleepFn,
    ) -> None:
        self._config = config
        self._faults = faults
        self._book = shipments
        self._trackers = trackers
        self._ids = ids
        self._clock = clock
        self._sleep = sleep

    async def _wait(self, seconds: float) -> None:
        if seconds > 0:
            await self._sleep(seconds)

    # ------------------------------------------------------------------ rating

    async def rates(self, request: RateRequest) -> tuple[list[StoredRate], list[dict[str, Any]]]:
        """``(rates, messages)``; waits for the slowest carrier asked.

        Raises:
            KarrioError: 404 no carrier matches; 424 no rate and some failed carrier.
        """
        carriers = select_carriers(self._config, request.carrier_ids, request.services)
        draws = [(carrier, self._faults[carrier.name].draw()) for carrier in carriers]
        await self._wait(max(d.latency_s + d.hold_s for _, d in draws))
        now = self._clock.now_ms()
        rates: list[StoredRate] = []
        messages: list[dict[str, Any]] = []
        for carrier, draw in draws:
            if draw.outcome != "ok":
                messages.append(carrier_message(carrier.name, carrier.carrier_id, draw.outcome))
                continue
            rates += carrier_rates(carrier, request, ids=self._ids, now_ms=now)
        if not rates and messages:
            raise carriers_failed(messages)
        return sort_rates(rates), messages

    async def create(self, request: RateRequest, request_id: str) -> Shipment:
        """``POST /v1/shipments``: a draft with rates; with ``service``, bought at once.

        Raises:
            KarrioError: as :meth:`rates`; 400 ``service_unavailable``; as :meth:`purchase`.
        """
        rates, messages = await self.rates(request)
        ids = self._ids
        for parcel in request.parcels:
            parcel.update(id=ids.new("pcl"), object_type="parcel")
        request.shipper.update(id=ids.new("adr"), object_type="address")
        request.recipient.update(id=ids.new("adr"), object_type="address")
        shipment = Shipment(
            id=ids.new("shp"), created_ms=self._clock.now_ms(), shipper=request.shipper,
            recipient=request.recipient, parcels=request.parcels, weights_kg=request.weights_kg,
            options=request.options, payment=request.payment, reference=request.reference,
            metadata=request.metadata, label_type=request.label_type, rates=rates,
            messages=messages, meta={},
        )  # fmt: skip
        self._book.add(shipment)
        self._book.set_request_id(shipment, request_id)
        if request.service is not None:
            buy = PurchaseRequest(None, request.service, None, None, None)
            await self.purchase(shipment, buy, request_id)
        return shipment

    # ------------------------------------------------------------------ purchase

    def _check_purchasable(self, shipment: Shipment) -> None:
        if shipment.status in ("created", "purchased"):
            raise state_error(f"The shipment is '{shipment.status}' and cannot be purchased again")
        if shipment.status != "draft":
            raise state_error(f"Shipment is {shipment.status} and cannot be updated anymore...")

    def _selected_rate(self, shipment: Shipment, body: PurchaseRequest) -> StoredRate:
        for rate in shipment.rates:
            if body.selected_rate_id is not None and rate.id == body.selected_rate_id:
                return rate
            if body.selected_rate_id is None and rate.service.code == body.service:
                return rate
        raise service_unavailable()

    async def purchase(self, shipment: Shipment, body: PurchaseRequest, request_id: str) -> None:
        """Buy the label of the selected rate: tracking number, tracker, purchases log entry.

        Raises:
            KarrioError: 409 ``state_error`` (not a draft, also when a concurrent purchase won);
                400 ``service_unavailable`` / ``validation``; 424 the carrier failed.
        """
        self._check_purchasable(shipment)
        rate = self._selected_rate(shipment, body)
        require_purchase_fields(shipment.shipper, shipment.recipient)
        carrier = rate.carrier
        draw = self._faults[carrier.name].draw()
        await self._wait(draw.latency_s)
        self._check_purchasable(shipment)  # re-checked after the wait: one label, ever
        if draw.outcome in ("outage", "error") or (draw.outcome == "timeout" and not draw.applied):
            await self._wait(draw.hold_s)
            raise carriers_failed([carrier_message(carrier.name, carrier.carrier_id, draw.outcome)])
        self._buy(shipment, carrier, rate, body, request_id)
        await self._wait(draw.hold_s)  # a timeout that applied: bought, answer held

    def _buy(
        self, shipment: Shipment, carrier: CarrierSpec, rate: StoredRate,
        body: PurchaseRequest, request_id: str,
    ) -> None:  # fmt: skip
        now = self._clock.now_ms()
        if body.label_type is not None:
            shipment.label_type = body.label_type
        if body.reference is not None:
            shipment.reference = body.reference
        if body.metadata is not None:
            shipment.metadata.update(body.metadata)
        number = carrier.tracking_prefix + self._ids.digits(16)
        while self._trackers.get(number) is not None:
            number = carrier.tracking_prefix + self._ids.digits(16)
        shipment.carrier = carrier
        shipment.selected_rate = rate
        shipment.tracking_number = number
        shipment.purchased_ms = now
        shipment.meta.update(
            service_name=rate.service.name.upper(), carrier=carrier.name, rate_provider=carrier.name
        )
        self._book.set_request_id(shipment, request_id)
        self._book.set_status(shipment, self._config.purchased_status)
        tracker = self._trackers.add(
            self._ids.new("trk"), number, carrier, shipment, rate.transit_days, now
        )
        shipment.tracker_id = tracker.id
        self._book.log_purchase(shipment)

    # ------------------------------------------------------------------ void

    def find_for_cancel(self, id_or_request_id: str) -> Shipment:
        """By id, else the newest shipment with that ``meta.request_id`` (as Karrio does).

        Raises:
            KarrioError: 404.
        """
        shipment = self._book.get(id_or_request_id) or self._book.latest_by_request_id(
            id_or_request_id
        )
        if shipment is None:
            raise not_found("Shipment not found")
        return shipment

    async def cancel(self, shipment: Shipment) -> int:
        """Void the label (a draft needs no carrier): 200, or 202 when already cancelled.

        Raises:
            KarrioError: 409 ``state_error`` once it shipped; 424 the carrier failed.
        """
        if shipment.status == "cancelled":
            return 202
        self._check_cancellable(shipment)
        draw: Draw | None = None
        if shipment.carrier is not None:
            carrier = shipment.carrier
            draw = self._faults[carrier.name].draw()
            await self._wait(draw.latency_s)
            if shipment.status == "cancelled":
                return 202
            self._check_cancellable(shipment)
            if draw.outcome in ("outage", "error") or (
                draw.outcome == "timeout" and not draw.applied
            ):
                await self._wait(draw.hold_s)
                raise carriers_failed(
                    [carrier_message(carrier.name, carrier.carrier_id, draw.outcome)]
                )
        self._book.set_status(shipment, "cancelled")
        if shipment.tracking_number is not None:
            self._trackers.remove(shipment.tracking_number)
        if draw is not None:
            await self._wait(draw.hold_s)
        return 200

    def _check_cancellable(self, shipment: Shipment) -> None:
        if shipment.status not in ("draft", "created", "purchased"):
            raise state_error(
                f"The shipment is '{shipment.status}' and can not be cancelled anymore..."
            )
