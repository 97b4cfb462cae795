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
writer of orders, under a deadline (``ask_timeout_s``). The bearer-token check is the app's.

Paging: ``GET /api/orders?state=&priority=&limit=&cursor=`` answers
``{"orders": [...], "next_cursor": str | null}``, ids ascending. ``next_cursor`` is opaque (the
base64url of the page's last order id, unpadded); pass it back as ``cursor`` for the next page;
``null`` means there is none. ``limit`` defaults to 50, at most 500. Empty parameters count as
absent; ``state`` is an internal state name, ``priority`` HIGH / STANDARD / LOW (any case).

Errors are ``{"error": code, "detail": text}``: 400 ``invalid_parameter`` (with
``"parameter"``) or ``bad_body``, 404 ``not_found``, 405 ``method_not_allowed``, 409
``invalid_transition``, 503 ``store_unavailable`` / ``scheduler_unavailable`` /
``scheduler_timeout`` (with ``Retry-After``). A 503 on a command means "outcome unknown": the
scheduler may still apply it, so read the order before repeating it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Final, Literal
from urllib.parse import parse_qs

import anyio
import msgspec

from creatorflow.actors.order_scheduler import Command, CommandResult, OrderDoc, SchedulerMsg
from creatorflow.domain.state_machine import OrderState
from creatorflow.errors import AdapterError, DomainError, RuntimeFault, WebhookRejected
from creatorflow.ports import OrderEventRow, OrderReader, OrderRow, Priority
from creatorflow.runtime import ActorRef
from creatorflow.web._http import (
    Receive,
    Scope,
    Send,
    read_body,
    require_json,
    respond_error,
    respond_json,
)

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
HISTORY_LIMIT: Final = 1000  # journal entries shown per order (oldest first)
MAX_BODY_BYTES: Final = 8192
Action = Literal["hold", "release", "retry"]
ACTIONS: Final[dict[str, Action]] = {"hold": "hold", "release": "release", "retry": "retry"}
_PREFIX: Final = "/api/orders"
_STATES: Final = frozenset(s.value for s in OrderState)
_PRIORITIES: Final[dict[str, Priority]] = {"HIGH": "HIGH", "STANDARD": "STANDARD", "LOW": "LOW"}
_RETRY_AFTER: Final = ((b"retry-after", b"1"),)


class CommandBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The optional JSON body of a command: why the operator acts (journaled with it)."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


_DOC = msgspec.json.Decoder(OrderDoc)
_BODY = msgspec.json.Decoder(CommandBody)


class BadParameter(ValueError):
    """Raised by the query parsers for a query parameter the API refuses (answered with 400)."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter


def encode_cursor(order_id: str) -> str:
    """The opaque cursor that resumes paging after ``order_id``."""
    return base64.urlsafe_b64encode(order_id.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The order id inside a cursor from :func:`encode_cursor`. Raises BadParameter."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        order_id = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadParameter("cursor", "not a cursor this API returned") from None
    if not order_id:
        raise BadParameter("cursor", "not a cursor this API returned")
    return order_id


class OrdersApi:
    """Handlers of ``/api/orders…``; :meth:`dispatch` routes one request to them."""

    def __init__(
        self,
        *,
        orders: OrderReader,
        scheduler: ActorRef[SchedulerMsg],
        ask_timeout_s: float = 5.0,
    ) -> None:
        self._orders = orders
        self._scheduler = scheduler
        self._ask_timeout_s = ask_timeout_s

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` belongs to this API (so the app sends it to :meth:`dispatch`)."""
        return path == _PREFIX or path.startswith(_PREFIX + "/")

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request whose path :meth:`handles`; 404 / 405 for the rest."""
        method: str = scope["method"]
        path: str = scope["path"]
        parts = path[len(_PREFIX) + 1 :].split("/") if path != _PREFIX else []
        if not parts:
            if method in ("GET", "HEAD"):
                await self.list_orders(scope, send)
            else:
                await _not_allowed(send, method, "GET, HEAD")
        elif len(parts) == 1 and parts[0]:
            if method in ("GET", "HEAD"):
                await self.get_order(parts[0], send)
            else:
                await _not_allowed(send, method, "GET, HEAD")
        elif len(parts) == 2 and parts[0] and parts[1] in ACTIONS:
            if method == "POST":
                await self.command(parts[0], ACTIONS[parts[1]], scope, receive, send)
            else:
                await _not_allowed(send, method, "POST")
        else:
            await respond_error(send, 404, "not_found", f"no route for {method} {path}")

    async def list_orders(self, scope: Scope, send: Send) -> None:
        """``GET /api/orders``: one page of order summaries (see the module docstring)."""
        try:
            state, priority, limit, after = _list_query(scope.get("query_string", b""))
        except BadParameter as exc:
            payload = {"error": "invalid_parameter", "detail": str(exc)}
            await respond_json(send, 400, payload | {"parameter": exc.parameter})
            return
        try:
            # One extra row tells whether another page exists without a count query.
            rows = await self._orders.list_orders(
                state=state,
                priority=priority,
                after=after,
                limit=limit + 1,
            )
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        page = rows[:limit]
        more = len(rows) > limit
        await respond_json(
            send,
            200,
            {
                "orders": [_summary(row) for row in page],
                "next_cursor": encode_cursor(page[-1].order_id) if more else None,
            },
        )

    async def get_order(self, order_id: str, send: Send) -> None:
        """``GET /api/orders/{id}``: the order with its priority, lines, history and decisions."""
        try:
            row = await self._orders.get_order(order_id)
            events = [] if row is None else await self._orders.order_events(order_id, HISTORY_LIMIT)
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        if row is None:
            await respond_error(send, 404, "not_found", f"no order with id {order_id!r}")
            return
        await respond_json(send, 200, _detail(row, _DOC.decode(row.doc), events))

    async def command(
        self, order_id: str, action: Action, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """``POST /api/orders/{id}/{hold|release|retry}``: ask the scheduler, answer its state."""
        try:
            raw = await read_body(scope, receive, MAX_BODY_BYTES)
            if raw.strip():
                require_json(scope)
            body = _BODY.decode(raw) if raw.strip() else CommandBody()
        except WebhookRejected as exc:
            await respond_error(send, exc.status, exc.code, exc.detail)
            return
        except msgspec.DecodeError as exc:
            await respond_error(send, 400, "bad_body", f'expected {{"reason": str}}: {exc}')
            return
        msg = Command(order_id=order_id, action=action, reason=body.reason)
        try:
            with anyio.fail_after(self._ask_timeout_s):
                result: CommandResult = await self._scheduler.ask(msg)
        except KeyError:
            await respond_error(send, 404, "not_found", f"no order with id {order_id!r}")
            return
        except DomainError as exc:
            await respond_error(send, 409, "invalid_transition", f"cannot {action}: {exc}")
            return
        except TimeoutError:
            detail = f"the scheduler did not answer within {self._ask_timeout_s} s"
            await respond_error(send, 503, "scheduler_timeout", detail, _RETRY_AFTER)
            return
        except AdapterError as exc:
            # The store could not write the change (down, or refused it).
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        except RuntimeFault as exc:
            # ActorStopped / ActorCrashed.
            await respond_error(send, 503, "scheduler_unavailable", str(exc), _RETRY_AFTER)
            return
        await respond_json(send, 200, {"order_id": result.order_id, "state": result.state})


def _list_query(query_string: bytes) -> tuple[str | None, Priority | None, int, str | None]:
    """``(state, priority, limit, after)`` from the query string. Raises BadParameter."""
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=False)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[-1] if values else None

    state = one("state")
    if state is not None:
        state = state.lower()
        if state not in _STATES:
            raise BadParameter("state", f"must be one of {', '.join(sorted(_STATES))}")
    priority: Priority | None = None
    given = one("priority")
    if given is not None:
        priority = _PRIORITIES.get(given.upper())
        if priority is None:
            raise BadParameter("priority", "must be one of HIGH, STANDARD, LOW")
    limit = DEFAULT_LIMIT
    given = one("limit")
    if given is not None:
        try:
            limit = int(given)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise BadParameter("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    cursor = one("cursor")
    after = None if cursor is None else decode_cursor(cursor)
    return state, priority, limit, after


def _summary(row: OrderRow) -> dict[str, Any]:
    return {
        "order_id": row.order_id,
        "shop_id": row.shop_id,
        "state": row.state,
        "tiktok_status": row.tiktok_status,
        "priority": row.priority,
        "score": row.score,
        "tiktok_update_time": row.tiktok_update_time,
        "updated_at_ms": row.updated_at_ms,
    }


def _detail(row: OrderRow, doc: OrderDoc, events: list[OrderEventRow]) -> dict[str, Any]:
    order = doc.order
    decision: dict[str, Any] = msgspec.to_builtins(doc.decision)
    return _summary(row) | {
        "reasons": [
            {"reason": reason, "weight": weight} for reason, weight in doc.priority.reasons
        ],
        "delivery_type": str(order.delivery_type),
        "rts_sla_time": order.rts_sla_time,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "lines": [
            {
                "seller_sku": line.seller_sku,
                "sku_id": line.sku_id,
                "quantity": line.quantity,
                "cancelled_quantity": line.cancelled_quantity,
                "unit_price_minor": line.unit_price_minor,
                "total_minor": line.total_minor,
                "currency": order.currency,
            }
            for line in order.lines
        ],
        "history": [_event(event) for event in events],
        "decisions": decision.pop("log"),
        "automation": decision,
        "unreadable": None
        if doc.unreadable is None
        else {
            "reason": doc.unreadable.reason,
            "document": msgspec.json.decode(doc.unreadable.document),
        },
    }


def _event(event: OrderEventRow) -> dict[str, Any]:
    try:
        detail: Any = msgspec.json.decode(event.detail) if event.detail else None
    except msgspec.DecodeError:
        detail = event.detail.decode("utf-8", "replace")
    return {
        "seq": event.seq,
        "at_ms": event.at_ms,
        "kind": event.kind,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "detail": detail,
    }


async def _not_allowed(send: Send, method: str, allow: str) -> None:
    await respond_error(
        send,
        405,
        "method_not_allowed",
        f"{method} not allowed here (allowed: {allow})",
        ((b"allow", allow.encode()),),
    )
