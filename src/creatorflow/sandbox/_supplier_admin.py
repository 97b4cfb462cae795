"""Admin endpoints of the sandbox supplier (under ``/_admin``); never subject to faults.

========  ========================  ======================================================
GET       /_admin/orders            ``{"count", "forgotten", "orders"}``, oldest first;
                                    ``?state=delivered&sku=S&limit=N`` (the newest N)
GET       /_admin/orders/{po_id}    one order, with ``confirmed_at_ms`` and ``shipped_at_ms``
GET       /_admin/calls             API calls received, oldest first (``?limit=N``: newest N)
GET|POST  /_admin/faults            the fault plan; POST changes the given fields
                                    (``{"reset": true, ...}`` starts from a clean plan)
GET|POST  /_admin/clock             ``{"now_ms", "offset_ms"}``; POST ``{"advance_s": N}``
                                    moves the sandbox clock forward (orders move with it)
POST      /_admin/reset             forget orders and calls, the configured fault plan again,
                                    clock offset back to 0
========  ========================  ======================================================

Answers are JSON; errors are ``{"error", "detail"}``. A bearer token is required when the
sandbox has an ``admin_token``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.web._http import Receive, Scope, Send, read_body, respond_error, respond_json

if TYPE_CHECKING:
    from creatorflow.sandbox.supplier import SupplierSandbox


class ClockBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    advance_s: float


async def handle_admin(
    sandbox: SupplierSandbox, parts: list[str], scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one admin request; ``parts`` is the path after ``/_admin``, split on ``/``."""
    method: str = scope["method"]
    try:
        body = await read_body(scope, receive, sandbox.config.max_body_bytes)
        await _dispatch(sandbox, method, parts, scope, body, send)
    except WebhookRejected as exc:
        await respond_error(send, exc.status, exc.code, exc.detail)
    except msgspec.ValidationError as exc:
        await respond_error(send, 400, "invalid_body", str(exc))
    except msgspec.DecodeError as exc:
        await respond_error(send, 400, "invalid_json", str(exc))
    except ValueError as exc:
        await respond_error(send, 400, "invalid_request", str(exc))


async def _dispatch(
    sandbox: SupplierSandbox, method: str, parts: list[str], scope: Scope, body: bytes, send: Send
) -> None:
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    book = sandbox.book
    match method, parts:
        case "GET", ["orders"]:
            orders = [book.render(order, admin=True) for order in book.orders()]
            if "state" in query:
                orders = [o for o in orders if o["state"] == query["state"]]
            if "sku" in query:
                orders = [o for o in orders if o["sku"] == query["sku"]]
            limit = int(query.get("limit", "0") or 0)
            view = {
                "count": len(book),
                "forgotten": book.forgotten,
                "orders": _newest(orders, limit),
            }
            await respond_json(send, 200, view)
        case "GET", ["orders", po_id]:
            order = book.get(po_id)
            if order is None:
                await respond_error(send, 404, "not_found", f"no purchase order {po_id!r}")
                return
            await respond_json(send, 200, book.render(order, admin=True))
        case "GET", ["calls"]:
            limit = int(query.get("limit", "0") or 0)
            await respond_json(send, 200, {"calls": _newest(list(sandbox.calls), limit)})
        case "GET", ["faults"]:
            await respond_json(send, 200, sandbox.faults.snapshot())
        case "POST", ["faults"]:
            changes: dict[str, Any] = msgspec.json.decode(body or b"{}", type=dict[str, Any])
            sandbox.faults.update(changes)
            await respond_json(send, 200, sandbox.faults.snapshot())
        case "GET", ["clock"]:
            await respond_json(send, 200, _clock_view(sandbox))
        case "POST", ["clock"]:
            sandbox.clock.advance(msgspec.json.decode(body, type=ClockBody).advance_s)
            await respond_json(send, 200, _clock_view(sandbox))
        case "POST", ["reset"]:
            sandbox.reset()
            await respond_json(send, 200, {"reset": True})
        case _:
            await respond_error(
                send, 404, "not_found", f"no admin route {method} /_admin/{'/'.join(parts)}"
            )


def _newest(items: list[Any], limit: int) -> list[Any]:
    return items[-limit:] if limit > 0 else items


def _clock_view(sandbox: SupplierSandbox) -> dict[str, int]:
    return {"now_ms": sandbox.clock.now_ms(), "offset_ms": sandbox.clock.offset_ms}
