"""The ``/api``: a Starlette app behind the raw root (``web/app.py`` hands it every path under
``/api/``; the webhook and the probes never reach Starlette).

Capabilities contribute :class:`ApiRoute` s (``asm.api_routes``, one list per resource module:
``orders``, ``inventory``, ``purchase_orders``, ``content``, ``webhook_status``,
``tiktok_auth``); :func:`build_api` serves them with, from the outside in:

1. HEAD: a GET route answers HEAD with the GET's status and headers and no body;
2. the bearer token: with ``api.token`` set, every ``/api`` request needs
   ``Authorization: Bearer <token>`` (scheme in any case, token compared in constant time),
   else 401 ``unauthorized`` with ``WWW-Authenticate: Bearer``; with no token the API is
   open (loopback-only deployments; ``check_bind`` refuses a public bind without one);
3. path segments: the path is rebuilt from ``raw_path`` with each segment kept
   percent-encoded, so a SKU id ``TEE/RED/L`` sent as ``TEE%2FRED%2FL`` stays one segment;
   handlers decode a segment once;
4. Starlette's routing (404 ``not_found``, 405 with ``Allow``), the handlers, and the
   exceptions they raise answered by ``errors.TABLE``.

``GET /api/openapi.json`` is the OpenAPI 3.1 document of every route (``_openapi.py``).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from creatorflow import __version__
from creatorflow.web._http import header, without_body
from creatorflow.web.api._openapi import openapi_document
from creatorflow.web.api._routing import ApiRoute, Param, canonical_path, starlette_routes
from creatorflow.web.api.errors import TABLE, NotFound, Unauthorized, error_response, handle

OPENAPI_PATH = "/api/openapi.json"


def build_api(routes: Sequence[ApiRoute], *, token: str) -> Starlette:
    """The Starlette app serving ``routes`` and ``GET /api/openapi.json``.

    Args:
        routes: every ``/api`` operation (see :class:`ApiRoute`); one method per path once.
        token: the bearer token every request must carry; ``""``: none (open API).

    Raises:
        ValueError: a method and path routed twice.
    """
    document = b""

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    everything = [
        *routes,
        ApiRoute(
            method="GET",
            path=OPENAPI_PATH,
            endpoint=openapi,
            operation_id="getOpenApi",
            summary="This document: the OpenAPI 3.1 description of the API",
            tag="meta",
            response=dict[str, Any],
        ),
    ]
    document = msgspec.json.encode(
        openapi_document(everything, title="CreatorFlow API", version=__version__)
    )
    app = Starlette(
        routes=starlette_routes(everything),
        exception_handlers={cls: handle for cls in TABLE},
    )
    app.router.redirect_slashes = False  # "/api/orders/" is 404, not a redirect
    app.router.default = _not_found
    app.add_middleware(SegmentPaths)
    app.add_middleware(BearerToken, token=token)
    app.add_middleware(HeadWithoutBody)
    return app


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    raise NotFound(f"no route for {scope['method']} {scope['path']}")


class HeadWithoutBody:
    """A HEAD request gets the GET's answer with its body dropped (headers kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            send = without_body(send)
        await self.app(scope, receive, send)


class BearerToken:
    """401 for a request without ``Authorization: Bearer <token>`` (when a token is set)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._token and not self._authorized(scope):
            await error_response(Unauthorized())(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = header(scope, b"authorization") or b""
        scheme, _, credentials = given.strip().partition(b" ")
        # The scheme is case-insensitive (RFC 9110 §11.1); the token itself is not.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self._token)


class SegmentPaths:
    """Routes on the path the client sent: each segment stays percent-encoded
    (``_routing.canonical_path``), so ``%2F`` inside a SKU id is not a separator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = dict(scope)
            scope["path"] = canonical_path(scope)
        await self.app(scope, receive, send)


__all__ = ["OPENAPI_PATH", "ApiRoute", "Param", "build_api"]
