"""TikTok stock sync through ``creatorflow serve``, its timers on a fake clock (README,
"TikTok stock sync"): changes of one SKU within ``stock_sync.debounce_ms`` become one value,
every ``stock_sync.resync_interval_s`` every SKU is pushed again, and
``stock_sync.enabled = false`` stops it: no Update Inventory call at all.

The service's timers all sleep on one :class:`FakeClock` (``open_service(timer=...)``); the test
moves it, so each window is exact and nothing waits for time to pass.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.app import Service, open_service
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked
from creatorflow.sandbox._tiktok_order import sku_ids
from helpers import API_TOKEN, make_config

pytestmark = [pytest.mark.anyio, pytest.mark.asyncio_only]

WAREHOUSE = "7000000000000000003"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
DEBOUNCE_S = 1.0
RESYNC_S = 900.0


@asynccontextmanager
async def serve(
    tmp_path: Path, anyio_backend: Any, *, enabled: bool
) -> AsyncIterator[tuple[Service, FakeClock, httpx.AsyncClient]]:
    config = make_config(
        tmp_path,
        anyio_backend,
        CREATORFLOW_STOCK_SYNC__ENABLED=str(enabled).lower(),
        CREATORFLOW_STOCK_SYNC__DEBOUNCE_MS=str(DEBOUNCE_S * 1000),
        CREATORFLOW_STOCK_SYNC__RESYNC_INTERVAL_S=str(RESYNC_S),
    )
    assert config.stock_sync.enabled is enabled
    timer = FakeClock()
    async with (
        open_service(config, timer=timer) as service,
        httpx.AsyncClient(base_url=service.url, headers=AUTH) as api,
    ):
        yield service, timer, api


async def set_stock(service: Service, api: httpx.AsyncClient, sku: str, on_hand: int) -> None:
    """``PUT /api/inventory/{sku}`` with the SKU's TikTok ids (so its sellable stock syncs)."""
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    sku_id, product_id = sku_ids(sku)
    tiktok = {
        "shop_id": sandbox.config.shop_id,
        "product_id": product_id,
        "sku_id": sku_id,
        "warehouse_id": WAREHOUSE,
    }
    put = await api.put(f"/api/inventory/{sku}", json={"on_hand": on_hand, "tiktok": tiktok})
    assert put.status_code == 200, put.text
    await settle(service)


async def settle(service: Service) -> None:
    """Timers due by now have fired, what they read is in, and the pushes they started are
    done. SQLite reads are served one at a time in order (one reader connection), so a read of
    ours returns after the reads the timers started (the resync's list of SKUs)."""
    await wait_all_tasks_blocked()
    await service.store.ping()
    await wait_all_tasks_blocked()
    await service.supervisor.ref("stock_sync").flush()


async def elapse(service: Service, timer: FakeClock, seconds: float) -> None:
    timer.advance(seconds)
    await settle(service)


def pushes(service: Service) -> list[dict[str, Any]]:
    """The Update Inventory calls TikTok (the sandbox) received, oldest first."""
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    return [c for c in sandbox.calls if c["path"].endswith("/inventory/update")]


def tiktok_quantity(service: Service, sku: str) -> int | None:
    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    sku_id, _ = sku_ids(sku)
    return sandbox.book.inventory.get((sku_id, WAREHOUSE))


async def test_changes_within_the_debounce_window_are_one_push_and_resync_repeats_it(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with serve(tmp_path, anyio_backend, enabled=True) as (service, timer, api):
        await set_stock(service, api, "MUG-RED", 5)
        await elapse(service, timer, DEBOUNCE_S / 2)
        await set_stock(service, api, "MUG-RED", 7)  # within the window of the first change
        await elapse(service, timer, DEBOUNCE_S / 2 - 0.001)
        assert pushes(service) == []
        await elapse(service, timer, 0.001)  # one window after the first change
        assert len(pushes(service)) == 1
        assert tiktok_quantity(service, "MUG-RED") == 7  # the latest value, once

        await set_stock(service, api, "MUG-RED", 9)  # after the window: a window of its own
        await elapse(service, timer, DEBOUNCE_S)
        assert len(pushes(service)) == 2
        assert tiktok_quantity(service, "MUG-RED") == 9

        # Unchanged since: nothing until the resync (900 s after start) pushes every SKU again,
        # through the same debounce.
        await elapse(service, timer, RESYNC_S - 2 * DEBOUNCE_S)
        assert len(pushes(service)) == 2
        await elapse(service, timer, DEBOUNCE_S)
        assert len(pushes(service)) == 3
        assert tiktok_quantity(service, "MUG-RED") == 9


async def test_disabled_stock_sync_never_calls_tiktok(tmp_path: Path, anyio_backend: Any) -> None:
    async with serve(tmp_path, anyio_backend, enabled=False) as (service, timer, api):
        await set_stock(service, api, "MUG-RED", 5)
        await elapse(service, timer, DEBOUNCE_S)
        await set_stock(service, api, "MUG-RED", 8)
        await elapse(service, timer, RESYNC_S)  # past the debounce and a resync
        await elapse(service, timer, DEBOUNCE_S)  # and the debounce of what a resync would read
        assert pushes(service) == []
        assert tiktok_quantity(service, "MUG-RED") is None
        view = (await api.get("/api/inventory/MUG-RED")).json()
        assert view["on_hand"] == 8  # the stock itself is kept as usual
