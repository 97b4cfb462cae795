"""Orders, their journal, the event outbox, named cursors and TikTok token documents."""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from creatorflow.ports._write import WriteOp

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


class UpsertOrder(WriteOp, frozen=True, kw_only=True, tag="upsert_order"):
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


class AppendOrderEvent(WriteOp, frozen=True, kw_only=True, tag="append_order_event"):
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


class AppendOutbox(WriteOp, frozen=True, kw_only=True, tag="append_outbox"):
    """Queue an event for delivery (state ``pending``, due at ``created_at_ms``).

    Result: ``True`` if new; ``False`` when ``event_id`` is already there (the stored event is
    left unchanged, whatever its state), so a retried write never queues an event twice.
    """

    event_id: str
    topic: str
    key: str
    payload: bytes
    created_at_ms: int


class SetCursor(WriteOp, frozen=True, kw_only=True, tag="set_cursor"):
    """Set the named cursor to ``value`` (created if missing; last write wins). Result: ``None``."""

    name: str
    value: str
    updated_at_ms: int


class SaveTokens(WriteOp, frozen=True, kw_only=True, tag="save_tokens"):
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
