"""One unreadable order must not kill its batch (issue 10, item 7), through the whole service.

The report: a sandbox order with ``sale_price`` ``1e30`` created beside 7 normal ones never
appeared in ``/api/orders``, and all 24 inbox rows of that Get Order Detail batch went ``dead``
after one attempt, including those of orders processed fine.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from creatorflow.adapters.store.sqlite import SQLITE_FILENAME
from creatorflow.app import Service
from helpers import API, settle

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> Any:
    return ("asyncio", {"use_uvloop": True})


async def test_an_unreadable_order_is_parked_and_its_batch_goes_on(
    service: Service, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    async def create(price: str) -> str:
        body = {"lines": [{"seller_sku": "MUG-RED", "quantity": 1, "sale_price": price}]}
        response = await client.post("/sandbox/tiktok/orders", json=body, headers=API)
        assert response.status_code == 200, response.text
        return str(response.json()["order_id"])

    sandbox = service.tiktok.sandbox
    assert sandbox is not None
    good = [await create("19.99") for _ in range(4)]
    bad = await create("1e30")
    good += [await create("9.99") for _ in range(3)]
    await sandbox.wait_webhooks_idle()
    await settle(service)

    detail = (await client.get(f"/api/orders/{bad}", headers=API)).json()
    assert detail["state"] == "needs_attention"
    assert "too large" in detail["unreadable"]["reason"]
    assert detail["unreadable"]["document"]["id"] == bad
    assert detail["lines"] == []
    assert [h["to_state"] for h in detail["history"]] == ["received", "needs_attention"]
    for order_id in good:
        order = (await client.get(f"/api/orders/{order_id}", headers=API)).json()
        assert order["state"] in ("classified", "backordered", "reserved"), order
        assert order["unreadable"] is None

    path = tmp_path / "data" / SQLITE_FILENAME
    with closing(sqlite3.connect(path)) as db:
        states = dict(db.execute("SELECT state, count(*) FROM inbox GROUP BY state").fetchall())
    assert states.get("dead", 0) == 0
    assert states.get("received", 0) == 0
    assert states["processed"] >= 8
