"""The inventory API: stock per SKU from its actor, lists from the store, content metrics.

=====  =================================  =================================================
GET    /api/inventory                     one page of SKUs (``below``, cursor paging)
GET    /api/inventory/{sku}               live stock, TikTok ids, watcher signals (``history``)
PUT    /api/inventory/{sku}               set on hand / safety buffer / TikTok ids (creates)
POST   /api/inventory/{sku}/adjustments   add ``delta`` units with a reason
GET    /api/inventory/{sku}/reservations  the holds open orders have on the SKU
GET    /api/purchase-orders               one page of purchase orders (``sku``, ``state``)
POST   /api/content-metrics               video metrics for the stock watcher (202)
=====  =================================  =================================================

Live stock is ``ask``\\ ed of the SKU's actor (keyed registry; the only writer of that SKU)
under a deadline (``ask_timeout_s``); lists and reservations are read from the
:class:`~creatorflow.ports.InventoryReader` (they see the last commit). The bearer-token check
is the app's.

``{sku}`` is one path segment, percent-decoded once (UTF-8): 1 to 128 characters, no control
characters; a ``/`` in a seller SKU is sent as ``%2F``. A stock view is ``{"sku", "on_hand",
"reserved", "available", "sellable", "safety_buffer", "holds", "open_po_qty", "tiktok"}``
(``tiktok``: ``{shop_id, product_id, sku_id, warehouse_id}`` or ``null``); the GET adds
``"signals"`` (``{viral, rate_per_hour, baseline_per_hour, time_to_stockout_s}``, ``null`` without a
watcher or when it does not answer in time) and, with ``?history=N`` (0 to 200), ``"history"``:
the last N journal entries, newest first.

Bodies: PUT ``{"on_hand"?, "safety_buffer"?, "reason"?, "tiktok"?: {"shop_id", "product_id",
"sku_id", "warehouse_id"?}}`` (at least one of on_hand / safety_buffer / tiktok; reason
defaults to ``"count"``); adjustments ``{"delta": nonzero, "reason": str}``, optionally with an
``Idempotency-Key`` header (see below); content metrics
one object or a list of 1 to 500 ``{"sku", "video_id", "views", "likes"?, "shares"?,
"at_ms"?}`` (counts cumulative, ``at_ms`` defaults to now and may not be more than 5 minutes
ahead of it) answered ``202 {"accepted": n}``.
Unknown fields are refused. A Content-Type, when sent, must be ``application/json``.

Paging: ``GET /api/inventory?below=&limit=&cursor=`` answers ``{"skus": [...], "next_cursor"}``
(SKU ids ascending; ``below``: only SKUs whose on hand minus reserved is strictly below it);
``GET /api/purchase-orders?sku=&state=&limit=&cursor=`` answers ``{"purchase_orders": [...],
"next_cursor"}`` (po ids ascending; ``state`` one or more of requested, confirmed, delivered,
received, failed, comma-separated). Cursors are opaque, as in the orders API; ``limit``
defaults to 50, at most 500; empty parameters count as absent.

Idempotency-Key (adjustments): 1 to :data:`MAX_IDEMPOTENCY_KEY_CHARS` (255) printable ASCII
characters (space to ``~``; surrounding spaces and tabs are not part of it), one header; else
400 ``invalid_idempotency_key``. Never truncated: two keys differing anywhere are two keys.
Scoped to the SKU and kept in the store with the adjustment it made, for
``inventory.idempotency_ttl_s`` (24 h): a repeat with the same key and body answers 200 with the
stock view as it is now and applies nothing, also after the SKU's actor slept or the service
restarted; the same key with another body is 409 ``key_conflict``. A refused adjustment (409
``below_reserved`` …) stores no key: a retry is decided again.

Errors are ``{"error": code, "detail": text}``: 400 ``invalid_parameter`` (with
``"parameter"``), ``bad_body`` or ``invalid_idempotency_key``, 404 ``not_found``, 405
``method_not_allowed``, 409 with the refusal's code (``below_reserved``, ``negative``,
``bad_quantity``, ``closed``, ``key_conflict``), 413 ``too_large``, 415
``unsupported_media_type``, 503 ``store_unavailable`` / ``inventory_unavailable`` /
``inventory_timeout`` / ``watcher_busy`` (all with ``Retry-After``) or ``watcher_unavailable``
(no watcher configured). A 503 on a PUT or an adjustment means "outcome unknown": repeat an
adjustment with the same Idempotency-Key (or read the SKU before repeating one sent without a
key). A ``watcher_busy`` answer carries ``"accepted"``: the first n metrics were taken, send
the rest later (metrics are cumulative, so sending them all again is harmless too).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Final, TypeVar
from urllib.parse import parse_qs, unquote_to_bytes

import anyio
import msgspec

from creatorflow.actors.inventory import (
    Adjust,
    GetStock,
    InventoryMsg,
    SetStock,
    StockView,
    TikTokSkuRef,
)
from creatorflow.actors.stock_watcher import ContentObserved, GetSignals, SkuSignals
from creatorflow.domain.inventory import MAX_ON_HAND
from creatorflow.domain.limits import SkuId, is_valid_sku
from creatorflow.errors import (
    AdapterError,
    InventoryRefused,
    MailboxFull,
    RuntimeFault,
    WebhookRejected,
)
from creatorflow.ports import (
    MAX_ADJUSTMENT_KEY_CHARS,
    InventoryReader,
    PurchaseOrderRow,
    PurchaseOrderState,
    SkuRow,
    StockEventRow,
)
from creatorflow.web._http import (
    JSON,
    Receive,
    Scope,
    Send,
    header,
    read_body,
    respond_error,
    respond_json,
)
from creatorflow.web.orders import BadParameter, decode_cursor, encode_cursor

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
MAX_HISTORY: Final = 200
MAX_METRICS: Final = 500
MAX_BODY_BYTES: Final = 8192
METRICS_MAX_BODY_BYTES: Final = 131072  # 500 metrics of ~120 bytes, with room for long ids
MAX_QUANTITY: Final = MAX_ON_HAND  # units; far below the store's 64-bit columns
_INVENTORY: Final = "/api/inventory"
_PURCHASE_ORDERS: Final = "/api/purchase-orders"
_CONTENT_METRICS: Final = "/api/content-metrics"
_PO_STATES: Final[dict[str, PurchaseOrderState]] = {
    "requested": "requested",
    "confirmed": "confirmed",
    "delivered": "delivered",
    "received": "received",
    "failed": "failed",
}
_RETRY_AFTER: Final = ((b"retry-after", b"1"),)
#: How far ahead of this server's clock a content metric's ``at_ms`` may be (clock skew).
MAX_CLOCK_SKEW_MS: Final = 5 * 60_000
_MAX_I64: Final = 2**63 - 1
#: Longest Idempotency-Key accepted (characters; printable ASCII, so also bytes). Longer keys are
#: refused, never cut: a cut key would make two different keys one.
MAX_IDEMPOTENCY_KEY_CHARS: Final = MAX_ADJUSTMENT_KEY_CHARS
_IDEMPOTENCY_KEY: Final = b"idempotency-key"
_KEY_RE: Final = re.compile(rb"[\x20-\x7e]+")

#: A SKU id as this API accepts it (path segment or body field) is a ``domain.limits.SkuId``:
#: 1-128 characters, no control or bidi-override characters, not blank, not "." or "..". A "/"
#: (seller SKUs such as ``TEE/RED/L`` exist) travels in the path as ``%2F``.
_SKU_RULE: Final = (
    "1 to 128 characters; no control or bidirectional-override characters; not blank; "
    'not "." or ".."'
)
Quantity = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=0, le=_MAX_I64)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class TikTokBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    shop_id: NonEmpty
    product_id: NonEmpty
    sku_id: NonEmpty
    warehouse_id: Annotated[str, msgspec.Meta(max_length=128)] = ""


class SetStockBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/inventory/{sku}``: what to set (absent fields are left as they are)."""

    on_hand: Quantity | None = None
    safety_buffer: Quantity | None = None
    reason: Reason = "count"
    tiktok: TikTokBody | None = None


class AdjustBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /api/inventory/{sku}/adjustments``: ``delta`` (nonzero) units, and why."""

    delta: Annotated[int, msgspec.Meta(ge=-MAX_QUANTITY, le=MAX_QUANTITY)]
    reason: Reason


class ContentMetric(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One video's cumulative metrics for ``POST /api/content-metrics``."""

    sku: SkuId
    video_id: NonEmpty
    views: Count
    likes: Count = 0
    shares: Count = 0
    at_ms: Count | None = None


_SET = msgspec.json.Decoder(SetStockBody)
_ADJUST = msgspec.json.Decoder(AdjustBody)
_METRICS = msgspec.json.Decoder(
    ContentMetric
    | Annotated[list[ContentMetric], msgspec.Meta(min_length=1, max_length=MAX_METRICS)]
)


def check_sku(sku: str) -> str:
    """``sku`` if this API accepts it as a SKU id. Raises BadParameter (``sku``)."""
    if not is_valid_sku(sku):
        raise BadParameter("sku", _SKU_RULE)
    return sku


def idempotency_key(scope: Scope) -> str:
    """The request's ``Idempotency-Key`` (surrounding spaces and tabs removed), ``""`` without
    one. Raises _Refused (400 ``invalid_idempotency_key``): sent more than once, empty, longer
    than :data:`MAX_IDEMPOTENCY_KEY_CHARS`, or not printable ASCII."""
    values: list[bytes] = [value for name, value in scope["headers"] if name == _IDEMPOTENCY_KEY]
    if not values:
        return ""
    if len(values) > 1:
        raise _Refused(400, "invalid_idempotency_key", "send one Idempotency-Key header")
    key = values[0].strip(b" \t")
    if not key:
        raise _Refused(400, "invalid_idempotency_key", "Idempotency-Key is empty")
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise _Refused(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key is {len(key)} bytes; at most {MAX_IDEMPOTENCY_KEY_CHARS}",
        )
    if _KEY_RE.fullmatch(key) is None:
        raise _Refused(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be printable ASCII (space to '~'), no control characters",
        )
    return key.decode("ascii")


class InventoryApi:
    """Handlers of ``/api/inventory…``, ``/api/purchase-orders`` and ``/api/content-metrics``.

    Args:
        ask: sends one message to a SKU's actor and waits for its reply (``registry.ask``).
        reader: the store's inventory read side.
        clock_ms: wall-clock milliseconds, the default ``at_ms`` of content metrics.
        watcher_tell: gives the stock watcher a metric without waiting (``tell_nowait``:
            raises MailboxFull when full); None: content metrics answer 503.
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
        watcher_tell: Callable[[ContentObserved], None] | None = None,
        watcher_ask: Callable[[GetSignals], Awaitable[object]] | None = None,
        ask_timeout_s: float = 5.0,
        signals_timeout_s: float = 1.0,
    ) -> None:
        self._ask = ask
        self._reader = reader
        self._clock_ms = clock_ms
        self._watcher_tell = watcher_tell
        self._watcher_ask = watcher_ask
        self._ask_timeout_s = ask_timeout_s
        self._signals_timeout_s = signals_timeout_s

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` belongs to this API (so the app sends it to :meth:`dispatch`)."""
        if path.startswith(_INVENTORY + "/"):
            return True
        return path in (_INVENTORY, _PURCHASE_ORDERS, _CONTENT_METRICS)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request whose path :meth:`handles`; 400 / 404 / 405 for the rest."""
        method: str = scope["method"]
        path: str = scope["path"]
        try:
            if path == _PURCHASE_ORDERS:
                _allow(method, "GET")
                await self.list_purchase_orders(scope, send)
            elif path == _CONTENT_METRICS:
                _allow(method, "POST")
                await self.content_metrics(scope, receive, send)
            else:
                await self._inventory(method, scope, receive, send)
        except _Refused as exc:
            await respond_error(send, exc.status, exc.code, exc.detail)
        except BadParameter as exc:
            payload = {"error": "invalid_parameter", "detail": str(exc)}
            await respond_json(send, 400, payload | {"parameter": exc.parameter})

    async def _inventory(self, method: str, scope: Scope, receive: Receive, send: Send) -> None:
        parts = _segments(scope)
        if parts is None:
            raise _Refused(404, "not_found", f"no route for {method} {scope['path']}")
        if not parts:
            _allow(method, "GET")
            await self.list_skus(scope, send)
        elif len(parts) == 1:
            _allow(method, "GET", "PUT")
            sku = check_sku(parts[0])
            if method == "GET":
                await self.get_stock(sku, scope, send)
            else:
                await self.set_stock(sku, scope, receive, send)
        elif len(parts) == 2 and parts[1] == "adjustments":
            _allow(method, "POST")
            await self.adjust(check_sku(parts[0]), scope, receive, send)
        elif len(parts) == 2 and parts[1] == "reservations":
            _allow(method, "GET")
            await self.reservations(check_sku(parts[0]), send)
        else:
            raise _Refused(404, "not_found", f"no route for {method} {scope['path']}")

    # ------------------------------------------------------------------ SKU routes

    async def get_stock(self, sku: str, scope: Scope, send: Send) -> None:
        """``GET /api/inventory/{sku}``: the live view, signals and (optionally) history."""
        query = _query(scope)
        history = _int_param(query, "history", 0, 0, MAX_HISTORY)
        view = await self._ask_view(sku, GetStock(), send)
        if view is None:
            return
        payload = _view(view) | {"signals": await self._signals(sku)}
        if history:
            try:
                events = await self._reader.stock_events(sku, limit=history)
            except AdapterError as exc:
                await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
                return
            payload["history"] = [_event(event) for event in events]
        await respond_json(send, 200, payload)

    async def set_stock(self, sku: str, scope: Scope, receive: Receive, send: Send) -> None:
        """``PUT /api/inventory/{sku}``: SetStock (creates the SKU); answers the new view."""
        body = await _read(scope, receive, MAX_BODY_BYTES, _SET, "a stock body")
        if body.on_hand is None and body.safety_buffer is None and body.tiktok is None:
            raise _Refused(400, "bad_body", "give at least one of on_hand, safety_buffer, tiktok")
        ref = body.tiktok
        tiktok = None
        if ref is not None:
            tiktok = TikTokSkuRef(
                shop_id=ref.shop_id,
                product_id=ref.product_id,
                sku_id=ref.sku_id,
                warehouse_id=ref.warehouse_id,
            )
        msg = SetStock(
            on_hand=body.on_hand,
            safety_buffer=body.safety_buffer,
            reason=body.reason,
            tiktok=tiktok,
        )
        view = await self._ask_view(sku, msg, send)
        if view is not None:
            await respond_json(send, 200, _view(view))

    async def adjust(self, sku: str, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /api/inventory/{sku}/adjustments``: Adjust; answers the new view (or, for a
        repeated Idempotency-Key, the current one; see the module docstring)."""
        key = idempotency_key(scope)
        body = await _read(scope, receive, MAX_BODY_BYTES, _ADJUST, "an adjustment body")
        if body.delta == 0:
            raise _Refused(400, "bad_body", "delta must not be 0")
        view = await self._ask_view(
            sku, Adjust(delta=body.delta, reason=body.reason, key=key), send
        )
        if view is not None:
            await respond_json(send, 200, _view(view))

    async def reservations(self, sku: str, send: Send) -> None:
        """``GET /api/inventory/{sku}/reservations``: the holds that count now (a hold past its
        expiry no longer counts, even before the keeper sweeps it)."""
        try:
            rows = await self._reader.held_reservations(sku)
            # Holds may name a SKU without a row, so only an empty answer needs the SKU row.
            unknown = not rows and await self._reader.get_sku(sku) is None
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        if unknown:
            await respond_error(send, 404, "not_found", f"no SKU {sku!r}")
            return
        now_ms = self._clock_ms()
        holds = [
            {
                "order_id": row.order_id,
                "qty": row.qty,
                "expires_at_ms": row.expires_at_ms,
                "created_at_ms": row.created_at_ms,
            }
            for row in rows
            if row.expires_at_ms is None or row.expires_at_ms > now_ms
        ]
        await respond_json(send, 200, {"sku": sku, "reservations": holds})

    async def _ask_view(self, sku: str, msg: InventoryMsg, send: Send) -> StockView | None:
        """Ask the SKU's actor; its view, or None once an error was answered."""
        try:
            with anyio.fail_after(self._ask_timeout_s):
                reply = await self._ask(sku, msg)
        except InventoryRefused as exc:
            await respond_error(send, 409, exc.code, exc.detail)
            return None
        except KeyError:
            await respond_error(send, 404, "not_found", f"no SKU {sku!r}")
            return None
        except TimeoutError:
            detail = f"the SKU's actor did not answer within {self._ask_timeout_s} s"
            await respond_error(send, 503, "inventory_timeout", detail, _RETRY_AFTER)
            return None
        except AdapterError as exc:
            # The store could not load the SKU or write the change.
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return None
        except RuntimeFault as exc:
            # ActorStopped / ActorCrashed / MailboxFull.
            await respond_error(send, 503, "inventory_unavailable", str(exc), _RETRY_AFTER)
            return None
        if not isinstance(reply, StockView):
            raise TypeError(f"SKU actor answered {type(reply).__name__}, not StockView")
        return reply

    async def _signals(self, sku: str) -> dict[str, Any] | None:
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
                return {
                    "viral": reply.viral,
                    "rate_per_hour": reply.rate_per_hour,
                    "baseline_per_hour": reply.baseline_per_hour,
                    "time_to_stockout_s": reply.time_to_stockout_s,
                }
        return None

    # ------------------------------------------------------------------ lists

    async def list_skus(self, scope: Scope, send: Send) -> None:
        """``GET /api/inventory``: one page of SKUs from the store (see the module docstring)."""
        query = _query(scope)
        below = _opt_int(query, "below")
        limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = _one(query, "cursor")
        after = None if cursor is None else decode_cursor(cursor)
        try:
            # One extra row tells whether another page exists without a count query.
            rows = await self._reader.list_skus(after=after, available_below=below, limit=limit + 1)
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        page = rows[:limit]
        more = len(rows) > limit
        await respond_json(
            send,
            200,
            {
                "skus": [_sku_summary(row) for row in page],
                "next_cursor": encode_cursor(page[-1].sku) if more else None,
            },
        )

    async def list_purchase_orders(self, scope: Scope, send: Send) -> None:
        """``GET /api/purchase-orders``: one page of purchase orders from the store."""
        query = _query(scope)
        sku = _one(query, "sku")
        if sku is not None:
            sku = check_sku(sku)
        states = _states(query)
        limit = _int_param(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = _one(query, "cursor")
        after = None if cursor is None else decode_cursor(cursor)
        try:
            rows = await self._reader.purchase_orders(
                sku=sku, states=states, after=after, limit=limit + 1
            )
        except AdapterError as exc:
            await respond_error(send, 503, "store_unavailable", str(exc), _RETRY_AFTER)
            return
        page = rows[:limit]
        more = len(rows) > limit
        await respond_json(
            send,
            200,
            {
                "purchase_orders": [_purchase_order(row) for row in page],
                "next_cursor": encode_cursor(page[-1].po_id) if more else None,
            },
        )

    # ------------------------------------------------------------------ content metrics

    async def content_metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /api/content-metrics``: tell the watcher each metric, in order (202)."""
        tell = self._watcher_tell
        if tell is None:
            raise _Refused(503, "watcher_unavailable", "no stock watcher is running")
        body = await _read(
            scope, receive, METRICS_MAX_BODY_BYTES, _METRICS, "a content metric or a list of them"
        )
        metrics = [body] if isinstance(body, ContentMetric) else body
        now_ms = self._clock_ms()
        for metric in metrics:
            if metric.at_ms is not None and metric.at_ms > now_ms + MAX_CLOCK_SKEW_MS:
                raise _Refused(
                    400,
                    "bad_body",
                    f"at_ms {metric.at_ms} is in the future (now {now_ms}); leave it out for now",
                )
        for accepted, metric in enumerate(metrics):
            msg = ContentObserved(
                sku=metric.sku,
                video_id=metric.video_id,
                views=metric.views,
                likes=metric.likes,
                shares=metric.shares,
                at_ms=now_ms if metric.at_ms is None else metric.at_ms,
            )
            try:
                tell(msg)
            except RuntimeFault as exc:
                # MailboxFull sheds load; ActorStopped: the watcher is gone (restarting or down).
                code = "watcher_busy" if isinstance(exc, MailboxFull) else "watcher_unavailable"
                detail = f"{exc}; the first {accepted} metrics were accepted"
                payload = {"error": code, "detail": detail, "accepted": accepted}
                await respond_json(send, 503, payload, _RETRY_AFTER)
                return
        await respond_json(send, 202, {"accepted": len(metrics)})


# --------------------------------------------------------------------------- helpers


class _Refused(Exception):
    """An error answer decided before any work was done (routing, body, query)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _allow(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise _Refused(405, "method_not_allowed", f"{method} not allowed; use {', '.join(allowed)}")


def _segments(scope: Scope) -> list[str] | None:
    """The path segments after ``/api/inventory``, each percent-decoded once.

    From ``raw_path`` when the server gives it (so ``%2F`` stays inside its segment and the SKU
    check can refuse it); else from the already decoded ``path``. None: not an inventory path.
    Raises BadParameter (``sku``) for a segment that is not UTF-8.
    """
    raw = scope.get("raw_path")
    prefix = _INVENTORY.encode()
    if isinstance(raw, bytes):
        raw = raw.split(b"?", 1)[0]  # some servers and test clients leave the query on it
        if raw == prefix:
            return []
        if raw.startswith(prefix + b"/"):
            try:
                return [unquote_to_bytes(s).decode() for s in raw[len(prefix) + 1 :].split(b"/")]
            except UnicodeDecodeError:
                raise BadParameter("sku", "not UTF-8 once percent-decoded") from None
    # No raw path, or one that does not match (mounted under a root path): ``path`` is decoded.
    path: str = scope["path"]
    if path == _INVENTORY:
        return []
    if path.startswith(_INVENTORY + "/"):
        return path[len(_INVENTORY) + 1 :].split("/")
    return None


_T = TypeVar("_T")


async def _read(
    scope: Scope, receive: Receive, max_bytes: int, decoder: msgspec.json.Decoder[_T], what: str
) -> _T:
    """The request body decoded. Raises _Refused (400 / 413 / 415)."""
    content_type = header(scope, b"content-type")
    if content_type is not None and content_type.split(b";", 1)[0].strip().lower() != JSON:
        raise _Refused(415, "unsupported_media_type", "Content-Type must be application/json")
    try:
        raw = await read_body(scope, receive, max_bytes)
    except WebhookRejected as exc:
        raise _Refused(exc.status, exc.code, exc.detail) from None
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _Refused(400, "bad_body", f"expected {what}: {exc}") from None


def _query(scope: Scope) -> dict[str, list[str]]:
    raw: bytes = scope.get("query_string", b"")
    return parse_qs(raw.decode("latin-1"), keep_blank_values=False)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _opt_int(query: dict[str, list[str]], name: str) -> int | None:
    given = _one(query, name)
    if given is None:
        return None
    try:
        value = int(given)
    except ValueError:
        raise BadParameter(name, "must be an integer") from None
    if abs(value) > _MAX_I64:
        raise BadParameter(name, "out of range")
    return value


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    given = _one(query, name)
    if given is None:
        return default
    try:
        value = int(given)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadParameter(name, f"must be an integer from {low} to {high}")
    return value


def _states(query: dict[str, list[str]]) -> Sequence[PurchaseOrderState]:
    states: list[PurchaseOrderState] = []
    for given in query.get("state", ()):
        for name in given.split(","):
            state = _PO_STATES.get(name.strip().lower())
            if state is None:
                raise BadParameter("state", f"must be among {', '.join(_PO_STATES)}")
            if state not in states:
                states.append(state)
    return states


def _view(view: StockView) -> dict[str, Any]:
    tiktok = None
    if view.product_id:  # as the actor: a ref without a product id was never set
        tiktok = {
            "shop_id": view.shop_id,
            "product_id": view.product_id,
            "sku_id": view.sku_id,
            "warehouse_id": view.warehouse_id,
        }
    return {
        "sku": view.sku,
        "on_hand": view.on_hand,
        "reserved": view.reserved,
        "available": view.available,
        "sellable": view.sellable,
        "safety_buffer": view.safety_buffer,
        "holds": view.holds,
        "open_po_qty": view.open_po_qty,
        "tiktok": tiktok,
    }


def _sku_summary(row: SkuRow) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "on_hand": row.on_hand,
        "reserved": row.reserved,
        "available": row.on_hand - row.reserved,
        "safety_buffer": row.safety_buffer,
        "updated_at_ms": row.updated_at_ms,
    }


def _event(event: StockEventRow) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at_ms": event.at_ms,
        "kind": event.kind,
        "order_id": event.order_id,
        "delta_on_hand": event.delta_on_hand,
        "delta_reserved": event.delta_reserved,
        "on_hand": event.on_hand,
        "reserved": event.reserved,
        "reason": event.reason,
    }


def _purchase_order(row: PurchaseOrderRow) -> dict[str, Any]:
    try:
        detail: Any = msgspec.json.decode(row.detail) if row.detail else None
    except msgspec.DecodeError:
        detail = row.detail.decode("utf-8", "replace")
    return {
        "po_id": row.po_id,
        "sku": row.sku,
        "supplier_id": row.supplier_id,
        "qty": row.qty,
        "state": row.state,
        "created_at_ms": row.created_at_ms,
        "expected_at_ms": row.expected_at_ms,
        "updated_at_ms": row.updated_at_ms,
        "detail": detail,
    }
