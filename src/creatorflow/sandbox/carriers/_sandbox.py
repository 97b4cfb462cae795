"""The sandbox carriers as one raw-ASGI app: routing, the tracker clock, lifespan.

Paths: the admin routes live under ``/sandbox/carriers/<carriers|faults|purchases|trackers|
webhooks>`` whether the app is mounted or standalone; the Karrio API is at the root
(``/v1/...``) standalone and under the prefix (``/sandbox/carriers/v1/...``) when mounted. A
mounting app passes the full path (as ``web.app`` does); the prefix is stripped here, and URLs
the API hands out (``label_url``, ``tracking_url``) keep it.

Trackers move on the injected wall clock: before every request (so reads are always current)
and every ``tracker_tick_s`` while :meth:`CarrierSandbox.run` runs, which also delivers the
``tracker_updated`` pushes. Tests call :meth:`CarrierSandbox.tick` after moving a fake clock.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import anyio
import anyio.abc

from creatorflow.ports import Clock, SystemClock
from creatorflow.sandbox.carriers._admin import ADMIN_ROUTES, handle_admin
from creatorflow.sandbox.carriers._api import KarrioApi
from creatorflow.sandbox.carriers._config import CarrierSandboxConfig
from creatorflow.sandbox.carriers._faults import CarrierFaults, Throttle
from creatorflow.sandbox.carriers._operations import Gateway, SleepFn
from creatorflow.sandbox.carriers._shipments import ShipmentBook
from creatorflow.sandbox.carriers._tracking import Tracker, TrackerBook, render_tracker
from creatorflow.sandbox.carriers._webhooks import DeliverFn, TrackerPush
from creatorflow.sandbox.carriers._wire import Ids
from creatorflow.web._http import Receive, Scope, Send, header, respond_error

#: Where the admin endpoints live (and the prefix stripped when the sandbox is mounted).
PREFIX: Final = "/sandbox/carriers"

#: Shipment status a tracker status implies (Karrio's tracker → shipment mapping); absent:
#: ``pending`` leaves the shipment as it is.
SHIPMENT_STATUS: Final = {
    "picked_up": "shipped",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "delivery_failed": "delivery_failed",
    "on_hold": "needs_attention",
    "delivery_delayed": "needs_attention",
    "return_to_sender": "in_transit",
    "ready_for_pickup": "in_transit",
    "unknown": "in_transit",
}


class CarrierSandbox:
    """Three (configurable) carriers behind a Karrio-compatible API, as an ASGI app.

    Args:
        config: key, carriers, faults, bounds, tracker schedule, push target.
        clock: wall clock (``now_ms``); tests pass a fake and call :meth:`tick`.
        sleep: how latency and timeouts wait (default ``anyio.sleep``); tests pass one that
            records the delays and returns at once.
        deliver: where pushes go instead of ``config.webhook_url``; returns the HTTP status.
    """

    def __init__(
        self,
        config: CarrierSandboxConfig | None = None,
        *,
        clock: Clock | None = None,
        sleep: SleepFn | None = None,
        deliver: DeliverFn | None = None,
    ) -> None:
        self.config = config = config or CarrierSandboxConfig()
        self.clock = clock or SystemClock()
        self._sleep: SleepFn = sleep or anyio.sleep
        self.ids = Ids(config.seed)
        #: Per-carrier fault plans, by carrier name.
        self.faults = {c.name: CarrierFaults(c, config.seed) for c in config.carriers}
        self.shipments = ShipmentBook(config)
        self.trackers = TrackerBook(config, self._tracker_moved)
        self.pushes = TrackerPush(config, self.clock, deliver)
        self.gateway = Gateway(
            config, faults=self.faults, shipments=self.shipments, trackers=self.trackers,
            ids=self.ids, clock=self.clock, sleep=self._sleep,
        )  # fmt: skip
        self.api = KarrioApi(
            config, self.gateway, self.shipments, self.trackers, self.ids,
            Throttle(config.throttle_per_min), self.clock.now_ms,
        )  # fmt: skip
        self._admin_token = config.admin_token.encode()
        self._running = False

    # ------------------------------------------------------------------ the clock

    def tick(self) -> int:
        """Move every tracker due by the clock's now (queueing pushes); how many moved."""
        return self.trackers.tick(self.clock.now_ms())

    def _tracker_moved(self, tracker: Tracker) -> None:
        shipment = self.shipments.get(tracker.shipment_id)
        status = SHIPMENT_STATUS.get(tracker.status)
        if shipment is not None and status is not None and shipment.status != "cancelled":
            self.shipments.set_status(shipment, status)
        self.pushes.enqueue(render_tracker(tracker, test_mode=self.config.test_mode))

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Tick trackers and deliver pushes until cancelled (``tg.start(sandbox.run)``).

        Raises:
            RuntimeError: it is already running.
        """
        if self._running:
            raise RuntimeError("the carrier sandbox is already running")
        self._running = True
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self.pushes.run)
                task_status.started()
                while True:
                    # Real time on purpose: this is only how often the clock is looked at; what
                    # moves a tracker is the injected clock (a fake one stays put), and an
                    # injected instant sleep would spin here.
                    await anyio.sleep(self.config.tracker_tick_s)
                    self.tick()
        finally:
            self._running = False

    async def wait_pushes_idle(self) -> None:
        """Block until every queued push was attempted (needs :meth:`run` running)."""
        await self.pushes.wait_idle()

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        base = ""
        if path == PREFIX or path.startswith(PREFIX + "/"):
            rest = path[len(PREFIX) :] or "/"
            if rest.strip("/").split("/")[0] in ADMIN_ROUTES:
                if self._admin_token and not self._admin_ok(scope):
                    await respond_error(
                        send, 401, "unauthorized", "bearer token required",
                        ((b"www-authenticate", b"Bearer"),),
                    )  # fmt: skip
                    return
                self.tick()
                await handle_admin(self, rest, scope, receive, send)
                return
            base, path = PREFIX, rest
        self.tick()
        await self.api.handle(scope, receive, send, path, base)

    def _admin_ok(self, scope: Scope) -> bool:
        scheme, _, token = (header(scope, b"authorization") or b"").strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._admin_token)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Under a server (``creatorflow sandbox carriers``) the lifespan owns the ticking task.
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
async def open_carrier_sandbox(
    config: CarrierSandboxConfig | None = None,
    *,
    clock: Clock | None = None,
    sleep: SleepFn | None = None,
    deliver: DeliverFn | None = None,
) -> AsyncIterator[CarrierSandbox]:
    """A sandbox whose ticker and push sender run for the ``async with`` block."""
    sandbox = CarrierSandbox(config, clock=clock, sleep=sleep, deliver=deliver)
    async with anyio.create_task_group() as tg:
        await tg.start(sandbox.run)
        try:
            yield sandbox
        finally:
            tg.cancel_scope.cancel()
