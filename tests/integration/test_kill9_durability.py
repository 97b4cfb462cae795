"""``kill -9`` during load loses no acknowledged webhook (DESIGN §6.1).

Starts ``python -m creatorflow serve`` as a real process with the durable default
(``sqlite_synchronous = FULL``), sends distinct signed webhooks from many concurrent clients,
kills the process with SIGKILL mid-load, then restarts the service on the same data directory
and checks that every webhook that got a 200 is there, and that the restarted service processes
the ones the killed process had stored but not processed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from creatorflow.app import open_service
from helpers import APP_KEY, APP_SECRET, make_config, settle, signed_headers, webhook_body

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLIENTS = 32
KILL_AFTER_ACKS = 600


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": False})


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = os.environ | {
        "CREATORFLOW_HTTP_HOST": "127.0.0.1",
        "CREATORFLOW_HTTP_PORT": "0",
        "CREATORFLOW_DATA_DIR": str(data_dir),
        "CREATORFLOW_TIKTOK_APP_KEY": APP_KEY,
        "CREATORFLOW_TIKTOK_APP_SECRET": APP_SECRET,
        "CREATORFLOW_STORE__SQLITE_SYNCHRONOUS": "FULL",
        "CREATORFLOW_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "creatorflow", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "creatorflow: listening on http://127.0.0.1:PORT"
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(
            f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        )
    return proc, line.rsplit(" ", 1)[-1].strip()


async def test_kill9_loses_no_acknowledged_webhook(tmp_path: Path, anyio_backend: Any) -> None:
    data_dir = tmp_path / "data"
    proc, url = start_server(data_dir)
    acked: set[str] = set()
    enough = anyio.Event()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:

            async def sender(worker: int) -> None:
                for i in range(100_000):
                    nid = f"k9-{worker}-{i}"
                    body = webhook_body(nid)
                    try:
                        response = await client.post(
                            "/webhooks/tiktok", content=body, headers=signed_headers(body)
                        )
                    except httpx.TransportError:
                        return  # the server is gone
                    if response.status_code == 200:
                        acked.add(nid)
                        if len(acked) >= KILL_AFTER_ACKS:
                            enough.set()

            async with anyio.create_task_group() as tg:
                for worker in range(CLIENTS):
                    tg.start_soon(sender, worker)
                with anyio.fail_after(60):
                    await enough.wait()
                proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()  # reaps the process and closes its pipes
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= KILL_AFTER_ACKS

    config = make_config(tmp_path, anyio_backend, CREATORFLOW_DATA_DIR=str(data_dir))
    async with open_service(config) as service:
        await settle(service)
        missing = [nid for nid in acked if await service.store.get_inbox(nid) is None]
        assert missing == [], f"{len(missing)} acknowledged webhooks lost, e.g. {missing[:5]}"
        left = await service.store.list_unprocessed(None, 10)
        assert left == [], "the restarted service must process what the killed one left"
        for nid in list(acked)[:50]:
            status = await service.store.get_inbox(nid)
            assert status is not None
            assert status.state == "processed"
