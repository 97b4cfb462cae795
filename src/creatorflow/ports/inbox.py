"""The webhook inbox: records, write ops and the read side (DESIGN §6.1-2)."""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from creatorflow.ports._write import WriteOp

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


class InsertInbox(WriteOp, frozen=True, kw_only=True, tag="insert_inbox"):
    """Insert a webhook unless its notification id is already there. Result: ``True`` if new."""

    record: InboxRecord


class MarkInboxProcessed(WriteOp, frozen=True, kw_only=True, tag="mark_inbox_processed"):
    """Mark a webhook processed (``attempts`` + 1, ``processed_at_ms`` set). Result: ``None``.

    Idempotent: ``processed`` is terminal, so marking it again changes nothing (the first
    ``processed_at_ms`` and ``attempts`` stay). A ``dead`` row may be marked processed (a replay
    succeeded). An unknown id changes nothing and is not an error.
    """

    notification_id: str
    processed_at_ms: int


class MarkInboxFailed(WriteOp, frozen=True, kw_only=True, tag="mark_inbox_failed"):
    """Record a failed attempt (``attempts`` + 1, ``last_error``); ``dead`` parks it for good.

    Result: ``None``. A ``processed`` row is left alone (a late failure report does not undo a
    success); a ``dead`` row stays dead. An unknown id changes nothing and is not an error.
    """

    notification_id: str
    error: str
    dead: bool = False


# ``WriteOp`` (the union of every op) and ``WriteResult`` are defined with the order ops, in the
# "the whole store" section below.


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
