"""Tiny raw-ASGI helpers: headers, bounded body reading, responses.

We speak raw ASGI on the hot path (no framework): one webhook costs a few dict lookups here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

import msgspec

from creatorflow.domain.limits import MAX_JSON_DEPTH, json_too_deep
from creatorflow.errors import WebhookRejected

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON: Final = b"application/json"
_NO_BODY_HEADERS: Final = ((b"content-length", b"0"),)  # a tuple: servers only iterate it
_json_encode = msgspec.json.Encoder().encode


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lowercase bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def require_json(scope: Scope) -> None:
    """Refuse a request whose Content-Type is not ``application/json`` (parameters allowed).

    Raises:
        WebhookRejected: 415 ``unsupported_media_type``.
    """
    content_type = header(scope, b"content-type") or b""
    if content_type != JSON and content_type.split(b";", 1)[0].strip().lower() != JSON:
        raise WebhookRejected(
            415, "unsupported_media_type", "Content-Type must be application/json"
        )


async def read_body(
    scope: Scope, receive: Receive, max_bytes: int, *, max_depth: int | None = MAX_JSON_DEPTH
) -> bytes:
    """Read the whole request body, refusing more than ``max_bytes``, and JSON nested deeper
    than ``max_depth`` (None: not checked here; the webhook checks after its signature).

    Raises:
        WebhookRejected: 413 when Content-Length or the bytes received exceed the limit; 400
            ``too_deep`` for JSON nested deeper than ``max_depth``.
    """
    length = header(scope, b"content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise WebhookRejected(
                400, "bad_content_length", "Content-Length is not a number"
            ) from None
        if declared > max_bytes:
            raise WebhookRejected(413, "too_large", f"body over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise WebhookRejected(400, "disconnected", "client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise WebhookRejected(413, "too_large", f"body over {max_bytes} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if max_depth is not None and json_too_deep(body, max_depth):
        raise WebhookRejected(400, "too_deep", f"JSON nested deeper than {max_depth} levels")
    return body


def without_body(send: Send) -> Send:
    """``send`` for a HEAD request: the response's status and headers, an empty body."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            more = message.get("more_body", False)
            message = {"type": "http.response.body", "body": b"", "more_body": more}
        await send(message)

    return send_head


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: bytes | None = None,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a complete response."""
    headers: Iterable[tuple[bytes, bytes]]
    if not body and content_type is None and not extra:
        headers = _NO_BODY_HEADERS  # every 200 to a webhook: no list to build
    else:
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type is not None:
            headers.append((b"content-type", content_type))
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_json(
    send: Send, status: int, payload: Any, extra: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``payload`` encoded as JSON."""
    await respond(send, status, _json_encode(payload), JSON, extra)


async def respond_error(
    send: Send,
    status: int,
    code: str,
    detail: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send ``{"error": code, "detail": detail}`` with ``status``."""
    await respond_json(send, status, {"error": code, "detail": detail}, extra)
