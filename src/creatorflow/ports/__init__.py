"""Ports: the small interfaces actors use to reach the outside world.

Each port is a ``typing.Protocol`` of one to four methods; adapters in ``adapters/`` implement
them (``SqliteStore`` now, ``PostgresStore`` later) and ``app.py`` wires them in. Callers own
timeouts (``anyio.fail_after``); ports take none. Ports raise only errors from
``creatorflow.errors`` (``StoreUnavailable``, ``StoreError``), never driver exceptions.

Nothing here is SQL-specific: a write is a list of :data:`WriteOp` values applied in one
transaction, so an adapter is free to use ``executemany``, ``COPY`` or ``ON CONFLICT`` as it likes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final, Literal, Protocol

import msgspec

# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    """Wall-clock time for logic that tests must control."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- inbox records


class InboxRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One webhook as received: what the inbox stores before we answer 200."""

    notification_id: str
    type: int
    shop_id: str
    received_at_ms: int
    body: bytes


InboxState = Literal["received", "processed", "dead"]


class InboxStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one webhook (``GET /api/webhooks/{id}``)."""

    notification_id: str
    type: int
    shop_id: str
    received_at_ms: int
    processed_at_ms: int | None
    attempts: int
    state: InboxState
    last_error: str | None


class InboxCursor(msgspec.Struct, frozen=True, kw_only=True):
    """Keyset position in the unprocessed inbox: ``(received_at_ms, notification_id)``."""

    received_at_ms: int
    notification_id: str


# --------------------------------------------------------------------------- write operations


class InsertInbox(msgspec.Struct, frozen=True, kw_only=True, tag="insert_inbox"):
    """Insert a webhook unless its notification id is already there. Result: ``True`` if new."""

    record: InboxRecord


class MarkInboxProcessed(msgspec.Struct, frozen=True, kw_only=True, tag="mark_inbox_processed"):
    """Mark a webhook processed (``attempts`` + 1, ``processed_at_ms`` set). Result: ``None``.

    Idempotent: ``processed`` is terminal, so marking it again changes nothing (the first
    ``processed_at_ms`` and ``attempts`` stay). A ``dead`` row may be marked processed (a replay
    succeeded). An unknown id changes nothing and is not an error.
    """

    notification_id: str
    processed_at_ms: int


class MarkInboxFailed(msgspec.Struct, frozen=True, kw_only=True, tag="mark_inbox_failed"):
    """Record a failed attempt (``attempts`` + 1, ``last_error``); ``dead`` parks it for good.

    Result: ``None``. A ``processed`` row is left alone (a late failure report does not undo a
    success); a ``dead`` row stays dead. An unknown id changes nothing and is not an error.
    """

    notification_id: str
    error: str
    dead: bool = False


# ``WriteOp`` (the union of every op) and ``WriteResult`` are defined with the order ops, in the
# "the whole store" section below.


# --------------------------------------------------------------------------- store ports


class TransactionalStore(Protocol):
    """Applies a batch of writes atomically: one transaction, one fsync (group commit)."""

    async def apply(self, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Apply every op in one transaction; results in the same order as ``ops``.

        Ops apply in order, each seeing the ones before it: of two ``InsertInbox`` with the same
        id in one call the first gets ``True``, the second ``False``. An empty ``ops`` is a no-op.

        Raises:
            StoreUnavailable: the database cannot be reached now; nothing was applied.
            StoreError: the database refused an op; nothing was applied.
        """
        ...


class InboxReader(Protocol):
    """Read side of the inbox."""

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        """The status of one webhook, or ``None`` if it was never received."""
        ...

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        """Up to ``limit`` (>= 1) webhooks in state ``received`` strictly after ``after``.

        Keyset order: ``(received_at_ms, notification_id)`` ascending, ids compared bytewise
        (SQLite BINARY, Postgres ``COLLATE "C"``); pass the last record's pair as the next
        ``after``. ``None`` starts at the oldest. Raises ValueError for ``limit`` < 1.
        """
        ...


class StoreHealth(Protocol):
    """Readiness probe of a store."""

    async def ping(self) -> None:
        """Return when the store answers a trivial query. Raises StoreUnavailable."""
        ...


class SchemaMigrator(Protocol):
    """Schema upkeep of a store (``creatorflow migrate`` and ``migrate_on_start``)."""

    async def migrate(self) -> list[int]:
        """Apply pending migrations in order, each in its own transaction; return the versions
        applied now (``[]`` when up to date). Idempotent.

        Raises:
            StoreError: a migration failed (it is rolled back), or the database has a version
                this build does not know.
            StoreUnavailable: the database cannot be reached or is locked.
        """
        ...

    async def schema_version(self) -> int:
        """The highest applied migration version; 0 for a database never migrated."""
        ...


class LeaderElection(Protocol):
    """Singleton jobs across processes sharing one database (the inbox pump, reconcilers).

    Postgres: session-level advisory locks; two processes pointed at one database never both
    lead ``name``. SQLite (one process by construction): always granted in-process.
    """

    async def try_lead(self, name: str) -> bool:
        """Become the leader of ``name`` without waiting; True if this process leads it now.

        Idempotent for the current leader. Leadership is lost if the connection holding it
        dies; callers re-check with ``is_leading`` before each run of the job.
        """
        ...

    async def is_leading(self, name: str) -> bool:
        """Whether this process still leads ``name`` (False after a lost connection)."""
        ...

    async def resign(self, name: str) -> None:
        """Give up ``name`` (no-op when not leading)."""
        ...


# --------------------------------------------------------------------------- orders and outbox
#
# The durable state of order processing (DESIGN §3, §4): orders, their journal, the event outbox,
# named cursors and TikTok tokens. Documents (``doc``, ``detail``, ``payload``) are msgspec-encoded
# by callers and opaque to the store; the other fields are what the store filters and orders on.
# Writes are ops for ``TransactionalStore.apply`` and mix freely with the inbox ops: an order's
# transition, its journal row and its outbox event commit together or not at all.

Priority = Literal["HIGH", "STANDARD", "LOW"]
OutboxState = Literal["pending", "delivered", "dead"]


class OrderRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stored order: the indexed fields and the caller's document."""

    order_id: str
    shop_id: str
    state: str
    tiktok_status: str
    priority: Priority
    score: int
    tiktok_update_time: int
    updated_at_ms: int
    doc: bytes


class OrderEventRow(msgspec.Struct, frozen=True, kw_only=True):
    """One journal entry of an order; ``seq`` runs 1, 2, … per order in commit order."""

    order_id: str
    seq: int
    at_ms: int
    kind: str
    from_state: str | None
    to_state: str | None
    detail: bytes


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """One outbox event as the dispatcher claims it."""

    event_id: str
    topic: str
    key: str
    payload: bytes
    created_at_ms: int
    state: OutboxState
    attempts: int
    next_attempt_at_ms: int
    last_error: str | None


class UpsertOrder(msgspec.Struct, frozen=True, kw_only=True, tag="upsert_order"):
    """Insert the order, or replace every field of the stored one. Result: ``True`` if new.

    Last write wins: the store does not compare ``tiktok_update_time`` (the order's owner
    decides what to write). Of two upserts of one id in one ``apply`` the second sees the first
    (``False``) and its fields are the ones kept.
    """

    order_id: str
    shop_id: str
    state: str
    tiktok_status: str
    priority: Priority
    score: int
    tiktok_update_time: int
    updated_at_ms: int
    doc: bytes


class AppendOrderEvent(msgspec.Struct, frozen=True, kw_only=True, tag="append_order_event"):
    """Append an entry to an order's journal. Result: the ``seq`` assigned (``int``, from 1).

    The store assigns ``seq`` in the same transaction: one more than the order's last one, so
    several events of one order in one ``apply`` get consecutive numbers in op order, and
    concurrent transactions never share or skip a number. The order must exist (an earlier op
    of the same ``apply`` may create it); otherwise the op is refused (StoreError).
    """

    order_id: str
    at_ms: int
    kind: str
    from_state: str | None
    to_state: str | None
    detail: bytes


class AppendOutbox(msgspec.Struct, frozen=True, kw_only=True, tag="append_outbox"):
    """Queue an event for delivery (state ``pending``, due at ``created_at_ms``).

    Result: ``True`` if new; ``False`` when ``event_id`` is already there (the stored event is
    left unchanged, whatever its state), so a retried write never queues an event twice.
    """

    event_id: str
    topic: str
    key: str
    payload: bytes
    created_at_ms: int


class SetCursor(msgspec.Struct, frozen=True, kw_only=True, tag="set_cursor"):
    """Set the named cursor to ``value`` (created if missing; last write wins). Result: ``None``."""

    name: str
    value: str
    updated_at_ms: int


class SaveTokens(msgspec.Struct, frozen=True, kw_only=True, tag="save_tokens"):
    """Replace a shop's token document (both tokens in one ``doc``). Result: ``None``."""

    shop_key: str
    doc: bytes
    updated_at_ms: int


class OrderReader(Protocol):
    """Read side of orders and their journal. Reads see the last commit."""

    async def get_order(self, order_id: str) -> OrderRow | None:
        """The order, or ``None`` if it was never stored."""
        ...

    async def list_orders(
        self,
        *,
        state: str | None = None,
        priority: Priority | None = None,
        after: str | None = None,
        limit: int,
    ) -> list[OrderRow]:
        """Up to ``limit`` (>= 1) orders with ids strictly after ``after``, ids ascending.

        ``state`` and ``priority`` filter when given (both: both must match). Ids compare
        bytewise (SQLite BINARY, Postgres ``COLLATE "C"``); pass the last id as the next
        ``after``. ``None`` starts at the smallest id. Raises ValueError for ``limit`` < 1.
        """
        ...

    async def order_events(self, order_id: str, limit: int) -> list[OrderEventRow]:
        """The first ``limit`` (>= 1) journal entries of the order, ``seq`` ascending (``[]``
        for an unknown order). Raises ValueError for ``limit`` < 1."""
        ...


class CursorReader(Protocol):
    """Named durable cursors (written with :class:`SetCursor`)."""

    async def get_cursor(self, name: str) -> str | None:
        """The cursor's value, or ``None`` if it was never set."""
        ...


class TokenReader(Protocol):
    """TikTok token documents (written with :class:`SaveTokens`)."""

    async def load_tokens(self, shop_key: str) -> bytes | None:
        """The last saved document of ``shop_key``, or ``None`` if none was saved."""
        ...


class OutboxClaimer(Protocol):
    """The dispatcher's side of the outbox: lease due events."""

    async def claim_outbox(self, now_ms: int, limit: int, lease_ms: int) -> list[OutboxRow]:
        """Lease up to ``limit`` (>= 1) ``pending`` events due at ``now_ms`` and return them.

        A leased event's ``next_attempt_at_ms`` moves to ``now_ms + lease_ms`` in a short
        transaction of its own (not through the group commit), so no other claimer gets it
        until the lease runs out; an event whose delivery is never reported is claimed again
        then (at-least-once). Oldest due first (``next_attempt_at_ms``, then ``event_id``).
        Postgres skips rows another transaction is claiming (``SKIP LOCKED``). The rows
        come back as claimed: ``next_attempt_at_ms`` is when the lease ends.
        Raises ValueError for ``limit`` < 1 or ``lease_ms`` < 1.
        """
        ...


# --------------------------------------------------------------------------- inventory
#
# Stock per seller SKU (DESIGN §3, §6.4, §8). Each SKU has exactly one writer (its actor), so the
# store never arbitrates between concurrent writers of one SKU: rows are replaced, last write
# wins. ``reserved`` on the SKU row is the actor's running total; the reservation rows are the
# truth it is derived from, and :meth:`InventoryReader.reservation_drift` finds any mismatch.
# The store enforces the invariant of DESIGN §6.4 as a last line of defence: an ``apply`` with a
# SKU row outside ``0 <= reserved <= on_hand`` (or a negative buffer), or a reservation or
# purchase order with ``qty < 1``, is refused whole (StoreError).

ReservationState = Literal["held", "committed", "released", "expired"]
PurchaseOrderState = Literal["requested", "confirmed", "delivered", "received", "failed"]


class SkuRow(msgspec.Struct, frozen=True, kw_only=True):
    """One stocked seller SKU and, when known, where it lives on TikTok."""

    sku: str
    on_hand: int
    reserved: int
    safety_buffer: int
    shop_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    warehouse_id: str = ""
    updated_at_ms: int


class ReservationRow(msgspec.Struct, frozen=True, kw_only=True):
    """Stock one order holds (or held) of one SKU. ``expires_at_ms`` None: a firm hold."""

    order_id: str
    sku: str
    qty: int
    state: ReservationState
    expires_at_ms: int | None
    created_at_ms: int
    updated_at_ms: int


class StockEventRow(msgspec.Struct, frozen=True, kw_only=True):
    """One journal entry of a SKU; ``seq`` runs 1, 2, … per SKU in commit order.

    ``kind``: reserve / release / commit / expire / adjust / set / receive / repair.
    ``on_hand`` and ``reserved`` are the values after the change.
    """

    sku: str
    seq: int
    at_ms: int
    kind: str
    order_id: str
    delta_on_hand: int
    delta_reserved: int
    on_hand: int
    reserved: int
    reason: str


class PurchaseOrderRow(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase order to a supplier; ``po_id`` is also its idempotency key there."""

    po_id: str
    sku: str
    supplier_id: str
    qty: int
    state: PurchaseOrderState
    created_at_ms: int
    expected_at_ms: int
    updated_at_ms: int
    detail: bytes = b"{}"


class UpsertSku(msgspec.Struct, frozen=True, kw_only=True, tag="upsert_sku"):
    """Insert the SKU or replace every field of it. Result: ``True`` if new."""

    sku: str
    on_hand: int
    reserved: int
    safety_buffer: int
    shop_id: str = ""
    product_id: str = ""
    sku_id: str = ""
    warehouse_id: str = ""
    updated_at_ms: int


class PutReservation(msgspec.Struct, frozen=True, kw_only=True, tag="put_reservation"):
    """Insert or replace the reservation of ``(order_id, sku)``. Result: ``True`` if new.

    On replace, ``created_at_ms`` of the stored row is kept.
    """

    order_id: str
    sku: str
    qty: int
    state: ReservationState
    expires_at_ms: int | None
    created_at_ms: int
    updated_at_ms: int


class AppendStockEvent(msgspec.Struct, frozen=True, kw_only=True, tag="append_stock_event"):
    """Append to a SKU's journal. Result: the ``seq`` assigned (``int``, from 1).

    Numbered like :class:`AppendOrderEvent` (one more than the SKU's last, in op order, never
    shared or skipped); the SKU row need not exist.
    """

    sku: str
    at_ms: int
    kind: str
    order_id: str = ""
    delta_on_hand: int = 0
    delta_reserved: int = 0
    on_hand: int
    reserved: int
    reason: str = ""


class UpsertPurchaseOrder(msgspec.Struct, frozen=True, kw_only=True, tag="upsert_purchase_order"):
    """Insert the purchase order or replace it (``created_at_ms`` kept). Result: ``True`` if new."""

    po_id: str
    sku: str
    supplier_id: str
    qty: int
    state: PurchaseOrderState
    created_at_ms: int
    expected_at_ms: int
    updated_at_ms: int
    detail: bytes = b"{}"


class AdjustmentKeyRow(msgspec.Struct, frozen=True, kw_only=True):
    """The Idempotency-Key of one stock adjustment, stored in the same commit as it.

    Keys are scoped to their SKU. ``delta`` and ``reason`` are the adjustment the key made (a
    retry must send the same); the key counts until ``expires_at_ms`` (exclusive).
    """

    sku: str
    key: str
    delta: int
    reason: str
    created_at_ms: int
    expires_at_ms: int


#: Longest Idempotency-Key a store keeps, in characters (the API refuses longer ones).
MAX_ADJUSTMENT_KEY_CHARS: Final = 255


class PutAdjustmentKey(msgspec.Struct, frozen=True, kw_only=True, tag="put_adjustment_key"):
    """Record the key of an adjustment, in the same ``apply`` as the adjustment's own ops.

    Result: ``True`` if new, ``False`` when it replaced a stored row of the same ``(sku, key)``
    that had expired by ``created_at_ms``. A stored row still live then (``expires_at_ms >
    created_at_ms``) refuses the whole ``apply`` (StoreError): the adjustment it belongs to was
    already made, so it must not commit twice. A ``key`` of 0 or more than
    :data:`MAX_ADJUSTMENT_KEY_CHARS` characters, or ``expires_at_ms <= created_at_ms``, is
    refused too.
    """

    sku: str
    key: str
    delta: int
    reason: str
    created_at_ms: int
    expires_at_ms: int


class DeleteAdjustmentKeys(msgspec.Struct, frozen=True, kw_only=True, tag="delete_adjustment_keys"):
    """Forget up to ``limit`` (>= 1) keys of ``sku`` expired at ``now_ms`` (``expires_at_ms <=
    now_ms``), soonest expiry first. Result: the number deleted (``int``)."""

    sku: str
    now_ms: int
    limit: int


class InventoryReader(Protocol):
    """Read side of inventory. Reads see the last commit; SKU ids compare bytewise."""

    async def get_sku(self, sku: str) -> SkuRow | None:
        """The SKU, or ``None`` if it was never stored."""
        ...

    async def list_skus(
        self, *, after: str | None = None, available_below: int | None = None, limit: int
    ) -> list[SkuRow]:
        """Up to ``limit`` (>= 1) SKUs with ids strictly after ``after``, ids ascending.

        With ``available_below``, only SKUs whose ``on_hand - reserved`` is strictly below it.
        Raises ValueError for ``limit`` < 1.
        """
        ...

    async def held_reservations(self, sku: str) -> list[ReservationRow]:
        """Every reservation of ``sku`` in state ``held`` (expired or not), order ids ascending."""
        ...

    async def order_reservations(self, order_id: str) -> list[ReservationRow]:
        """Every reservation of the order, whatever its state, SKUs ascending."""
        ...

    async def expired_holds(self, now_ms: int, limit: int) -> list[ReservationRow]:
        """Up to ``limit`` (>= 1) ``held`` reservations with ``expires_at_ms <= now_ms``,
        soonest expiry first (then order id, SKU). Raises ValueError for ``limit`` < 1."""
        ...

    async def reservation_drift(self, limit: int) -> list[tuple[str, int, int]]:
        """SKUs whose stored ``reserved`` differs from the sum of their ``held`` rows:
        ``(sku, stored reserved, sum of held qty)``, SKU ids ascending, at most ``limit`` (>= 1).

        A SKU with held rows but no SKU row counts with stored reserved 0. Raises ValueError for
        ``limit`` < 1.
        """
        ...

    async def stock_events(
        self, sku: str, *, before_seq: int | None = None, limit: int
    ) -> list[StockEventRow]:
        """Up to ``limit`` (>= 1) journal entries of ``sku`` with ``seq < before_seq`` (all when
        None), newest first. Raises ValueError for ``limit`` < 1."""
        ...

    async def get_purchase_order(self, po_id: str) -> PurchaseOrderRow | None:
        """The purchase order, or ``None``."""
        ...

    async def get_adjustment_key(self, sku: str, key: str) -> AdjustmentKeyRow | None:
        """The stored key of ``sku``, expired or not (the caller compares ``expires_at_ms``),
        or ``None``."""
        ...

    async def expired_adjustment_keys(self, now_ms: int, limit: int) -> list[AdjustmentKeyRow]:
        """Up to ``limit`` (>= 1) keys with ``expires_at_ms <= now_ms``, soonest expiry first
        (then SKU, key). Raises ValueError for ``limit`` < 1."""
        ...

    async def purchase_orders(
        self,
        *,
        sku: str | None = None,
        states: Sequence[PurchaseOrderState] = (),
        after: str | None = None,
        limit: int,
    ) -> list[PurchaseOrderRow]:
        """Up to ``limit`` (>= 1) purchase orders with ids strictly after ``after``, ids
        ascending; filtered by ``sku`` and by ``states`` (any of them) when given. Raises
        ValueError for ``limit`` < 1."""
        ...


# --------------------------------------------------------------------------- the whole store

WriteOp = (
    InsertInbox
    | MarkInboxProcessed
    | MarkInboxFailed
    | UpsertOrder
    | AppendOrderEvent
    | AppendOutbox
    | SetCursor
    | SaveTokens
    | UpsertSku
    | PutReservation
    | AppendStockEvent
    | UpsertPurchaseOrder
    | PutAdjustmentKey
    | DeleteAdjustmentKeys
)
#: ``True``/``False`` (inserts and upserts: new or not), ``int`` (a journal seq) or ``None``.
WriteResult = bool | int | None


class Store(
    TransactionalStore,
    InboxReader,
    OrderReader,
    CursorReader,
    TokenReader,
    OutboxClaimer,
    InventoryReader,
    StoreHealth,
    Protocol,
):
    """Everything the app needs from a store adapter (composition of the ports above)."""


# --------------------------------------------------------------------------- cache


class Cache(Protocol):
    """A bounded key/value cache with per-entry TTL (memory or Redis).

    Values are bytes (callers encode with msgspec). Every method may raise CacheUnavailable;
    callers treat that as a miss and carry on (the service is degraded, not down).
    """

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Store ``value`` for ``ttl_s`` seconds (> 0)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key`` (no-op when absent)."""
        ...

    async def ping(self) -> None:
        """Return when the cache answers. Raises CacheUnavailable."""
        ...


# --------------------------------------------------------------------------- TikTok

#: Most order ids one Get Order Detail call takes (reference §2.2).
MAX_ORDER_IDS_PER_CALL: Final = 50
#
# What the TikTok Shop API answers (reference §2.3-§2.6, §4.4, §4.5, §5), as the client returns
# it: ids are strings, money the decimal strings TikTok sends (the domain converts them to minor
# units), timestamps Unix seconds. Decoding is lenient: unknown fields are ignored, optional ones
# default ("" / "0" / None / empty list). Implemented by ``adapters/tiktok`` (``TikTokClient``).


class TikTokLineItem(msgspec.Struct, frozen=True, kw_only=True):
    """One unit of one SKU (there is no quantity field: count line items per SKU)."""

    id: str
    sku_id: str = ""
    seller_sku: str = ""
    product_id: str = ""
    product_name: str = ""
    sku_name: str = ""
    sku_type: str = ""
    original_price: str = "0"
    sale_price: str = "0"
    seller_discount: str = "0"
    platform_discount: str = "0"
    currency: str = ""
    display_status: str = ""
    package_id: str = ""
    package_status: str = ""
    tracking_number: str = ""
    shipping_provider_id: str = ""
    shipping_provider_name: str = ""
    rts_time: int | None = None
    cancel_reason: str = ""
    is_gift: bool = False
    is_dangerous_good: bool = False


class TikTokPayment(msgspec.Struct, frozen=True, kw_only=True):
    """Order money (strings in ``currency``); see reference §2.5 for how they add up."""

    currency: str = ""
    sub_total: str = "0"
    shipping_fee: str = "0"
    tax: str = "0"
    total_amount: str = "0"
    original_total_product_price: str = "0"
    original_shipping_fee: str = "0"
    seller_discount: str = "0"
    platform_discount: str = "0"
    shipping_fee_seller_discount: str = "0"
    shipping_fee_platform_discount: str = "0"
    product_tax: str = "0"
    shipping_fee_tax: str = "0"
    retail_delivery_fee: str = "0"


class TikTokAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Recipient address; name and phone are masked for platform-shipped orders."""

    name: str = ""
    first_name: str = ""
    last_name: str = ""
    phone_number: str = ""
    full_address: str = ""
    address_detail: str = ""
    address_line1: str = ""
    address_line2: str = ""
    address_line3: str = ""
    address_line4: str = ""
    postal_code: str = ""
    region_code: str = ""
    post_town: str = ""


class TikTokPackage(msgspec.Struct, frozen=True, kw_only=True):
    """A package of an order (its id is what Ship Package takes)."""

    id: str


class TikTokOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order as Get Order Detail / Get Order List return it (202309)."""

    id: str
    status: str = ""
    order_type: str = ""
    is_on_hold_order: bool = False
    is_sample_order: bool = False
    is_replacement_order: bool = False
    replaced_order_id: str = ""
    is_exchange_order: bool = False
    is_cod: bool = False
    is_buyer_request_cancel: bool = False
    split_or_combine_tag: str = ""
    user_id: str = ""
    buyer_email: str = ""
    buyer_message: str = ""
    seller_note: str = ""
    create_time: int = 0
    update_time: int = 0
    paid_time: int | None = None
    rts_time: int | None = None
    rts_sla_time: int | None = None
    tts_sla_time: int | None = None
    shipping_due_time: int | None = None
    collection_due_time: int | None = None
    delivery_due_time: int | None = None
    cancel_time: int | None = None
    shipping_type: str = ""
    delivery_option_id: str = ""
    delivery_option_name: str = ""
    delivery_type: str = ""
    fulfillment_type: str = ""
    fulfillment_priority_level: int | None = None
    shipping_provider: str = ""
    shipping_provider_id: str = ""
    tracking_number: str = ""
    warehouse_id: str = ""
    cancel_reason: str = ""
    cancellation_initiator: str = ""
    payment_method_name: str = ""
    payment: TikTokPayment = msgspec.field(default_factory=TikTokPayment)
    recipient_address: TikTokAddress = msgspec.field(default_factory=TikTokAddress)
    packages: list[TikTokPackage] = msgspec.field(default_factory=list)
    line_items: list[TikTokLineItem] = msgspec.field(default_factory=list)


class TikTokOrderPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of Get Order List; ``next_page_token`` is "" on the last page."""

    orders: list[TikTokOrder] = msgspec.field(default_factory=list)
    next_page_token: str = ""
    total_count: int = 0


class TikTokShop(msgspec.Struct, frozen=True, kw_only=True):
    """An authorized shop: ``id`` is the webhook's ``shop_id``, ``cipher`` its ``shop_cipher``."""

    id: str
    cipher: str
    code: str = ""
    name: str = ""
    region: str = ""
    seller_type: str = ""


class TikTokDeliveryOption(msgspec.Struct, frozen=True, kw_only=True):
    """A warehouse's delivery option; ``type`` is STANDARD / EXPRESS / ECONOMY / SEND_BY_SELLER."""

    id: str
    name: str = ""
    type: str = ""
    description: str = ""


class TikTokSkuInventory(msgspec.Struct, frozen=True, kw_only=True):
    """New stock of one SKU: ``{warehouse_id: quantity}`` for every warehouse it has."""

    sku_id: str
    quantities: dict[str, int]


class TikTokItemError(msgspec.Struct, frozen=True, kw_only=True):
    """One per-item failure of a batch write (``data.errors[]``); ``sku_id`` may be ""."""

    code: int
    message: str = ""
    sku_id: str = ""


class TikTokWriteResult(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of a write: TikTok said ``code`` 0, but items in ``errors`` were refused.

    ``package_id``/``warning`` are filled by Mark Package As Shipped.
    """

    errors: list[TikTokItemError] = msgspec.field(default_factory=list)
    package_id: str = ""
    warning: str = ""

    @property
    def ok(self) -> bool:
        """True when no item was refused."""
        return not self.errors


class TikTokTokens(msgspec.Struct, frozen=True, kw_only=True):
    """A shop's OAuth tokens; expiries are absolute Unix seconds. Saved and loaded as one."""

    access_token: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: int
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""


class TokenStore(Protocol):
    """Where TikTok tokens live between restarts (memory now; the SQL store later).

    ``shop_key`` is the key the app authorized under (a shop id, or a seller key covering
    several shops). ``save`` replaces both tokens at once: a reader sees the old pair or the new
    pair, never one of each.
    """

    async def load(self, shop_key: str) -> TikTokTokens | None:
        """The tokens of ``shop_key``, or None when it was never authorized."""
        ...

    async def save(self, shop_key: str, tokens: TikTokTokens) -> None:
        """Store ``tokens`` for ``shop_key`` atomically (both tokens or neither).

        Raises:
            StoreUnavailable: nothing was saved.
        """
        ...


class TikTokOrders(Protocol):
    """Reading orders (order sync and the reconciler). Raises TikTokError, CircuitOpen."""

    async def get_orders(self, shop_id: str, ids: Sequence[str]) -> list[TikTokOrder]:
        """Get Order Detail for up to 50 ids in one call (unknown ids are simply absent)."""
        ...

    async def search_orders(
        self,
        shop_id: str,
        *,
        update_time_ge: int,
        update_time_lt: int,
        page_size: int = 50,
        page_token: str = "",
    ) -> TikTokOrderPage:
        """One page of orders updated in ``[update_time_ge, update_time_lt)``, oldest first."""
        ...


class TikTokFulfillment(Protocol):
    """Pushing shipments and stock to TikTok. Raises TikTokError, CircuitOpen.

    Writes are not retried after a 5xx or timeout (they may have been applied) unless the
    caller passes ``idempotent=True``: it guarantees a repeat is harmless.
    """

    async def ship_package(
        self,
        shop_id: str,
        package_id: str,
        *,
        handover_method: str = "DROP_OFF",
        tracking_number: str = "",
        shipping_provider_id: str = "",
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Ship an existing package (with ``self_shipment`` when a tracking number is given)."""
        ...

    async def mark_package_shipped(
        self,
        shop_id: str,
        order_id: str,
        *,
        tracking_number: str,
        shipping_provider_id: str,
        line_item_ids: Sequence[str] = (),
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Mark the order's line items shipped with the seller's own carrier."""
        ...

    async def update_inventory(
        self,
        shop_id: str,
        product_id: str,
        skus: Sequence[TikTokSkuInventory],
        *,
        idempotent: bool = False,
    ) -> TikTokWriteResult:
        """Set the stock of SKUs of one product; refused SKUs come back in ``errors``."""
        ...


class TikTokLogistics(Protocol):
    """Warehouse delivery options (map an order's ``delivery_option_id`` to its type)."""

    async def get_delivery_options(
        self, shop_id: str, warehouse_id: str
    ) -> list[TikTokDeliveryOption]:
        """The delivery options of one warehouse. Raises TikTokError, CircuitOpen."""
        ...


# --------------------------------------------------------------------------- suppliers
#
# Reordering stock (DESIGN §3 "Viral → reorder", §6.3). The purchase order is durable (state
# ``requested``) before ``place_order`` is called, and ``po_id`` is sent as the idempotency key,
# so a retry after a crash or a timeout can never order twice.

SupplierOrderState = Literal["accepted", "confirmed", "shipped", "delivered", "rejected"]


class SupplierOrder(msgspec.Struct, frozen=True, kw_only=True):
    """What the supplier says about one purchase order.

    ``expected_at_ms``: when the supplier expects to deliver (0 when unknown);
    ``delivered_qty``: units delivered so far (the full ``qty`` once ``delivered``).
    """

    po_id: str
    supplier_ref: str
    sku: str
    qty: int
    state: SupplierOrderState
    expected_at_ms: int = 0
    delivered_qty: int = 0
    reason: str = ""


class Supplier(Protocol):
    """One supplier. Raises SupplierError (``retryable`` tells whether to repeat) and
    CircuitOpen; callers own timeouts."""

    @property
    def supplier_id(self) -> str:
        """Stable id of this supplier (config key), stored on purchase orders."""
        ...

    @property
    def lead_time_s(self) -> float:
        """Nominal time from order to delivery, used by forecasts before the supplier answers."""
        ...

    async def place_order(self, *, po_id: str, sku: str, qty: int) -> SupplierOrder:
        """Order ``qty`` (>= 1) units of ``sku``; ``po_id`` is the idempotency key: placing the
        same ``po_id`` again returns the existing order unchanged (never a second order)."""
        ...

    async def get_order(self, po_id: str) -> SupplierOrder | None:
        """The current state of ``po_id``, or None when the supplier does not know it."""
        ...


# --------------------------------------------------------------------------- content metrics
#
# Views, likes and shares of videos linked to SKUs feed viral detection (DESIGN §3). They are
# pushed to ``POST /api/content-metrics`` or pulled through this port by the stock watcher.


class ContentSample(msgspec.Struct, frozen=True, kw_only=True):
    """Cumulative counters of one video linked to a SKU, as read at ``at_ms``."""

    sku: str
    video_id: str
    views: int
    likes: int = 0
    shares: int = 0
    at_ms: int


class ContentMetricsSource(Protocol):
    """Somewhere content metrics can be pulled from (a creator-analytics API, a file drop)."""

    async def fetch(self, *, limit: int) -> Sequence[ContentSample]:
        """Up to ``limit`` samples newer than the last ones returned (the source keeps its own
        position). Raises AdapterError subclasses when unreachable."""
        ...
