"""The ``/api``'s routes: what a capability contributes (:class:`ApiRoute`: one method on one
path, with what the OpenAPI document says of it), how they become Starlette routes, and how a
path is made canonical so a ``%2F`` stays inside its segment.

One Starlette route per path serves all of that path's methods: a method it does not serve is
405 with ``Allow`` listing them in a fixed order (``GET, HEAD`` first), HEAD is the GET without
a body. Path parameters arrive percent-encoded (see :func:`canonical_path`); handlers decode
them once with ``_wire.segment``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote, unquote, unquote_to_bytes

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from creatorflow.web.api.errors import MethodNotAllowed

Endpoint = Callable[[Request], Awaitable[Response]]
Method = Literal["GET", "PUT", "POST", "PATCH", "DELETE"]

#: Characters left as they are in a canonical segment (RFC 3986 sub-delims, ":" and "@", beside
#: the letters, digits and ``_.-~`` that ``quote`` never escapes). "%" and "/" are always escaped.
_SAFE: Final = "!$&'()*+,;=:@"


@dataclass(frozen=True, kw_only=True)
class Param:
    """A path, query or header parameter, as the OpenAPI document describes it.

    ``schema`` is a type msgspec can describe (``Annotated`` constraints included); parsing is
    the handler's (the API's query rules are looser than a schema: any case, last value wins).
    """

    name: str
    location: Literal["path", "query", "header"]
    schema: Any
    description: str
    required: bool = False


@dataclass(frozen=True, kw_only=True)
class ApiRoute:
    """One operation of the ``/api``: ``method`` on ``path``, answered by ``endpoint``.

    ``path`` is a Starlette template (``/api/inventory/{sku:segment}``). ``body`` and
    ``response`` are msgspec types (None: no body); ``errors`` maps each error status the
    operation can answer to its error codes (401 is added to every operation).
    """

    method: Method
    path: str
    endpoint: Endpoint
    operation_id: str
    summary: str
    tag: str
    description: str = ""
    params: tuple[Param, ...] = ()
    body: Any = None
    body_required: bool = True
    status: int = 200
    response: Any = None
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def template(self) -> str:
        """The path as OpenAPI writes it (``/api/inventory/{sku}``)."""
        return compile_path(self.path)[1]


class _Segment(Convertor[str]):
    """One path segment, possibly empty (so an empty SKU id is a 400 naming it, not a 404)."""

    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("segment", _Segment())


class _Methods:
    """The operations of one path: the request's method picks one; HEAD runs the GET."""

    def __init__(self, operations: Mapping[str, ApiRoute]) -> None:
        self._apps: dict[str, ASGIApp] = {
            method: request_response(route.endpoint) for method, route in operations.items()
        }
        if "GET" in self._apps:
            self._apps["HEAD"] = self._apps["GET"]  # the HEAD middleware drops the body
        order = ["GET", "HEAD"]
        self._allow = [m for m in order if m in self._apps] + sorted(
            m for m in self._apps if m not in order
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._apps.get(scope["method"])
        if app is None:
            raise MethodNotAllowed(scope["method"], unquote(scope["path"]), self._allow)
        await app(scope, receive, send)


def starlette_routes(routes: Sequence[ApiRoute]) -> list[Route]:
    """One Starlette route per path, serving every method ``routes`` give it.

    Raises:
        ValueError: two routes with the same method and path.
    """
    paths: dict[str, dict[str, ApiRoute]] = {}
    for route in routes:
        methods = paths.setdefault(route.path, {})
        if route.method in methods:
            raise ValueError(f"{route.method} {route.path} is routed twice")
        methods[route.method] = route
    # methods=None: every method matches the path, so a wrong one is our 405 (with Allow).
    return [Route(path, _Methods(methods), methods=None) for path, methods in paths.items()]


def canonical_path(scope: Scope) -> str:
    """The request's path with each segment percent-encoded (``%`` and ``/`` always), so that
    routing splits on the ``/`` the client sent and on nothing else.

    Built from ``raw_path`` when the server gives it and it is ``path`` as sent (the query cut
    off: some servers and test clients leave it on); else from the decoded ``path``, where a
    ``%2F`` has already become a separator.
    """
    path: str = scope["path"]
    raw = scope.get("raw_path")
    if isinstance(raw, bytes):
        raw = raw.split(b"?", 1)[0]
        if unquote(raw.decode("latin-1")) == path:
            return "/".join(quote(unquote_to_bytes(seg), safe=_SAFE) for seg in raw.split(b"/"))
    return "/".join(
        quote(seg.encode("utf-8", "surrogatepass"), safe=_SAFE) for seg in path.split("/")
    )
