"""The ASGI application: routes, bearer-token check, health, metrics.

Routes (DESIGN §5):

=======  =============================  =============================================
POST     /webhooks/tiktok               signed TikTok Shop push (see ``webhooks.py``)
GET      /healthz                       process alive
GET      /readyz                        ready to accept (store reachable, tree running)
GET      /metrics                       Prometheus text format
GET      /status                        aggregated health: ok / degraded / down per component
GET      /api/webhooks/{notification}   what became of one webhook (bearer token)
*        /api/orders…                   the orders API, see ``orders.py`` (bearer token)
*        /api/inventory…, /api/purchase-orders, /api/content-metrics
                                        the inventory API, see ``inventory.py`` (bearer token)
POST     /api/tiktok/authorize      connect a seller with a TikTok auth code (bearer token)
*        /sandbox/tiktok…               the built-in sandbox TikTok Shop (when mounted)
=======  =============================  =============================================

Server-agnostic: uvicorn and hypercorn both run it (``server.py``).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import msgspec

from creatorflow.errors import AdapterError
from creatorflow.metrics import CONTENT_TYPE, Metrics
from creatorflow.ports import InboxReader
from creatorflow.web._http import (
    Message,
    Receive,
    Scope,
    Send,
    header,
    respond,
    respond_error,
    respond_json,
)
from creatorflow.web.inventory import InventoryApi
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.orders import OrdersApi
from creatorflow.web.webhooks import WebhookEndpoint

log = logging.getLogger("creatorflow.web")

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]
StatusCheck = Callable[[], Awaitable[tuple[str, dict[str, Any]]]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

_READY_TIMEOUT_S = 2.0


class ApiPart(Protocol):
    """A group of ``/api`` routes with its own dispatch (the orders API, the inventory API)."""

    def handles(self, path: str) -> bool:
        """Whether ``path`` belongs to this group."""
        ...

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request whose path :meth:`handles` (404 / 405 for the rest)."""
        ...


class CreatorFlowApp:
    """Raw ASGI app; ``__call__`` dispatches on (method, path)."""

    def __init__(
        self,
        *,
        webhooks: WebhookEndpoint,
        inbox: InboxReader,
        metrics: Metrics,
        lifecycle: Lifecycle,
        readiness: ReadinessCheck,
        status: StatusCheck,
        api_token: str,
        orders: OrdersApi | None = None,
        inventory: InventoryApi | None = None,
        mounts: Mapping[str, Handler] | None = None,
        authorize: Handler | None = None,
        api_parts: Sequence[ApiPart] = (),
        api_routes: Mapping[tuple[str, str], Handler] | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._inbox = inbox
        self._metrics = metrics
        self._lifecycle = lifecycle
        self._readiness = readiness
        self._status = status
        # Groups of /api routes (orders, inventory …): the first that handles a path serves it.
        self._parts: tuple[ApiPart, ...] = (
            *(part for part in (orders, inventory) if part is not None),
            *api_parts,
        )
        # Other ASGI apps served under a path prefix (the built-in sandboxes).
        self._mounts = tuple((mounts or {}).items())
        self._token = api_token.encode() if api_token else b""
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/webhooks/tiktok"): webhooks,
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics_route,
            ("GET", "/status"): self._status_route,
        }
        routes = dict(api_routes or {})
        if authorize is not None:
            routes[("POST", "/api/tiktok/authorize")] = authorize
        for route, handler in routes.items():
            self._routes[route] = self._guarded(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        handler = self._routes.get((method, path))
        if handler is not None:
            await handler(scope, receive, send)
            return
        if method == "HEAD" and (handler := self._routes.get(("GET", path))) is not None:
            await handler(scope, receive, _without_body(send))  # the GET's headers, no body
            return
        for prefix_, mounted in self._mounts:
            if path == prefix_ or path.startswith(prefix_ + "/"):
                await mounted(scope, receive, send)
                return
        if path.startswith("/api/"):
            if method == "HEAD":
                send = _without_body(send)  # GET routes answer HEAD: their headers only
            if not self._authorized(scope):
                await _unauthorized(send)
                return
            prefix = "/api/webhooks/"
            if path.startswith(prefix) and method == "GET" and len(path) > len(prefix):
                await self._webhook_status(path[len(prefix) :], send)
                return
            for part in self._parts:
                if part.handles(path):
                    await part.dispatch(scope, receive, send)
                    return
        allowed = sorted({m for (m, p) in self._routes if p == path})
        if allowed:
            if "GET" in allowed:
                allowed.append("HEAD")
            await respond_error(
                send,
                405,
                "method_not_allowed",
                f"{method} not allowed on {path}",
                ((b"allow", ", ".join(allowed).encode()),),
            )
        else:
            await respond_error(send, 404, "not_found", f"no route for {method} {path}")

    def _guarded(self, handler: Handler) -> Handler:
        """``handler`` behind the bearer-token check of ``/api``."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if not self._authorized(scope):
                await _unauthorized(send)
                return
            await handler(scope, receive, send)

        return guarded

    def _authorized(self, scope: Scope) -> bool:
        if not self._token:
            return True  # loopback-only deployments may run without a token (checked at start)
        given = header(scope, b"authorization") or b""
        scheme, _, credentials = given.strip().partition(b" ")
        # The scheme is case-insensitive (RFC 9110 §11.1); the token itself is not.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond_json(send, 200, {"status": "alive"})

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        checks: dict[str, str] = {}
        ok = self._lifecycle.accepting
        checks["tree"] = "running" if self._lifecycle.ready else "starting"
        if self._lifecycle.draining:
            checks["tree"] = "draining"
        try:
            with anyio.fail_after(_READY_TIMEOUT_S):
                checks.update(await self._readiness())
        except (AdapterError, TimeoutError) as exc:
            ok = False
            checks["store"] = f"unreachable: {exc}"
        await respond_json(send, 200 if ok else 503, {"ready": ok, "checks": checks})

    async def _status_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        overall, document = await self._status()
        await respond_json(send, 503 if overall == "down" else 200, document)

    async def _metrics_route(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(send, 200, self._metrics.render(), CONTENT_TYPE.encode())

    async def _webhook_status(self, notification_id: str, send: Send) -> None:
        try:
            status = await self._inbox.get_inbox(notification_id)
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc))
            return
        if status is None:
            await respond_error(
                send, 404, "not_found", f"no webhook with notification id {notification_id!r}"
            )
            return
        payload: dict[str, Any] = msgspec.to_builtins(status)
        await respond_json(send, 200, payload)


async def _unauthorized(send: Send) -> None:
    await respond_error(
        send,
        401,
        "unauthorized",
        "a valid Authorization: Bearer token is required",
        ((b"www-authenticate", b"Bearer"),),
    )


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the response's status and headers, an empty body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            more = message.get("more_body", False)
            message = {"type": "http.response.body", "body": b"", "more_body": more}
        await send(message)

    return send_head


async def _lifespan(receive: Receive, send: Send) -> None:
    # The actor tree is started by the composition root, not by the server's lifespan.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
