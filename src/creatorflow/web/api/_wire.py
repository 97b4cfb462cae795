"""What every ``/api`` handler reads and writes: JSON answers, bounded bodies, query parameters,
path segments and paging cursors.

Bodies go through ``web._http.read_body``: the byte bound of the route (413 ``too_large``), the
JSON nesting bound (400 ``too_deep``), then one msgspec decode into the route's Struct (400
``bad_body`` naming what was expected). Query parameters: the last value of a name counts,
empty values count as absent, a bad one is 400 ``invalid_parameter`` naming it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, unquote_to_bytes

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.errors import WebhookRejected
from creatorflow.web._http import JSON, header, read_body, require_json
from creatorflow.web.api.errors import BadBody, BadParameter

T = TypeVar("T")

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
#: Largest value of a 64-bit signed column.
MAX_I64: Final = 2**63 - 1

_encode = msgspec.json.Encoder().encode


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` (a response Struct) encoded as the JSON answer."""
    return Response(_encode(payload), status, media_type="application/json")


# --------------------------------------------------------------------------- bodies


async def body_bytes(request: Request, max_bytes: int) -> bytes:
    """The whole body, at most ``max_bytes``, nested at most ``MAX_JSON_DEPTH`` levels.

    Raises:
        WebhookRejected: 413 ``too_large``, 400 ``too_deep`` / ``bad_content_length`` /
            ``disconnected`` (the table answers them).
    """
    return await read_body(request.scope, request.receive, max_bytes)


def decode(decoder: msgspec.json.Decoder[T], raw: bytes, what: str) -> T:
    """``raw`` decoded. Raises BadBody: ``expected <what>: <msgspec's reason>``."""
    try:
        return decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise BadBody(f"expected {what}: {exc}") from None


def json_if_typed(request: Request) -> None:
    """Refuse a Content-Type other than ``application/json`` when one is given (none is fine).

    Raises:
        WebhookRejected: 415 ``unsupported_media_type``.
    """
    content_type = header(request.scope, b"content-type")
    if content_type is not None and content_type.split(b";", 1)[0].strip().lower() != JSON:
        raise WebhookRejected(
            415, "unsupported_media_type", "Content-Type must be application/json"
        )


def json_required(request: Request) -> None:
    """Refuse a body that is not sent as ``application/json`` (415)."""
    require_json(request.scope)


# --------------------------------------------------------------------------- path segments


def segment(request: Request, name: str) -> str:
    """Path parameter ``name``, percent-decoded once (the segment middleware left it encoded,
    so a ``%2F`` in it was never a path separator). Raises BadParameter for non-UTF-8."""
    try:
        return unquote_to_bytes(request.path_params[name]).decode()
    except UnicodeDecodeError:
        raise BadParameter(name, "not UTF-8 once percent-decoded") from None


def lenient_segment(request: Request, name: str) -> str:
    """Path parameter ``name``, percent-decoded once; bytes that are not UTF-8 become U+FFFD
    (as servers decode paths)."""
    return unquote_to_bytes(request.path_params[name]).decode("utf-8", "replace")


# --------------------------------------------------------------------------- query


class Query:
    """The query string of one request: ``one(name)`` is its last non-empty value."""

    __slots__ = ("_values",)

    def __init__(self, request: Request) -> None:
        raw: bytes = request.scope.get("query_string", b"")
        self._values = parse_qs(raw.decode("latin-1"), keep_blank_values=False)

    def one(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return self._values.get(name, [])

    def bounded(self, name: str, default: int, low: int, high: int) -> int:
        """Integer ``name`` from ``low`` to ``high``. Raises BadParameter."""
        given = self.one(name)
        if given is None:
            return default
        try:
            value = int(given)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise BadParameter(name, f"must be an integer from {low} to {high}")
        return value

    def integer(self, name: str) -> int | None:
        """Optional 64-bit integer ``name``. Raises BadParameter."""
        given = self.one(name)
        if given is None:
            return None
        try:
            value = int(given)
        except ValueError:
            raise BadParameter(name, "must be an integer") from None
        if abs(value) > MAX_I64:
            raise BadParameter(name, "out of range")
        return value

    def limit(self) -> int:
        """``limit``: 1 to :data:`MAX_LIMIT`, :data:`DEFAULT_LIMIT` when absent."""
        return self.bounded("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)

    def after(self) -> str | None:
        """The key a ``cursor`` resumes after (None: from the start). Raises BadParameter."""
        cursor = self.one("cursor")
        return None if cursor is None else decode_cursor(cursor)


# --------------------------------------------------------------------------- cursors


def encode_cursor(key: str) -> str:
    """The opaque cursor that resumes paging after ``key`` (base64url, unpadded)."""
    return base64.urlsafe_b64encode(key.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> str:
    """The key inside a cursor from :func:`encode_cursor`. Raises BadParameter (``cursor``)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadParameter("cursor", "not a cursor this API returned") from None
    if not key:
        raise BadParameter("cursor", "not a cursor this API returned")
    return key
