"""Stock watcher: sales velocity and content metrics per SKU → viral detection, stock-out
forecast, ``inventory.critical`` alerts and purchase orders (DESIGN §3 "Viral → reorder").

Inbox:   SaleObserved (told by the SKU actors for every new reservation; dropped when full)
         | ContentObserved (told by the content-metrics API)
         | GetSignals (asked by the inventory API) | Tick (told by this actor's timer)
         | FollowUp (told by this actor's timer: chase open purchase orders)
Replies: GetSignals → :class:`SkuSignals`
State:   one :class:`~creatorflow.domain.velocity.SkuDetector` per SKU with recent activity
         (bounded LRU, ``max_skus``), the set of viral SKUs, SKUs with news since the last tick
Restart: permanent; detectors restart cold (the velocity baselines relearn; a viral SKU is
         re-detected while its spike lasts). Purchase orders are durable and idempotent.

Each tick (``tick_s``) closes the detectors' finished windows. A SKU that turns viral gets a
``content.viral_detected`` event (outbox) and joins :attr:`viral_skus`, which the order
scheduler reads to boost that SKU's orders; it leaves when its detector calms down.

**Reorder** (DESIGN §6.3): for each SKU that sold since the last tick, the forecast rate
(detector) and the SKU's live stock (its actor) give the time to stock-out. Below the supplier's
lead time + ``safety_s``, one purchase order is recorded by the SKU's actor (state
``requested``, with the ``inventory.critical`` event, in one transaction) *before* the supplier
is called; its id ``po-{sku}-{supplier}-{window}`` is the supplier's idempotency key, so a retry
after a crash or a timeout never orders twice, and a second need in the same ``cooldown_s``
window maps to the same id. Its size is the forecast demand over lead time + ``cover_days``
minus what is available minus open purchase orders, so a need already covered orders nothing.
Open orders are followed up every ``follow_up_s``: ``requested`` ones are placed again (same
key), delivered ones are received by the SKU's actor (on hand rises once) and rejected ones are
marked failed. The tick, follow-up and content-poll timers sleep on ``timer`` (a monotonic
clock: tests drive it with a fake); velocity windows read the wall ``clock``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import msgspec

from creatorflow.actors.inventory import (
    GetStock,
    InventoryMsg,
    OpenPurchaseOrder,
    PurchaseOrderReply,
    ReceivePurchaseOrder,
    StockView,
    UpdatePurchaseOrder,
)
from creatorflow.actors.store_writer import Write
from creatorflow.domain.forecast import (
    needs_reorder,
    reorder_quantity,
    reorder_window,
    time_to_stockout_s,
)
from creatorflow.domain.velocity import DetectorSettings, SkuDetector, VerdictKind
from creatorflow.errors import CircuitOpen, CreatorFlowError, SupplierError
from creatorflow.ports import (
    AppendOutbox,
    Clock,
    ContentMetricsSource,
    InventoryReader,
    Supplier,
)
from creatorflow.runtime import (
    Actor,
    ActorRef,
    Envelope,
    KeyedLru,
    MonotonicClock,
    SystemMonotonicClock,
)

log = logging.getLogger("creatorflow.viral")

#: Open purchase orders followed up per round.
FOLLOW_UP_BATCH: Final = 500

_ENCODE = msgspec.json.Encoder().encode


class SaleObserved(msgspec.Struct, frozen=True, kw_only=True, tag="sale"):
    """Units of a SKU newly reserved by an order (told by the SKU actors)."""

    sku: str
    qty: int
    at_ms: int


class ContentObserved(msgspec.Struct, frozen=True, kw_only=True, tag="content"):
    """Cumulative metrics of one video linked to a SKU, as read at ``at_ms`` (told)."""

    sku: str
    video_id: str
    views: int
    likes: int = 0
    shares: int = 0
    at_ms: int


class GetSignals(msgspec.Struct, frozen=True, kw_only=True, tag="get_signals"):
    """Asked: what the watcher knows of one SKU. Reply: :class:`SkuSignals`."""

    sku: str


class SkuSignals(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    viral: bool
    rate_per_hour: float
    baseline_per_hour: float
    time_to_stockout_s: float | None


class Tick(msgspec.Struct, frozen=True, kw_only=True, tag="tick"):
    """Close finished windows, update verdicts, check forecasts (told by the watcher's timer)."""


class FollowUp(msgspec.Struct, frozen=True, kw_only=True, tag="follow_up"):
    """Chase open purchase orders (told by the watcher's timer)."""


WatcherMsg = SaleObserved | ContentObserved | GetSignals | Tick | FollowUp


class ReorderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the watcher reorders (the ``[reorder]`` config section)."""

    enabled: bool = True
    cover_days: float = 7.0
    safety_s: float = 86_400.0
    cooldown_s: int = 86_400
    pack_size: int = 1
    min_qty: int = 1
    min_units: int = 10
    max_qty: int = 10_000


AskSku = Callable[[str, InventoryMsg], Awaitable[object]]


class StockWatcher(Actor[WatcherMsg]):
    """See the module docstring. ``supplier_for(sku)``: the SKU's supplier, or None."""

    max_batch = 4096

    def __init__(
        self,
        *,
        ask_sku: AskSku,
        writer: ActorRef[Write] | None,
        reader: InventoryReader | None,
        clock: Clock,
        supplier_for: Callable[[str], Supplier | None],
        detector: DetectorSettings,
        reorder: ReorderSettings,
        self_ref: Callable[[], ActorRef[WatcherMsg]] | None = None,
        max_skus: int = 100_000,
        tick_s: float = 15.0,
        follow_up_s: float = 60.0,
        ask_timeout_s: float = 10.0,
        on_viral: Callable[[str, bool], None] = lambda sku, viral: None,
        on_purchase_order: Callable[[str], None] = lambda outcome: None,
        publish_viral: Callable[[frozenset[str]], None] = lambda skus: None,
        content_source: ContentMetricsSource | None = None,
        content_poll_s: float = 60.0,
        content_batch: int = 1000,
        timer: MonotonicClock | None = None,
    ) -> None:
        self._ask_sku = ask_sku
        self._timer: MonotonicClock = timer if timer is not None else SystemMonotonicClock()
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._supplier_for = supplier_for
        self._settings = detector
        self._reorder = reorder
        self._self_ref = self_ref
        self._detectors: KeyedLru[str, SkuDetector] = KeyedLru(max_skus)
        self._news: dict[str, None] = {}  # SKUs that sold since the last tick (<= max_skus)
        # Per SKU: (first sale seen at ms, units seen since): the evidence behind a reorder.
        self._seen: KeyedLru[str, tuple[int, int]] = KeyedLru(max_skus)
        self._max_skus = max_skus
        self._tick_s = tick_s
        self._follow_up_s = follow_up_s
        self._ask_timeout_s = ask_timeout_s
        self._on_viral = on_viral
        self._on_po = on_purchase_order
        self._publish_viral = publish_viral
        self._content_source = content_source
        self._content_poll_s = content_poll_s
        self._content_batch = content_batch
        self._following = False
        #: Viral SKUs: an immutable snapshot, replaced on change (read by the scheduler).
        self.viral_skus: frozenset[str] = frozenset()

    async def on_start(self) -> None:
        if self._self_ref is not None:
            self.start_daemon(self._every, self._tick_s, Tick())
            if self._reader is not None:
                self.start_daemon(self._every, self._follow_up_s, FollowUp())
            if self._content_source is not None:
                self.start_daemon(self._pull_content)

    async def _pull_content(self) -> None:
        """Pull content metrics from the configured source into this actor's mailbox."""
        assert self._self_ref is not None and self._content_source is not None
        while True:
            await self._timer.sleep(self._content_poll_s)
            try:
                samples = await self.pull_content()
            except CreatorFlowError as exc:
                log.warning("content metrics not pulled: %s", exc)
                continue
            for sample in samples:
                await self._self_ref().tell(sample)

    async def pull_content(self) -> list[ContentObserved]:
        """One pull from the content source, as messages for this actor."""
        if self._content_source is None:
            return []
        samples = await self._content_source.fetch(limit=self._content_batch)
        return [
            ContentObserved(
                sku=s.sku,
                video_id=s.video_id,
                views=s.views,
                likes=s.likes,
                shares=s.shares,
                at_ms=s.at_ms,
            )
            for s in samples[: self._content_batch]
        ]

    async def _every(self, interval_s: float, msg: WatcherMsg) -> None:
        assert self._self_ref is not None
        while True:
            await self._timer.sleep(interval_s)
            try:
                self._self_ref().tell_nowait(msg)
            except CreatorFlowError:
                pass  # full: the next timer fires again

    def current_viral(self) -> frozenset[str]:
        return self.viral_skus

    # ------------------------------------------------------------------ messages

    async def handle_batch(self, batch: list[Envelope[WatcherMsg]]) -> None:
        tick = follow_up = False
        for env in batch:
            msg = env.msg
            if isinstance(msg, SaleObserved):
                if msg.qty > 0:
                    self._detector(msg.sku, msg.at_ms).record_sale(msg.at_ms, msg.qty)
                    first, units = self._seen.peek(msg.sku) or (msg.at_ms, 0)
                    self._seen.put(msg.sku, (first, units + msg.qty))
                    self._mark(msg.sku)
                env.reply(None)
            elif isinstance(msg, ContentObserved):
                detector = self._detector(msg.sku, msg.at_ms)
                detector.record_content(msg.at_ms, msg.video_id, msg.views, msg.likes, msg.shares)
                self._mark(msg.sku)
                env.reply(None)
            elif isinstance(msg, GetSignals):
                env.reply(await self._signals(msg.sku))
            elif isinstance(msg, Tick):
                tick = True
                env.reply(None)
            else:
                follow_up = True
                env.reply(None)
        if tick:
            await self.tick()
        if follow_up and not self._following:
            # Supplier calls take time: off the mailbox, one round at a time.
            self._following = True
            self.start_background(self._follow_up_once)

    async def _follow_up_once(self) -> None:
        try:
            await self.follow_up()
        finally:
            self._following = False

    def _detector(self, sku: str, at_ms: int) -> SkuDetector:
        detector = self._detectors.peek(sku)
        if detector is None:
            detector = SkuDetector(sku, at_ms, self._settings)
        self._detectors.put(sku, detector)  # most recently used
        return detector

    def _mark(self, sku: str) -> None:
        if len(self._news) < self._max_skus:
            self._news[sku] = None

    async def _stock(self, sku: str) -> StockView | None:
        """The SKU's live stock from its actor; None when unknown or not answering in time."""
        try:
            with anyio.fail_after(self._ask_timeout_s):
                view = await self._ask_sku(sku, GetStock())
        except (CreatorFlowError, KeyError, TimeoutError):
            return None
        return view if isinstance(view, StockView) else None

    async def _stockout(self, sku: str, rate_per_hour: float) -> float | None:
        """Seconds until ``sku`` runs out at ``rate_per_hour`` (None: unknown or never)."""
        view = await self._stock(sku)
        if view is None:
            return None
        left = time_to_stockout_s(view.available, rate_per_hour)
        return None if left is None else round(left, 1)

    async def _signals(self, sku: str) -> SkuSignals:
        detector = self._detectors.peek(sku)
        if detector is None:
            return SkuSignals(
                sku=sku,
                viral=False,
                rate_per_hour=0.0,
                baseline_per_hour=0.0,
                time_to_stockout_s=None,
            )
        # Read only: verdicts are taken (and published) by the next tick.
        rate = detector.rate_per_hour
        stockout = await self._stockout(sku, rate)
        return SkuSignals(
            sku=sku,
            viral=sku in self.viral_skus,
            rate_per_hour=rate,
            baseline_per_hour=detector.baseline_per_hour,
            time_to_stockout_s=stockout,
        )

    # ------------------------------------------------------------------ ticks

    async def tick(self) -> None:
        """Close windows, publish verdicts, check reorders for SKUs with news."""
        now_ms = self._clock.now_ms()
        outbox: list[AppendOutbox] = []
        viral = set(self.viral_skus)
        for sku in list(viral) + [s for s in self._news if s not in viral]:
            detector = self._detectors.peek(sku)
            if detector is None:
                viral.discard(sku)  # evicted from the LRU: no longer watched
                continue
            while (verdict := detector.advance(now_ms)) is not None:
                started = verdict.kind is VerdictKind.STARTED
                if started:
                    viral.add(sku)
                    stockout = await self._stockout(sku, verdict.rate_per_hour)
                    outbox.append(
                        AppendOutbox(
                            event_id=f"content.viral_detected:{sku}:{verdict.at_ms}",
                            topic="content.viral_detected",
                            key=sku,
                            payload=_ENCODE(
                                {
                                    "sku": sku,
                                    "at_ms": verdict.at_ms,
                                    "rate_per_hour": round(verdict.rate_per_hour, 3),
                                    "baseline_per_hour": round(verdict.baseline_per_hour, 3),
                                    "content": verdict.content,
                                    "time_to_stockout_s": stockout,
                                }
                            ),
                            created_at_ms=now_ms,
                        )
                    )
                    log.warning(
                        "sku %s went viral: %.1f/h against a baseline of %.1f/h",
                        sku,
                        verdict.rate_per_hour,
                        verdict.baseline_per_hour,
                    )
                else:
                    viral.discard(sku)
                    log.info("sku %s calmed down", sku)
                self._on_viral(sku, started)
        if outbox and self._writer is not None:
            try:
                await self._writer.ask(Write(ops=tuple(outbox)))
            except CreatorFlowError as exc:
                log.warning("viral events not written: %s", exc)
        if viral != self.viral_skus:
            self.viral_skus = frozenset(viral)
            self._publish_viral(self.viral_skus)
        news, self._news = list(self._news), {}
        if self._reorder.enabled:
            for sku in news:
                await self._check_reorder(sku, now_ms)

    async def _check_reorder(self, sku: str, now_ms: int) -> None:
        detector = self._detectors.peek(sku)
        supplier = self._supplier_for(sku)
        if detector is None or supplier is None:
            return
        rate = self._forecast_rate(sku, detector, now_ms)
        if rate <= 0:
            return
        view = await self._stock(sku)
        if view is None:
            return
        r = self._reorder
        lead_s = supplier.lead_time_s
        if not needs_reorder(view.available, rate, lead_s, r.safety_s):
            return
        qty = reorder_quantity(
            rate,
            lead_s,
            r.cover_days,
            view.available,
            view.open_po_qty,
            pack_size=r.pack_size,
            min_qty=r.min_qty,
        )
        if qty <= 0:
            return  # open purchase orders already cover the need
        if qty > r.max_qty:
            log.warning("sku %s: reorder of %d capped at reorder.max_qty %d", sku, qty, r.max_qty)
            qty = r.max_qty
        window = reorder_window(now_ms, r.cooldown_s)
        po_id = f"po-{sku}-{supplier.supplier_id}-{window}"
        stockout = time_to_stockout_s(view.available, rate)
        alert: dict[str, Any] = {
            "sku": sku,
            "available": view.available,
            "rate_per_hour": round(rate, 3),
            "time_to_stockout_s": None if stockout is None else round(stockout, 1),
            "lead_time_s": lead_s,
            "purchase_order": po_id,
            "qty": qty,
            "supplier": supplier.supplier_id,
            "viral": sku in self.viral_skus,
        }
        try:
            with anyio.fail_after(self._ask_timeout_s):
                reply = await self._ask_sku(
                    sku,
                    OpenPurchaseOrder(
                        po_id=po_id,
                        supplier_id=supplier.supplier_id,
                        qty=qty,
                        expected_at_ms=now_ms + int(lead_s * 1000),
                        alert=alert,
                    ),
                )
        except (CreatorFlowError, KeyError, TimeoutError) as exc:
            log.warning("sku %s: purchase order not recorded: %s", sku, exc)
            return
        assert isinstance(reply, PurchaseOrderReply)
        if reply.new:
            self._on_po("opened")  # with its inventory.critical event
            log.warning(
                "inventory.critical: sku %s runs out in %s s; ordering %d from %s (%s)",
                sku,
                alert["time_to_stockout_s"],
                qty,
                supplier.supplier_id,
                po_id,
            )
            self.start_background(self._place, supplier, sku, po_id, qty)

    def _forecast_rate(self, sku: str, detector: SkuDetector, now_ms: int) -> float:
        """Units per hour to plan with; 0 until the SKU sold ``reorder.min_units``.

        A viral SKU plans with its short-window rate (the spike is the point); any other with
        its average since the watcher first saw it sell, over at least an hour, so two units in
        the first minute read as 2/h, not 120/h.
        """
        first_ms, units = self._seen.peek(sku) or (now_ms, 0)
        if units < self._reorder.min_units:
            return 0.0
        if sku in self.viral_skus:
            return detector.rate_per_hour
        hours = max(1.0, (now_ms - first_ms) / 3_600_000)
        return units / hours

    # ------------------------------------------------------------------ suppliers

    async def _place(self, supplier: Supplier, sku: str, po_id: str, qty: int) -> None:
        """Place a recorded purchase order (idempotent by ``po_id``)."""
        try:
            order = await supplier.place_order(po_id=po_id, sku=sku, qty=qty)
        except SupplierError as exc:
            self._on_po("failed")
            if exc.retryable:
                log.warning("purchase order %s not placed yet (retried later): %s", po_id, exc)
                return
            log.error("purchase order %s refused by %s: %s", po_id, supplier.supplier_id, exc)
            await self._update(
                sku, UpdatePurchaseOrder(po_id=po_id, state="failed", detail={"error": str(exc)})
            )
            return
        except CircuitOpen as exc:
            self._on_po("failed")
            log.warning("purchase order %s waits: %s", po_id, exc)
            return
        if order.state == "rejected":
            self._on_po("failed")
            await self._update(
                sku,
                UpdatePurchaseOrder(po_id=po_id, state="failed", detail={"reason": order.reason}),
            )
            return
        self._on_po("placed")
        await self._update(
            sku,
            UpdatePurchaseOrder(
                po_id=po_id,
                state="confirmed",
                expected_at_ms=order.expected_at_ms,
                detail={"supplier_ref": order.supplier_ref},
            ),
        )

    async def _update(self, sku: str, msg: InventoryMsg) -> None:
        try:
            with anyio.fail_after(self._ask_timeout_s):
                await self._ask_sku(sku, msg)
        except (CreatorFlowError, KeyError, TimeoutError) as exc:
            log.warning("sku %s: purchase order update not recorded: %s", sku, exc)

    async def follow_up(self) -> int:
        """Chase every open purchase order once; the number looked at."""
        if self._reader is None:
            return 0
        try:
            rows = await self._reader.purchase_orders(
                states=("requested", "confirmed", "delivered"), limit=FOLLOW_UP_BATCH
            )
        except CreatorFlowError as exc:
            log.warning("purchase orders not followed up: %s", exc)
            return 0
        for row in rows:
            supplier = self._supplier_for(row.sku)
            if supplier is None or supplier.supplier_id != row.supplier_id:
                continue
            if row.state == "requested":
                await self._place(supplier, row.sku, row.po_id, row.qty)
                continue
            try:
                order = await supplier.get_order(row.po_id)
            except (SupplierError, CircuitOpen) as exc:
                log.warning("purchase order %s: status unknown: %s", row.po_id, exc)
                continue
            if order is None:  # the supplier lost it: place it again (same key)
                await self._place(supplier, row.sku, row.po_id, row.qty)
            elif order.state == "delivered":
                self._on_po("received")
                await self._update(
                    row.sku,
                    ReceivePurchaseOrder(po_id=row.po_id, qty=order.delivered_qty or row.qty),
                )
            elif order.state == "rejected":
                await self._update(
                    row.sku,
                    UpdatePurchaseOrder(
                        po_id=row.po_id, state="failed", detail={"reason": order.reason}
                    ),
                )
        return len(rows)


__all__ = [
    "ContentObserved",
    "FollowUp",
    "GetSignals",
    "ReorderSettings",
    "SaleObserved",
    "SkuSignals",
    "StockWatcher",
    "Tick",
    "WatcherMsg",
]
