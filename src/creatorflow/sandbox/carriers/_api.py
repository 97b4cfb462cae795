"""The Karrio REST v1 subset the sandbox serves, and its HTTP plumbing.

=====  ============================================  ==========================================
GET    /                                             server metadata (no auth), like Karrio's
POST   /v1/proxy/rates                               200 ``{rates[], messages[]}`` | 424
POST   /v1/shipments                                 201 shipment (draft + rates; bought when
                                                     ``service`` is given)
GET    /v1/shipments?request_id=&reference=&...     200 ``{count, next, previous, results[]}``
GET    /v1/shipments/{id}                            200 shipment (label URL, no base64)
POST   /v1/shipments/{id}/purchase                   200 shipment with the label | 409 | 424
POST   /v1/shipments/{id_or_request_id}/cancel       200 | 202 already cancelled | 409 | 424
GET    /v1/shipments/{id}/label.pdf|label.zpl        the label bytes (``label_url``)
POST   /v1/shipments/{id}/documents/label            200 ``{category, format, base64, url}``
GET    /v1/trackers?tracking_number=&status=&...     200 paginated trackers
GET    /v1/trackers/{id_or_tracking_number}          200 tracker
GET    /v1/trackers/{carrier_name}/{tracking_no}     200 tracker (the ``tracking_url`` form)
=====  ============================================  ==========================================

Every answer carries ``X-Request-ID``: the client's when it matches ``[A-Za-z0-9_.-]{1,200}``,
else a generated ``req_<32 hex>``; shipments created or bought in the request remember it as
``meta.request_id``. Auth: ``Authorization: Token <api_key>`` or Basic with the key as user
name (401 ``not_authenticated`` without, ``invalid_token`` when wrong). Errors: see ``_wire``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl, urlencode

import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.sandbox.carriers._config import CarrierSandboxConfig
from creatorflow.sandbox.carriers._faults import Throttle
from creatorflow.sandbox.carriers._operations import Gateway
from creatorflow.sandbox.carriers._rates import render_rate
from creatorflow.sandbox.carriers._shipments import Shipment, ShipmentBook, render_shipment
from creatorflow.sandbox.carriers._tracking import Tracker, TrackerBook, render_tracker
from creatorflow.sandbox.carriers._validate import (
    expect_object,
    parse_purchase,
    parse_rate_request,
)
from creatorflow.sandbox.carriers._wire import Ids, KarrioError, error, not_found
from creatorflow.web._http import Receive, Scope, Send, header, read_body, respond, respond_json

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_LABEL = re.compile(r"^/v1/shipments/([^/]+)/label\.(pdf|zpl)$")
_CONTENT_TYPES: Final = {"pdf": b"application/pdf", "zpl": b"text/plain; charset=ascii"}
_DEFAULT_LIMIT: Final = 20  # Karrio's shipment list page size
_METADATA: Final = {
    "APP_NAME": "CreatorFlow sandbox carriers (Karrio REST v1 subset)",
    "VERSION": "2026.1.32-sandbox",
    "TEST_MODE": True,
}


class Answer(NamedTuple):
    """A status and a JSON payload, or raw bytes with their content type."""

    status: int
    payload: Any
    content_type: bytes | None = None


class KarrioApi:
    """Routes one API request to the gateway or the books and sends Karrio's answer."""

    def __init__(
        self,
        config: CarrierSandboxConfig,
        gateway: Gateway,
        shipments: ShipmentBook,
        trackers: TrackerBook,
        ids: Ids,
        throttle: Throttle,
        now_ms: Callable[[], int],
    ) -> None:
        self._config = config
        self._gateway = gateway
        self._book = shipments
        self._trackers = trackers
        self._ids = ids
        self._throttle = throttle
        self._now_ms = now_ms
        self._key = config.api_key.encode()

    async def handle(
        self, scope: Scope, receive: Receive, send: Send, path: str, base: str
    ) -> None:
        """Answer one API request; ``base`` is the mount prefix ("" when standalone)."""
        given = (header(scope, b"x-request-id") or b"").decode("latin-1").strip()
        request_id = given if _REQUEST_ID.match(given) else self._ids.new("req")
        extra: tuple[tuple[bytes, bytes], ...] = ((b"x-request-id", request_id.encode()),)
        try:
            answer = await self._answer(scope, receive, path.rstrip("/") or "/", base, request_id)
        except KarrioError as exc:
            answer = Answer(exc.status, exc.body)
            extra += exc.headers
        if answer.content_type is not None:
            await respond(send, answer.status, answer.payload, answer.content_type, extra)
        else:
            await respond_json(send, answer.status, answer.payload, extra)

    async def _answer(
        self, scope: Scope, receive: Receive, path: str, base: str, request_id: str
    ) -> Answer:
        method: str = scope["method"]
        if path == "/" and method == "GET":
            return Answer(200, _METADATA)
        self._authenticate(scope)
        if wait := self._throttle.retry_after_s(self._now_ms()):
            raise error(
                429, "throttled", f"Request was throttled. Expected available in {wait} seconds.",
                ((b"retry-after", str(wait).encode()),),
            )  # fmt: skip
        try:
            raw = await read_body(scope, receive, self._config.max_body_bytes)
        except WebhookRejected as exc:
            raise error(exc.status, exc.code, exc.detail) from None
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        parts = path.strip("/").split("/")
        match method, parts:
            case "POST", ["v1", "proxy", "rates"]:
                request = parse_rate_request(_json(raw), max_parcels=self._config.max_parcels)
                rates, messages = await self._gateway.rates(request)
                test_mode = self._config.test_mode
                rendered = [render_rate(rate, test_mode=test_mode) for rate in rates]
                return Answer(200, {"rates": rendered, "messages": messages})
            case "POST", ["v1", "shipments"]:
                request = parse_rate_request(
                    _json(raw), max_parcels=self._config.max_parcels, shipment=True
                )
                shipment = await self._gateway.create(request, request_id)
                return Answer(201, self._render(shipment, base, with_label=True))
            case "GET", ["v1", "shipments"]:
                found = self._book.query(query)
                page = self._page(scope, query, found)
                test_mode = self._config.test_mode
                page["results"] = [
                    render_shipment(s, base=base, with_label=False, test_mode=test_mode)
                    for s in page["results"]
                ]
                return Answer(200, page)
            case "GET", ["v1", "shipments", shipment_id]:
                return Answer(200, self._render(self._shipment(shipment_id), base))
            case "POST", ["v1", "shipments", shipment_id, "purchase"]:
                shipment = self._shipment(shipment_id)
                await self._gateway.purchase(shipment, parse_purchase(_json(raw)), request_id)
                return Answer(200, self._render(shipment, base, with_label=True))
            case "POST", ["v1", "shipments", key, "cancel"]:
                shipment = self._gateway.find_for_cancel(key)
                status = await self._gateway.cancel(shipment)
                return Answer(status, self._render(shipment, base))
            case "GET", ["v1", "shipments", _, _] if (label := _LABEL.match(path)) is not None:
                return self._label(label.group(1), label.group(2))
            case "POST", ["v1", "shipments", shipment_id, "documents", doc]:
                return self._document(shipment_id, doc)
            case "GET", ["v1", "trackers"]:
                page = self._page(scope, query, self._tracker_list(query))
                test_mode = self._config.test_mode
                page["results"] = [render_tracker(t, test_mode=test_mode) for t in page["results"]]
                return Answer(200, page)
            case "GET", ["v1", "trackers", key] | ["v1", "trackers", _, key]:
                tracker = self._trackers.get(key)
                if tracker is None:
                    raise not_found("Tracker not found")
                return Answer(200, render_tracker(tracker, test_mode=self._config.test_mode))
        if method not in ("GET", "POST"):
            raise error(405, "method_not_allowed", f'Method "{method}" not allowed.')
        raise not_found(f"No route {method} {path}")

    def _authenticate(self, scope: Scope) -> None:
        given = header(scope, b"authorization")
        if not given:
            raise error(401, "not_authenticated", "Authentication credentials were not provided.",
                        ((b"www-authenticate", b"Token"),))  # fmt: skip
        scheme, _, credentials = given.strip().partition(b" ")
        credentials = credentials.strip()
        if scheme.lower() == b"basic":
            try:
                credentials = base64.b64decode(credentials, validate=True).partition(b":")[0]
            except (binascii.Error, ValueError):
                credentials = b""
        elif scheme.lower() != b"token":
            credentials = b""
        if not hmac.compare_digest(credentials, self._key):
            raise error(401, "invalid_token", "Given token not valid for any token type",
                        ((b"www-authenticate", b"Token"),))  # fmt: skip

    def _shipment(self, shipment_id: str) -> Shipment:
        shipment = self._book.get(shipment_id)
        if shipment is None:
            raise not_found("Shipment not found")
        return shipment

    def _render(self, shipment: Shipment, base: str, *, with_label: bool = False) -> dict[str, Any]:
        test_mode = self._config.test_mode
        return render_shipment(shipment, base=base, with_label=with_label, test_mode=test_mode)

    def _label(self, shipment_id: str, ext: str) -> Answer:
        shipment = self._book.get(shipment_id)
        label = shipment.label() if shipment is not None else None
        if label is None:
            raise _no_document(shipment_id, "label")
        return Answer(200, label, _CONTENT_TYPES[ext])

    def _document(self, shipment_id: str, doc: str) -> Answer:
        if doc not in ("label", "invoice"):
            raise KarrioError(400, {"errors": [{"message": f"Invalid document type: {doc}"}]})
        shipment = self._book.get(shipment_id)
        label = shipment.label() if shipment is not None and doc == "label" else None
        if shipment is None or label is None:
            raise _no_document(shipment_id, doc)
        url = f"/v1/shipments/{shipment_id}/label.{shipment.label_type.lower()}"
        encoded = base64.b64encode(label).decode("ascii")
        return Answer(
            200, {"category": "label", "format": shipment.label_type, "base64": encoded, "url": url}
        )

    def _tracker_list(self, query: dict[str, str]) -> list[Tracker]:
        found = [
            t for t in self._trackers.all()
            if query.get("tracking_number") in (None, t.tracking_number)
            and query.get("status") in (None, t.status)
            and query.get("carrier_name") in (None, t.carrier.name)
        ]  # fmt: skip
        found.reverse()
        return found

    def _page(self, scope: Scope, query: dict[str, str], found: Sequence[Any]) -> dict[str, Any]:
        """``{count, next, previous, results}`` (results still to render) per limit / offset."""
        limit = _int(query.get("limit"), _DEFAULT_LIMIT)
        limit = max(1, min(limit, self._config.max_page_size))
        offset = max(0, _int(query.get("offset"), 0))
        results = list(found[offset : offset + limit])
        host = (header(scope, b"host") or b"localhost").decode("latin-1")
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}"

        def link(at: int) -> str:
            return f"{url}?{urlencode({**query, 'limit': limit, 'offset': at})}"

        return {
            "count": len(found),
            "next": link(offset + limit) if offset + limit < len(found) else None,
            "previous": link(max(0, offset - limit)) if offset > 0 else None,
            "results": results,
        }


def _json(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        return expect_object(msgspec.json.decode(raw))
    except msgspec.DecodeError as exc:
        raise error(400, "parse_error", f"JSON parse error - {exc}") from None


def _no_document(shipment_id: str, doc: str) -> KarrioError:
    # Karrio answers this one without a code or a level.
    message = f"Shipment '{shipment_id}' not found or has no {doc}"
    return KarrioError(404, {"errors": [{"message": message}]})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
