"""Hostile API requests and unsafe configurations (issue 10, items 3, 4 and 8)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.app import Service, check_bind, open_service
from creatorflow.config import load_config
from creatorflow.domain.limits import MAX_JSON_DEPTH
from creatorflow.errors import ConfigError
from helpers import API, API_TOKEN, make_config

pytestmark = pytest.mark.anyio

DEEP = b"[" * 2000 + b"]" * 2000  # past the decoder's own recursion limit, under 8 KiB
JSON = {"content-type": "application/json"}


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


# ------------------------------------------------------------------ deep JSON in API bodies


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/inventory/MUG", b'{"reason": ' + DEEP + b"}"),
        ("POST", "/api/inventory/MUG/adjustments", b'{"delta": 1, "x": ' + DEEP + b"}"),
        ("POST", "/api/content-metrics", DEEP),
        ("POST", "/api/orders/576000000000000001/hold", b'{"reason": ' + DEEP + b"}"),
        ("POST", "/api/tiktok/authorize", b'{"auth_code": ' + DEEP + b"}"),
        ("POST", "/sandbox/tiktok/orders", b'{"lines": ' + DEEP + b"}"),
        ("POST", "/sandbox/tiktok/faults", DEEP),
        ("POST", "/sandbox/supplier/_admin/faults", DEEP),
    ],
)
async def test_deep_json_in_any_body_is_400(
    service: Service, client: httpx.AsyncClient, method: str, path: str, body: bytes
) -> None:
    response = await client.request(method, path, content=body, headers=API | JSON)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "too_deep"
    assert str(MAX_JSON_DEPTH) in response.json()["detail"]
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"auth_code": "c", "shop_key": "k" * 129},
        {"auth_code": "c", "shop_key": "a\x00b"},
        {"auth_code": "c" * 1025, "shop_key": "k"},
    ],
)
async def test_authorize_bounds_what_it_stores(
    service: Service, client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/api/tiktok/authorize", json=body, headers=API)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_body"


# ------------------------------------------------------------------ HTTP details


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/status", "/metrics"])
async def test_head_answers_like_get_without_a_body(
    service: Service, client: httpx.AsyncClient, path: str
) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


async def test_head_on_the_api(service: Service, client: httpx.AsyncClient) -> None:
    head = await client.head("/api/orders", headers=API)
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/status", "GET, HEAD"),
        ("GET", "/webhooks/tiktok", "POST"),
        ("DELETE", "/api/orders", "GET, HEAD"),
        ("PUT", "/api/orders/576000000000000001", "GET, HEAD"),
        ("GET", "/api/orders/576000000000000001/hold", "POST"),
    ],
)
async def test_every_405_says_what_is_allowed(
    service: Service, client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path, headers=API)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "Bearer "])
async def test_the_bearer_scheme_is_case_insensitive(
    service: Service, client: httpx.AsyncClient, scheme: str
) -> None:
    headers = {"authorization": f"{scheme} {API_TOKEN}"}
    assert (await client.get("/api/orders", headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "value", [f"Bearer {API_TOKEN.upper()}", f"Basic {API_TOKEN}", API_TOKEN, "Bearer", ""]
)
async def test_anything_else_is_401_with_a_challenge(
    service: Service, client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/api/orders", headers={"authorization": value})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_order_commands_with_a_body_need_json(
    service: Service, client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/api/orders/576000000000000001/hold",
        content=b'{"reason": "x"}',
        headers=API | {"content-type": content_type},
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


# ------------------------------------------------------------------ public bind


def public(tmp_path: Path, **env: str) -> dict[str, str]:
    environ = {
        "CREATORFLOW_HTTP_HOST": "0.0.0.0",
        "CREATORFLOW_HTTP_PORT": "0",
        "CREATORFLOW_DATA_DIR": str(tmp_path),
        "CREATORFLOW_API_TOKEN": "t",
    }
    environ.update(env)
    return environ


def test_a_public_bind_refuses_the_builtin_sandbox(tmp_path: Path) -> None:
    # The report: an API token and no TikTok credentials on 0.0.0.0 served the sandbox, which
    # accepts webhooks signed with its public default secret.
    with pytest.raises(ConfigError) as info:
        check_bind(load_config(environ=public(tmp_path)))
    message = str(info.value)
    assert message.startswith("config: sandbox.allow_public:")
    assert "\n" not in message
    assert "TikTok Shop" in message and "supplier" in message and "carriers" in message


def test_a_public_bind_refuses_a_real_tiktok_without_app_credentials(tmp_path: Path) -> None:
    env = public(
        tmp_path,
        CREATORFLOW_TIKTOK_BASE_URL="https://open-api.tiktokglobalshop.com",
        CREATORFLOW_SUPPLIER__BASE_URL="https://supplier.example",
        CREATORFLOW_SHIPPING_BASE_URL="https://karrio.example",
    )
    with pytest.raises(ConfigError, match=r"^config: tiktok\.app_key:"):
        check_bind(load_config(environ=env))


def test_a_public_bind_with_real_credentials_starts(tmp_path: Path) -> None:
    env = public(
        tmp_path,
        CREATORFLOW_TIKTOK_BASE_URL="https://open-api.tiktokglobalshop.com",
        CREATORFLOW_TIKTOK_APP_KEY="k",
        CREATORFLOW_TIKTOK_APP_SECRET="s",
        CREATORFLOW_REORDER__ENABLED="false",  # no supplier: no sandbox supplier needed
        CREATORFLOW_SHIPPING_BASE_URL="https://karrio.example",
    )
    check_bind(load_config(environ=env))  # no error: a real deployment


def test_allow_public_starts_the_sandbox_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = public(tmp_path, CREATORFLOW_SANDBOX__ALLOW_PUBLIC="true")
    with caplog.at_level(logging.WARNING, logger="creatorflow"):
        check_bind(load_config(environ=env))
    assert any("SANDBOX ON A PUBLIC ADDRESS" in r.getMessage() for r in caplog.records)


async def test_serve_refuses_before_binding(tmp_path: Path) -> None:
    config = make_config(tmp_path, ("asyncio", {}), CREATORFLOW_HTTP_HOST="0.0.0.0")
    with pytest.raises(ConfigError, match=r"sandbox\.allow_public"):
        async with open_service(config):
            pytest.fail("started")


# ------------------------------------------------------------------ SKU ids and counts


@pytest.mark.parametrize(
    "encoded", ["%2E", "%2E%2E", "%20", "%20%09", "%E2%80%AEGUM", "A%E2%81%A6B", "x" * 129]
)
async def test_sku_ids_that_cannot_be_read_back_are_refused(
    service: Service, client: httpx.AsyncClient, encoded: str
) -> None:
    response = await client.put(f"/api/inventory/{encoded}", json={"on_hand": 1}, headers=API)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_parameter"
    assert response.json()["parameter"] == "sku"


async def test_ordinary_sku_ids_still_work(service: Service, client: httpx.AsyncClient) -> None:
    for encoded, sku in (("...", "..."), (".hidden", ".hidden"), ("TEE%2FRED%2FL", "TEE/RED/L")):
        response = await client.put(f"/api/inventory/{encoded}", json={"on_hand": 1}, headers=API)
        assert response.status_code == 200, response.text
        assert response.json()["sku"] == sku


async def test_content_metrics_refuse_the_same_sku_ids(
    service: Service, client: httpx.AsyncClient
) -> None:
    metric = {"sku": "..", "video_id": "v", "views": 1}
    response = await client.post("/api/content-metrics", json=metric, headers=API)
    assert response.status_code == 400


async def test_adjustments_cannot_pass_the_count_bound(
    service: Service, client: httpx.AsyncClient
) -> None:
    # PUT refuses on_hand over 1e9; an adjustment could pass it one step at a time.
    await client.put("/api/inventory/BIG", json={"on_hand": 999_999_999}, headers=API)
    adjust = {"delta": 2, "reason": "receipt"}
    response = await client.post("/api/inventory/BIG/adjustments", json=adjust, headers=API)
    assert response.status_code == 409
    assert response.json()["error"] == "too_large"
    view = (await client.get("/api/inventory/BIG", headers=API)).json()
    assert view["on_hand"] == 999_999_999
    adjust = {"delta": 1, "reason": "receipt"}
    response = await client.post("/api/inventory/BIG/adjustments", json=adjust, headers=API)
    assert response.status_code == 200
    assert response.json()["on_hand"] == 1_000_000_000
