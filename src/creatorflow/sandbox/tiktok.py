"""Sandbox TikTok Shop: a raw-ASGI app that behaves like the real Open API for what we use.

Serves (signed, verified like the real gateway, real envelope and error codes):
``GET /authorization/202309/shops``, ``GET /order/202309/orders?ids=…`` (≤ 50),
``POST /order/202309/orders/search``, ``POST /fulfillment/202309/packages/{id}/ship``,
``POST /fulfillment/202309/packages/ship``, ``POST /fulfillment/202309/orders/{id}/packages``,
``GET /fulfillment/202309/packages/{id}``, ``GET /fulfillment/202309/orders/{id}/tracking``,
``POST /product/202309/products/{id}/inventory/update``,
``GET /logistics/202309/warehouses/{id}/delivery_options``,
``GET /logistics/202309/delivery_options/{id}/shipping_providers``, and the token endpoints
``GET /api/v2/token/get`` / ``/api/v2/token/refresh``.

Shipping (``_tiktok_shipping``): the shop's region (``config.shop_region``, default US) picks
the call: Mark Package As Shipped in US/EMEA/JP (21008106 elsewhere), Ship Package anywhere.
Either moves a fully shipped order to AWAITING_COLLECTION with its signed webhook; IN_TRANSIT
and DELIVERED follow only when driven (``set_status`` or ``POST /sandbox/tiktok/orders/{id}/
status``, e.g. from the carrier trackers). Admin endpoints live under
``/sandbox/tiktok`` (see ``_tiktok_admin``). Mounted under ``/sandbox/tiktok`` (the API paths
then follow the prefix, e.g. ``/sandbox/tiktok/order/202309/orders``) it still works: the prefix
is stripped before the signature check, since clients sign the API path only.

Deterministic given ``config.seed`` and the injected wall clock: ids, generated orders, tokens,
faults and the CANCEL spelling each draw from their own seeded generator. State is bounded
(``max_orders``, ``max_calls`` ring, ``max_tokens``, the webhook outbox).

Webhooks are delivered by :meth:`TikTokSandbox.run` (or the ASGI lifespan when a server runs
the app, or :func:`open_tiktok_sandbox`). Without a running sender they wait in the outbox.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio
import anyio.abc
import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.ports import Clock, SystemClock
from creatorflow.sandbox._tiktok_admin import handle_admin, random_order_spec
from creatorflow.sandbox._tiktok_api import ApiRequest, ShopApi
from creatorflow.sandbox._tiktok_auth import Tokens, verify_call
from creatorflow.sandbox._tiktok_config import FaultConfig, TikTokSandboxConfig, clock_seed
from creatorflow.sandbox._tiktok_faults import Faults
from creatorflow.sandbox._tiktok_order import OrderSpec
from creatorflow.sandbox._tiktok_orders import OrderBook, StatusStep
from creatorflow.sandbox._tiktok_webhooks import DeliverFn, SleepFn, WebhookSender
from creatorflow.sandbox._tiktok_wire import (
    BODY_TOO_LARGE,
    INVALID_METHOD,
    INVALID_PATH,
    ApiError,
    envelope,
)
from creatorflow.web._http import JSON, Receive, Scope, Send, header, read_body, respond

#: Where the admin endpoints live (and the prefix stripped when the sandbox is mounted).
PREFIX: Final = "/sandbox/tiktok"
_ADMIN: Final = frozenset({"orders", "calls", "faults", "generate", "tokens", "webhooks"})


class TikTokSandbox:
    """The sandbox shop as an ASGI app; also driven in-process (``httpx.ASGITransport``).

    Args:
        config: shop, credentials, bounds, webhook target, faults.
        clock: wall clock (``now_ms``); tests pass a fake to move through outages and expiries.
        sleep: how latency and webhook retry delays wait (default ``anyio.sleep``).
        deliver: where webhooks go instead of ``config.webhook_url`` (e.g. into an in-process
            app); returns the HTTP status, raising counts as a failed attempt.
    """

    def __init__(
        self,
        config: TikTokSandboxConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: SleepFn | None = None,
        deliver: DeliverFn | None = None,
    ) -> None:
        self.config = config = config or TikTokSandboxConfig()
        self.clock = clock or SystemClock()
        self._sleep: SleepFn = sleep or anyio.sleep
        self._gen_rng = random.Random(f"generate:{config.seed}")
        self.book = OrderBook(config, self.clock, random.Random(f"orders:{config.seed}"))
        self.faults = Faults(config.faults, self.clock, config.seed)
        self.tokens = Tokens(config, self.clock, config.seed)
        self.webhooks = WebhookSender(config, self.faults, self.clock, self._sleep, deliver)
        self.api = ShopApi(config, self.book, self.tokens)
        #: API calls received, oldest first (bounded ring of ``max_calls``).
        self.calls: deque[dict[str, Any]] = deque(maxlen=config.max_calls)
        self._admin_auth = f"Bearer {config.admin_token}".encode() if config.admin_token else b""
        self._requests = 0
        self._running = False

    # ------------------------------------------------------------------ in-process API

    async def create_order(self, spec: OrderSpec | dict[str, Any]) -> str:
        """Create an order (one line item per unit) and queue its webhooks; its id.

        Waits only when the webhook outbox is full. Raises ``ValueError`` for a bad spec.
        """
        if isinstance(spec, dict):
            spec = msgspec.convert(spec, OrderSpec)
        order, steps = self.book.create(spec)
        await self.webhooks.enqueue(steps)
        return order.id

    async def set_status(self, order_id: str, status: str) -> list[StatusStep]:
        """Move an order (forward, or to CANCELLED) and queue a webhook per status passed.

        Raises:
            KeyError: no such order.
            ValueError: the move is not allowed.
        """
        steps = self.book.move(order_id, status)
        await self.webhooks.enqueue(steps)
        return steps

    async def generate_orders(self, count: int, *, seed: int | None = None) -> list[str]:
        """Create ``count`` realistic orders for load tests (same seed → same orders)."""
        if not 0 <= count <= self.config.max_generate:
            raise ValueError(f"count must be within [0, {self.config.max_generate}]")
        rng = self._gen_rng if seed is None else random.Random(f"generate:{seed}")
        return [await self.create_order(random_order_spec(rng)) for _ in range(count)]

    def set_faults(self, plan: FaultConfig) -> None:
        """Put a new fault plan in force (its burst and outage start now)."""
        self.faults.apply(plan)

    async def wait_webhooks_idle(self) -> None:
        """Block until every queued webhook was delivered, dropped or given up."""
        await self.webhooks.wait_idle()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the webhook sender until cancelled (start it with ``tg.start(sandbox.run)``).

        Raises:
            RuntimeError: it is already running.
        """
        if self._running:
            raise RuntimeError("the sandbox's webhook sender is already running")
        self._running = True
        try:
            await self.webhooks.run(task_status=task_status)
        finally:
            self._running = False

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == PREFIX or path.startswith(PREFIX + "/"):
            rest = path[len(PREFIX) :] or "/"
            if rest.strip("/").split("/")[0] in _ADMIN:
                if self._admin_auth and header(scope, b"authorization") != self._admin_auth:
                    await respond(
                        send, 401, b'{"error":"unauthorized","detail":"bearer token required"}',
                        JSON, ((b"www-authenticate", b"Bearer"),),
                    )  # fmt: skip
                    return
                await handle_admin(self, rest, scope, receive, send)
                return
            path = rest
        await self._api_call(scope, receive, send, path)

    async def _api_call(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        method: str = scope["method"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), True))
        self._requests += 1
        request_id = f"{self.clock.now_ms()}{self._requests:010d}SBX"
        steps: list[StatusStep] = []
        extra: tuple[tuple[bytes, bytes], ...] = ()
        body = b""
        try:
            try:
                body = await read_body(scope, receive, self.config.max_body_bytes)
            except WebhookRejected as exc:
                raise ApiError(exc.status, BODY_TOO_LARGE, exc.detail) from None
            if (delay := self.faults.latency_s()) > 0:
                await self._sleep(delay)
            fault = self.faults.api_fault()
            if fault is not None:
                raise fault
            data, steps = self._handle(scope, method, path, query, body)
            status, code, payload = 200, 0, envelope(request_id, data)
        except ApiError as exc:
            status, code, extra = exc.status, exc.code, exc.headers
            payload = envelope(request_id, code=exc.code, message=exc.message)
        self._record(method, path, query, body, status, code)
        if steps:
            await self.webhooks.enqueue(steps)
        await respond(send, status, payload, JSON, extra)

    def _handle(
        self, scope: Scope, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[dict[str, Any], list[StatusStep]]:
        allowed = False
        for route_method, pattern, handler, signed, shop_scoped in self.api.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            if signed:
                token = header(scope, b"x-tts-access-token")
                verify_call(
                    self.config, self.tokens, self.clock.now_ms() // 1000, path, query, body,
                    token.decode("latin-1") if token else None, shop_scoped,
                )  # fmt: skip
            return handler(ApiRequest(match.groupdict(), query, body))
        if allowed:
            raise ApiError(405, INVALID_METHOD, f"Invalid method {method} for {path}")
        raise ApiError(404, INVALID_PATH, f"Invalid path {path}")

    def _record(
        self, method: str, path: str, query: dict[str, str], body: bytes, status: int, code: int
    ) -> None:
        decoded: Any = None
        if body:
            try:
                decoded = msgspec.json.decode(body)
            except msgspec.DecodeError:
                decoded = body.decode("utf-8", "replace")
        self.calls.append(
            {"method": method, "path": path, "query": query, "body": decoded,
             "time_ms": self.clock.now_ms(), "status": status, "code": code}
        )  # fmt: skip

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Under a server (``creatorflow sandbox tiktok``) the lifespan owns the sender's task.
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with anyio.create_task_group() as tg:
            if not self._running:
                await tg.start(self.run)
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
            tg.cancel_scope.cancel()
        await send({"type": "lifespan.shutdown.complete"})


@asynccontextmanager
async def open_tiktok_sandbox(
    config: TikTokSandboxConfig | None = None,
    *,
    clock: Clock | None = None,
    sleep: SleepFn | None = None,
    deliver: DeliverFn | None = None,
) -> AsyncIterator[TikTokSandbox]:
    """A sandbox whose webhook sender runs for the duration of the ``async with`` block."""
    sandbox = TikTokSandbox(config, clock=clock, sleep=sleep, deliver=deliver)
    async with anyio.create_task_group() as tg:
        await tg.start(sandbox.run)
        try:
            yield sandbox
        finally:
            tg.cancel_scope.cancel()


__all__ = [
    "PREFIX",
    "FaultConfig",
    "TikTokSandbox",
    "TikTokSandboxConfig",
    "clock_seed",
    "open_tiktok_sandbox",
]
