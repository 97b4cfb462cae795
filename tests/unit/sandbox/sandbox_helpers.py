"""Helpers for the sandbox tests: a fake wall clock, a signing client, a webhook collector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio.lowlevel
import httpx
import msgspec

from creatorflow.adapters.tiktok.signing import sign_request
from creatorflow.sandbox.tiktok import TikTokSandbox, TikTokSandboxConfig

APP_KEY = "test-app-key"
APP_SECRET = "test-app-secret"
ACCESS = "TTP_test_access"
REFRESH = "TTP_test_refresh"
CIPHER = "ROW_test"
START_S = 1_700_000_000


class FakeWallClock:
    """``now_ms`` moves only when the test says so."""

    def __init__(self, start_s: float = START_S) -> None:
        self.ms = int(start_s * 1000)

    def now_ms(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


class RecordingSleep:
    """A sleep that returns at once (a checkpoint) and remembers what was asked."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


class Collector:
    """A webhook target: records every delivery and answers from ``answers`` (then 200)."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def deliver(self, body: bytes, headers: Mapping[str, str]) -> int:
        await anyio.lowlevel.checkpoint()
        self.received.append((body, dict(headers)))
        return self.answers.pop(0) if self.answers else 200

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(body) for body, _ in self.received]

    def statuses(self, order_id: str | None = None) -> list[str]:
        return [
            p["data"]["order_status"]
            for p in self.payloads
            if order_id is None or p["data"]["order_id"] == order_id
        ]


def make_config(**overrides: Any) -> TikTokSandboxConfig:
    base: dict[str, Any] = {
        "app_key": APP_KEY,
        "app_secret": APP_SECRET,
        "access_token": ACCESS,
        "refresh_token": REFRESH,
        "shop_cipher": CIPHER,
        "seed": 7,
        "webhook_retry_s": (1.0, 2.0),
        "webhook_reorder_hold_s": 0.01,
    }
    base.update(overrides)
    return TikTokSandboxConfig(**base)


def client_for(sandbox: TikTokSandbox) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox")


async def signed(
    client: httpx.AsyncClient,
    clock: FakeWallClock,
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    json: Any = None,
    token: str | None = ACCESS,
    cipher: str | None = CIPHER,
    secret: str = APP_SECRET,
    timestamp: int | None = None,
    prefix: str = "",
) -> httpx.Response:
    """Call the sandbox like the real client would: common params, body signed as sent."""
    query = {"app_key": APP_KEY, "timestamp": str(timestamp or clock.now_ms() // 1000)}
    if cipher is not None:
        query["shop_cipher"] = cipher
    query.update(params or {})
    body = b"" if json is None else msgspec.json.encode(json)
    query["sign"] = sign_request(secret, path, query, body)
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-tts-access-token"] = token
    return await client.request(method, prefix + path, params=query, content=body, headers=headers)
