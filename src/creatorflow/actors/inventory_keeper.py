"""Inventory keeper: the timers of inventory that must run even when a SKU is asleep.

Inbox:   SweepNow | RepairNow (asked by tests and operators; the daemons do the same on timers)
Replies: the number of SKUs told to sweep / the :class:`RepairReport` list
State:   none (the store holds the holds and their expiries: timers survive a restart)
Restart: permanent

- **Sweep** (every ``sweep_interval_s``): expired holds still ``held`` in the store belong to
  SKUs whose actor has not run since they expired (an active actor expires its holds on every
  message). Each such SKU is told ``Sweep``, which wakes it, expires and journals them. SKUs
  with expired adjustment Idempotency-Keys are told ``Sweep(keys=True)``: their actor (the only
  writer of its SKU's keys) deletes them. Both scans are bounded by ``sweep_batch`` rows.
- **Repair** (every ``repair_interval_s``): the store lists SKUs whose stored ``reserved``
  differs from the sum of their held reservation rows (DESIGN §8: counters drift); each is
  asked ``Repair``: it reloads from the rows, logs and journals the correction. The number of
  repairs is reported (a non-zero figure means a bug or a manual edit worth a look).

Both timers sleep on ``timer`` (a monotonic clock: tests drive it with a fake); what has expired
is decided on the wall ``clock``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import msgspec

from creatorflow.actors.inventory import InventoryMsg, Repair, RepairReport, Sweep
from creatorflow.errors import AdapterError, CreatorFlowError
from creatorflow.ports import Clock, InventoryReader
from creatorflow.runtime import Actor, Envelope, MonotonicClock, SystemMonotonicClock

log = logging.getLogger("creatorflow.inventory")


class SweepNow(msgspec.Struct, frozen=True, kw_only=True, tag="sweep_now"):
    pass


class RepairNow(msgspec.Struct, frozen=True, kw_only=True, tag="repair_now"):
    pass


KeeperMsg = SweepNow | RepairNow


class InventoryKeeper(Actor[KeeperMsg]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        reader: InventoryReader,
        ask: Callable[[str, InventoryMsg], Awaitable[object]],
        tell_nowait: Callable[[str, InventoryMsg], None],
        clock: Clock,
        sweep_interval_s: float,
        sweep_batch: int,
        repair_interval_s: float,
        repair_batch: int = 1000,
        on_repair: Callable[[int], None] = lambda n: None,
        timer: MonotonicClock | None = None,
    ) -> None:
        self._reader = reader
        self._timer: MonotonicClock = timer if timer is not None else SystemMonotonicClock()
        self._ask = ask
        self._tell_nowait = tell_nowait
        self._clock = clock
        self._sweep_interval_s = sweep_interval_s
        self._sweep_batch = sweep_batch
        self._repair_interval_s = repair_interval_s
        self._repair_batch = repair_batch
        self._on_repair = on_repair

    async def on_start(self) -> None:
        self.start_daemon(self._every, self._sweep_interval_s, self.sweep)
        self.start_daemon(self._every, self._repair_interval_s, self.repair)

    async def handle(self, env: Envelope[KeeperMsg]) -> None:
        try:
            if isinstance(env.msg, SweepNow):
                env.reply(await self.sweep())
            else:
                env.reply(await self.repair())
        except CreatorFlowError as exc:
            env.fail(exc)

    async def _every(self, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await self._timer.sleep(interval_s)
            try:
                await job()
            except CreatorFlowError as exc:
                log.warning("inventory keeper: %s skipped: %s", job.__name__, exc)

    async def sweep(self) -> int:
        """Tell every SKU with an expired hold or adjustment key to sweep; the number of SKUs
        told."""
        now_ms = self._clock.now_ms()
        rows = await self._reader.expired_holds(now_ms, self._sweep_batch)
        keys = await self._reader.expired_adjustment_keys(now_ms, self._sweep_batch)
        with_keys = {row.sku for row in keys}
        told = 0
        for sku in sorted({row.sku for row in rows} | with_keys):
            try:
                self._tell_nowait(sku, Sweep(keys=sku in with_keys))
                told += 1
            except CreatorFlowError:  # full: the next sweep finds the hold again
                pass
        return told

    async def repair(self) -> list[RepairReport]:
        """Ask every drifted SKU to repair itself; the reports."""
        drift = await self._reader.reservation_drift(self._repair_batch)
        reports: list[RepairReport] = []
        for sku, stored, rows in drift:
            log.warning("sku %s: stored reserved %d, reservation rows %d", sku, stored, rows)
            try:
                reply = await self._ask(sku, Repair())
            except (AdapterError, CreatorFlowError) as exc:
                log.warning("sku %s: repair failed: %s", sku, exc)
                continue
            assert isinstance(reply, RepairReport)
            reports.append(reply)
        self._on_repair(sum(1 for r in reports if r.repaired))
        return reports


__all__ = ["InventoryKeeper", "KeeperMsg", "RepairNow", "SweepNow"]
