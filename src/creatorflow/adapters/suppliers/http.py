"""A supplier reached over its JSON HTTP API: implements :class:`~creatorflow.ports.Supplier`.

Wire contract (the one :mod:`creatorflow.sandbox.supplier` serves)::

    POST {base_url}/v1/purchase-orders        Idempotency-Key: <po_id>  {"po_id", "sku", "qty"}
         → 201 (created) / 200 (already known) {order}
    GET  {base_url}/v1/purchase-orders/{po_id} → 200 {order} / 404

Per call::

    retry(max_attempts, Backoff(backoff_min_s .. backoff_max_s, jitter), Retry-After honoured
          up to retry_max_wait_s):
        breaker.allow()                        → CircuitOpen at once when open (not retried)
        send the same bytes, the same Idempotency-Key, on every attempt
        translate the answer (below)

Translation (what is retried is exactly what ``SupplierError.retryable`` says)::

    answer or failure                                  → raised                 breaker
    ├── 200/201 with an order for this po_id           → the SupplierOrder      success
    ├── GET 404                                        → None                   success
    ├── 429                                            → retryable (Retry-After) ignored
    ├── 5xx, 408                                       → retryable (Retry-After) failure
    ├── 2xx whose body is not JSON (a proxy in the way) → retryable              failure
    ├── httpx timeout / transport error                → retryable, status 0    failure
    ├── other 4xx (401, 409 conflict, 422 refusal, …)  → not retryable          success
    └── 2xx JSON that is not the order asked about     → not retryable          success

A retry after a lost answer is safe because the supplier keys the order by ``po_id``. Driver
exceptions never leave this module: they are translated and chained.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

import anyio
import httpx
import msgspec

from creatorflow.errors import SupplierError
from creatorflow.ports import SupplierOrder
from creatorflow.runtime import (
    Backoff,
    BreakerState,
    CircuitBreaker,
    MonotonicClock,
    SystemMonotonicClock,
    retry,
)

__all__ = ["HttpSupplier", "HttpSupplierSettings", "open_http_supplier"]

logger = logging.getLogger("creatorflow.suppliers")

ORDERS_PATH: Final = "/v1/purchase-orders"
_THREE_DAYS_S: Final = 3 * 24 * 3600.0
#: ``runtime.retry`` accepts at most this many attempts.
_MAX_ATTEMPTS: Final = 20


class HttpSupplierSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one HTTP supplier; units in the names.

    Attributes:
        supplier_id: stable id (the config key), stored on purchase orders.
        base_url: the supplier API's root, e.g. ``http://127.0.0.1:8091``.
        api_key: sent as ``Authorization: Bearer <api_key>``.
        lead_time_s: nominal order-to-delivery time, for forecasts (the port's ``lead_time_s``).
        timeout_s: per HTTP attempt (connect, read, write, pool), not per call.
        max_attempts: attempts per call including the first (1-20).
        backoff_min_s, backoff_max_s, backoff_jitter: the runtime ``Backoff`` between attempts.
        retry_max_wait_s: cap on a server's ``Retry-After``.
        breaker_failures: consecutive failed attempts that open the breaker.
        breaker_failure_rate, breaker_min_calls, breaker_window: ...or this failure rate over
            at least ``breaker_min_calls`` of the last ``breaker_window`` attempts.
        breaker_open_s: how long the breaker refuses calls before one probe.

    Raises:
        ValueError: an empty ``supplier_id`` or ``base_url``, or a value out of range (the
            breaker and backoff check their own arguments when the supplier is built).
    """

    supplier_id: str
    base_url: str
    api_key: str
    lead_time_s: float = _THREE_DAYS_S
    timeout_s: float = 10.0
    max_attempts: int = 5
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_jitter: float = 0.5
    retry_max_wait_s: float = 60.0
    breaker_failures: int = 5
    breaker_failure_rate: float = 0.5
    breaker_min_calls: int = 20
    breaker_window: int = 50
    breaker_open_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.supplier_id or not self.base_url:
            raise ValueError("supplier_id and base_url are required")
        if not 1 <= self.max_attempts <= _MAX_ATTEMPTS:
            raise ValueError(f"max_attempts must be within [1, {_MAX_ATTEMPTS}]")
        if self.timeout_s <= 0 or self.lead_time_s < 0 or self.retry_max_wait_s < 0:
            raise ValueError("timeout_s must be > 0; lead_time_s, retry_max_wait_s >= 0")

    def __repr__(self) -> str:  # never print the key
        return (
            f"HttpSupplierSettings(supplier_id={self.supplier_id!r}, "
            f"base_url={self.base_url!r}, lead_time_s={self.lead_time_s!r})"
        )


class HttpSupplier:
    """The :class:`~creatorflow.ports.Supplier` port over HTTP. Owns one ``httpx.AsyncClient``.

    Nothing connects until the first call. Close it with :meth:`aclose` (or ``async with``,
    or build it with :func:`open_http_supplier`); a closed supplier must not be called.

    Args:
        settings: endpoint, key and resilience settings.
        transport: httpx transport (``httpx.ASGITransport`` to the in-process sandbox,
            ``httpx.MockTransport`` in tests); default: real HTTP.
        clock: monotonic clock of the backoff sleeps and the breaker (tests: ``FakeClock``).
        rng: jitter source (seeded in tests).
        on_breaker_change: told ``(breaker name, state)`` on every transition; must not raise.
    """

    def __init__(
        self,
        settings: HttpSupplierSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: MonotonicClock | None = None,
        rng: random.Random | None = None,
        on_breaker_change: Callable[[str, BreakerState], None] | None = None,
    ) -> None:
        self.settings = settings
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonicClock()
        self._backoff = Backoff(
            settings.backoff_min_s,
            settings.backoff_max_s,
            jitter=settings.backoff_jitter,
            rng=rng,
        )
        self.breaker = CircuitBreaker(
            f"supplier/{settings.supplier_id}",
            clock=self._clock,
            failure_threshold=settings.breaker_failures,
            failure_rate=settings.breaker_failure_rate,
            min_calls=settings.breaker_min_calls,
            window=settings.breaker_window,
            open_s=settings.breaker_open_s,
            on_state_change=on_breaker_change,
        )
        headers = {"accept": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            transport=transport,
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,
            headers=headers,
        )

    @property
    def supplier_id(self) -> str:
        """Stable id of this supplier (``settings.supplier_id``)."""
        return self.settings.supplier_id

    @property
    def lead_time_s(self) -> float:
        """Nominal order-to-delivery time in seconds (``settings.lead_time_s``)."""
        return self.settings.lead_time_s

    async def place_order(self, *, po_id: str, sku: str, qty: int) -> SupplierOrder:
        """Order ``qty`` units of ``sku`` under the idempotency key ``po_id``.

        Placing a known ``po_id`` again returns the supplier's existing order (never a second
        one). Blocks for the HTTP calls and the backoff between attempts (checkpoints).

        Raises:
            ValueError: empty or non-ASCII ``po_id`` (it travels in a header), empty ``sku``,
                or ``qty`` < 1 (nothing is sent).
            CircuitOpen: the breaker refuses calls (nothing more was sent).
            SupplierError: the supplier refused (``retryable`` False: 401, 409 for a ``po_id``
                used with another SKU or quantity, 422 unknown SKU or bad quantity, …) or is
                unavailable after ``max_attempts`` (``retryable`` True).
        """
        if not po_id or not po_id.isascii() or not sku or qty < 1:
            raise ValueError("place_order needs an ASCII po_id, a sku and qty >= 1")
        body = msgspec.json.encode({"po_id": po_id, "sku": sku, "qty": qty})
        headers = {"idempotency-key": po_id, "content-type": "application/json"}
        order = await self._call("POST", ORDERS_PATH, po_id, body=body, headers=headers)
        assert order is not None  # a POST never answers "unknown"
        if (order.sku, order.qty) != (sku, qty):
            raise SupplierError(
                f"order {po_id!r} came back as {order.qty} x {order.sku!r}", retryable=False
            )
        return order

    async def get_order(self, po_id: str) -> SupplierOrder | None:
        """The supplier's current view of ``po_id``, or None when it does not know it.

        Blocks like :meth:`place_order`.

        Raises:
            ValueError: empty ``po_id``.
            CircuitOpen: the breaker refuses calls.
            SupplierError: as for :meth:`place_order`.
        """
        if not po_id:
            raise ValueError("get_order needs a po_id")
        return await self._call("GET", f"{ORDERS_PATH}/{quote(po_id, safe='')}", po_id)

    async def aclose(self) -> None:
        """Close the HTTP connections. Idempotent."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"HttpSupplier({self.supplier_id!r}, breaker={self.breaker.state.name})"

    # ------------------------------------------------------------------ one call

    async def _call(
        self,
        method: str,
        path: str,
        po_id: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> SupplierOrder | None:
        # The Retry-After of the attempt that just failed; retry() reads it right after.
        asked: list[float | None] = [None]

        async def attempt() -> SupplierOrder | None:
            asked[0] = None
            permit = self.breaker.allow()
            try:
                response = await self._send(method, path, body, headers)
            except SupplierError as exc:
                # A transport failure says the supplier is unhealthy; a bad URL says nothing.
                if exc.retryable:
                    self.breaker.record_failure(permit)
                else:
                    self.breaker.record_ignored(permit)
                raise
            except BaseException:
                self.breaker.record_ignored(permit)
                raise
            status = response.status_code
            if status == 429 or status == 408 or status >= 500:
                asked[0] = _retry_after(response.headers.get("retry-after"))
                if status == 429:
                    self.breaker.record_ignored(permit)  # up, but we are too fast
                else:
                    self.breaker.record_failure(permit)
                raise SupplierError(
                    f"{method} {path}: {_detail(response)}", retryable=True, status=status
                )
            try:
                order = _read(method, path, po_id, response)
            except SupplierError as exc:
                if exc.retryable:
                    self.breaker.record_failure(permit)
                else:
                    self.breaker.record_success(permit)
                raise
            self.breaker.record_success(permit)
            return order

        def on_retry(number: int, exc: Exception, delay: float) -> None:
            logger.info("supplier %s: retry %d in %.2f s: %s", self.supplier_id, number, delay, exc)

        return await retry(
            attempt,
            attempts=self.settings.max_attempts,
            backoff=self._backoff,
            clock=self._clock,
            is_retryable=lambda exc: isinstance(exc, SupplierError) and exc.retryable,
            retry_after=lambda exc: asked[0],
            max_retry_after_s=self.settings.retry_max_wait_s,
            on_retry=on_retry,
        )

    async def _send(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> httpx.Response:
        try:
            return await self._http.request(method, path, content=body, headers=headers)
        except httpx.TransportError as exc:  # timeouts, connect errors, resets, protocol
            raise SupplierError(
                f"{method} {path}: {type(exc).__name__}: {exc}", retryable=True
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise SupplierError(
                f"{method} {path}: {type(exc).__name__}: {exc}", retryable=False
            ) from exc


@asynccontextmanager
async def open_http_supplier(
    settings: HttpSupplierSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: MonotonicClock | None = None,
    rng: random.Random | None = None,
    on_breaker_change: Callable[[str, BreakerState], None] | None = None,
) -> AsyncIterator[HttpSupplier]:
    """An :class:`HttpSupplier` whose connections close when the block exits (even cancelled).

    Arguments as for :class:`HttpSupplier`. Nothing connects on entry.
    """
    supplier = HttpSupplier(
        settings, transport=transport, clock=clock, rng=rng, on_breaker_change=on_breaker_change
    )
    try:
        yield supplier
    finally:
        with anyio.CancelScope(shield=True):
            await supplier.aclose()


def _read(method: str, path: str, po_id: str, response: httpx.Response) -> SupplierOrder | None:
    """The order in a non-5xx answer, None for a GET 404; raises SupplierError otherwise."""
    status = response.status_code
    if method == "GET" and status == 404:
        return None
    if not 200 <= status < 300:
        raise SupplierError(f"{method} {path}: {_detail(response)}", retryable=False, status=status)
    try:
        raw = msgspec.json.decode(response.content)
    except msgspec.DecodeError as exc:
        raise SupplierError(
            f"{method} {path}: the answer is not JSON", retryable=True, status=status
        ) from exc
    try:
        order = msgspec.convert(raw, SupplierOrder)
    except msgspec.ValidationError as exc:
        raise SupplierError(
            f"{method} {path}: unreadable order: {exc}", retryable=False, status=status
        ) from exc
    if order.po_id != po_id:
        raise SupplierError(
            f"{method} {path}: answer is about {order.po_id!r}", retryable=False, status=status
        )
    return order


def _detail(response: httpx.Response) -> str:
    """``error: detail`` of an error answer, else its status line."""
    try:
        payload = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        payload = None
    if isinstance(payload, dict) and "error" in payload:
        return f"{payload['error']}: {payload.get('detail', '')}"
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _retry_after(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
