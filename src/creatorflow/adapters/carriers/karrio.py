"""The carrier gateway over Karrio's REST API v1: implements
:class:`~creatorflow.ports.shipping.CarrierGateway`.

Wire contract (``../shared/reference/shipping-apis.md`` §1; every call sends
``Authorization: Token <api_key>``)::

    rate               POST /v1/proxy/rates                      → 200 {rates[], messages[]}
    create_shipment    POST /v1/shipments  (X-Request-ID)        → 201 draft + rates[]
    purchase           POST /v1/shipments/{id}/purchase  (X-Request-ID)
                            {selected_rate_id, label_type}       → 200 "created" + label
    cancel             POST /v1/shipments/{id}/cancel            → 200, or 202 when already
    get_shipment       GET  /v1/shipments/{id}
    find_by_request_id GET  /v1/shipments?request_id=K           (exact, on meta.request_id)
    find_by_reference  GET  /v1/shipments?reference=R            (substring, any case: the
                                                                  exact match is ours to do)
    label              POST /v1/shipments/{id}/documents/label   → {format, base64}
    track              GET  /v1/trackers/{tracking_number}

Finding a shipment after a lost reply, as the real server (2026.1.32) behaves: Karrio stores
the ``X-Request-ID`` of the create as ``meta.request_id`` and **replaces** it with the
purchase's; a cancel leaves it. An id outside ``[A-Za-z0-9_.-]{1,200}`` is silently replaced
by one of Karrio's own, so ours are checked before sending. There is no idempotency key:
the same create sent twice makes two drafts; a second purchase is refused with 409. Hence
one ``request_id`` per attempt, sent on create *and* purchase, and ``find_by_request_id``
before any retry. ``reference`` filtering is ``icontains`` (``order-1`` finds ``order-10``):
the answer is filtered to exact matches here. ``metadata_value`` would be exact but scans
every shipment in Python on the server, so it is not used. ``services`` too is filtered
again here: Karrio applies it per carrier (a carrier with none of the services asked quotes
all of its own).

Nothing is retried here: the carrier pool owns retries, failover and breakers. Errors are
translated at this boundary (``_karrio_errors``) and chained; answers are read up to
``max_response_bytes`` and decoded with tolerant Structs (``_karrio_wire``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import anyio
import httpx
import msgspec

from creatorflow.adapters.carriers import _karrio_wire as wire
from creatorflow.adapters.carriers._karrio_errors import error_for, translating_transport
from creatorflow.adapters.carriers._karrio_settings import KarrioSettings
from creatorflow.domain.shipping import (
    Label,
    LabelType,
    Rate,
    RateQuote,
    Shipment,
    ShipmentRequest,
    Tracker,
    check_reference,
    check_request_id,
)
from creatorflow.errors import AllCarriersFailed, CarrierNotFound, CarrierUnavailable

__all__ = ["KarrioGateway", "KarrioSettings", "open_karrio_gateway"]

_T = TypeVar("_T")
_PATH_ID: Final = re.compile(r"[^\x00-\x20\x7f-\x9f/?#]{1,128}")


class KarrioGateway:
    """The carrier gateway port over Karrio. Owns one ``httpx.AsyncClient``.

    Nothing connects until the first call. Close it with :meth:`aclose` (or ``async with``,
    or build it with :func:`open_karrio_gateway`); a closed gateway must not be called.
    Safe to call concurrently (up to ``max_connections`` requests in flight).

    Args:
        settings: URL, key and bounds.
        transport: httpx transport (``httpx.ASGITransport`` to the in-process sandbox
            carriers, ``httpx.MockTransport`` in tests); default: real HTTP.
    """

    def __init__(
        self, settings: KarrioSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        headers = {"accept": "application/json"}
        if settings.api_key:
            headers["authorization"] = f"Token {settings.api_key}"
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            transport=transport,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=httpx.Limits(max_connections=settings.max_connections),
            follow_redirects=False,
            headers=headers,
        )

    # ------------------------------------------------------------------ rating

    async def rate(self, request: ShipmentRequest) -> RateQuote:
        """Rates from every carrier ``request`` allows (see the port). Carriers that failed
        and quotes that are not exact in minor units are listed in ``failures``.

        Raises:
            AllCarriersFailed: no rate, and at least one carrier failed (Karrio's 424).
            CarrierRejected: the request is invalid (400: bad address, no parcel).
            CarrierNotFound: none of ``carrier_ids`` is an active connection.
            CarrierError: any other refusal or failure (module docstring of
                ``_karrio_errors``).
        """
        what = "POST /v1/proxy/rates"
        data = await self._call("POST", "/v1/proxy/rates", what, body=wire.rate_body(request))
        answer = self._decode(data, wire.WireRates, what)
        usable, unusable = wire.rates(answer.rates)
        usable = _only(usable, request.services)
        failed = [wire.failure(m) for m in answer.messages or ()]
        if not usable and failed:  # Karrio answers 424 itself; a 200 like this means the same
            raise AllCarriersFailed(
                f"{what}: every carrier failed",
                failures=tuple((f.carrier, f.message) for f in failed),
                status=200,
            )
        return RateQuote(rates=tuple(usable), failures=(*failed, *unusable))

    # ------------------------------------------------------------------ shipping

    async def create_shipment(
        self, request: ShipmentRequest, *, request_id: str, reference: str
    ) -> Shipment:
        """A draft shipment with its rates (``X-Request-ID: request_id``); nothing bought.

        Raises:
            ValueError: ``request_id`` or ``reference`` unusable (nothing sent).
            CarrierRejected, CarrierNotFound, CarrierError: as for :meth:`rate`.
        """
        check_request_id(request_id)
        check_reference(reference)
        body = wire.shipment_body(request, reference)
        what = "POST /v1/shipments"
        data = await self._call(
            "POST", "/v1/shipments", what, body=body, headers={"x-request-id": request_id}
        )
        draft = self._shipment(data, what)
        if request.services:
            draft = msgspec.structs.replace(
                draft, rates=tuple(_only(draft.rates, request.services))
            )
        return draft

    async def purchase(
        self, shipment_id: str, rate_id: str, *, request_id: str, label_type: LabelType = "PDF"
    ) -> Shipment:
        """Buy the draft's label at ``rate_id`` (``X-Request-ID: request_id``, the same id
        as its create) in ``label_type`` (always sent: Karrio's purchase defaults to PDF
        whatever the draft says). The answer has the label bytes; when the gateway sent
        none they are fetched (one more call).

        Raises:
            ValueError: an unusable id (nothing sent).
            CarrierStateError: bought (or cancelled) already: look it up, never buy again.
            CarrierRejected: ``rate_id`` is not one of this draft's (``service_unavailable``).
            CarrierNotFound: unknown shipment.
            AllCarriersFailed: the carrier failed; nothing was bought.
            CarrierUnavailable: no usable answer; with ``maybe_applied`` it may be bought.
        """
        check_request_id(request_id)
        path = f"/v1/shipments/{_path_id('shipment_id', shipment_id)}/purchase"
        _path_id("rate_id", rate_id)  # checked like an id; sent as it is, in the body
        body = {"selected_rate_id": rate_id, "label_type": label_type}
        what = f"POST {path}"
        data = await self._call("POST", path, what, body=body, headers={"x-request-id": request_id})
        bought = self._shipment(data, what)
        if bought.label is None and bought.status.labelled:
            bought = msgspec.structs.replace(bought, label=await self.label(bought.shipment_id))
        return bought

    async def cancel(self, shipment_id: str) -> Shipment:
        """Void the label or drop the draft; cancelling twice is fine (Karrio: 202).

        Raises:
            CarrierStateError: too late to cancel. CarrierNotFound: unknown shipment.
        """
        path = f"/v1/shipments/{_path_id('shipment_id', shipment_id)}/cancel"
        what = f"POST {path}"
        return self._shipment(await self._call("POST", path, what), what)

    # ------------------------------------------------------------------ lookups

    async def get_shipment(self, shipment_id: str) -> Shipment:
        """The shipment, without label bytes. Raises CarrierNotFound when unknown."""
        path = f"/v1/shipments/{_path_id('shipment_id', shipment_id)}"
        what = f"GET {path}"
        return self._shipment(await self._call("GET", path, what), what)

    async def find_by_request_id(self, request_id: str) -> tuple[Shipment, ...]:
        """Shipments whose last create or purchase carried ``request_id``; empty if none.

        Raises:
            ValueError: not a request id Karrio keeps (nothing sent).
        """
        check_request_id(request_id)
        found = await self._list({"request_id": request_id}, pages=1)
        return self._shipments(s for s in found if (s.meta or {}).get("request_id") == request_id)

    async def find_by_reference(self, reference: str) -> tuple[Shipment, ...]:
        """Shipments whose reference is exactly ``reference`` (Karrio matches substrings in
        any case; those are dropped), reading at most ``find_max_pages`` pages.

        Raises:
            ValueError: an unusable reference (nothing sent).
        """
        check_reference(reference)
        found = await self._list({"reference": reference}, pages=self.settings.find_max_pages)
        return self._shipments(s for s in found if s.reference == reference)

    async def label(self, shipment_id: str) -> Label:
        """The label of a bought shipment.

        Raises:
            CarrierNotFound: unknown shipment, or the gateway has no label bytes for it.
        """
        path = f"/v1/shipments/{_path_id('shipment_id', shipment_id)}/documents/label"
        what = f"POST {path}"
        doc = self._decode(await self._call("POST", path, what), wire.WireDocument, what)
        if not doc.base64:
            raise CarrierNotFound(f"{what}: no label bytes", status=200)
        try:
            return wire.label_of(doc.base64, doc.format)
        except wire.Unreadable as exc:
            raise CarrierUnavailable(f"{what}: {exc}", status=200) from exc

    # ------------------------------------------------------------------ tracking

    async def track(self, tracking_number: str) -> Tracker:
        """The tracker of ``tracking_number``. Raises CarrierNotFound when there is none."""
        path = f"/v1/trackers/{_path_id('tracking_number', tracking_number)}"
        what = f"GET {path}"
        answer = self._decode(await self._call("GET", path, what), wire.WireTracker, what)
        try:
            return wire.tracker(answer)
        except wire.Unreadable as exc:
            raise CarrierUnavailable(f"{what}: {exc}", status=200) from exc

    # ------------------------------------------------------------------ life cycle

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
        return f"KarrioGateway({self.settings.base_url!r})"

    # ------------------------------------------------------------------ one call

    async def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
    ) -> bytes:
        """Send one request; the 2xx body, or the translated error."""
        content = None
        sent_headers = dict(headers or {})
        if body is not None:
            content = msgspec.json.encode(body)
            sent_headers["content-type"] = "application/json"
        limit = self.settings.max_response_bytes
        with translating_transport(what):
            async with self._http.stream(
                method, path, content=content, headers=sent_headers, params=params
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise CarrierUnavailable(
                        f"{what}: answer of {declared} bytes; at most {limit}",
                        status=response.status_code,
                    )
                # Past the bound the rest is read and dropped, not stored: leaving httpx's
                # nested async generators half-consumed warns on trio (encode/httpx#3686),
                # and the caller's deadline bounds the time anyway.
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size <= limit:
                        chunks.append(chunk)
                status = response.status_code
                retry_after = response.headers.get("retry-after")
        if size > limit:
            raise CarrierUnavailable(f"{what}: answer over {limit} bytes", status=status)
        data = b"".join(chunks)
        if not 200 <= status < 300:
            raise error_for(status, data, what=what, retry_after=retry_after)
        return data

    def _decode(self, data: bytes, kind: type[_T], what: str) -> _T:
        try:
            return wire.decode(data, kind)
        except wire.Unreadable as exc:
            raise CarrierUnavailable(f"{what}: {exc}", status=200) from exc

    def _shipment(self, data: bytes, what: str) -> Shipment:
        try:
            return wire.shipment(wire.decode(data, wire.WireShipment))
        except wire.Unreadable as exc:
            raise CarrierUnavailable(f"{what}: {exc}", status=200) from exc

    def _shipments(self, found: Iterable[wire.WireShipment]) -> tuple[Shipment, ...]:
        try:
            return tuple(wire.shipment(s) for s in found)
        except wire.Unreadable as exc:
            raise CarrierUnavailable(f"GET /v1/shipments: {exc}", status=200) from exc

    async def _list(self, query: dict[str, str], *, pages: int) -> list[wire.WireShipment]:
        size = self.settings.find_page_size
        found: list[wire.WireShipment] = []
        for page in range(pages):
            params: dict[str, str | int] = {**query, "limit": size, "offset": page * size}
            what = "GET /v1/shipments?" + "&".join(f"{k}={v}" for k, v in query.items())
            answer = self._decode(
                await self._call("GET", "/v1/shipments", what, params=params),
                wire.WireShipmentPage,
                what,
            )
            results = answer.results or []
            found.extend(results)
            if not answer.next or len(results) < size:
                break
        return found


def _only(rates: Iterable[Rate], services: tuple[str, ...]) -> list[Rate]:
    """The rates of ``services`` (all when empty). Karrio applies ``services`` per carrier:
    a carrier with none of them quotes all of its own, so the filter is repeated here."""
    return [r for r in rates if not services or r.service in services]


def _path_id(kind: str, value: str) -> str:
    """``value`` quoted for a URL path; ``ValueError`` when it cannot be an id."""
    if _PATH_ID.fullmatch(value) is None:
        raise ValueError(f"{kind} {value[:40]!r}: 1-128 printable characters, no '/?#'")
    return quote(value, safe="")


@asynccontextmanager
async def open_karrio_gateway(
    settings: KarrioSettings, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[KarrioGateway]:
    """A :class:`KarrioGateway` whose connections close when the block exits (even when
    cancelled). Nothing connects on entry."""
    gateway = KarrioGateway(settings, transport=transport)
    try:
        yield gateway
    finally:
        with anyio.CancelScope(shield=True):
            await gateway.aclose()
