"""Sandbox supplier: a raw-ASGI app that takes purchase orders like a supplier's JSON API would.

API (every call needs ``Authorization: Bearer <api_key>``, else 401)::

    POST /v1/purchase-orders          Idempotency-Key: <po_id>     {"po_id", "sku", "qty"}
        201 {order}   created
        200 {order}   the same po_id again with the same sku and qty: the stored order,
                      unchanged (never a second order)
        400 invalid_json | missing_idempotency_key | idempotency_key_mismatch (header != po_id)
        409 idempotency_conflict   the po_id is known with another sku or qty
        413 too_large              body over ``max_body_bytes``
        422 invalid_order (po_id not 1-128 of [A-Za-z0-9._:-], empty sku, qty outside
            [1, max_qty]) | unknown_sku (a catalog is configured and lacks the SKU)
        507 book_full              ``max_orders`` orders stored and none finished
    GET /v1/purchase-orders/{po_id}
        200 {order}   | 404 not_found

    {order} = {"po_id", "supplier_ref", "sku", "qty", "state", "created_at_ms",
               "expected_at_ms", "delivered_qty", "reason"}

``state`` follows the sandbox clock: ``accepted`` → ``confirmed`` (after ``confirm_after_s``)
→ ``shipped`` (the last ``transit_s``, if any) → ``delivered`` at ``expected_at_ms`` (created +
the SKU's lead time), when ``delivered_qty`` becomes ``qty``. A SKU in ``reject_skus`` gives an
order that is ``rejected`` at once, with a ``reason`` and ``expected_at_ms`` 0. Errors are
``{"error", "detail"}``; injected faults (see ``_supplier_faults``) answer 429 / 500 / 503 with
the same shape, ``Retry-After`` on 429 and 503. Admin endpoints live under ``/_admin`` (see
``_supplier_admin``): faults, clock, orders, calls, reset.

Deterministic given ``config.seed``, the call sequence and the injected wall clock. State is
bounded: ``max_orders`` orders, a ring of ``max_calls`` calls, ``max_body_bytes`` per body.
"""

from __future__ import annotations

import hmac
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.ports import Clock, SystemClock
from creatorflow.sandbox._supplier_admin import handle_admin
from creatorflow.sandbox._supplier_config import (
    MAX_ID_LEN,
    PO_ID_CHARS,
    SupplierFaultConfig,
    SupplierSandboxConfig,
)
from creatorflow.sandbox._supplier_faults import SupplierFaults
from creatorflow.sandbox._supplier_orders import BookFull, Conflict, OrderBook, ShiftedClock
from creatorflow.web._http import (
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond_error,
    respond_json,
)

#: The purchase-order collection of the API.
ORDERS_PATH: Final = "/v1/purchase-orders"
#: Where the admin endpoints live.
ADMIN_PREFIX: Final = "/_admin"

SleepFn = Callable[[float], Awaitable[None]]


class PlaceBody(msgspec.Struct, frozen=True):
    """Body of ``POST /v1/purchase-orders`` (unknown fields are ignored)."""

    po_id: str
    sku: str
    qty: int


class _Refused(Exception):
    """An error answer, raised below the router and sent by it."""

    def __init__(
        self, status: int, code: str, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers


class SupplierSandbox:
    """The sandbox supplier as an ASGI app; also driven in-process (``httpx.ASGITransport``).

    Args:
        config: API key, life-cycle times, bounds, initial faults.
        clock: underlying wall clock (``now_ms``); the sandbox adds its own forward offset
            (:attr:`clock`, moved by ``POST /_admin/clock``). Tests may pass a fake.
        sleep: how injected latency and delayed lost answers wait (default ``anyio.sleep``).
    """

    def __init__(
        self,
        config: SupplierSandboxConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: SleepFn | None = None,
    ) -> None:
        self.config = config = config or SupplierSandboxConfig()
        self.clock = ShiftedClock(clock or SystemClock())
        self._sleep: SleepFn = sleep or anyio.sleep
        self.book = OrderBook(config, self.clock)
        self.faults = SupplierFaults(config.faults, self.clock, config.seed)
        #: API calls received, oldest first (bounded ring of ``max_calls``).
        self.calls: deque[dict[str, Any]] = deque(maxlen=config.max_calls)
        self._api_auth = f"Bearer {config.api_key}".encode()
        self._admin_auth = f"Bearer {config.admin_token}".encode() if config.admin_token else b""

    # ------------------------------------------------------------------ in-process API

    def set_faults(self, plan: SupplierFaultConfig) -> None:
        """Put a new fault plan in force (its bursts and outage start now)."""
        self.faults.apply(plan)

    def advance(self, seconds: float) -> None:
        """Move the sandbox clock forward (orders move along their life cycle)."""
        self.clock.advance(seconds)

    def reset(self) -> None:
        """Forget orders and calls; the configured fault plan again; clock offset 0."""
        self.book.clear()
        self.calls.clear()
        self.faults.reset(self.config.faults)
        self.clock.offset_ms = 0

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/"):
            if self._admin_auth and not _same(header(scope, b"authorization"), self._admin_auth):
                await respond_error(
                    send, 401, "unauthorized", "admin bearer token required",
                    ((b"www-authenticate", b"Bearer"),),
                )  # fmt: skip
                return
            parts = path[len(ADMIN_PREFIX) :].strip("/").split("/")
            await handle_admin(self, parts, scope, receive, send)
            return
        await self._api_call(scope, receive, send, path)

    async def _api_call(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method: str = scope["method"]
        key_header = header(scope, b"idempotency-key")
        key = None if key_header is None else key_header.decode("latin-1")
        extra: tuple[tuple[bytes, bytes], ...] = ()
        try:
            try:
                body = await read_body(scope, receive, self.config.max_body_bytes)
            except WebhookRejected as exc:
                raise _Refused(exc.status, exc.code, exc.detail) from None
            if (delay := self.faults.latency_s()) > 0:
                await self._sleep(delay)
            injected = self.faults.before_call()
            if injected is not None:
                raise _Refused(*injected)
            status, payload = self._handle(scope, method, path, key, body)
        except _Refused as exc:
            status, extra = exc.status, exc.headers
            payload = {"error": exc.code, "detail": exc.detail}
        lost = method == "POST" and status in (200, 201) and self.faults.lose_answer()
        self.calls.append(
            {"method": method, "path": path, "idempotency_key": key, "status": status,
             "lost": lost, "time_ms": self.clock.now_ms()}
        )  # fmt: skip
        if lost:
            if self.faults.plan.lost_response_delay_s > 0:
                await self._sleep(self.faults.plan.lost_response_delay_s)
            await respond_error(send, 500, "internal", "internal error (sandbox lost the answer)")
            return
        if status >= 400:
            await respond_error(send, status, payload["error"], payload["detail"], extra)
        else:
            await respond_json(send, status, payload)

    def _handle(
        self, scope: Scope, method: str, path: str, key: str | None, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if not _same(header(scope, b"authorization"), self._api_auth):
            raise _Refused(
                401, "unauthorized", "Authorization: Bearer <api key> required",
                ((b"www-authenticate", b"Bearer"),),
            )  # fmt: skip
        if path.rstrip("/") == ORDERS_PATH:
            if method != "POST":
                raise _Refused(
                    405, "method_not_allowed", f"{method} {path}", ((b"allow", b"POST"),)
                )
            return self._place(key, body)
        if path.startswith(ORDERS_PATH + "/") and "/" not in path[len(ORDERS_PATH) + 1 :]:
            if method != "GET":
                raise _Refused(405, "method_not_allowed", f"{method} {path}", ((b"allow", b"GET"),))
            po_id = path[len(ORDERS_PATH) + 1 :]
            order = self.book.get(po_id)
            if order is None:
                raise _Refused(404, "not_found", f"no purchase order {po_id!r}")
            return 200, self.book.render(order)
        raise _Refused(404, "not_found", f"no route {method} {path}")

    def _place(self, key: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            order = msgspec.json.decode(body, type=PlaceBody)
        except msgspec.ValidationError as exc:
            raise _Refused(422, "invalid_order", str(exc)) from None
        except msgspec.DecodeError as exc:
            raise _Refused(400, "invalid_json", str(exc)) from None
        if not key:
            raise _Refused(400, "missing_idempotency_key", "Idempotency-Key: <po_id> required")
        if key != order.po_id:
            raise _Refused(400, "idempotency_key_mismatch", "Idempotency-Key must equal po_id")
        config = self.config
        if not 0 < len(order.po_id) <= MAX_ID_LEN or not set(order.po_id) <= PO_ID_CHARS:
            raise _Refused(422, "invalid_order", "po_id must be 1-128 of [A-Za-z0-9._:-]")
        if not 0 < len(order.sku) <= MAX_ID_LEN:
            raise _Refused(422, "invalid_order", "sku must be 1-128 characters")
        if not 1 <= order.qty <= config.max_qty:
            raise _Refused(422, "invalid_order", f"qty must be within [1, {config.max_qty}]")
        if config.catalog and order.sku not in config.catalog:
            raise _Refused(422, "unknown_sku", f"sku {order.sku!r} is not supplied")
        try:
            stored, created = self.book.place(order.po_id, order.sku, order.qty)
        except Conflict as exc:
            raise _Refused(409, "idempotency_conflict", str(exc)) from None
        except BookFull as exc:
            raise _Refused(507, "book_full", str(exc)) from None
        return (201 if created else 200), self.book.render(stored)


def _same(given: bytes | None, expected: bytes) -> bool:
    return given is not None and hmac.compare_digest(given, expected)


async def _lifespan(receive: Receive, send: Send) -> None:
    # Nothing runs in the background; answer the server's lifespan protocol and return.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = [
    "ADMIN_PREFIX",
    "ORDERS_PATH",
    "SupplierFaultConfig",
    "SupplierSandbox",
    "SupplierSandboxConfig",
]
