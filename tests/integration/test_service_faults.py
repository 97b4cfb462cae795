"""The service on real Postgres and Redis, and what happens when either goes away.

- Redis unreachable: cache reads miss, webhooks and the API keep working, /status says degraded.
- Postgres restarted mid-load: ingress answers 503 while the store is down, nothing that got a
  200 is lost, and the service recovers without a restart. It stops the machine's shared
  server, so it never runs beside other tests: marked ``restarts_postgres``, it runs alone in
  ``make pytest-restarts`` (after the suite, in ``make test``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from creatorflow.app import open_service
from helpers import API, fresh_postgres_database, make_config, settle, signed_headers, webhook_body

pytestmark = [pytest.mark.anyio]

CAN_RESTART_PG = shutil.which("pg_ctlcluster") is not None and os.path.isdir("/etc/postgresql")


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def post(client: httpx.AsyncClient, nid: str) -> httpx.Response:
    body = webhook_body(nid)
    return await client.post("/webhooks/tiktok", content=body, headers=signed_headers(body))


async def test_redis_down_is_degraded_not_down(tmp_path: Path, anyio_backend: Any) -> None:
    config = make_config(
        tmp_path, anyio_backend, CREATORFLOW_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"
    )
    async with open_service(config) as service, httpx.AsyncClient(base_url=service.url) as c:
        assert (await post(c, "r-down")).status_code == 200
        await settle(service)
        for _ in range(2):  # the second read would be a cache hit if Redis answered
            response = await c.get("/api/webhooks/r-down", headers=API)
            assert response.status_code == 200
            assert response.json()["state"] == "processed"
        status = await c.get("/status")
        assert status.status_code == 200
        doc = status.json()
        assert doc["status"] == "degraded"
        assert doc["components"]["cache"]["status"] == "degraded"
        assert doc["components"]["store"]["status"] == "ok"
        assert service.cache.statistics().hits == 0


@pytest.mark.services
async def test_postgres_and_redis_serve_webhooks(
    tmp_path: Path, anyio_backend: Any, postgres_url: str, redis_url: str
) -> None:
    async with fresh_postgres_database(postgres_url) as db_url:
        config = make_config(
            tmp_path,
            anyio_backend,
            CREATORFLOW_DATABASE_URL=db_url,
            CREATORFLOW_REDIS_URL=redis_url,
            CREATORFLOW_CACHE__KEY_PREFIX=f"cf-test-{tmp_path.name}:",
        )
        async with open_service(config) as service, httpx.AsyncClient(base_url=service.url) as c:
            for i in range(20):
                assert (await post(c, f"pg-{i}")).status_code == 200
            assert (await post(c, "pg-3")).status_code == 200  # duplicate
            await settle(service)
            first = await c.get("/api/webhooks/pg-3", headers=API)
            assert first.json()["state"] == "processed"
            assert first.json()["attempts"] == 1
            await c.get("/api/webhooks/pg-3", headers=API)
            assert service.cache.statistics().hits >= 1  # served from Redis the second time
            doc = (await c.get("/status")).json()
            assert doc["status"] == "ok", doc
            assert await service.store.list_unprocessed(None, 5) == []


def _pg_ctl(action: str) -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", action],
        check=True,
        capture_output=True,
        timeout=60,
    )


class Tally:
    """A count that tasks can wait on reaching a value (no polling)."""

    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[tuple[int, anyio.Event]] = []

    def add(self) -> None:
        self.count += 1
        for target, event in self._waiters:
            if self.count >= target:
                event.set()

    async def reach(self, target: int) -> None:
        if self.count >= target:
            return
        event = anyio.Event()
        self._waiters.append((target, event))
        await event.wait()


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.restarts_postgres
async def test_postgres_restart_mid_load_loses_nothing(
    tmp_path: Path, anyio_backend: Any, postgres_url: str
) -> None:
    if not CAN_RESTART_PG:
        pytest.skip("needs pg_ctlcluster to restart the local PostgreSQL server")
    async with fresh_postgres_database(postgres_url) as db_url:
        config = make_config(
            tmp_path,
            anyio_backend,
            CREATORFLOW_DATABASE_URL=db_url,
            CREATORFLOW_STORE__PG_COMMAND_TIMEOUT_S="2",
            CREATORFLOW_STORE__PG_CONNECT_TIMEOUT_S="1",
        )
        acked: set[str] = set()
        refused: list[int] = []
        ok_count, refused_count = Tally(), Tally()
        async with (
            open_service(config) as service,
            httpx.AsyncClient(base_url=service.url, timeout=10.0) as c,
        ):
            stop = anyio.Event()

            async def sender(worker: int) -> None:
                i = 0
                while not stop.is_set():
                    nid = f"pgr-{worker}-{i}"
                    i += 1
                    response = await post(c, nid)
                    if response.status_code == 200:
                        acked.add(nid)
                        ok_count.add()
                    else:
                        refused.append(response.status_code)
                        refused_count.add()
                        assert response.status_code == 503, response.text
                        assert "retry-after" in response.headers
                        await anyio.sleep(0.01)  # pacing a client, as TikTok's retries would

            async with anyio.create_task_group() as tg:
                for worker in range(8):
                    tg.start_soon(sender, worker)
                with anyio.fail_after(60):
                    await ok_count.reach(200)
                    await anyio.to_thread.run_sync(_pg_ctl, "stop")
                    try:
                        # The store is down: 503s, not 200s.
                        await refused_count.reach(refused_count.count + 5)
                    finally:  # never leave the shared server down, whatever happens
                        with anyio.CancelScope(shield=True):
                            await anyio.to_thread.run_sync(_pg_ctl, "start")
                    await ok_count.reach(ok_count.count + 200)  # 200s again, same process
                stop.set()
            await settle(service)
            missing = [nid for nid in acked if await service.store.get_inbox(nid) is None]
            assert missing == []
            assert (await c.get("/readyz")).status_code == 200
            failures = service.metrics.store_failures.labels("unavailable")._value.get()
            assert failures >= 1  # the outage is visible in /metrics
        assert refused  # the outage was seen as 503s
