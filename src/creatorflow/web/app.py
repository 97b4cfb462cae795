"""The ASGI root: the hot routes in raw ASGI, the sandboxes, then the ``/api`` app.

Routes (DESIGN §5):

=======  =============================  =============================================
POST     /webhooks/tiktok               signed TikTok Shop push (see ``webhooks.py``)
GET      /healthz                       process alive
GET      /readyz                        ready to accept (store reachable, tree running)
GET      /metrics                       Prometheus text format
GET      /status                        aggregated health: ok / degraded / down per component
*        /sandbox/…                     the built-in sandboxes (when mounted)
*        /api/…                         the API (Starlette, ``web/api``; bearer token)
=======  =============================  =============================================

The hot routes are one dict lookup on ``(method, path)``: a webhook never reaches Starlette.
Server-agnostic: uvicorn and hypercorn both run it (``server.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from creatorflow.errors import AdapterError
from creatorflow.metrics import CONTENT_TYPE, Metrics
from creatorflow.web._http import (
    Receive,
    Scope,
    Send,
    respond,
    respond_error,
    respond_json,
    without_body,
)
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.webhooks import WebhookEndpoint

log = logging.getLogger("creatorflow.web")

ReadinessCheck = Callable[[], Awaitable[dict[str, str]]]
StatusCheck = Callable[[], Awaitable[tuple[str, dict[str, Any]]]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

_READY_TIMEOUT_S = 2.0


class CreatorFlowApp:
    """Raw ASGI app; ``__call__`` dispatches on (method, path)."""

    def __init__(
        self,
        *,
        webhooks: WebhookEndpoint,
        metrics: Metrics,
        lifecycle: Lifecycle,
        readiness: ReadinessCheck,
        status: StatusCheck,
        api: Handler | None = None,
        mounts: Mapping[str, Handler] | None = None,
    ) -> None:
        self._webhooks = webhooks
        self._metrics = metrics
        self._lifecycle = lifecycle
        self._readiness = readiness
        self._status = status
        # Every path under /api/ (``web.api.build_api``); None: those paths are 404.
        self._api = api
        # Other ASGI apps served under a path prefix (the built-in sandboxes).
        self._mounts = tuple((mounts or {}).items())
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/webhooks/tiktok"): webhooks,
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics_route,
            ("GET", "/status"): self._status_route,
        }

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
            await handler(scope, receive, without_body(send))  # the GET's headers, no body
            return
        for prefix_, mounted in self._mounts:
            if path == prefix_ or path.startswith(prefix_ + "/"):
                await mounted(scope, receive, send)
                return
        if self._api is not None and path.startswith("/api/"):
            await self._api(scope, receive, send)
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


async def _lifespan(receive: Receive, send: Send) -> None:
    # The actor tree is started by the composition root, not by the server's lifespan.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
