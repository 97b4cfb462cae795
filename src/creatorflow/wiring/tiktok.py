"""The TikTok capability: the API client, and the built-in sandbox when no real TikTok is
configured (an edge ``app`` opens before the capabilities install), plus its API route.

With ``tiktok.base_url`` empty, ``serve`` runs the sandbox TikTok Shop in-process: it is mounted
at ``/sandbox/tiktok`` on the service's own server (its admin contract is in the README), the
client talks to it in-process (``httpx.ASGITransport``, signed like real calls), and it posts
its signed webhooks to the service's own ``/webhooks/tiktok``. So the whole flow works out of
the box. With a real ``base_url`` the client calls TikTok; its tokens must come from the OAuth
flow (``TikTokClient.authorize``) and the shops to reconcile from ``tiktok.shop_ids``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import httpx
import msgspec

from creatorflow.adapters.tiktok import (
    CallObserved,
    MemoryTokenStore,
    StoreTokenStore,
    TikTokClient,
    TikTokClientSettings,
    open_tiktok_client,
)
from creatorflow.config import Config
from creatorflow.domain.order import DeliveryType
from creatorflow.domain.webhook import AppCredentials
from creatorflow.errors import AdapterError, CircuitOpen
from creatorflow.metrics import Metrics
from creatorflow.ports import (
    Clock,
    CursorReader,
    SetCursor,
    TikTokOrder,
    TikTokShop,
    TikTokTokens,
    TokenReader,
    TokenStore,
    TransactionalStore,
)
from creatorflow.runtime import BreakerState, MonotonicClock
from creatorflow.sandbox.tiktok import PREFIX, TikTokSandbox, TikTokSandboxConfig, clock_seed
from creatorflow.web.api.tiktok_auth import AuthorizeApi
from creatorflow.wiring._assembly import Assembly

log = logging.getLogger("creatorflow.tiktok")

#: Host name the in-process sandbox is reached at (never resolved: ASGITransport).
SANDBOX_ORIGIN = "http://sandbox.invalid"


class TokenTable(TransactionalStore, TokenReader, CursorReader, Protocol):
    """Where a real shop's tokens and the list of connected shops are kept (the store)."""


#: Cursor row holding the JSON list of shops connected through ``POST /api/tiktok/authorize``.
SHOPS_CURSOR = "tiktok:shops"
MAX_SHOPS = 10_000
MAX_WAREHOUSES = 10_000


@dataclass
class TikTokSide:
    """What the rest of the service needs from the TikTok edge."""

    client: TikTokClient
    apps: list[AppCredentials]
    shop_ids: list[str]
    tokens: TokenStore
    store: TokenTable
    clock: Clock
    sandbox: TikTokSandbox | None = None
    delivery_types: dict[str, dict[str, DeliveryType]] = field(default_factory=dict)
    seller_keys: list[str] = field(default_factory=list)
    _warehouses_read: set[tuple[str, str]] = field(default_factory=set)

    def delivery_types_of(self, shop_id: str) -> dict[str, DeliveryType]:
        return self.delivery_types.get(shop_id, {})

    async def learn_delivery_types(self, shop_id: str, orders: Sequence[TikTokOrder]) -> None:
        """Read the delivery options of every warehouse these orders ship from that is not
        known yet (once per shop and warehouse; bounded), so priority sees EXPRESS & co.

        Written by order sync before it hands the orders on, read by the scheduler: one
        writer, same event loop. Failures are logged, never raised (the order is still
        processed; its delivery type stays UNKNOWN until a later order teaches it).
        """
        for warehouse_id in {o.warehouse_id for o in orders if o.warehouse_id}:
            key = (shop_id, warehouse_id)
            if key in self._warehouses_read or len(self._warehouses_read) >= MAX_WAREHOUSES:
                continue
            try:
                options = await self.client.get_delivery_options(shop_id, warehouse_id)
            except (AdapterError, CircuitOpen) as exc:
                log.warning("delivery options of %s/%s not read: %s", shop_id, warehouse_id, exc)
                continue
            self._warehouses_read.add(key)
            known = self.delivery_types.setdefault(shop_id, {})
            for option in options:
                if option.type in DeliveryType.__members__:
                    known[option.id] = DeliveryType(option.type)

    async def authorize(
        self, shop_key: str, auth_code: str
    ) -> tuple[TikTokTokens, list[TikTokShop]]:
        """Trade an auth code for tokens (saved once, under ``shop_key``, by the client) and
        remember durably which seller key covers which shops, so a restart routes each shop to
        its seller's tokens again.

        Raises:
            TikTokError / CircuitOpen: TikTok refused or could not be reached.
            StoreUnavailable / StoreError: the shops could not be saved.
        """
        tokens = await self.client.authorize(shop_key, auth_code)
        shops = await self.client.get_authorized_shops(shop_key)
        for shop in shops:
            if shop.id not in self.shop_ids and len(self.shop_ids) < MAX_SHOPS:
                self.shop_ids.append(shop.id)
        if shop_key not in self.seller_keys and len(self.seller_keys) < MAX_SHOPS:
            self.seller_keys.append(shop_key)
        op = SetCursor(
            name=SHOPS_CURSOR,
            value=msgspec.json.encode(
                ConnectedShops(seller_keys=self.seller_keys, shop_ids=self.shop_ids)
            ).decode(),
            updated_at_ms=self.clock.now_ms(),
        )
        await self.store.apply([op])
        return tokens, shops


class ConnectedShops(msgspec.Struct, kw_only=True):
    """What ``POST /api/tiktok/authorize`` connected (kept in the ``tiktok:shops`` cursor)."""

    seller_keys: list[str] = msgspec.field(default_factory=list)
    shop_ids: list[str] = msgspec.field(default_factory=list)


@asynccontextmanager
async def open_tiktok_side(
    config: Config,
    *,
    store: TokenTable,
    service_url: str,
    clock: Clock,
    timer: MonotonicClock | None = None,
    on_call: Callable[[CallObserved], None] | None = None,
    on_breaker_change: Callable[[str, BreakerState], None] | None = None,
) -> AsyncIterator[TikTokSide]:
    """Open the client (and the sandbox when no real TikTok is configured). ``timer``: the
    monotonic clock of the client's backoff, rate limiter and breaker (None: the real one).

    Raises:
        ConfigError: bad ``[tiktok]`` settings.
    """
    apps = [
        AppCredentials(app_key=a.app_key, app_secret=a.app_secret) for a in config.tiktok_apps()
    ]
    if config.tiktok.base_url:
        tokens: TokenStore = StoreTokenStore(store)
        if not apps:
            log.warning("tiktok.base_url is set but no app is configured")
        app = apps[0] if apps else AppCredentials(app_key="", app_secret="")
        settings = TikTokClientSettings.from_config(
            config.tiktok, app_key=app.app_key, app_secret=app.app_secret
        )
        shop_ids = list(config.tiktok.shop_ids)
        stored = await store.get_cursor(SHOPS_CURSOR)
        connected = msgspec.json.decode(stored, type=ConnectedShops) if stored else ConnectedShops()
        shop_ids += [s for s in connected.shop_ids if s not in shop_ids]
        async with open_tiktok_client(
            settings,
            token_store=tokens,
            clock=timer,
            wall_clock=clock,
            observer=on_call,
            on_breaker_change=on_breaker_change,
        ) as client:
            for key in connected.seller_keys:
                try:  # route each shop to its seller's tokens again (one call per seller)
                    await client.get_authorized_shops(key)
                except (AdapterError, CircuitOpen) as exc:
                    log.warning("tiktok: shops of seller %r not read at start: %s", key, exc)
            yield TikTokSide(
                client=client,
                apps=apps,
                shop_ids=shop_ids,
                tokens=tokens,
                store=store,
                clock=clock,
                seller_keys=list(connected.seller_keys),
            )
        return

    tokens = MemoryTokenStore()  # the sandbox's own tokens: nothing to keep across restarts
    # (authorize through the sandbox also works: its shop is polled already)
    defaults = TikTokSandboxConfig()
    app = (
        apps[0]
        if apps
        else AppCredentials(app_key=defaults.app_key, app_secret=defaults.app_secret)
    )
    if not apps:
        apps = [app]
    sandbox = TikTokSandbox(
        TikTokSandboxConfig(
            app_key=app.app_key,
            app_secret=app.app_secret,
            webhook_url=f"{service_url}/webhooks/tiktok",
            admin_token=config.api.token,
            # The sandbox lives in memory: a seed from the clock (milliseconds) gives each start
            # ids above every earlier run's, so a restart on the same store never reuses (and
            # so never overwrites or dedupes away) ids the store already holds.
            seed=clock_seed(clock.now_ms()),
        ),
        clock=clock,
    )
    sc = sandbox.config
    now = clock.now_ms() // 1000
    await tokens.save(
        sc.shop_id,
        TikTokTokens(
            access_token=sc.access_token,
            access_expires_at=now + sc.access_token_ttl_s,
            refresh_token=sc.refresh_token,
            refresh_expires_at=now + sc.refresh_token_ttl_s,
        ),
    )
    settings = TikTokClientSettings.from_config(
        config.tiktok,
        app_key=app.app_key,
        app_secret=app.app_secret,
        base_url=SANDBOX_ORIGIN + PREFIX,
    )
    settings = msgspec.structs.replace(settings, auth_base_url=SANDBOX_ORIGIN + PREFIX)
    transport = httpx.ASGITransport(app=sandbox)
    async with (
        open_tiktok_client(
            settings,
            token_store=tokens,
            transport=transport,
            clock=timer,
            wall_clock=clock,
            observer=on_call,
            on_breaker_change=on_breaker_change,
        ) as client,
        anyio.create_task_group() as tg,
    ):
        await tg.start(sandbox.run)
        side = TikTokSide(
            client=client,
            apps=apps,
            shop_ids=[sc.shop_id],
            tokens=tokens,
            store=store,
            clock=clock,
            sandbox=sandbox,
        )
        log.info("tiktok: built-in sandbox at %s%s (shop %s)", service_url, PREFIX, sc.shop_id)
        try:
            yield side
        finally:
            tg.cancel_scope.cancel()


def observers(
    metrics: Metrics,
) -> tuple[Callable[[CallObserved], None], Callable[[str, BreakerState], None]]:
    """The client's call and breaker observers, feeding ``metrics``."""

    def on_call(call: CallObserved) -> None:
        metrics.tiktok_calls.labels(call.api, call.outcome).inc()
        metrics.tiktok_latency.observe(call.latency_s)

    def on_breaker(name: str, state: BreakerState) -> None:
        metrics.breaker_state.labels(name).set(int(state))

    return on_call, on_breaker


def install(asm: Assembly) -> None:
    """Mount the built-in sandbox (when there is one) and ``POST /api/tiktok/authorize``."""
    tiktok = asm.tiktok
    if tiktok.sandbox is not None:
        asm.mounts[PREFIX] = tiktok.sandbox
    asm.api_routes += AuthorizeApi(tiktok.authorize).routes()
