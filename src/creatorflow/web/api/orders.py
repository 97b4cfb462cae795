"""The orders API: read orders from the store, send operator commands to the scheduler.

=======  ================================  ==============================================
GET      /api/orders                       one page of summaries (filters, cursor paging)
GET      /api/orders/{id}                  one order: priority, lines, history, decisions
POST     /api/orders/{id}/hold             operator hold (body ``{"reason": "..."}``, optional)
POST     /api/orders/{id}/release          release a held order (same optional body)
POST     /api/orders/{id}/retry            run a needs_attention order again (same body)
=======  ================================  ==============================================

Reads go to the :class:`~creatorflow.ports.OrderReader` (they see the last commit); commands
are ``ask``\\ ed of the :class:`~creatorflow.actors.order_scheduler.OrderScheduler`, the only
writer of orders, under a deadline (``ask_timeout_s``).

Paging: ``GET /api/orders?state=&priority=&limit=&cursor=`` answers :class:`OrderPage`, ids
ascending. ``next_cursor`` is opaque; pass it back as ``cursor`` for the next page; ``null``
means there is none. ``limit`` defaults to 50, at most 500. Empty parameters count as absent;
``state`` is an internal state name, ``priority`` HIGH / STANDARD / LOW (any case).

Errors (``errors.TABLE``): 400 ``invalid_parameter`` or ``bad_body``, 404 ``not_found``, 409
``invalid_transition``, 503 ``store_unavailable`` / ``scheduler_unavailable`` /
``scheduler_timeout`` (with ``Retry-After``). A 503 on a command means "outcome unknown": the
scheduler may still apply it, so read the order before repeating it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.actors.order_scheduler import Command, CommandResult, OrderDoc, SchedulerMsg
from creatorflow.domain.automation import Decision, RuleHit
from creatorflow.domain.order import DeliveryType
from creatorflow.domain.priority import PriorityLevel
from creatorflow.domain.state_machine import OrderState
from creatorflow.errors import DomainError
from creatorflow.ports import OrderEventRow, OrderReader, OrderRow, Priority
from creatorflow.ports.shipments import ShipmentReader
from creatorflow.runtime import ActorRef
from creatorflow.web.api._routing import ApiRoute, Param
from creatorflow.web.api._wire import (
    MAX_LIMIT,
    Query,
    body_bytes,
    decode,
    encode_cursor,
    json_required,
    json_response,
    lenient_segment,
)
from creatorflow.web.api.errors import ApiError, BadParameter, NotFound, ask_within
from creatorflow.web.api.shipments import ShipmentSummary, summary

HISTORY_LIMIT: Final = 1000  # journal entries shown per order (oldest first)
MAX_BODY_BYTES: Final = 8192
Action = Literal["hold", "release", "retry"]
_STATES: Final = frozenset(s.value for s in OrderState)
_PRIORITIES: Final[dict[str, Priority]] = {"HIGH": "HIGH", "STANDARD": "STANDARD", "LOW": "LOW"}
_PATH: Final = "/api/orders/{order_id}"


# --------------------------------------------------------------------------- bodies


class CommandBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The optional JSON body of a command: why the operator acts (journaled with it)."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class OrderSummary(msgspec.Struct, kw_only=True):
    """One order in a list."""

    order_id: str
    shop_id: str
    state: str
    tiktok_status: str
    priority: Priority
    score: int
    tiktok_update_time: int
    updated_at_ms: int


class OrderPage(msgspec.Struct, kw_only=True):
    orders: list[OrderSummary]
    next_cursor: str | None


class ScoreReason(msgspec.Struct, kw_only=True):
    """One reason of the score with its points (the reasons add up to the score)."""

    reason: str
    weight: int


class OrderLine(msgspec.Struct, kw_only=True):
    """Every unit of one seller SKU; ``quantity`` counts TikTok's line items."""

    seller_sku: str
    sku_id: str
    quantity: int
    cancelled_quantity: int
    unit_price_minor: int
    total_minor: int
    currency: str


class OrderEvent(msgspec.Struct, kw_only=True):
    """One journal entry: a transition (with why, in ``detail``) or another event."""

    seq: int
    at_ms: int
    kind: str
    from_state: str | None
    to_state: str | None
    detail: Any


class Automation(msgspec.Struct, kw_only=True):
    """What the automation rules decided (the log of matched rules is ``decisions``)."""

    hold_for_review: bool
    priority: PriorityLevel | None
    priority_rule: str | None
    carrier: str | None
    service: str | None
    tags: tuple[str, ...]
    skip_automation: bool
    rules_evaluated: int


class UnreadableSnapshot(msgspec.Struct, kw_only=True):
    """Why the order is parked in ``needs_attention``, and the snapshot TikTok sent."""

    reason: str
    document: msgspec.Raw


class OrderDetail(OrderSummary, kw_only=True):
    """One order: summary, score reasons, lines, journal, rule decisions."""

    reasons: list[ScoreReason]
    delivery_type: DeliveryType
    rts_sla_time: int
    total_minor: int
    currency: str
    lines: list[OrderLine]
    history: list[OrderEvent]
    decisions: tuple[RuleHit, ...]
    automation: Automation
    unreadable: UnreadableSnapshot | None
    shipment: ShipmentSummary | None = None


class CommandAnswer(msgspec.Struct, kw_only=True):
    order_id: str
    state: str


_DOC = msgspec.json.Decoder(OrderDoc)
_BODY = msgspec.json.Decoder(CommandBody)


# --------------------------------------------------------------------------- routes


class OrdersApi:
    """Handlers of ``/api/orders…``; :meth:`routes` lists them."""

    def __init__(
        self,
        *,
        orders: OrderReader,
        scheduler: ActorRef[SchedulerMsg],
        ask_timeout_s: float = 5.0,
        shipments: ShipmentReader | None = None,
    ) -> None:
        self._orders = orders
        self._shipments = shipments  # None: no shipment summary in the order detail
        self._scheduler = scheduler
        self._ask_timeout_s = ask_timeout_s

    def routes(self) -> list[ApiRoute]:
        order_id = Param(name="order_id", location="path", schema=str, description="Order id")
        store = {503: ("store_unavailable",)}
        command_errors = {
            400: ("bad_body", "too_deep", "bad_content_length", "disconnected"),
            404: ("not_found",),
            409: ("invalid_transition",),
            413: ("too_large",),
            415: ("unsupported_media_type",),
            503: ("store_unavailable", "scheduler_unavailable", "scheduler_timeout"),
        }
        commands = [
            ApiRoute(
                method="POST",
                path=f"{_PATH}/{action}",
                endpoint=endpoint,
                operation_id=f"{action}Order",
                summary=summary,
                tag="orders",
                params=(order_id,),
                body=CommandBody,
                body_required=False,
                response=CommandAnswer,
                errors=command_errors,
            )
            for action, endpoint, summary in (
                ("hold", self.hold, "Hold the order for an operator (needs_attention)"),
                ("release", self.release, "Release a held order through the saga again"),
                ("retry", self.retry, "Run a needs_attention order through the saga again"),
            )
        ]
        return [
            ApiRoute(
                method="GET",
                path="/api/orders",
                endpoint=self.list_orders,
                operation_id="listOrders",
                summary="One page of order summaries, ids ascending",
                tag="orders",
                params=_LIST_PARAMS,
                response=OrderPage,
                errors={400: ("invalid_parameter",), **store},
            ),
            ApiRoute(
                method="GET",
                path=_PATH,
                endpoint=self.get_order,
                operation_id="getOrder",
                summary="One order: priority and reasons, lines, history, decisions",
                tag="orders",
                params=(order_id,),
                response=OrderDetail,
                errors={404: ("not_found",), **store},
            ),
            *commands,
        ]

    async def list_orders(self, request: Request) -> Response:
        """``GET /api/orders``: one page of order summaries (see the module docstring)."""
        query = Query(request)
        state = query.one("state")
        if state is not None:
            state = state.lower()
            if state not in _STATES:
                raise BadParameter("state", f"must be one of {', '.join(sorted(_STATES))}")
        priority: Priority | None = None
        given = query.one("priority")
        if given is not None:
            priority = _PRIORITIES.get(given.upper())
            if priority is None:
                raise BadParameter("priority", "must be one of HIGH, STANDARD, LOW")
        limit = query.limit()
        after = query.after()
        # One extra row tells whether another page exists without a count query.
        rows = await self._orders.list_orders(
            state=state, priority=priority, after=after, limit=limit + 1
        )
        page = rows[:limit]
        more = len(rows) > limit
        return json_response(
            OrderPage(
                orders=[_summary(row) for row in page],
                next_cursor=encode_cursor(page[-1].order_id) if more else None,
            )
        )

    async def get_order(self, request: Request) -> Response:
        """``GET /api/orders/{id}``: the order with its priority, lines, history and decisions."""
        order_id = lenient_segment(request, "order_id")
        row = await self._orders.get_order(order_id)
        if row is None:
            raise NotFound(f"no order with id {order_id!r}")
        events = await self._orders.order_events(order_id, HISTORY_LIMIT)
        detail = _detail(row, _DOC.decode(row.doc), events)
        if self._shipments is not None:
            detail.shipment = summary(await self._shipments.get_shipment(order_id))
        return json_response(detail)

    async def hold(self, request: Request) -> Response:
        return await self._command(request, "hold")

    async def release(self, request: Request) -> Response:
        return await self._command(request, "release")

    async def retry(self, request: Request) -> Response:
        return await self._command(request, "retry")

    async def _command(self, request: Request, action: Action) -> Response:
        """``POST /api/orders/{id}/{action}``: ask the scheduler, answer the order's state."""
        order_id = lenient_segment(request, "order_id")
        raw = await body_bytes(request, MAX_BODY_BYTES)
        body = CommandBody()
        if raw.strip():
            json_required(request)
            body = decode(_BODY, raw, '{"reason": str}')
        msg = Command(order_id=order_id, action=action, reason=body.reason)
        try:
            result: CommandResult = await ask_within(
                self._ask_timeout_s,
                lambda: self._scheduler.ask(msg),
                actor="scheduler",
                who="the scheduler",
                missing=f"no order with id {order_id!r}",
            )
        except DomainError as exc:  # the state machine refused (the store's errors are 503)
            raise ApiError(409, "invalid_transition", f"cannot {action}: {exc}") from exc
        return json_response(CommandAnswer(order_id=result.order_id, state=result.state))


_LIST_PARAMS: Final = (
    Param(
        name="state",
        location="query",
        schema=OrderState,
        description="Only orders in this internal state (any case)",
    ),
    Param(
        name="priority",
        location="query",
        schema=Priority,
        description="Only orders of this priority (any case)",
    ),
    Param(
        name="limit",
        location="query",
        schema=Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)],
        description="Orders per page (default 50)",
    ),
    Param(
        name="cursor",
        location="query",
        schema=str,
        description="`next_cursor` of the previous page",
    ),
)


def _summary(row: OrderRow) -> OrderSummary:
    return OrderSummary(
        order_id=row.order_id,
        shop_id=row.shop_id,
        state=row.state,
        tiktok_status=row.tiktok_status,
        priority=row.priority,
        score=row.score,
        tiktok_update_time=row.tiktok_update_time,
        updated_at_ms=row.updated_at_ms,
    )


def _detail(row: OrderRow, doc: OrderDoc, events: list[OrderEventRow]) -> OrderDetail:
    order = doc.order
    unreadable = doc.unreadable
    return OrderDetail(
        **msgspec.structs.asdict(_summary(row)),
        reasons=[
            ScoreReason(reason=reason, weight=weight) for reason, weight in doc.priority.reasons
        ],
        delivery_type=order.delivery_type,
        rts_sla_time=order.rts_sla_time,
        total_minor=order.total_minor,
        currency=order.currency,
        lines=[
            OrderLine(
                seller_sku=line.seller_sku,
                sku_id=line.sku_id,
                quantity=line.quantity,
                cancelled_quantity=line.cancelled_quantity,
                unit_price_minor=line.unit_price_minor,
                total_minor=line.total_minor,
                currency=order.currency,
            )
            for line in order.lines
        ],
        history=[_event(event) for event in events],
        decisions=doc.decision.log,
        automation=_automation(doc.decision),
        unreadable=None
        if unreadable is None
        else UnreadableSnapshot(reason=unreadable.reason, document=unreadable.document),
    )


def _automation(decision: Decision) -> Automation:
    return Automation(
        hold_for_review=decision.hold_for_review,
        priority=decision.priority,
        priority_rule=decision.priority_rule,
        carrier=decision.carrier,
        service=decision.service,
        tags=decision.tags,
        skip_automation=decision.skip_automation,
        rules_evaluated=decision.rules_evaluated,
    )


def _event(event: OrderEventRow) -> OrderEvent:
    try:
        detail: Any = msgspec.json.decode(event.detail) if event.detail else None
    except msgspec.DecodeError:
        detail = event.detail.decode("utf-8", "replace")
    return OrderEvent(
        seq=event.seq,
        at_ms=event.at_ms,
        kind=event.kind,
        from_state=event.from_state,
        to_state=event.to_state,
        detail=detail,
    )
