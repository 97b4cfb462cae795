"""Stock sync: pushes each SKU's sellable quantity to TikTok, so TikTok stops selling what we
cannot ship (reference §5, Update Inventory).

Inbox:   StockLevel (told by the SKU actors after every commit that changed what they can sell;
         dropped when the mailbox is full: the periodic resync repairs it) | Resync (told by
         the resync daemon: push every known SKU again)
State:   the latest level per SKU not yet pushed (bounded: ``max_pending``; beyond it the
         oldest is dropped and counted, the resync brings it back), the products with a call
         in flight, and the last quantity TikTok accepted per SKU (bounded LRU: a repeat of the
         same value is not sent)
Restart: permanent; pending levels are lost on a crash and come back with the next change or
         the resync

Coalescing: only the latest value of a SKU matters. A level waits ``debounce_s`` (more changes
meanwhile replace it), then goes in one call with the other due SKUs of the same product (the
API takes one product per call). At most one call per product is in flight, and at most
``max_in_flight`` calls in all; a change that arrives during a call waits for it. Calls go
through the TikTok client (its rate limiter, retries and breaker). SKUs that TikTok refused in
``data.errors`` are logged and counted, not retried until they change. The debounce, the retry
wait and the resync all sleep on ``timer`` (a monotonic clock: tests drive it with a fake).

Failures, per shop (one shop's trouble never holds back another's pushes): a failed call puts
its levels back (unless newer ones arrived) and the shop waits before its next call:
``retry_s`` after the first failure, doubling up to ``retry_max_s`` while an outage lasts
(retryable errors: TikTok down or throttled, breaker open). An error a retry cannot fix (no
tokens for the shop, a refused request) parks the shop for ``retry_max_s`` and is logged once
per episode, not every few seconds; the next success ends the episode. The per-shop state is
bounded (``SHOP_CAPACITY`` shops, least recently failed dropped first).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import msgspec

from creatorflow.actors.inventory import TikTokSkuRef
from creatorflow.errors import AdapterError, CircuitOpen
from creatorflow.ports import TikTokFulfillment, TikTokSkuInventory
from creatorflow.runtime import Actor, Envelope, KeyedLru, MonotonicClock, SystemMonotonicClock

log = logging.getLogger("creatorflow.stock_sync")

#: Distinct SKUs remembered with the last quantity TikTok accepted.
SENT_CAPACITY: Final = 100_000
#: Shops remembered with their failure streak (beyond it the oldest streak is forgotten).
SHOP_CAPACITY: Final = 10_000


class _Streak(msgspec.Struct):
    """A shop's current run of failed calls: how many, and when it may be called again."""

    failures: int
    retry_at: float


class StockLevel(msgspec.Struct, frozen=True, kw_only=True, tag="stock_level"):
    """``version``: when the level was decided (ms; the SKU row's ``updated_at_ms``): a level
    older than one already seen for the SKU is dropped (a resync read before a change)."""

    sku: str
    sellable: int
    ref: TikTokSkuRef
    version: int = 0


class Resync(msgspec.Struct, frozen=True, kw_only=True, tag="resync"):
    """Push these levels even if unchanged (the resync daemon reads them from the store)."""

    levels: tuple[StockLevel, ...]


StockSyncMsg = StockLevel | Resync

#: Reads every known SKU's level for the periodic resync (pages internally).
ListLevels = Callable[[], Awaitable[list[StockLevel]]]


class StockSync(Actor[StockSyncMsg]):
    """See the module docstring."""

    max_batch = 4096

    def __init__(
        self,
        *,
        tiktok: TikTokFulfillment,
        debounce_s: float,
        max_pending: int,
        max_in_flight: int,
        max_quantity: int = 99_999,
        retry_s: float = 5.0,
        retry_max_s: float = 300.0,
        resync_interval_s: float | None = None,
        list_levels: ListLevels | None = None,
        on_push: Callable[[str, int], None] = lambda outcome, skus: None,
        timer: MonotonicClock | None = None,
    ) -> None:
        self._tiktok = tiktok
        self._timer: MonotonicClock = timer if timer is not None else SystemMonotonicClock()
        self._debounce_s = debounce_s
        self._max_pending = max_pending
        self._max_quantity = max_quantity
        self._retry_s = retry_s
        self._retry_max_s = max(retry_s, retry_max_s)
        self._resync_interval_s = resync_interval_s
        self._list_levels = list_levels
        self._on_push = on_push
        self._pending: OrderedDict[str, StockLevel] = OrderedDict()
        self._forced: set[str] = set()  # pending SKUs to push even when unchanged
        self._sent: KeyedLru[str, int] = KeyedLru(SENT_CAPACITY)
        self._versions: KeyedLru[str, int] = KeyedLru(SENT_CAPACITY)
        self._busy: set[tuple[str, str]] = set()  # (shop, product) with a call in flight
        self._slots = anyio.Semaphore(max_in_flight)
        self._wake = anyio.Event()
        self._streaks: KeyedLru[str, _Streak] = KeyedLru(SHOP_CAPACITY)  # failing shops
        self._wake_pending = False  # a daemon will wake the flush loop for a waiting shop
        self.dropped = 0

    async def on_start(self) -> None:
        self.start_daemon(self._flush_loop)
        if self._list_levels is not None and self._resync_interval_s is not None:
            self.start_daemon(self._resync_loop)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def handle_batch(self, batch: list[Envelope[StockSyncMsg]]) -> None:
        for env in batch:
            msg = env.msg
            if isinstance(msg, StockLevel):
                self._add(msg, force=False)
            else:
                for level in msg.levels:
                    self._add(level, force=True)
            env.reply(None)
        if self._debounce_s <= 0:
            self._dispatch()  # no debounce: the calls start with the batch (flush waits for them)
        else:
            self._wake.set()

    def _add(self, level: StockLevel, *, force: bool) -> None:
        seen = self._versions.peek(level.sku)
        if seen is not None and level.version < seen:
            return  # older than a level already taken (a resync raced a change)
        self._versions.put(level.sku, level.version)
        self._pending[level.sku] = level
        self._pending.move_to_end(level.sku)
        if force:
            self._forced.add(level.sku)
        while len(self._pending) > self._max_pending:
            sku, _ = self._pending.popitem(last=False)
            self._forced.discard(sku)
            self.dropped += 1

    # ------------------------------------------------------------------ pushing

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            if self._debounce_s > 0:
                await self._timer.sleep(self._debounce_s)
            self._dispatch()

    def _dispatch(self) -> None:
        """Start one call per idle product with pending levels, while slots are free; levels
        of shops still waiting after a failure stay pending (a wake-up is scheduled)."""
        groups: dict[tuple[str, str], list[StockLevel]] = {}
        now = self._timer.now()
        waiting_until: float | None = None
        for level in self._pending.values():
            key = (level.ref.shop_id, level.ref.product_id)
            if key in self._busy:
                continue
            streak = self._streaks.peek(level.ref.shop_id)
            if streak is not None and streak.retry_at > now:
                if waiting_until is None or streak.retry_at < waiting_until:
                    waiting_until = streak.retry_at
                continue
            if level.sku not in self._forced and self._sent.peek(level.sku) == self._quantity(
                level
            ):
                continue
            groups.setdefault(key, []).append(level)
        for key, levels in groups.items():
            if self._slots.value == 0:
                break
            for level in levels:
                del self._pending[level.sku]
                self._forced.discard(level.sku)
            self._slots.acquire_nowait()
            self._busy.add(key)
            self.start_background(self._push, key, levels)
        # Unchanged levels with nothing to send are done.
        for sku in [s for s, lv in self._pending.items() if self._settled(lv)]:
            del self._pending[sku]
        if waiting_until is not None and not self._wake_pending:
            self._wake_pending = True
            self.start_daemon(self._wake_after, waiting_until - now)

    async def _wake_after(self, delay_s: float) -> None:
        """Wake the flush loop once a waiting shop may be called again."""
        try:
            await self._timer.sleep(delay_s)
        finally:
            self._wake_pending = False
        self._wake.set()

    def _settled(self, level: StockLevel) -> bool:
        return (
            level.sku not in self._forced
            and (level.ref.shop_id, level.ref.product_id) not in self._busy
            and self._sent.peek(level.sku) == self._quantity(level)
        )

    def _quantity(self, level: StockLevel) -> int:
        return max(0, min(level.sellable, self._max_quantity))

    async def _push(self, key: tuple[str, str], levels: list[StockLevel]) -> None:
        shop_id, product_id = key
        skus = [
            TikTokSkuInventory(
                sku_id=level.ref.sku_id,
                quantities={level.ref.warehouse_id: self._quantity(level)},
            )
            for level in levels
        ]
        try:
            result = await self._tiktok.update_inventory(shop_id, product_id, skus, idempotent=True)
        except ValueError as exc:
            # Ids TikTok could never take (set by hand, or learned from a bad order): refused
            # like a SKU TikTok refused, not retried until they change; never a crash.
            log.error("stock sync: product %s not pushed, bad ids: %s", product_id, exc)
            self._on_push("refused", len(levels))
        except (AdapterError, CircuitOpen) as exc:
            parked = self._failed(shop_id, product_id, exc)
            self._on_push("parked" if parked else "failed", len(levels))
            for level in levels:  # put back unless a newer level arrived meanwhile
                if level.sku not in self._pending:
                    self._pending[level.sku] = level
        else:
            if self._streaks.pop(shop_id) is not None:
                log.info("stock sync: shop %s accepts updates again", shop_id)
            refused = {error.sku_id for error in result.errors}
            for error in result.errors:
                log.warning("stock sync: TikTok refused sku %s: %s", error.sku_id, error.message)
            for level in levels:
                if level.ref.sku_id not in refused:
                    self._sent.put(level.sku, self._quantity(level))
            self._on_push("refused", len(refused))
            self._on_push("ok", len(levels) - len(refused))
        finally:
            self._busy.discard(key)
            self._slots.release()
        self._wake.set()

    def _failed(self, shop_id: str, product_id: str, exc: BaseException) -> bool:
        """Record a failed call of ``shop_id``; whether the shop is parked (not retryable)."""
        retryable = bool(getattr(exc, "retryable", False))
        streak = self._streaks.peek(shop_id)
        failures = 1 if streak is None else streak.failures + 1
        if retryable:
            wait = min(self._retry_s * 2 ** min(failures - 1, 30), self._retry_max_s)
        else:
            wait = self._retry_max_s
        self._streaks.put(shop_id, _Streak(failures=failures, retry_at=self._timer.now() + wait))
        if retryable:
            log.warning(
                "stock sync: product %s of shop %s not updated (retry in %.0f s): %s",
                product_id,
                shop_id,
                wait,
                exc,
            )
        elif failures == 1:
            log.warning(
                "stock sync: shop %s refused (%s); parked, retried every %.0f s and logged "
                "again only once it recovers",
                shop_id,
                exc,
                wait,
            )
        return not retryable

    async def _resync_loop(self) -> None:
        assert self._list_levels is not None and self._resync_interval_s is not None
        while True:
            await self._timer.sleep(self._resync_interval_s)
            try:
                levels = await self._list_levels()
            except AdapterError as exc:
                log.warning("stock sync: resync skipped: %s", exc)
                continue
            for level in levels:
                self._add(level, force=True)
            self._wake.set()


__all__ = ["ListLevels", "Resync", "StockLevel", "StockSync", "StockSyncMsg"]
