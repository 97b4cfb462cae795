"""An :class:`HttpSupplier` wired to an in-process sandbox supplier, fake clocks, a driver."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import httpx

from creatorflow.adapters.suppliers import HttpSupplier, HttpSupplierSettings, open_http_supplier
from creatorflow.runtime.testing import FakeClock, wait_all_tasks_blocked
from creatorflow.sandbox.supplier import SupplierSandbox, SupplierSandboxConfig

T = TypeVar("T")

API_KEY = "test-supplier-key"
START_S = 1_700_000_000


class FakeWallClock:
    """``now_ms`` moves only when the test says so (the sandbox's underlying clock)."""

    def __init__(self, start_s: float = START_S) -> None:
        self.ms = int(start_s * 1000)

    def now_ms(self) -> int:
        return self.ms


def sandbox(**config: Any) -> SupplierSandbox:
    """A sandbox with the test key, a frozen wall clock and the given config fields."""
    fields: dict[str, Any] = {"api_key": API_KEY, "seed": 3} | config
    return SupplierSandbox(SupplierSandboxConfig(**fields), clock=FakeWallClock())


def settings(**over: Any) -> HttpSupplierSettings:
    """Settings for tests: exact backoff (no jitter), 0.5 s · 2^n."""
    base: dict[str, Any] = {
        "supplier_id": "acme",
        "base_url": "http://supplier.test",
        "api_key": API_KEY,
        "lead_time_s": 86_400.0,
        "backoff_jitter": 0.0,
    }
    return HttpSupplierSettings(**(base | over))


@asynccontextmanager
async def open_supplier(
    app: SupplierSandbox | None = None,
    *,
    clock: FakeClock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    **over: Any,
) -> AsyncIterator[HttpSupplier]:
    """An :class:`HttpSupplier` talking to ``app`` through ``httpx.ASGITransport``."""
    if transport is None:
        assert app is not None
        transport = httpx.ASGITransport(app=app)
    async with open_http_supplier(
        settings(**over), transport=transport, clock=clock if clock is not None else FakeClock()
    ) as supplier:
        yield supplier


async def drive(clock: FakeClock, fn: Callable[[], Awaitable[T]]) -> T:
    """Run ``fn`` and keep advancing ``clock`` to the next sleeper's deadline until it ends."""
    box: list[tuple[bool, Any]] = []
    done = anyio.Event()

    async def run() -> None:
        try:
            box.append((True, await fn()))
        except Exception as exc:
            box.append((False, exc))
        finally:
            done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while not done.is_set():
            await wait_all_tasks_blocked()
            if done.is_set():
                break
            deadline = clock.next_deadline
            if deadline is None:
                raise RuntimeError("drive: the call is blocked on something other than the clock")
            clock.advance(deadline - clock.now())
    ok, value = box[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
