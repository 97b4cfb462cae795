"""The ``/api`` app's own parts: the error table, the path segments, the bearer token, HEAD,
405, the OpenAPI route; and the ``/status`` snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from openapi_spec_validator import validate
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.adapters.cache.memory import MemoryCache
from creatorflow.caching import open_layered_cache
from creatorflow.config import CacheConfig
from creatorflow.errors import (
    ActorStopped,
    InvalidTransition,
    InventoryRefused,
    StoreError,
    StoreUnavailable,
    WebhookRejected,
)
from creatorflow.runtime import SupervisorStats
from creatorflow.web.api import OPENAPI_PATH, ApiRoute, Param, build_api
from creatorflow.web.api._routing import canonical_path
from creatorflow.web.api._wire import json_response, segment
from creatorflow.web.api.errors import (
    ApiError,
    BadParameter,
    MethodNotAllowed,
    NotFound,
    Unavailable,
    answer_of,
    ask_within,
)
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.status import StatusReporter

pytestmark = pytest.mark.anyio

TOKEN = "t0ken"


class Echo(msgspec.Struct):
    key: str


async def echo(request: Request) -> Response:
    return json_response(Echo(key=segment(request, "key")))


async def boom(request: Request) -> Response:
    raise KeyError("an accidental KeyError is a bug, not a 404")


ROUTES = [
    ApiRoute(
        method="GET",
        path="/api/things/{key:segment}",
        endpoint=echo,
        operation_id="getThing",
        summary="Echo the key",
        tag="test",
        params=(Param(name="key", location="path", schema=str, description="the key"),),
        response=Echo,
    ),
    ApiRoute(
        method="PUT",
        path="/api/things/{key:segment}",
        endpoint=echo,
        operation_id="putThing",
        summary="Echo the key",
        tag="test",
        params=(Param(name="key", location="path", schema=str, description="the key"),),
        response=Echo,
    ),
    ApiRoute(
        method="POST",
        path="/api/boom",
        endpoint=boom,
        operation_id="boom",
        summary="Fails",
        tag="test",
    ),
]


@asynccontextmanager
async def client(token: str = TOKEN) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_api(ROUTES, token=token), raise_app_exceptions=False)
    headers = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as c:
        yield c


# --------------------------------------------------------------------------- the error table


ALLOW = "GET, HEAD"
TABLE_CASES: list[tuple[Exception, int, str, dict[str, str]]] = [
    (NotFound("no x"), 404, "not_found", {}),
    (BadParameter("limit", "bad"), 400, "invalid_parameter", {}),
    (MethodNotAllowed("PUT", "/x", ["GET", "HEAD"]), 405, "method_not_allowed", {"Allow": ALLOW}),
    (Unavailable("watcher_busy", "full"), 503, "watcher_busy", {"Retry-After": "1"}),
    (Unavailable("watcher_gone", "none", retry_after_s=None), 503, "watcher_gone", {}),
    (WebhookRejected(413, "too_large", "big"), 413, "too_large", {}),
    (WebhookRejected(400, "too_deep", "deep"), 400, "too_deep", {}),
    (InventoryRefused("below_reserved", "2 held"), 409, "below_reserved", {}),
    (InvalidTransition("no"), 409, "invalid_transition", {}),
    (StoreUnavailable("locked"), 503, "store_unavailable", {"Retry-After": "1"}),
    (StoreError("refused"), 503, "store_unavailable", {"Retry-After": "1"}),
]  # fmt: skip


@pytest.mark.parametrize(("exc", "status", "code", "headers"), TABLE_CASES)
def test_the_table_answers(exc: Exception, status: int, code: str, headers: dict[str, str]) -> None:
    error = answer_of(exc)
    assert error is not None
    assert (error.status, error.code, error.headers) == (status, code, headers)


@pytest.mark.parametrize("exc", [KeyError("x"), ValueError("x"), TimeoutError(), ActorStopped("a")])
def test_what_the_table_does_not_list_is_not_answered(exc: Exception) -> None:
    assert answer_of(exc) is None  # a 500: a bug, never a quiet 404 or 503


async def test_ask_within_names_the_actor(anyio_backend: Any) -> None:
    async def missing() -> None:
        raise KeyError("MUG")

    async def stopped() -> None:
        raise ActorStopped("inventory")

    async def slow() -> None:
        await anyio.sleep_forever()

    cases = [(missing, 404, "not_found"), (stopped, 503, "x_unavailable"), (slow, 503, "x_timeout")]
    for call, status, code in cases:
        with pytest.raises(ApiError) as info:
            await ask_within(0.01, call, actor="x", who="the x", missing="no MUG")
        error = answer_of(info.value)
        assert error is not None
        assert (error.status, error.code) == (status, code)


async def test_an_unlisted_exception_is_a_500(anyio_backend: Any) -> None:
    async with client() as c:
        response = await c.post("/api/boom")
    assert response.status_code == 500


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("raw", "path", "canonical"),
    [
        (b"/api/inventory/TEE%2FRED", "/api/inventory/TEE/RED", "/api/inventory/TEE%2FRED"),
        (b"/api/inventory/a%25b?x=1", "/api/inventory/a%b", "/api/inventory/a%25b"),
        (b"/api/inventory/caf%C3%A9", "/api/inventory/café", "/api/inventory/caf%C3%A9"),
        (b"/api/inventory/a+b:c@d", "/api/inventory/a+b:c@d", "/api/inventory/a+b:c@d"),
        (b"/api/inventory/%FF", "/api/inventory/\ufffd", "/api/inventory/%FF"),
        (None, "/api/inventory/a b", "/api/inventory/a%20b"),
        (b"/root/api/inventory/a", "/api/inventory/a", "/api/inventory/a"),  # raw is not path
    ],
)
def test_canonical_paths_keep_each_segment(raw: bytes | None, path: str, canonical: str) -> None:
    scope: dict[str, Any] = {"path": path} | ({} if raw is None else {"raw_path": raw})
    assert canonical_path(scope) == canonical


async def test_a_segment_is_decoded_once(anyio_backend: Any) -> None:
    async with client() as c:
        slash = await c.get("/api/things/TEE%2FRED")
        percent = await c.get("/api/things/a%252F")
        split = await c.get("/api/things/TEE/RED")
    assert slash.json() == {"key": "TEE/RED"}
    assert percent.json() == {"key": "a%2F"}
    assert (split.status_code, split.json()["error"]) == (404, "not_found")


async def test_405_lists_the_methods_of_the_path(anyio_backend: Any) -> None:
    async with client() as c:
        response = await c.delete("/api/things/x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, PUT"
    assert set(response.json()) == {"error", "detail"}


async def test_head_is_the_get_without_its_body(anyio_backend: Any) -> None:
    async with client() as c:
        get = await c.get("/api/things/x")
        head = await c.head("/api/things/x")
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_no_trailing_slash_redirect(anyio_backend: Any) -> None:
    async with client() as c:
        response = await c.get("/api/boom/")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


async def test_the_token_guards_everything_even_unknown_paths(anyio_backend: Any) -> None:
    async with client() as c:
        for path in ("/api/things/x", "/api/nothing", OPENAPI_PATH):
            response = await c.get(path, headers={"authorization": "Bearer nope"})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"] == "unauthorized"
        head = await c.head("/api/things/x", headers={"authorization": ""})
    assert (head.status_code, head.content) == (401, b"")


async def test_without_a_token_the_api_is_open(anyio_backend: Any) -> None:
    async with client(token="") as c:
        response = await c.get("/api/things/x", headers={"authorization": ""})
    assert response.status_code == 200


async def test_the_document_describes_the_routes(anyio_backend: Any) -> None:
    async with client() as c:
        response = await c.get(OPENAPI_PATH)
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    validate(doc)
    assert set(doc["paths"]) == {"/api/things/{key}", "/api/boom", OPENAPI_PATH}
    assert set(doc["paths"]["/api/things/{key}"]) == {"get", "put"}
    ok = doc["paths"]["/api/things/{key}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Echo"}
    assert doc["components"]["schemas"]["Echo"]["required"] == ["key"]


def test_a_route_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="routed twice"):
        build_api([ROUTES[0], ROUTES[0]], token="")


def test_every_path_parameter_is_documented() -> None:
    with pytest.raises(ValueError, match="path parameters"):
        build_api([dataclasses.replace(ROUTES[0], params=())], token="")


# --------------------------------------------------------------------------- /status snapshot


class CountingStore:
    def __init__(self) -> None:
        self.pings = 0

    async def ping(self) -> None:
        self.pings += 1
        await anyio.sleep(0.01)  # concurrent callers arrive while this one runs

    async def list_unprocessed(self, after: object, limit: int) -> list[object]:
        return []


async def test_status_pings_at_most_once_per_ttl(anyio_backend: Any) -> None:
    now = [100.0]
    store = CountingStore()
    lifecycle = Lifecycle()
    lifecycle.ready = True
    async with open_layered_cache(MemoryCache(10), CacheConfig()) as cache:
        reporter = StatusReporter(
            store=store,  # type: ignore[arg-type]
            cache=cache,
            lifecycle=lifecycle,
            tree=lambda: SupervisorStats(name="root", strategy="one_for_one", children=()),
            clock=_Wall(),
            ttl_s=1.0,
            monotonic=lambda: now[0],
        )
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(reporter.report)
        assert store.pings == 1  # twenty requests at once: one run of the checks
        now[0] += 0.9
        overall, _ = await reporter.report()
        assert (overall, store.pings) == ("ok", 1)
        now[0] += 0.2
        await reporter.report()
        assert store.pings == 2  # older than the TTL: checked again


class _Wall:
    def now_ms(self) -> int:
        return 1_700_000_000_000
