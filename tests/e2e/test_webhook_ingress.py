"""``POST /webhooks/tiktok`` against a real server on 127.0.0.1:0.

asyncio and uvloop runs use uvicorn; the trio run uses hypercorn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.app import Service, open_service
from helpers import (
    API,
    APP_KEY,
    GOLDEN_APP_KEY,
    GOLDEN_APP_SECRET,
    GOLDEN_BODY,
    GOLDEN_SIG,
    make_config,
    settle,
    signed_headers,
    webhook_body,
)

pytestmark = pytest.mark.anyio


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


async def test_golden_vector_is_accepted(tmp_path: Path, anyio_backend: Any) -> None:
    config = make_config(
        tmp_path,
        anyio_backend,
        CREATORFLOW_TIKTOK_APP_KEY=GOLDEN_APP_KEY,
        CREATORFLOW_TIKTOK_APP_SECRET=GOLDEN_APP_SECRET,
    )
    async with open_service(config) as service, httpx.AsyncClient(base_url=service.url) as c:
        headers = {"content-type": "application/json", "authorization": GOLDEN_SIG}
        response = await c.post("/webhooks/tiktok", content=GOLDEN_BODY, headers=headers)
        assert response.status_code == 200
        assert response.content == b""
        status = await service.store.get_inbox("7380066284010030890")
        assert status is not None
        assert status.type == 1
        assert status.shop_id == "7495540735365777507"


async def test_row_is_committed_before_the_200(service: Service, client: httpx.AsyncClient) -> None:
    body = webhook_body("n-commit")
    response = await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    # Read straight from the store, with no settling: the 200 promised the row is durable.
    assert await service.store.get_inbox("n-commit") is not None


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"content-type": "application/json"}, "missing_signature"),
        ({"content-type": "application/json", "authorization": "0" * 64}, "bad_signature"),
    ],
)
async def test_bad_or_missing_signature_is_401(
    service: Service, client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    body = webhook_body("n-401")
    response = await client.post("/webhooks/tiktok", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == code
    assert await service.store.get_inbox("n-401") is None


async def test_signature_from_another_app_is_401(client: httpx.AsyncClient) -> None:
    body = webhook_body("n-other")
    headers = signed_headers(body, key="other", secret="other-secret")
    assert (await client.post("/webhooks/tiktok", content=body, headers=headers)).status_code == 401


async def test_oversize_is_413(tmp_path: Path, anyio_backend: Any) -> None:
    config = make_config(tmp_path, anyio_backend, CREATORFLOW_HTTP__MAX_BODY_BYTES="200")
    async with open_service(config) as service, httpx.AsyncClient(base_url=service.url) as c:
        body = webhook_body("n-big", order_id="9" * 200)
        response = await c.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
        assert response.status_code == 413
        assert response.json()["error"] == "too_large"

        async def chunks() -> Any:  # no Content-Length: the limit applies while reading
            for _ in range(4):
                yield b"x" * 100

        response = await c.post(
            "/webhooks/tiktok", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert await service.store.get_inbox("n-big") is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"{not json", "invalid_json"),
        (b'{"type":"one","timestamp":1,"data":{}}', "$.type"),
        (b'{"type":1,"timestamp":1,"data":{"order_status":"UNPAID","update_time":1}}', "order_id"),
    ],
)
async def test_malformed_is_400_with_json_error(
    client: httpx.AsyncClient, body: bytes, where: str
) -> None:
    response = await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    assert response.status_code == 400
    payload = response.json()
    assert where in payload["error"] + payload["detail"]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    body = webhook_body("n-415")
    headers = signed_headers(body) | {"content-type": "text/plain"}
    assert (await client.post("/webhooks/tiktok", content=body, headers=headers)).status_code == 415


async def test_duplicate_is_200_with_one_row(service: Service, client: httpx.AsyncClient) -> None:
    body = webhook_body("n-dup")
    for _ in range(3):
        response = await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
        assert response.status_code == 200
    # A retry with a different body but the same notification id changes nothing either.
    other = webhook_body("n-dup", status="CANCEL")
    assert (
        await client.post("/webhooks/tiktok", content=other, headers=signed_headers(other))
    ).status_code == 200
    await settle(service)
    status = await service.store.get_inbox("n-dup")
    assert status is not None
    assert status.state == "processed"
    assert status.attempts == 1  # processed once, not once per delivery
    text = (await client.get("/metrics")).text
    assert sample(text, "creatorflow_webhook_requests_total", outcome="accepted") == 1
    assert sample(text, "creatorflow_webhook_requests_total", outcome="duplicate") == 3
    assert sample(text, "creatorflow_webhooks_received_total", type="1",
                  topic="ORDER_STATUS_CHANGE") == 1  # fmt: skip


async def test_unknown_type_is_stored_and_counted(
    service: Service, client: httpx.AsyncClient
) -> None:
    body = b'{"type":4242,"tts_notification_id":"n-unknown","shop_id":"s","timestamp":1,"data":{}}'
    response = await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    await settle(service)
    text = (await client.get("/metrics")).text
    assert sample(text, "creatorflow_webhooks_received_total", type="4242",
                  topic="UNKNOWN_4242") == 1  # fmt: skip
    assert sample(text, "creatorflow_inbox_processed_total", type="4242",
                  topic="UNKNOWN_4242") == 1  # fmt: skip


async def test_webhook_status_api(service: Service, client: httpx.AsyncClient) -> None:
    body = webhook_body("n-status")
    await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    await settle(service)
    assert (await client.get("/api/webhooks/n-status")).status_code == 401
    bad = {"authorization": "Bearer nope"}
    assert (await client.get("/api/webhooks/n-status", headers=bad)).status_code == 401
    response = await client.get("/api/webhooks/n-status", headers=API)
    assert response.status_code == 200
    payload = response.json()
    assert payload["notification_id"] == "n-status"
    assert payload["state"] == "processed"
    assert payload["type"] == 1
    assert payload["attempts"] == 1
    assert payload["processed_at_ms"] >= payload["received_at_ms"]
    missing = await client.get("/api/webhooks/nope", headers=API)
    assert missing.status_code == 404


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"tree": "running", "store": "ok"}
    text = (await client.get("/metrics")).text
    assert 'creatorflow_mailbox_depth{actor="webhook_ingress"}' in text
    assert 'creatorflow_supervisor_restarts_total{child="store_writer"}' in text
    assert "creatorflow_store_commit_latency_seconds_bucket" in text
    assert "creatorflow_webhook_latency_seconds_bucket" in text
    assert (await client.get("/nope")).status_code == 404
    assert (await client.get("/webhooks/tiktok")).status_code == 405


async def test_app_key_in_env_is_what_signs(client: httpx.AsyncClient) -> None:
    body = webhook_body("n-key")
    headers = signed_headers(body, key=APP_KEY)
    assert (await client.post("/webhooks/tiktok", content=body, headers=headers)).status_code == 200


@pytest.mark.asyncio_only  # the trio runs use hypercorn already
async def test_hypercorn_serves_on_asyncio_too(tmp_path: Path, anyio_backend: Any) -> None:
    config = make_config(tmp_path, anyio_backend, CREATORFLOW_SERVER="hypercorn")
    assert config.server.kind == "hypercorn"
    async with open_service(config) as service, httpx.AsyncClient(base_url=service.url) as c:
        body = webhook_body("n-hyper")
        response = await c.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
        assert response.status_code == 200
        assert await service.store.get_inbox("n-hyper") is not None
        assert (await c.get("/readyz")).status_code == 200


async def test_status_reports_components(service: Service, client: httpx.AsyncClient) -> None:
    body = webhook_body("n-status-doc")
    await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    await settle(service)
    response = await client.get("/status")
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == "ok"
    components = doc["components"]
    assert components["store"]["status"] == "ok"
    assert components["cache"]["status"] == "ok"
    assert components["tree"]["state"] == "running"
    assert components["tree"]["stopped"] == []
    assert components["inbox"]["oldest_unprocessed_age_s"] is None  # all processed


async def test_processed_webhook_status_is_served_from_cache(
    service: Service, client: httpx.AsyncClient
) -> None:
    body = webhook_body("n-cached")
    await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))
    await settle(service)
    first = await client.get("/api/webhooks/n-cached", headers=API)
    hits_before = service.cache.statistics().hits
    second = await client.get("/api/webhooks/n-cached", headers=API)
    assert second.json() == first.json()
    assert first.json()["state"] == "processed"
    assert service.cache.statistics().hits == hits_before + 1


async def test_authorize_with_an_auth_code(service: Service, client: httpx.AsyncClient) -> None:
    assert (
        await client.post("/api/tiktok/authorize", json={"auth_code": "code-1"})
    ).status_code == 401
    response = await client.post(
        "/api/tiktok/authorize", json={"auth_code": "code-1", "shop_key": "me"}, headers=API
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [shop["id"] for shop in body["shops"]] == service.tiktok.shop_ids
    assert body["access_expires_at"] > 0
    again = await client.post(
        "/api/tiktok/authorize", json={"auth_code": "code-1", "shop_key": "me"}, headers=API
    )
    assert again.status_code == 400  # single-use code
    bad = await client.post("/api/tiktok/authorize", json={"nope": 1}, headers=API)
    assert bad.status_code == 400
