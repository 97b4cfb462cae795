"""The baseline for ``bench.ingress``: a bare ASGI app that reads the body and answers 200.

Served by the same uvicorn (httptools + uvloop) as CreatorFlow, so the ratio of the two shows
what our pipeline (verify, dedupe, durable commit) costs on top of the HTTP server itself.
``GET /readyz`` answers 200 like the real service, so one readiness probe serves both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_HEADERS = [(b"content-length", b"0")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the whole body, as the real endpoint must before verifying it
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": b""})
