"""The shipping API: an order's shipment, its label, the carriers' health.

==============================  ============================================================
GET /api/shipments/{order_id}   the shipment: state, carrier, service, transit days, tracking
                                number and status, cost, label type, why this rate, every
                                purchase attempt, the tracking events. 404 before it has one
GET /api/shipments/{id}/label   the label bytes: ``application/pdf``, or ``text/plain`` (ZPL)
GET /api/carriers               per carrier: breaker state, error rate, latency p50/p99, labels
==============================  ============================================================

Shipments are read from the store (the last commit); the carriers from the carrier pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.actors.shipping.messages import CarrierView, GetCarriers, ShipmentDoc
from creatorflow.domain.limits import Id
from creatorflow.domain.shipping import LABEL_MEDIA_TYPES, Money, TrackingEvent
from creatorflow.ports.shipments import ShipmentReader, ShipmentRow, ShipmentState
from creatorflow.web.api._routing import ApiRoute, Param
from creatorflow.web.api._wire import json_response, segment
from creatorflow.web.api.errors import NotFound, ask_within

ASK_TIMEOUT_S: Final = 5.0
_DOC = msgspec.json.Decoder(ShipmentDoc)


class AttemptView(msgspec.Struct, kw_only=True):
    carrier: str
    service: str
    outcome: str
    error: str
    latency_ms: int
    request_id: str
    at_ms: int


class ShipmentView(msgspec.Struct, kw_only=True):
    """``GET /api/shipments/{order_id}``."""

    order_id: str
    state: ShipmentState
    carrier: str
    service: str
    transit_days: int | None
    tracking_number: str
    tracking_status: str
    cost: Money | None
    label_type: str
    selection: list[str]
    attempts: list[AttemptView]
    tracking_events: list[TrackingEvent]
    package_id: str
    last_error: str
    next_check_at_ms: int | None
    updated_at_ms: int


class ShipmentSummary(msgspec.Struct, kw_only=True):
    """What ``GET /api/orders/{id}`` shows of the order's shipment."""

    state: ShipmentState
    carrier: str
    service: str
    tracking_number: str
    tracking_status: str


class CarrierPage(msgspec.Struct, kw_only=True):
    carriers: list[CarrierView]


def view(row: ShipmentRow) -> ShipmentView:
    doc = _DOC.decode(row.doc)
    return ShipmentView(
        order_id=row.order_id,
        state=row.state,
        carrier=row.carrier,
        service=row.service,
        transit_days=doc.transit_days,
        tracking_number=row.tracking_number,
        tracking_status=row.tracking_status,
        cost=doc.cost,
        label_type=doc.label_type,
        selection=list(doc.selection),
        attempts=[
            AttemptView(
                carrier=a.carrier,
                service=a.service,
                outcome=a.outcome,
                error=a.error,
                latency_ms=a.latency_ms,
                request_id=a.request_id,
                at_ms=a.at_ms,
            )
            for a in doc.attempts
        ],
        tracking_events=list(doc.tracking_events),
        package_id=doc.package_id,
        last_error=doc.last_error,
        next_check_at_ms=row.next_check_at_ms,
        updated_at_ms=row.updated_at_ms,
    )


def summary(row: ShipmentRow | None) -> ShipmentSummary | None:
    if row is None:
        return None
    return ShipmentSummary(
        state=row.state,
        carrier=row.carrier,
        service=row.service,
        tracking_number=row.tracking_number,
        tracking_status=row.tracking_status,
    )


_ORDER = Param(
    name="order_id", location="path", schema=Id, description="TikTok order id", required=True
)


class ShipmentsApi:
    """The routes; :meth:`routes` lists them."""

    def __init__(
        self,
        *,
        shipments: ShipmentReader,
        carriers: Callable[[GetCarriers], Awaitable[object]],
    ) -> None:
        self._shipments = shipments
        self._carriers = carriers

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                method="GET",
                path="/api/shipments/{order_id:segment}",
                endpoint=self.get_shipment,
                operation_id="getShipment",
                summary="An order's shipment: carrier, tracking, cost, why this rate, attempts",
                tag="shipping",
                params=(_ORDER,),
                response=ShipmentView,
                errors={404: ("not_found",), 503: ("store_unavailable",)},
            ),
            ApiRoute(
                method="GET",
                path="/api/shipments/{order_id:segment}/label",
                endpoint=self.get_label,
                operation_id="getShipmentLabel",
                summary="The label bytes (application/pdf, or text/plain for ZPL)",
                tag="shipping",
                params=(_ORDER,),
                errors={404: ("not_found",), 503: ("store_unavailable",)},
            ),
            ApiRoute(
                method="GET",
                path="/api/carriers",
                endpoint=self.get_carriers,
                operation_id="listCarriers",
                summary="Each carrier's breaker, error rate, latency and labels bought",
                tag="shipping",
                response=CarrierPage,
                errors={503: ("carrier_pool_timeout", "carrier_pool_unavailable")},
            ),
        ]

    async def get_shipment(self, request: Request) -> Response:
        order_id = segment(request, "order_id")
        row = await self._shipments.get_shipment(order_id)
        if row is None:
            raise NotFound(f"order {order_id!r} has no shipment (yet)")
        return json_response(view(row))

    async def get_label(self, request: Request) -> Response:
        order_id = segment(request, "order_id")
        label = await self._shipments.get_label(order_id)
        if label is None:
            raise NotFound(f"order {order_id!r} has no label (yet)")
        media = LABEL_MEDIA_TYPES.get(label.label_type, "application/octet-stream")
        return Response(label.data, 200, media_type=media)

    async def get_carriers(self, request: Request) -> Response:
        found = await ask_within(
            ASK_TIMEOUT_S,
            lambda: self._carriers(GetCarriers()),
            actor="carrier_pool",
            who="carrier pool",
            missing="no carrier pool",
        )
        assert isinstance(found, list)
        return json_response(CarrierPage(carriers=found))
