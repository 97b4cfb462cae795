"""The shipping capability: the carrier gateway (Karrio, or the built-in sandbox carriers), the
carrier pool, the label saga step, the tracking poller, the carrier push endpoint, the API.

Installed before orders: the label step joins ``asm.saga_steps`` after the reservation step,
so a reserved order's next saga run buys its label, then tells TikTok it shipped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx

from creatorflow.actors.order_scheduler import ShipmentMoved
from creatorflow.actors.shipping.carrier_pool import CarrierPool, CarrierPoolSettings
from creatorflow.actors.shipping.label_step import LabelStep, Shipped, ShippingSettings
from creatorflow.actors.shipping.messages import CarrierPoolMsg
from creatorflow.actors.shipping.tracking import TrackingPoller, TrackNow
from creatorflow.adapters.carriers import KarrioGateway, KarrioSettings, open_karrio_gateway
from creatorflow.config import Config
from creatorflow.domain.order import Order
from creatorflow.domain.state_machine import OrderEvent
from creatorflow.errors import AdapterError, CircuitOpen, ConfigError
from creatorflow.ports import Clock
from creatorflow.runtime import ChildSpec, Restart
from creatorflow.sandbox.carriers import PREFIX, CarrierSandbox, CarrierSandboxConfig
from creatorflow.sandbox.tiktok import clock_seed
from creatorflow.web.api.shipments import ShipmentsApi
from creatorflow.web.carrier_push import CarrierPushEndpoint
from creatorflow.wiring import keys
from creatorflow.wiring._assembly import Assembly
from creatorflow.wiring.core import may_mount_sandboxes
from creatorflow.wiring.inventory import tell_or_drop

log = logging.getLogger("creatorflow.shipping")

#: Host the in-process sandbox carriers are reached at (never resolved: ASGITransport).
SANDBOX_ORIGIN = "http://sandbox-carriers.invalid"
SANDBOX_KEY = "sandbox-carriers-key"
PUSH_PATH = "/webhooks/carriers"


@dataclass
class ShippingSide:
    """The carrier gateway, and the sandbox behind it when no real gateway is configured."""

    gateway: KarrioGateway
    sandbox: CarrierSandbox | None = None


@asynccontextmanager
async def open_shipping_side(config: Config, clock: Clock) -> AsyncIterator[ShippingSide]:
    """Open the configured Karrio gateway; with ``shipping.base_url`` empty, the built-in
    sandbox carriers in-process (mounted at ``/sandbox/carriers`` by :func:`install`).

    Raises:
        ConfigError: a gateway setting out of range.
    """
    sc = config.shipping
    if sc.base_url:
        settings = _settings(sc.base_url, sc.api_key, sc.timeout_s, sc.max_response_bytes)
        async with open_karrio_gateway(settings) as gateway:
            log.info("shipping: Karrio at %s", sc.base_url)
            yield ShippingSide(gateway=gateway)
        return
    sandbox = CarrierSandbox(
        CarrierSandboxConfig(
            api_key=SANDBOX_KEY, admin_token=config.api.token, seed=clock_seed(clock.now_ms())
        ),
        clock=clock,
    )
    settings = _settings(SANDBOX_ORIGIN + PREFIX, SANDBOX_KEY, sc.timeout_s, sc.max_response_bytes)
    transport = httpx.ASGITransport(app=sandbox)
    async with open_karrio_gateway(settings, transport) as gateway, anyio.create_task_group() as tg:
        await tg.start(sandbox.run)
        log.info("shipping: built-in sandbox carriers at %s", PREFIX)
        try:
            yield ShippingSide(gateway=gateway, sandbox=sandbox)
        finally:
            tg.cancel_scope.cancel()


def _settings(base_url: str, api_key: str, timeout_s: float, max_bytes: int) -> KarrioSettings:
    try:
        return KarrioSettings(
            base_url=base_url, api_key=api_key, timeout_s=timeout_s, max_response_bytes=max_bytes
        )
    except ValueError as exc:
        raise ConfigError(f"config: shipping: {exc}") from None


def install(asm: Assembly) -> None:
    sc = asm.config.shipping
    if not sc.enabled:
        return  # no label step, no pool: orders stop at reserved
    side = asm.shipping
    writer = asm.refs.get(keys.WRITER)
    scheduler = asm.refs.lazy(keys.SCHEDULER)

    def move_order(order_id: str, event: str, why: str) -> None:
        # Dropped when full: the next tracker read, or TikTok's own webhook, moves it.
        tell_or_drop(
            scheduler(), ShipmentMoved(order_id=order_id, event=OrderEvent(event), why=why)
        )

    def on_call(carrier: str, outcome: str, seconds: float) -> None:
        asm.metrics.carrier_calls.labels(carrier, outcome).inc()
        asm.metrics.carrier_latency.labels(carrier).observe(seconds)

    settings = CarrierPoolSettings(
        breaker_failures=sc.breaker_failures,
        breaker_open_s=sc.breaker_open_s,
        max_per_carrier=sc.max_per_carrier,
        max_in_flight=sc.max_in_flight,
        max_tries=sc.max_tries,
        call_timeout_s=sc.timeout_s,
        retry_min_s=sc.retry_min_s,
        retry_max_s=sc.retry_max_s,
        void_max_attempts=sc.void_max_attempts,
        track_first_s=sc.track_first_s,
        track_max_s=sc.track_max_s,
    )
    pool = asm.refs.put(
        keys.CARRIER_POOL,
        asm.add(
            ChildSpec(
                name="carrier_pool",
                factory=lambda: CarrierPool(
                    gateway=side.gateway,
                    writer=writer,
                    shipments=asm.store,
                    clock=asm.clock,
                    timer=asm.timer,
                    settings=settings,
                    move_order=move_order,
                    on_call=on_call,
                    on_breaker=lambda name, state: asm.metrics.breaker_state.labels(name).set(
                        int(state)
                    ),
                ),
                mailbox_size=4096,
                restart=Restart.PERMANENT,
            )
        ),
    )
    poller = asm.refs.put(
        keys.TRACKING_POLLER,
        asm.add(
            ChildSpec(
                name="tracking_poller",
                factory=lambda: TrackingPoller(
                    gateway=side.gateway,
                    shipments=asm.store,
                    pool=lambda: pool,
                    scheduler=scheduler,
                    leader=asm.store,
                    clock=asm.clock,
                    timer=asm.timer,
                    interval_s=sc.poll_interval_s,
                    batch=sc.poll_batch,
                    call_timeout_s=sc.timeout_s,
                ),
                mailbox_size=1024,
                restart=Restart.PERMANENT,
            )
        ),
    )

    async def ship(shop_id: str, order: Order, tracking_number: str, carrier: str) -> Shipped:
        try:
            outcome = await asm.tiktok.client.ship_order(
                shop_id, order.order_id, tracking_number=tracking_number, carrier_name=carrier
            )
        except (AdapterError, CircuitOpen) as exc:
            return Shipped(outcome="retry", why=str(exc))
        if outcome.kind in ("shipped", "already_shipped"):
            return Shipped(outcome="shipped", package_id=outcome.package_id)
        if outcome.kind == "cancelled":
            return Shipped(outcome="cancelled")
        if outcome.kind == "held":
            return Shipped(outcome="retry", why=outcome.reason)
        return Shipped(outcome="attention", why=f"{outcome.reason}: {outcome.detail}")

    async def ask(msg: CarrierPoolMsg) -> object:
        return await pool.ask(msg)

    asm.saga_steps.append(
        LabelStep(
            ask=ask,
            settings=ShippingSettings(
                ship_from=sc.ship_from(),
                unit_parcel=sc.default_parcel(),
                label_type=sc.label_type,
                label_deadline_s=sc.label_deadline_s,
            ),
            ship=ship,
        )
    )
    asm.api_routes += ShipmentsApi(shipments=asm.store, carriers=pool.ask).routes()
    if side.sandbox is not None and may_mount_sandboxes(asm.config):
        asm.mounts[PREFIX] = side.sandbox
    if sc.webhook_secret:
        asm.mounts[PUSH_PATH] = CarrierPushEndpoint(
            secret=sc.webhook_secret,
            track=lambda number: poller.tell_nowait(TrackNow(tracking_number=number)),
        )
