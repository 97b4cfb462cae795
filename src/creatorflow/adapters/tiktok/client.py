"""The TikTok Shop API client (202309) of one app: what the order, shipping and stock flows call.

Open it with :func:`open_tiktok_client`; it owns one ``httpx.AsyncClient`` (closed on exit) and
takes an optional transport, so tests pass ``httpx.MockTransport`` and the in-process sandbox
an ``httpx.ASGITransport``. Nothing connects before the first call.

Shops: methods take the webhook's ``shop_id``. The client maps it to the ``shop_cipher`` and to
the key its tokens are stored under (a bounded LRU filled by :meth:`get_authorized_shops`). A
shop it has not seen is assumed to hold its own tokens (``shop_key == shop_id``) and is looked
up once; a seller whose token covers several shops registers them with
``get_authorized_shops(seller_key)``.

Resilience per (shop, API group: order, fulfillment, product, logistics, authorization): a
token bucket, a circuit breaker, bounded retries (see ``_caller``). Writes (ship, mark shipped,
inventory) are not retried after a 5xx or timeout unless the caller passes ``idempotent=True``.

Shipping (issue 12 §4): :meth:`TikTokClient.ship_order` reports an order shipped with our
label by the call the shop's region takes (``_ship`` explains the steps), built on
``get_shipping_providers`` (cached per shop and delivery option), ``mark_package_shipped``,
``ship_package`` and ``get_orders``.

Raises, from every API method: :class:`~creatorflow.errors.CircuitOpen` (nothing was sent),
:class:`~creatorflow.errors.TikTokError` and its subclasses (``_errors`` lists which answer
becomes which), ``ValueError`` for arguments TikTok would refuse anyway.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import httpx
import msgspec

from creatorflow.adapters.tiktok import _wire
from creatorflow.adapters.tiktok._caller import Caller
from creatorflow.adapters.tiktok._fulfillment import FulfillmentCalls, ProviderCache
from creatorflow.adapters.tiktok._ship import DEFAULT_SHIP_ATTEMPTS, Shipper
from creatorflow.adapters.tiktok._token_keeper import TokenKeeper
from creatorflow.adapters.tiktok._types import BreakerObserver, CallObserver, Endpoint, Policy
from creatorflow.adapters.tiktok.oauth import TikTokOAuth
from creatorflow.adapters.tiktok.settings import TikTokClientSettings
from creatorflow.errors import TikTokAuthError
from creatorflow.ports import (
    MAX_ORDER_IDS_PER_CALL,
    Clock,
    SystemClock,
    TikTokOrder,
    TikTokOrderPage,
    TikTokShop,
    TikTokTokens,
    TokenStore,
)
from creatorflow.ports.tiktok import ShipOutcome
from creatorflow.runtime import ExponentialJitter, KeyedLru, MonotonicClock, SystemMonotonicClock

__all__ = ["MAX_ORDER_IDS", "TikTokClient", "open_tiktok_client"]

#: Get Order Detail takes at most this many ids per call.
MAX_ORDER_IDS = MAX_ORDER_IDS_PER_CALL

_SHOPS = Endpoint("get_authorized_shops", "GET", "authorization", idempotent=True)
_GET_ORDERS = Endpoint("get_orders", "GET", "order", idempotent=True)
_SEARCH_ORDERS = Endpoint("search_orders", "POST", "order", idempotent=True)


class _Route(NamedTuple):
    shop_key: str
    cipher: str
    region: str = ""


class TikTokClient(FulfillmentCalls):
    """TikTok Shop API calls of one app. Built by :func:`open_tiktok_client`."""

    def __init__(
        self,
        caller: Caller,
        keeper: TokenKeeper,
        max_shops: int,
        *,
        clock: MonotonicClock | None = None,
        rng: random.Random | None = None,
        providers_ttl_s: float = 3600.0,
        max_provider_lists: int = 4096,
        retry_max_wait_s: float = 60.0,
    ) -> None:
        mono = clock if clock is not None else SystemMonotonicClock()
        self._caller = caller
        self._keeper = keeper
        self._routes: KeyedLru[str, _Route] = KeyedLru(max_shops)
        self._provider_cache = ProviderCache(max_provider_lists, providers_ttl_s, mono)
        backoff = ExponentialJitter(1.0, retry_max_wait_s, jitter_s=0.5, rng=rng)
        self._shipper = Shipper(self, mono, backoff)

    # ------------------------------------------------------------------ shops and tokens

    async def authorize(self, shop_key: str, auth_code: str) -> TikTokTokens:
        """Trade a seller's auth code for tokens, saved under ``shop_key`` (both at once)."""
        return await self._keeper.authorize(shop_key, auth_code)

    async def get_authorized_shops(self, shop_key: str) -> list[TikTokShop]:
        """The shops the tokens of ``shop_key`` cover; remembers each shop's cipher and key."""
        data = await self._caller.call(
            _SHOPS,
            "/authorization/202309/shops",
            _wire.SHOPS,
            shop_id=shop_key,
            shop_key=shop_key,
            cipher=None,
        )
        for shop in data.shops:
            self._routes.put(shop.id, _Route(shop_key, shop.cipher, shop.region.upper()))
        return data.shops

    async def shop_region(self, shop_id: str) -> str:
        """The shop's region as Get Authorized Shops says (``US``, ``GB``, ``ID``…; "" when
        TikTok gave none). Reads the shops once when the shop is not known yet."""
        return (await self._route(shop_id)).region

    def cipher_of(self, shop_id: str) -> str | None:
        """The cached ``shop_cipher`` of ``shop_id``, or None. Never blocks."""
        route = self._routes.peek(shop_id)
        return None if route is None else route.cipher

    async def _route(self, shop_id: str) -> _Route:
        if shop_id in self._routes:
            return self._routes.get(shop_id)
        await self.get_authorized_shops(shop_id)
        route = self._routes.peek(shop_id)
        if route is None:
            raise TikTokAuthError(f"shop {shop_id!r} is not among its token's authorized shops")
        return route

    async def _shop_call(
        self,
        endpoint: Endpoint,
        path: str,
        decoder: _wire.DataDecoder[Any],
        shop_id: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        route = await self._route(shop_id)
        return await self._caller.call(
            endpoint,
            path,
            decoder,
            shop_id=shop_id,
            shop_key=route.shop_key,
            cipher=route.cipher,
            params=params,
            body=b"" if body is None else _wire.encode(body),
            idempotent=idempotent,
        )

    # ------------------------------------------------------------------ orders

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        """Get Order Detail for up to 50 ids in one call; unknown ids are simply absent.

        Raises:
            ValueError: more than 50 ids (split the batch). No call is made for none.
        """
        if len(ids) > MAX_ORDER_IDS:
            raise ValueError(f"get_orders takes at most {MAX_ORDER_IDS} ids, got {len(ids)}")
        if not ids:
            return []
        data: _wire.OrdersData = await self._shop_call(
            _GET_ORDERS,
            "/order/202309/orders",
            _wire.ORDERS,
            shop_id,
            params={"ids": ",".join(ids)},
        )
        return data.orders

    async def search_orders(
        self,
        shop_id: str,
        *,
        update_time_ge: int,
        update_time_lt: int,
        page_size: int = 50,
        page_token: str = "",
    ) -> TikTokOrderPage:
        """Get Order List: orders updated in ``[update_time_ge, update_time_lt)``, by
        ``update_time`` ascending; follow ``next_page_token`` until it is "".

        Raises:
            ValueError: ``page_size`` outside 1..100.
        """
        if not 1 <= page_size <= 100:
            raise ValueError(f"search_orders page_size must be within 1..100, got {page_size}")
        params = {"page_size": str(page_size), "sort_field": "update_time", "sort_order": "ASC"}
        if page_token:
            params["page_token"] = page_token
        body = {"update_time_ge": update_time_ge, "update_time_lt": update_time_lt}
        page: TikTokOrderPage = await self._shop_call(
            _SEARCH_ORDERS,
            "/order/202309/orders/search",
            _wire.ORDER_PAGE,
            shop_id,
            params=params,
            body=body,
        )
        return page

    # ------------------------------------------------------------------ shipping

    async def ship_order(
        self,
        shop_id: str,
        order: TikTokOrder | str,
        *,
        tracking_number: str,
        carrier_name: str,
        region: str = "",
        attempts: int = DEFAULT_SHIP_ATTEMPTS,
    ) -> ShipOutcome:
        """Tell TikTok the order shipped with ``tracking_number`` from carrier
        ``carrier_name`` (Karrio's carrier name: mapped to the delivery option's shipping
        provider by name). Safe to call again for the same order: it reads the order first
        and never reports a second shipment.

        ``order`` is an order id (read first) or an order the caller read just now. The call
        follows the shop's region (``region`` overrides it): Mark Package As Shipped in US,
        EMEA (GB/UK, ES, IE, IT, DE, FR) and JP, Ship Package with ``self_shipment``
        elsewhere. A timeout re-reads the order before writing again (at most ``attempts``
        writes). Blocks on the network, and on the monotonic clock between attempts.

        Returns:
            The outcome: shipped (package id, TikTok's warning), already_shipped (our number
            is on the order), cancelled (stop, void the label), held (after-sale request
            pending, ON_HOLD/UNPAID: later) or needs_attention (``reason``, ``detail``).

        Raises:
            TikTokUnavailable: still unreachable after ``attempts`` writes, or a re-read
                failed. The write may have been applied: calling again re-reads first.
            TikTokRateLimited, CircuitOpen: TikTok is not taking calls now; nothing new sent.
            TikTokAuthError, TikTokRequestRejected: configuration (tokens, cipher).
            ValueError: an empty tracking number, ``attempts`` < 1.
        """
        return await self._shipper.ship_order(
            shop_id,
            order,
            tracking_number=tracking_number,
            carrier_name=carrier_name,
            region=region,
            attempts=attempts,
        )

    def __repr__(self) -> str:
        return f"TikTokClient(shops={len(self._routes)})"


@asynccontextmanager
async def open_tiktok_client(
    settings: TikTokClientSettings,
    *,
    token_store: TokenStore,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: MonotonicClock | None = None,
    wall_clock: Clock | None = None,
    rng: random.Random | None = None,
    observer: CallObserver | None = None,
    on_breaker_change: BreakerObserver | None = None,
) -> AsyncIterator[TikTokClient]:
    """Open a client; its HTTP connections close when the block exits.

    Args:
        settings: app credentials, hosts and resilience settings.
        token_store: where tokens are loaded from and saved to.
        transport: httpx transport (``MockTransport`` in tests, ``ASGITransport`` for the
            in-process sandbox); default: real HTTP.
        clock: monotonic clock for backoff, limiter and breaker (tests: ``FakeClock``).
        wall_clock: Unix time for the ``timestamp`` parameter and token expiries.
        rng: jitter source (seeded in tests).
        observer: told about every HTTP attempt (api, outcome, code, latency); must not raise.
        on_breaker_change: told ``(breaker name "shop/group", state)`` on every transition.
    """
    mono = clock if clock is not None else SystemMonotonicClock()
    wall = wall_clock if wall_clock is not None else SystemClock()
    async with httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.request_timeout_s),
        follow_redirects=False,
    ) as http:
        oauth = TikTokOAuth(
            http,
            app_key=settings.app_key,
            app_secret=settings.app_secret,
            auth_base_url=settings.auth_base_url,
            wall_clock=wall,
        )
        keeper = TokenKeeper(
            oauth,
            token_store,
            wall_clock=wall,
            refresh_before_s=settings.refresh_before_s,
            max_shops=settings.max_shops,
        )
        policy = msgspec.convert(msgspec.to_builtins(settings), Policy, from_attributes=False)
        caller = Caller(
            http,
            keeper,
            app_key=settings.app_key,
            app_secret=settings.app_secret,
            base_url=settings.base_url,
            policy=policy,
            clock=mono,
            wall_clock=wall,
            rng=rng,
            observer=observer,
            on_breaker_change=on_breaker_change,
        )
        yield TikTokClient(
            caller,
            keeper,
            settings.max_shops,
            clock=mono,
            rng=rng,
            providers_ttl_s=settings.providers_ttl_s,
            max_provider_lists=settings.max_provider_lists,
            retry_max_wait_s=settings.retry_max_wait_s,
        )
