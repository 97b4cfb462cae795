"""The inventory rows of the README's HTTP API table, through the HTTP API with real SKU actors on
the real SQLite store (no fake of the stock rules):

- ``GET /api/inventory/{sku}``: ``available`` = on hand - reserved, ``sellable`` = available -
  safety buffer; ``404`` unknown SKU;
- ``PUT /api/inventory/{sku}``: creates the SKU (at 0 without ``on_hand``) or sets its count;
  ``409 below_reserved`` when the count is below what open orders hold;
- ``POST /api/inventory/{sku}/adjustments``: ``409 below_reserved`` / ``negative`` /
  ``too_large`` (on hand would pass 1,000,000,000, the bound ``PUT`` enforces) when refused,
  ``404`` unknown SKU; a refused change changes nothing.

Written from the README's table, not from the code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from creatorflow.actors.inventory import InventoryMsg, Reservation, Reserve, SkuActor
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import open_sqlite_store
from creatorflow.runtime import Registry, open_actor
from creatorflow.runtime.testing import FakeClock
from creatorflow.web.api import build_api
from creatorflow.web.api.inventory import InventoryApi

pytestmark = pytest.mark.anyio

NOW_MS = 1_700_000_000_000
MAX_COUNT = 1_000_000_000  # the README's bound on a count


class WallClock:
    def now_ms(self) -> int:
        return NOW_MS


@dataclass
class Api:
    client: httpx.AsyncClient
    registry: Registry[str, InventoryMsg]

    async def view(self, sku: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/inventory/{sku}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def put(self, sku: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(f"/api/inventory/{sku}", json=body)

    async def adjust(self, sku: str, delta: int) -> httpx.Response:
        return await self.client.post(
            f"/api/inventory/{sku}/adjustments", json={"delta": delta, "reason": "count"}
        )

    async def reserve(self, sku: str, order_id: str, qty: int) -> None:
        reply = await self.registry.ask(sku, Reserve(order_id=order_id, qty=qty))
        assert isinstance(reply, Reservation)
        assert reply.outcome == "reserved"


@asynccontextmanager
async def inventory_api(tmp_path: Path) -> AsyncIterator[Api]:
    wall = WallClock()
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 64) as writer,
    ):
        registry: Registry[str, InventoryMsg] = Registry(
            "inventory",
            lambda sku: SkuActor(sku, writer=writer, reader=store, clock=wall),
            mailbox_size=64,
            max_active=8,
            idle_s=600.0,
            clock=FakeClock(),
        )
        api = InventoryApi(ask=registry.ask, reader=store, clock_ms=wall.now_ms)

        transport = httpx.ASGITransport(app=build_api(api.routes(), token=""))
        async with (
            anyio.create_task_group() as tg,
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            await tg.start(registry.run)
            yield Api(client, registry)
            registry.request_stop()


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]
    return code


async def test_the_view_counts_available_and_sellable(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        created = await api.put("MUG", {"on_hand": 10, "safety_buffer": 2})
        assert created.status_code == 200, created.text
        await api.reserve("MUG", "order-1", 3)
        view = await api.view("MUG")
    assert (view["on_hand"], view["reserved"], view["safety_buffer"]) == (10, 3, 2)
    assert view["available"] == 7  # on hand - reserved
    assert view["sellable"] == 5  # available - safety buffer


async def test_put_without_on_hand_creates_the_sku_at_zero(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        assert (await api.put("NEW", {"safety_buffer": 1})).status_code == 200
        view = await api.view("NEW")
    assert (view["on_hand"], view["reserved"], view["available"], view["sellable"]) == (0, 0, 0, 0)


async def test_unknown_sku_is_404_for_a_read_and_an_adjustment(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        assert (await api.client.get("/api/inventory/NOPE")).status_code == 404
        assert error_of(await api.adjust("NOPE", 5), 404) == "not_found"
        # The refused adjustment did not create it.
        assert (await api.client.get("/api/inventory/NOPE")).status_code == 404


async def test_put_below_what_orders_hold_is_409_below_reserved(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        await api.put("MUG", {"on_hand": 10})
        await api.reserve("MUG", "order-1", 4)
        assert error_of(await api.put("MUG", {"on_hand": 3}), 409) == "below_reserved"
        assert (await api.view("MUG"))["on_hand"] == 10
        assert (await api.put("MUG", {"on_hand": 4})).status_code == 200  # exactly what is held
        assert (await api.view("MUG"))["on_hand"] == 4


async def test_an_adjustment_below_what_orders_hold_is_409_below_reserved(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        await api.put("MUG", {"on_hand": 10})
        await api.reserve("MUG", "order-1", 4)
        assert error_of(await api.adjust("MUG", -7), 409) == "below_reserved"
        assert (await api.view("MUG"))["on_hand"] == 10
        assert (await api.adjust("MUG", -6)).status_code == 200
        assert (await api.view("MUG"))["on_hand"] == 4


async def test_an_adjustment_below_zero_is_409_negative(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        await api.put("MUG", {"on_hand": 3})
        assert error_of(await api.adjust("MUG", -4), 409) == "negative"
        assert (await api.view("MUG"))["on_hand"] == 3
        assert (await api.adjust("MUG", -3)).status_code == 200
        assert (await api.view("MUG"))["on_hand"] == 0


async def test_an_adjustment_past_the_count_bound_is_409_too_large(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        await api.put("MUG", {"on_hand": MAX_COUNT - 5})
        assert error_of(await api.adjust("MUG", 6), 409) == "too_large"
        assert (await api.view("MUG"))["on_hand"] == MAX_COUNT - 5
        assert (await api.adjust("MUG", 5)).status_code == 200  # up to the bound is fine
        assert (await api.view("MUG"))["on_hand"] == MAX_COUNT
        assert error_of(await api.adjust("MUG", 1), 409) == "too_large"


async def test_put_takes_the_bound_and_refuses_past_it(tmp_path: Path) -> None:
    async with inventory_api(tmp_path) as api:
        assert (await api.put("MUG", {"on_hand": MAX_COUNT})).status_code == 200
        refused = await api.put("MUG", {"on_hand": MAX_COUNT + 1})
        assert refused.status_code in (400, 409)  # refused either at the edge or by the rule
        assert (await api.view("MUG"))["on_hand"] == MAX_COUNT
