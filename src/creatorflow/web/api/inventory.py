"""The inventory API: stock per SKU from its actor, the SKU list and holds from the store.

=====  =================================  =================================================
GET    /api/inventory                     one page of SKUs (``below``, cursor paging)
GET    /api/inventory/{sku}               live stock, TikTok ids, watcher signals (``history``)
PUT    /api/inventory/{sku}               set on hand / safety buffer / TikTok ids (creates)
POST   /api/inventory/{sku}/adjustments   add ``delta`` units with a reason
GET    /api/inventory/{sku}/reservations  the holds open orders have on the SKU
=====  =================================  =================================================

Live stock is ``ask``\\ ed of the SKU's actor (keyed registry; the only writer of that SKU)
under a deadline (``ask_timeout_s``); the list and the holds are read from the store (they see
the last commit).

``{sku}`` is one path segment, percent-decoded once (UTF-8), a ``domain.limits.SkuId`` (1 to
128 characters, no control or bidirectional-override characters, not blank, not ``.`` or ``..``;
else 400 ``invalid_parameter`` naming ``sku``); a ``/`` in a seller SKU is sent as
``%2F``. A stock view is :class:`Stock`; the GET adds ``signals`` (``null`` without a watcher
or when it does not answer in time) and, with ``?history=N`` (0 to 200), ``history``: the last
N journal entries, newest first.

Bodies (unknown fields refused; a Content-Type, when sent, must be ``application/json``): PUT
:class:`SetStockBody` (at least one of on_hand / safety_buffer / tiktok; reason defaults to
``"count"``); adjustments :class:`AdjustBody`, optionally with an ``Idempotency-Key``.

Idempotency-Key (adjustments): 1 to :data:`MAX_IDEMPOTENCY_KEY_CHARS` (255) printable ASCII
characters (space to ``~``; surrounding spaces and tabs are not part of it), one header; else
400 ``invalid_idempotency_key``, before the body is read. Never truncated. Scoped to the SKU and
kept in the store with the adjustment it made, for ``inventory.idempotency_ttl_s`` (24 h): a
repeat with the same key and body answers 200 with the stock view as it is now and applies
nothing; the same key with another body is 409 ``key_conflict``. A refused adjustment stores no
key.

Errors (``errors.TABLE``): 400 ``invalid_parameter``, ``bad_body`` or
``invalid_idempotency_key``, 404 ``not_found``, 409 with the refusal's code
(``below_reserved``, ``negative``, ``too_large``, ``bad_quantity``, ``closed``,
``key_conflict``), 413 ``too_large``, 415 ``unsupported_media_type``, 503 ``store_unavailable``
/ ``inventory_unavailable`` / ``inventory_timeout`` (with ``Retry-After``). A 503 on a PUT or an
adjustment means "outcome unknown": repeat an adjustment with the same Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

import anyio
import msgspec
from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.actors.inventory import (
    Adjust,
    GetStock,
    InventoryMsg,
    SetStock,
    StockView,
    TikTokSkuRef,
)
from creatorflow.actors.stock_watcher import GetSignals, SkuSignals
from creatorflow.ports import InventoryReader
from creatorflow.web.api._routing import ApiRoute, Param
from creatorflow.web.api._stock import (
    MAX_IDEMPOTENCY_KEY_CHARS,
    AdjustBody,
    Hold,
    Holds,
    SetStockBody,
    Signals,
    SkuPage,
    SkuPath,
    Stock,
    StockDetail,
    check_sku,
    event_of,
    idempotency_key,
    sku_summary_of,
    stock_of,
)
from creatorflow.web.api._wire import (
    MAX_I64,
    MAX_LIMIT,
    Query,
    body_bytes,
    decode,
    encode_cursor,
    json_if_typed,
    json_response,
    segment,
)
from creatorflow.web.api.errors import BadBody, NotFound, ask_within

MAX_HISTORY: Final = 200
MAX_BODY_BYTES: Final = 8192
_SKU: Final = "/api/inventory/{sku:segment}"
_SET = msgspec.json.Decoder(SetStockBody)
_ADJUST = msgspec.json.Decoder(AdjustBody)


# --------------------------------------------------------------------------- routes


class InventoryApi:
    """Handlers of ``/api/inventory…``; :meth:`routes` lists them.

    Args:
        ask: sends one message to a SKU's actor and waits for its reply (``registry.ask``).
        reader: the store's inventory read side.
        clock_ms: wall-clock milliseconds (a hold past its expiry is not shown).
        watcher_ask: asks the stock watcher for a SKU's signals; None: ``"signals": null``.
        ask_timeout_s: deadline of each ``ask`` of a SKU actor.
        signals_timeout_s: deadline of the watcher's answer (the GET shows ``null`` after it).
    """

    def __init__(
        self,
        *,
        ask: Callable[[str, InventoryMsg], Awaitable[object]],
        reader: InventoryReader,
        clock_ms: Callable[[], int],
        watcher_ask: Callable[[GetSignals], Awaitable[object]] | None = None,
        ask_timeout_s: float = 5.0,
        signals_timeout_s: float = 1.0,
    ) -> None:
        self._ask = ask
        self._reader = reader
        self._clock_ms = clock_ms
        self._watcher_ask = watcher_ask
        self._ask_timeout_s = ask_timeout_s
        self._signals_timeout_s = signals_timeout_s

    def routes(self) -> list[ApiRoute]:
        sku = Param(
            name="sku",
            location="path",
            schema=SkuPath,
            description="Seller SKU id, percent-encoded once (a `/` is `%2F`)",
        )
        sku_errors = {400: ("invalid_parameter",), 404: ("not_found",)}
        ask_errors = {
            **sku_errors,
            409: ("below_reserved", "negative", "too_large", "bad_quantity", "closed"),
            503: ("store_unavailable", "inventory_unavailable", "inventory_timeout"),
        }
        body_errors = {
            **ask_errors,
            400: (
                "invalid_parameter",
                "bad_body",
                "too_deep",
                "bad_content_length",
                "disconnected",
            ),
            413: ("too_large",),
            415: ("unsupported_media_type",),
        }
        return [
            ApiRoute(
                method="GET",
                path="/api/inventory",
                endpoint=self.list_skus,
                operation_id="listSkus",
                summary="One page of SKUs from the store, ids ascending",
                tag="inventory",
                params=_LIST_PARAMS,
                response=SkuPage,
                errors={400: ("invalid_parameter",), 503: ("store_unavailable",)},
            ),
            ApiRoute(
                method="GET",
                path=_SKU,
                endpoint=self.get_stock,
                operation_id="getStock",
                summary="Live stock from the SKU's actor, TikTok ids, watcher signals",
                tag="inventory",
                params=(sku, _HISTORY),
                response=StockDetail,
                errors=ask_errors,
            ),
            ApiRoute(
                method="PUT",
                path=_SKU,
                endpoint=self.set_stock,
                operation_id="setStock",
                summary="Create the SKU or set its count, safety buffer, TikTok ids",
                tag="inventory",
                params=(sku,),
                body=SetStockBody,
                response=Stock,
                errors=body_errors,
            ),
            ApiRoute(
                method="POST",
                path=f"{_SKU}/adjustments",
                endpoint=self.adjust,
                operation_id="adjustStock",
                summary="Add delta units to on hand (receipts, damage, cycle counts)",
                tag="inventory",
                params=(sku, _KEY),
                body=AdjustBody,
                response=Stock,
                errors={
                    **body_errors,
                    400: (*body_errors[400], "invalid_idempotency_key"),
                    409: (*ask_errors[409], "key_conflict"),
                },
            ),
            ApiRoute(
                method="GET",
                path=f"{_SKU}/reservations",
                endpoint=self.reservations,
                operation_id="listReservations",
                summary="The holds open orders have on the SKU",
                tag="inventory",
                params=(sku,),
                response=Holds,
                errors={**sku_errors, 503: ("store_unavailable",)},
            ),
        ]

    # ------------------------------------------------------------------ SKU routes

    async def get_stock(self, request: Request) -> Response:
        """``GET /api/inventory/{sku}``: the live view, signals and (optionally) history."""
        sku = check_sku(segment(request, "sku"))
        history = Query(request).bounded("history", 0, 0, MAX_HISTORY)
        view = stock_of(await self._ask_view(sku, GetStock()))
        detail = StockDetail(
            **msgspec.structs.asdict(view), signals=await self._signals(sku), history=UNSET
        )
        if history:
            events = await self._reader.stock_events(sku, limit=history)
            detail.history = [event_of(event) for event in events]
        return json_response(detail)

    async def set_stock(self, request: Request) -> Response:
        """``PUT /api/inventory/{sku}``: SetStock (creates the SKU); answers the new view."""
        sku = check_sku(segment(request, "sku"))
        json_if_typed(request)
        body = decode(_SET, await body_bytes(request, MAX_BODY_BYTES), "a stock body")
        if body.on_hand is None and body.safety_buffer is None and body.tiktok is None:
            raise BadBody("give at least one of on_hand, safety_buffer, tiktok")
        ref = body.tiktok
        msg = SetStock(
            on_hand=body.on_hand,
            safety_buffer=body.safety_buffer,
            reason=body.reason,
            tiktok=None
            if ref is None
            else TikTokSkuRef(
                shop_id=ref.shop_id,
                product_id=ref.product_id,
                sku_id=ref.sku_id,
                warehouse_id=ref.warehouse_id,
            ),
        )
        return json_response(stock_of(await self._ask_view(sku, msg)))

    async def adjust(self, request: Request) -> Response:
        """``POST /api/inventory/{sku}/adjustments``: Adjust; answers the new view (or, for a
        repeated Idempotency-Key, the current one; see the module docstring)."""
        sku = check_sku(segment(request, "sku"))
        key = idempotency_key(request)
        json_if_typed(request)
        body = decode(_ADJUST, await body_bytes(request, MAX_BODY_BYTES), "an adjustment body")
        if body.delta == 0:
            raise BadBody("delta must not be 0")
        view = await self._ask_view(sku, Adjust(delta=body.delta, reason=body.reason, key=key))
        return json_response(stock_of(view))

    async def reservations(self, request: Request) -> Response:
        """``GET /api/inventory/{sku}/reservations``: the holds that count now (a hold past its
        expiry no longer counts, even before the keeper sweeps it)."""
        sku = check_sku(segment(request, "sku"))
        rows = await self._reader.held_reservations(sku)
        # Holds may name a SKU without a row, so only an empty answer needs the SKU row.
        if not rows and await self._reader.get_sku(sku) is None:
            raise NotFound(f"no SKU {sku!r}")
        now_ms = self._clock_ms()
        holds = [
            Hold(
                order_id=row.order_id,
                qty=row.qty,
                expires_at_ms=row.expires_at_ms,
                created_at_ms=row.created_at_ms,
            )
            for row in rows
            if row.expires_at_ms is None or row.expires_at_ms > now_ms
        ]
        return json_response(Holds(sku=sku, reservations=holds))

    async def _ask_view(self, sku: str, msg: InventoryMsg) -> StockView:
        """Ask the SKU's actor; its view (refusals and failures raised for the table)."""
        reply = await ask_within(
            self._ask_timeout_s,
            lambda: self._ask(sku, msg),
            actor="inventory",
            who="the SKU's actor",
            missing=f"no SKU {sku!r}",
        )
        if not isinstance(reply, StockView):
            raise TypeError(f"SKU actor answered {type(reply).__name__}, not StockView")
        return reply

    async def _signals(self, sku: str) -> Signals | None:
        """The watcher's signals for ``sku``, or None (no watcher, error, or too slow)."""
        if self._watcher_ask is None:
            return None
        # Signals decorate the stock view: any failure of the watcher shows as null.
        with anyio.move_on_after(self._signals_timeout_s):
            try:
                reply = await self._watcher_ask(GetSignals(sku=sku))
            except Exception:
                return None
            if isinstance(reply, SkuSignals):
                return Signals(
                    viral=reply.viral,
                    rate_per_hour=reply.rate_per_hour,
                    baseline_per_hour=reply.baseline_per_hour,
                    time_to_stockout_s=reply.time_to_stockout_s,
                )
        return None

    # ------------------------------------------------------------------ list

    async def list_skus(self, request: Request) -> Response:
        """``GET /api/inventory``: one page of SKUs from the store (see the module docstring)."""
        query = Query(request)
        below = query.integer("below")
        limit = query.limit()
        after = query.after()
        # One extra row tells whether another page exists without a count query.
        rows = await self._reader.list_skus(after=after, available_below=below, limit=limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return json_response(
            SkuPage(
                skus=[sku_summary_of(row) for row in page],
                next_cursor=encode_cursor(page[-1].sku) if more else None,
            )
        )


_HISTORY: Final = Param(
    name="history",
    location="query",
    schema=Annotated[int, msgspec.Meta(ge=0, le=MAX_HISTORY)],
    description="Add the last N journal entries, newest first",
)
_KEY: Final = Param(
    name="Idempotency-Key",
    location="header",
    schema=Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_IDEMPOTENCY_KEY_CHARS,
            pattern="^[\\x21-\\x7e]([\\x20-\\x7e]*[\\x21-\\x7e])?$",
        ),
    ],
    description="Makes a retry safe: applied once per SKU and key (kept 24 h)",
)
_LIST_PARAMS: Final = (
    Param(
        name="below",
        location="query",
        schema=Annotated[int, msgspec.Meta(ge=-MAX_I64, le=MAX_I64)],
        description="Only SKUs whose available stock (on hand - reserved) is below it",
    ),
    Param(
        name="limit",
        location="query",
        schema=Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)],
        description="SKUs per page (default 50)",
    ),
    Param(
        name="cursor", location="query", schema=str, description="`next_cursor` of the last page"
    ),
)


__all__ = ["MAX_IDEMPOTENCY_KEY_CHARS", "InventoryApi", "check_sku"]
