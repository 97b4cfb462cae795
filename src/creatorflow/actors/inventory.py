"""Inventory: one actor per seller SKU (keyed registry), the only writer of that SKU's stock.

Inbox:   Reserve / Release / Commit (the order saga), Adjust / SetStock / GetStock (the API),
         OpenPurchaseOrder / UpdatePurchaseOrder / ReceivePurchaseOrder (the stock watcher),
         Sweep (expired holds), Repair (the drift reconciler). All asked except Sweep.
Replies: :class:`Reservation` for Reserve; :class:`StockView` for the stock messages;
         :class:`PurchaseOrderRow` (with ``new``) for purchase orders; :class:`RepairReport`.
         A refused change fails with InventoryRefused; an unknown SKU (GetStock, Adjust …) with
         KeyError; a write that did not commit with the store's error (StoreUnavailable …).
State:   :class:`~creatorflow.domain.inventory.SkuStock` (on hand, holds, safety buffer), the
         SKU's open purchase orders and its TikTok ids; loaded from the store on activation
         (held reservation rows are the truth; the SKU row's ``reserved`` is re-derived).
         Adjustment Idempotency-Keys live in the store; the actor caches the ones it met.
Restart: by the registry on a crash (state rebuilt from the store); after a write that did not
         commit the actor reloads from the store before its next message.
Full:    the saga and the API wait (``ask``); ``Sweep`` is told without waiting and dropped
         when the mailbox is full (the next sweep finds the hold again).

Durability (DESIGN §6.3-6.5): every message of a drained batch is decided in memory, then all
their changes go to the store writer as **one** ``Write`` (reservation rows, journal rows, the
SKU row; group-committed with every other actor's writes) and the replies are sent only after
it committed. One write per SKU is in flight at a time, so a later batch never commits before
an earlier one. Refusals change nothing and are answered with the batch.

Idempotency-Keys: an ``Adjust`` with a ``key`` is checked against the store's key of this SKU
(read before the batch is decided, unless cached) and, when applied, writes the key in the same
``Write`` as the adjustment, valid for ``idempotency_ttl_s``: a key is stored if and only if its
adjustment committed, so a retry after a sleep, a restart or a crash is never applied twice.
Same key and body: the stock view, nothing applied; same key, another body: ``key_conflict``.
Expired keys are deleted by ``Sweep(keys=True)`` (the inventory keeper), at most
:data:`KEY_SWEEP_BATCH` per sweep.

Hooks (all optional, called after the commit, must not block): ``on_sale`` feeds the stock
watcher's velocity (new holds, and refused demand once per order), ``on_level`` the TikTok
stock sync, ``on_restock`` the saga (orders that were refused stock here, now that more
arrived), ``on_outcome`` the metrics, ``on_expired`` the saga (orders whose hold expired).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from creatorflow.actors.store_writer import Write
from creatorflow.domain.inventory import Change, SkuStock
from creatorflow.domain.inventory import Hold as _Hold
from creatorflow.errors import AdapterError, InventoryRefused
from creatorflow.ports import (
    AppendOutbox,
    AppendStockEvent,
    Clock,
    DeleteAdjustmentKeys,
    InventoryReader,
    PurchaseOrderRow,
    PurchaseOrderState,
    PutAdjustmentKey,
    PutReservation,
    UpsertPurchaseOrder,
    UpsertSku,
    WriteOp,
)
from creatorflow.runtime import Actor, ActorRef, Envelope, KeyedLru
from creatorflow.telemetry.logging import bound

log = logging.getLogger("creatorflow.inventory")

#: Purchase-order states that still bring stock (count as "open" for reorder sizing).
OPEN_PO_STATES: Final[tuple[PurchaseOrderState, ...]] = ("requested", "confirmed", "delivered")

#: Orders remembered per SKU as waiting for stock (refused), for ``on_restock``; also the
#: bound of the other per-SKU memories (demand already counted, adjustment keys, closed POs).
WAITING_CAPACITY: Final = 1024

#: Most expired Idempotency-Keys one ``Sweep(keys=True)`` deletes (the next sweep takes more).
KEY_SWEEP_BATCH: Final = 1000

_ENCODE = msgspec.json.Encoder().encode


class TikTokSkuRef(msgspec.Struct, frozen=True, kw_only=True):
    """Where a seller SKU lives on TikTok (learned from orders or set through the API)."""

    shop_id: str
    product_id: str
    sku_id: str
    warehouse_id: str = ""


# --------------------------------------------------------------------------- messages


class Reserve(msgspec.Struct, frozen=True, kw_only=True, tag="reserve"):
    """Hold ``qty`` for ``order_id``; ``expires_at_ms`` for UNPAID / ON_HOLD orders."""

    order_id: str
    qty: int
    expires_at_ms: int | None = None
    tiktok: TikTokSkuRef | None = None


class Release(msgspec.Struct, frozen=True, kw_only=True, tag="release"):
    order_id: str
    reason: str = ""


class Commit(msgspec.Struct, frozen=True, kw_only=True, tag="commit"):
    """The order shipped; ``qty`` only counts when it holds nothing here."""

    order_id: str
    qty: int = 0
    reason: str = ""


class Adjust(msgspec.Struct, frozen=True, kw_only=True, tag="adjust"):
    """Add ``delta`` units. ``key`` (optional, the API's Idempotency-Key, at most
    ``MAX_ADJUSTMENT_KEY_CHARS``): a repeat with a key of this SKU applied within
    ``idempotency_ttl_s`` changes nothing (the same ``delta`` and ``reason``: the stock view;
    others: InventoryRefused ``key_conflict``). The key is stored with the adjustment."""

    delta: int
    reason: str
    key: str = ""


class SetStock(msgspec.Struct, frozen=True, kw_only=True, tag="set_stock"):
    """Create the SKU or set what is given (on hand from a count, buffer, TikTok ids)."""

    on_hand: int | None = None
    safety_buffer: int | None = None
    reason: str = "count"
    tiktok: TikTokSkuRef | None = None


class GetStock(msgspec.Struct, frozen=True, kw_only=True, tag="get_stock"):
    pass


class Sweep(msgspec.Struct, frozen=True, kw_only=True, tag="sweep"):
    """Expire what is due (told by the keeper); ``keys``: also delete expired adjustment keys."""

    keys: bool = False


class Repair(msgspec.Struct, frozen=True, kw_only=True, tag="repair"):
    """Re-derive ``reserved`` from the stored held rows; report and fix any drift."""


class OpenPurchaseOrder(msgspec.Struct, frozen=True, kw_only=True, tag="open_po"):
    """Record a purchase order (state ``requested``) before it is placed; idempotent by po_id.

    ``alert``: an ``inventory.critical`` event payload written in the same transaction.
    """

    po_id: str
    supplier_id: str
    qty: int
    expected_at_ms: int
    alert: dict[str, Any] | None = None


class UpdatePurchaseOrder(msgspec.Struct, frozen=True, kw_only=True, tag="update_po"):
    po_id: str
    state: PurchaseOrderState
    expected_at_ms: int = 0
    detail: dict[str, Any] | None = None


class ReceivePurchaseOrder(msgspec.Struct, frozen=True, kw_only=True, tag="receive_po"):
    """The supplier delivered ``qty`` units of the order: on hand rises once, however often."""

    po_id: str
    qty: int


InventoryMsg = (
    Reserve
    | Release
    | Commit
    | Adjust
    | SetStock
    | GetStock
    | Sweep
    | Repair
    | OpenPurchaseOrder
    | UpdatePurchaseOrder
    | ReceivePurchaseOrder
)


# --------------------------------------------------------------------------- replies


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """Reply to :class:`Reserve` (outcomes as in ``domain.inventory.ReserveResult``)."""

    sku: str
    outcome: Literal["reserved", "held", "committed", "refused"]
    qty: int
    available: int

    @property
    def ok(self) -> bool:
        return self.outcome != "refused"


class StockView(msgspec.Struct, frozen=True, kw_only=True):
    """One SKU as the API shows it (live, from its actor)."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    sellable: int
    safety_buffer: int
    holds: int
    open_po_qty: int
    shop_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    warehouse_id: str = ""


class PurchaseOrderReply(msgspec.Struct, frozen=True, kw_only=True):
    order: PurchaseOrderRow
    new: bool


class RepairReport(msgspec.Struct, frozen=True, kw_only=True):
    sku: str
    reserved_before: int
    reserved_after: int
    expired: int
    repaired: bool


@dataclass(frozen=True, slots=True)
class InventoryHooks:
    """Callbacks after each commit (see the module docstring); defaults do nothing."""

    on_sale: Callable[[str, int, int], None] = lambda sku, qty, at_ms: None
    on_level: Callable[[str, int, TikTokSkuRef | None, int], None] = (
        lambda sku, sellable, ref, version: None
    )
    on_restock: Callable[[str, Sequence[str]], None] = lambda sku, orders: None
    on_outcome: Callable[[str], None] = lambda outcome: None
    on_expired: Callable[[str, Sequence[str]], None] = lambda sku, orders: None


_NO_HOOKS: Final = InventoryHooks()


class _KeyUse(msgspec.Struct, frozen=True):
    """What an Idempotency-Key of this SKU was used for, and until when it counts."""

    delta: int
    reason: str
    expires_at_ms: int


class SkuActor(Actor[InventoryMsg]):
    """See the module docstring. ``writer`` None: no durability (benchmarks only);
    ``idempotency_ttl_s``: how long an adjustment's key counts (``inventory.idempotency_ttl_s``).
    """

    max_batch = 512

    def __init__(
        self,
        sku: str,
        *,
        writer: ActorRef[Write] | None,
        reader: InventoryReader | None,
        clock: Clock,
        default_safety_buffer: int = 0,
        hooks: InventoryHooks = _NO_HOOKS,
        idempotency_ttl_s: float = 86_400.0,
    ) -> None:
        self.sku = sku
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._default_buffer = default_safety_buffer
        self._hooks = hooks
        self._stock: SkuStock | None = None
        self._exists = False
        self._ref: TikTokSkuRef | None = None
        self._pos: dict[str, PurchaseOrderRow] = {}
        self._waiting: OrderedDict[str, None] = OrderedDict()
        self._counted: KeyedLru[str, bool] = KeyedLru(WAITING_CAPACITY)  # demand counted
        # A cache of the store's adjustment keys (the store is the truth; see _recall_keys).
        self._keys: KeyedLru[str, _KeyUse] = KeyedLru(WAITING_CAPACITY)
        self._key_ttl_ms = max(1, round(idempotency_ttl_s * 1000))
        self._closed_pos: KeyedLru[str, PurchaseOrderRow] = KeyedLru(WAITING_CAPACITY)
        self._stored_reserved = 0
        self._loaded_counts = (0, 0)

    # ------------------------------------------------------------------ loading

    async def on_start(self) -> None:
        await self._load()

    async def _load(self) -> None:
        self._stock = None
        if self._reader is None:
            self._stock = SkuStock(self.sku, safety_buffer=self._default_buffer)
            return
        row = await self._reader.get_sku(self.sku)
        held = await self._reader.held_reservations(self.sku)
        pos = await self._reader.purchase_orders(sku=self.sku, states=OPEN_PO_STATES, limit=1000)
        holds = [
            _Hold(
                order_id=r.order_id,
                qty=r.qty,
                expires_at_ms=r.expires_at_ms,
                created_at_ms=r.created_at_ms,
            )
            for r in held
        ]
        on_hand = 0 if row is None else row.on_hand
        buffer = self._default_buffer if row is None else row.safety_buffer
        # Built without the on-hand check: a store that drifted is loaded as it is, then repaired.
        stock = SkuStock(self.sku, on_hand=0, safety_buffer=buffer, holds=holds)
        stock.on_hand = on_hand
        self._stock = stock
        self._exists = row is not None
        self._stored_reserved = 0 if row is None else row.reserved
        # What a Repair compares: the SKU row's counter and its held rows, as read now.
        self._loaded_counts = (self._stored_reserved, stock.reserved)
        if row is not None and row.product_id:
            self._ref = TikTokSkuRef(
                shop_id=row.shop_id,
                product_id=row.product_id,
                sku_id=row.sku_id,
                warehouse_id=row.warehouse_id,
            )
        self._pos = {po.po_id: po for po in pos}
        if stock.reserved > stock.on_hand:
            log.error(
                "sku %s loaded with reserved %d > on hand %d (store drifted)",
                self.sku,
                stock.reserved,
                stock.on_hand,
            )

    # ------------------------------------------------------------------ messages

    async def handle_batch(self, batch: list[Envelope[InventoryMsg]]) -> None:
        with bound(sku=self.sku):
            await self._handle(batch)

    async def _handle(self, batch: list[Envelope[InventoryMsg]]) -> None:
        if self._stock is None or any(isinstance(env.msg, Repair) for env in batch):
            await self._load()
        stock = self._stock
        assert stock is not None
        await self._recall_closed(stock, batch)
        now_ms = self._clock.now_ms()
        batch = await self._recall_keys(batch, now_ms)
        sellable_before = stock.sellable if self._exists else None
        ref_before = self._ref
        existed = self._exists
        changes: list[Change] = []
        extra: list[WriteOp] = []
        answers: list[tuple[Envelope[InventoryMsg], object, BaseException | None]] = []
        sales: list[tuple[int, int]] = []
        for env in batch:
            if not isinstance(env.msg, Repair):  # Repair compares before expiring
                changes.extend(stock.expire(now_ms))  # journaled even if the message is refused
            try:
                value = self._decide(env.msg, stock, now_ms, changes, extra, sales)
            except (InventoryRefused, KeyError) as exc:
                answers.append((env, None, exc))
            else:
                answers.append((env, value, None))
        dirty = bool(changes) or bool(extra) or self._ref != ref_before or self._exists != existed
        if dirty and self._writer is not None:
            ops = self._ops(stock, changes, now_ms) + extra
            try:
                await self._writer.ask(Write(ops=tuple(ops)))
            except Exception as exc:
                # Nothing of this batch is durable: forget it (reload before the next message;
                # keys are read from the store again, where this batch's are not).
                log.warning("sku %s: batch not written: %s", self.sku, exc)
                self._stock = None
                self._keys = KeyedLru(WAITING_CAPACITY)
                for env, _, _ in answers:
                    env.fail(exc)
                return
        if dirty:
            self._stored_reserved = stock.reserved
        for env, value, error in answers:
            if error is not None:
                env.fail(error)
            else:
                env.reply(value)
        self._notify(stock, sellable_before, ref_before, sales, now_ms)
        expired = [c.order_id for c in changes if c.kind == "expire"]
        if expired:
            self._hooks.on_expired(self.sku, expired)

    async def _recall_closed(self, stock: SkuStock, batch: list[Envelope[InventoryMsg]]) -> None:
        """Before a commit that names a quantity for an order this actor holds nothing for and
        does not remember: read how that order's hold ended. After a restart or a reload the
        memory of closed holds is empty, and a repeated commit (the saga re-runs its step on
        every change of a shipped order) would otherwise take the units off the shelf again."""
        if self._reader is None:
            return
        for env in batch:
            msg = env.msg
            if (
                isinstance(msg, OpenPurchaseOrder)
                and msg.po_id not in self._pos
                and msg.po_id not in self._closed_pos
            ):
                # A purchase order id is used once, whatever became of it (received, failed).
                po = await self._reader.get_purchase_order(msg.po_id)
                if po is not None and po.state not in OPEN_PO_STATES:
                    self._closed_pos.put(po.po_id, po)
            if (
                isinstance(msg, Commit)
                and msg.qty > 0
                and stock.hold_of(msg.order_id) is None
                and stock.closed_state(msg.order_id) is None
            ):
                for row in await self._reader.order_reservations(msg.order_id):
                    if row.sku == self.sku and row.state != "held":
                        stock.remember_closed(msg.order_id, row.state)

    async def _recall_keys(
        self, batch: list[Envelope[InventoryMsg]], now_ms: int
    ) -> list[Envelope[InventoryMsg]]:
        """Before deciding: read from the store each Idempotency-Key of the batch's adjustments
        that is not cached live, so a key applied before this actor last slept (or before a
        restart) is known. The actor is the only writer of its SKU's keys and has no write in
        flight now, so the store's answer is the whole truth.

        Returns the batch less the adjustments whose key could not be read: those are answered
        with the store's error here (nothing applied), the rest of the batch goes on.
        """
        if self._reader is None:
            return batch
        kept: list[Envelope[InventoryMsg]] = []
        for env in batch:
            msg = env.msg
            if not isinstance(msg, Adjust) or not msg.key or self._key_use(msg.key, now_ms):
                kept.append(env)
                continue
            try:
                row = await self._reader.get_adjustment_key(self.sku, msg.key)
            except AdapterError as exc:
                env.fail(exc)
                continue
            if row is not None and row.expires_at_ms > now_ms:
                self._keys.put(msg.key, _KeyUse(row.delta, row.reason, row.expires_at_ms))
            else:
                self._keys.pop(msg.key)
            kept.append(env)
        return kept

    def _decide(
        self,
        msg: InventoryMsg,
        stock: SkuStock,
        now_ms: int,
        changes: list[Change],
        extra: list[WriteOp],
        sales: list[tuple[int, int]],
    ) -> object:
        if isinstance(msg, Reserve):
            if msg.tiktok is not None and self._ref is None and self._exists:
                self._ref = msg.tiktok  # learned from orders; ids set through the API win
            result = stock.reserve(msg.order_id, msg.qty, now_ms, expires_at_ms=msg.expires_at_ms)
            changes.extend(result.changes)
            outcome = result.outcome
            if outcome == "refused":
                if msg.order_id not in self._counted:
                    # Demand we could not serve still counts for velocity (a sold-out SKU
                    # must not look idle to the forecast); once per order.
                    sales.append((msg.qty, now_ms))
                    self._counted.put(msg.order_id, True)
                self._waiting[msg.order_id] = None
                self._waiting.move_to_end(msg.order_id)
                while len(self._waiting) > WAITING_CAPACITY:
                    self._waiting.popitem(last=False)
            else:
                self._waiting.pop(msg.order_id, None)
                if outcome == "reserved" and msg.order_id not in self._counted:
                    # Once per order: a backordered order's retries reserve and release its
                    # other SKUs again and again; that is not new demand.
                    sales.append((result.qty, now_ms))
                    self._counted.put(msg.order_id, True)
            self._hooks.on_outcome(outcome)
            return Reservation(
                sku=self.sku, outcome=outcome, qty=result.qty, available=result.available
            )
        if isinstance(msg, Release):
            # A refused order stays waiting: its own compensating release must not drop it.
            changes.extend(stock.release(msg.order_id, now_ms, reason=msg.reason))
            return self._view(stock)
        if isinstance(msg, Commit):
            self._waiting.pop(msg.order_id, None)  # shipped: no longer waiting for stock
            changes.extend(stock.commit(msg.order_id, now_ms, qty=msg.qty, reason=msg.reason))
            return self._view(stock)
        if isinstance(msg, GetStock):
            self._require()
            return self._view(stock)
        if isinstance(msg, Sweep):  # the batch loop expired what was due
            if msg.keys and not any(isinstance(op, DeleteAdjustmentKeys) for op in extra):
                extra.append(
                    DeleteAdjustmentKeys(sku=self.sku, now_ms=now_ms, limit=KEY_SWEEP_BATCH)
                )
            return None
        if isinstance(msg, Adjust):
            self._require()
            return self._adjust(msg, stock, now_ms, changes, extra)
        if isinstance(msg, SetStock):
            if msg.safety_buffer is not None and msg.safety_buffer < 0:
                raise InventoryRefused("negative", f"{self.sku}: safety_buffer must be >= 0")
            if msg.on_hand is not None:  # may be refused: before anything else changes
                changes.extend(stock.set_on_hand(msg.on_hand, now_ms, reason=msg.reason))
            if msg.safety_buffer is not None:
                stock.set_safety_buffer(msg.safety_buffer)
            if msg.tiktok is not None:
                self._ref = msg.tiktok
            if not self._exists or msg.safety_buffer is not None:
                self._exists = True
                extra.append(self._sku_row(stock, now_ms))  # buffer-only changes need a row
            return self._view(stock)
        if isinstance(msg, Repair):
            return self._repair(stock, now_ms, changes)
        if isinstance(msg, OpenPurchaseOrder):
            return self._open_po(msg, now_ms, extra)
        if isinstance(msg, UpdatePurchaseOrder):
            return self._update_po(msg, now_ms, extra)
        return self._receive_po(msg, stock, now_ms, changes, extra)

    def _require(self) -> None:
        if not self._exists:
            raise KeyError(self.sku)

    def _key_use(self, key: str, now_ms: int) -> _KeyUse | None:
        """The cached use of ``key`` if it still counts at ``now_ms``."""
        used = self._keys.peek(key)
        return used if used is not None and used.expires_at_ms > now_ms else None

    def _adjust(
        self,
        msg: Adjust,
        stock: SkuStock,
        now_ms: int,
        changes: list[Change],
        extra: list[WriteOp],
    ) -> StockView:
        used = self._key_use(msg.key, now_ms) if msg.key else None
        if used is not None:
            if (used.delta, used.reason) != (msg.delta, msg.reason):
                raise InventoryRefused(
                    "key_conflict",
                    f"{self.sku}: Idempotency-Key {msg.key!r} was used for another adjustment",
                )
            return self._view(stock)  # a retry of an adjustment already applied
        changes.extend(stock.adjust(msg.delta, now_ms, reason=msg.reason))  # may be refused
        if msg.key:
            expires_at_ms = now_ms + self._key_ttl_ms
            self._keys.put(msg.key, _KeyUse(msg.delta, msg.reason, expires_at_ms))
            # Same Write as the adjustment's journal entry and SKU row: one transaction.
            extra.append(
                PutAdjustmentKey(
                    sku=self.sku,
                    key=msg.key,
                    delta=msg.delta,
                    reason=msg.reason,
                    created_at_ms=now_ms,
                    expires_at_ms=expires_at_ms,
                )
            )
        return self._view(stock)

    # ------------------------------------------------------------------ repair, POs

    def _repair(self, stock: SkuStock, now_ms: int, changes: list[Change]) -> RepairReport:
        # handle_batch reloaded the stock from the store before this batch: compare the SKU
        # row's counter with the held rows as they were then (not after the batch's own
        # changes before this message, which are not drift).
        before, from_rows = self._loaded_counts
        drift = before != from_rows
        if drift:
            log.warning(
                "sku %s: stored reserved %d, held rows say %d; repaired",
                self.sku,
                before,
                stock.reserved,
            )
            changes.append(
                Change(
                    kind="repair",
                    delta_reserved=from_rows - before,
                    on_hand=stock.on_hand,
                    reserved=stock.reserved,
                    reason="reserved re-derived from held reservations",
                )
            )
        expired = stock.expire(now_ms)
        changes.extend(expired)
        return RepairReport(
            sku=self.sku,
            reserved_before=before,
            reserved_after=stock.reserved,
            expired=len(expired),
            repaired=drift,
        )

    def _open_po(
        self, msg: OpenPurchaseOrder, now_ms: int, extra: list[WriteOp]
    ) -> PurchaseOrderReply:
        existing = self._pos.get(msg.po_id) or self._closed_pos.peek(msg.po_id)
        if existing is not None:  # open, or received / failed already: never re-opened
            return PurchaseOrderReply(order=existing, new=False)
        if msg.qty < 1:
            raise InventoryRefused("bad_quantity", f"{self.sku}: purchase order qty < 1")
        row = PurchaseOrderRow(
            po_id=msg.po_id,
            sku=self.sku,
            supplier_id=msg.supplier_id,
            qty=msg.qty,
            state="requested",
            created_at_ms=now_ms,
            expected_at_ms=msg.expected_at_ms,
            updated_at_ms=now_ms,
        )
        self._pos[msg.po_id] = row
        extra.append(_po_op(row))
        if msg.alert is not None:
            extra.append(
                AppendOutbox(
                    event_id=f"inventory.critical:{msg.po_id}",
                    topic="inventory.critical",
                    key=self.sku,
                    payload=_ENCODE(msg.alert),
                    created_at_ms=now_ms,
                )
            )
        return PurchaseOrderReply(order=row, new=True)

    def _update_po(
        self, msg: UpdatePurchaseOrder, now_ms: int, extra: list[WriteOp]
    ) -> PurchaseOrderReply:
        row = self._pos.get(msg.po_id)
        if row is None:
            raise KeyError(msg.po_id)
        if row.state == msg.state and (
            not msg.expected_at_ms or msg.expected_at_ms == row.expected_at_ms
        ):
            return PurchaseOrderReply(order=row, new=False)
        row = msgspec.structs.replace(
            row,
            state=msg.state,
            expected_at_ms=msg.expected_at_ms or row.expected_at_ms,
            updated_at_ms=now_ms,
            detail=row.detail if msg.detail is None else _ENCODE(msg.detail),
        )
        if msg.state in OPEN_PO_STATES:
            self._pos[msg.po_id] = row
        else:
            self._pos.pop(msg.po_id, None)
            self._closed_pos.put(row.po_id, row)
        extra.append(_po_op(row))
        return PurchaseOrderReply(order=row, new=False)

    def _receive_po(
        self,
        msg: ReceivePurchaseOrder,
        stock: SkuStock,
        now_ms: int,
        changes: list[Change],
        extra: list[WriteOp],
    ) -> StockView:
        row = self._pos.get(msg.po_id)
        if row is None:  # unknown here, or already received: idempotent
            return self._view(stock)
        if msg.qty < 0:
            raise InventoryRefused("bad_quantity", f"{self.sku}: received qty < 0")
        if msg.qty:
            changes.extend(
                stock.adjust(msg.qty, now_ms, reason=f"purchase order {msg.po_id}", kind="receive")
            )
        self._exists = True
        received = msgspec.structs.replace(row, state="received", updated_at_ms=now_ms)
        del self._pos[msg.po_id]
        self._closed_pos.put(received.po_id, received)
        extra.append(_po_op(received))
        return self._view(stock)

    # ------------------------------------------------------------------ output

    def _view(self, stock: SkuStock) -> StockView:
        ref = self._ref
        return StockView(
            sku=self.sku,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            available=stock.available,
            sellable=stock.sellable,
            safety_buffer=stock.safety_buffer,
            holds=stock.hold_count,
            open_po_qty=sum(po.qty for po in self._pos.values()),
            shop_id="" if ref is None else ref.shop_id,
            product_id="" if ref is None else ref.product_id,
            sku_id="" if ref is None else ref.sku_id,
            warehouse_id="" if ref is None else ref.warehouse_id,
        )

    def _sku_row(self, stock: SkuStock, now_ms: int) -> UpsertSku:
        ref = self._ref
        return UpsertSku(
            sku=self.sku,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            safety_buffer=stock.safety_buffer,
            shop_id="" if ref is None else ref.shop_id,
            product_id="" if ref is None else ref.product_id,
            sku_id="" if ref is None else ref.sku_id,
            warehouse_id="" if ref is None else ref.warehouse_id,
            updated_at_ms=now_ms,
        )

    def _ops(self, stock: SkuStock, changes: list[Change], now_ms: int) -> list[WriteOp]:
        ops: list[WriteOp] = []
        for change in changes:
            hold = change.hold
            if hold is not None and change.hold_state is not None:
                ops.append(
                    PutReservation(
                        order_id=hold.order_id,
                        sku=self.sku,
                        qty=hold.qty,
                        state=change.hold_state,
                        expires_at_ms=hold.expires_at_ms,
                        created_at_ms=hold.created_at_ms,
                        updated_at_ms=now_ms,
                    )
                )
            ops.append(
                AppendStockEvent(
                    sku=self.sku,
                    at_ms=now_ms,
                    kind=change.kind,
                    order_id=change.order_id,
                    delta_on_hand=change.delta_on_hand,
                    delta_reserved=change.delta_reserved,
                    on_hand=change.on_hand,
                    reserved=change.reserved,
                    reason=change.reason,
                )
            )
        if self._exists or stock.reserved or stock.on_hand:
            self._exists = True
            ops.append(self._sku_row(stock, now_ms))
        return ops

    def _notify(
        self,
        stock: SkuStock,
        sellable_before: int | None,
        ref_before: TikTokSkuRef | None,
        sales: list[tuple[int, int]],
        now_ms: int,
    ) -> None:
        hooks = self._hooks
        for qty, at_ms in sales:
            hooks.on_sale(self.sku, qty, at_ms)
        if not self._exists:
            return
        sellable = stock.sellable
        if sellable != sellable_before or self._ref != ref_before:
            hooks.on_level(self.sku, sellable, self._ref, now_ms)
        if self._waiting and sellable > (sellable_before or 0):
            waiting = list(self._waiting)
            self._waiting.clear()
            hooks.on_restock(self.sku, waiting)


def _po_op(row: PurchaseOrderRow) -> UpsertPurchaseOrder:
    return UpsertPurchaseOrder(
        po_id=row.po_id,
        sku=row.sku,
        supplier_id=row.supplier_id,
        qty=row.qty,
        state=row.state,
        created_at_ms=row.created_at_ms,
        expected_at_ms=row.expected_at_ms,
        updated_at_ms=row.updated_at_ms,
        detail=row.detail,
    )


__all__ = [
    "KEY_SWEEP_BATCH",
    "OPEN_PO_STATES",
    "Adjust",
    "Commit",
    "GetStock",
    "InventoryHooks",
    "InventoryMsg",
    "OpenPurchaseOrder",
    "PurchaseOrderReply",
    "ReceivePurchaseOrder",
    "Release",
    "Repair",
    "RepairReport",
    "Reservation",
    "Reserve",
    "SetStock",
    "SkuActor",
    "StockView",
    "Sweep",
    "TikTokSkuRef",
    "UpdatePurchaseOrder",
]
