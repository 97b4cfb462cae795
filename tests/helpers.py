"""Helpers shared by tests: configs for a real service, signed webhooks, settling the pipeline."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from creatorflow.app import Service
from creatorflow.config import Config, load_config
from creatorflow.domain.webhook import sign_webhook

APP_KEY = "e2e-app"
APP_SECRET = "e2e-secret"
API_TOKEN = "e2e-token"


def make_config(tmp_path: Path, anyio_backend: Any, **env: str) -> Config:
    backend = anyio_backend[0]
    environ = {
        "CREATORFLOW_HTTP_PORT": "0",
        "CREATORFLOW_DATA_DIR": str(tmp_path / "data"),
        "CREATORFLOW_TIKTOK_APP_KEY": APP_KEY,
        "CREATORFLOW_TIKTOK_APP_SECRET": APP_SECRET,
        "CREATORFLOW_API_TOKEN": API_TOKEN,
        "CREATORFLOW_BACKEND": backend,
        "CREATORFLOW_SERVER": "uvicorn" if backend == "asyncio" else "hypercorn",
        "CREATORFLOW_SERVER__SHUTDOWN_GRACE_S": "5",
        # Tests measure behaviour, not fsync: NORMAL keeps them fast; durability has its own test.
        "CREATORFLOW_STORE__SQLITE_SYNCHRONOUS": "NORMAL",
    }
    environ.update(env)
    return load_config(environ=environ)


def webhook_body(notification_id: str, *, type_: int = 1, order_id: str = "576000000000000001",
                 status: str = "AWAITING_SHIPMENT") -> bytes:  # fmt: skip
    data = (
        f'{{"is_on_hold_order":false,"order_id":"{order_id}","order_status":"{status}",'
        f'"update_time":1700000000}}'
    )
    return (
        f'{{"type":{type_},"tts_notification_id":"{notification_id}",'
        f'"shop_id":"7490000000000000001","timestamp":1700000000,"data":{data}}}'
    ).encode()


def signed_headers(body: bytes, *, key: str = APP_KEY, secret: str = APP_SECRET) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "authorization": sign_webhook(key, secret, body),
    }


API = {"authorization": f"Bearer {API_TOKEN}"}

GOLDEN_APP_KEY = "abcdef"
GOLDEN_APP_SECRET = "123"
GOLDEN_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
GOLDEN_SIG = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


async def settle(service: Service) -> None:
    """Return once every webhook answered so far has gone through the pipeline.

    Flushes the actors in pipeline order: whatever the ingress handed on before this call is in
    the pump's or the consumer's mailbox, and each flush returns after the messages queued
    before it were handled (and, for the consumer, committed).
    """
    for name in ("webhook_ingress", "inbox_pump", "order_sync", "order_scheduler", "store_writer"):
        await service.supervisor.ref(name).flush()
    # The saga: steps run in the scheduler's background and send it their moves, which queue
    # the order for its next step; a few rounds settle every order (each round is cheap).
    scheduler = service.supervisor.ref("order_scheduler")
    for _ in range(3):
        await scheduler.flush()
    await service.supervisor.ref("store_writer").flush()


@asynccontextmanager
async def fresh_postgres_database(base_url: str) -> AsyncIterator[str]:
    """A new, empty database on the server of ``base_url``, dropped afterwards; yields its URL."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"cf_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(base_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    prefix, _, _ = base_url.rpartition("/")
    try:
        yield f"{prefix}/{name}"
    finally:
        admin = await asyncpg.connect(base_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
