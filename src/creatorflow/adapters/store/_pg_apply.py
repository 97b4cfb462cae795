"""How the Postgres store applies a batch of write ops: as few statements as keeps its meaning.

``apply`` promises that ops apply in order, each seeing the ones before it. Executing them one
statement per op would cost a round trip each, so the batch is cut into **segments** and each
segment runs as one statement per kind of op present, in a fixed kind order::

    InsertInbox, MarkInboxProcessed, MarkInboxFailed, UpsertOrder, AppendOrderEvent,
    AppendOutbox, SetCursor, SaveTokens, UpsertSku, PutReservation, AppendStockEvent,
    UpsertPurchaseOrder, DeleteAdjustmentKeys, PutAdjustmentKey

Moving an op ahead of ops of other kinds changes nothing unless they touch the same key (an
inbox notification id, an order id, an outbox event id, a cursor name, a shop key, a SKU, a
reservation's ``(order id, SKU)``, a purchase order id; an order's events touch its order; the
adjustment keys of a SKU are one key, ``("adjustment_keys", sku)``).
So an op joins the current segment unless its key was touched there by an op of a kind that
runs *after* its own kind; then it starts a new segment. Ops of the same kind and key in one
segment keep their order inside the kind's statement (each run function applies repeats as if
one after the other). A group commit of order transitions
``[UpsertOrder A, AppendOrderEvent A, AppendOutbox a, MarkInboxProcessed n, UpsertOrder B, …]``
is one segment: four statements however many orders it holds.

A SKU's journal is a key of its own (``("stock", sku)``), apart from its row (``("sku",
sku)``): a stock event neither reads nor writes ``skus`` (its counter is in
``stock_event_seqs``), so it commutes with ``UpsertSku``. A group commit of reservation
decisions ``[PutReservation (o, s), UpsertSku s, AppendStockEvent s]`` per decision is one
segment, three statements, even when many decisions are of one hot SKU; with one key for both,
every decision after the first of a SKU would start a segment of its own.

A batch that is one statement and cannot fail half-way runs without ``BEGIN``/``COMMIT`` (one
statement is its own transaction); anything else runs in one explicit transaction.

Locks and deadlocks: every statement sorts its keys, so it locks rows in key order, and two
concurrent batches touching the same keys in one statement queue up instead of deadlocking.
Across the statements of one batch locks follow the kind order above; two batches could
deadlock only by touching the same two orders (or ids) in opposite kinds, which the
one-owner-per-order (and per-SKU) rule of the actors avoids. Postgres would then abort one of them
(StoreUnavailable: nothing applied; the writer's asker retries).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Never, cast

from creatorflow.adapters.store._adjustment_keys import pg_delete_run, pg_put_run
from creatorflow.adapters.store._pg_inventory import (
    append_stock_events,
    put_reservations,
    upsert_purchase_orders,
    upsert_skus,
)
from creatorflow.adapters.store._pg_orders import (
    append_events,
    append_outbox,
    save_tokens,
    set_cursors,
    upsert_orders,
)
from creatorflow.adapters.store._pg_sql import failed_run, insert_run, processed_run
from creatorflow.errors import StoreError
from creatorflow.ports import (
    AppendOrderEvent,
    AppendOutbox,
    AppendStockEvent,
    DeleteAdjustmentKeys,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    PutAdjustmentKey,
    PutReservation,
    SaveTokens,
    SetCursor,
    UpsertOrder,
    UpsertPurchaseOrder,
    UpsertSku,
    WriteOp,
    WriteResult,
)

#: Kinds in the order a segment runs them.
_KINDS: tuple[type[WriteOp], ...] = (
    InsertInbox,
    MarkInboxProcessed,
    MarkInboxFailed,
    UpsertOrder,
    AppendOrderEvent,
    AppendOutbox,
    SetCursor,
    SaveTokens,
    UpsertSku,
    PutReservation,
    AppendStockEvent,
    UpsertPurchaseOrder,
    DeleteAdjustmentKeys,
    PutAdjustmentKey,
)
_RANK = {kind: rank for rank, kind in enumerate(_KINDS)}
#: Kinds whose run refuses (StoreError) after its statement ran.
_CHECKED_AFTER = frozenset({_RANK[AppendOrderEvent], _RANK[PutAdjustmentKey]})

#: A segment: per kind rank, the (position in the batch, op) pairs of that kind, in op order.
Segment = dict[int, list[tuple[int, WriteOp]]]


def _unsupported(op: Never) -> Never:
    # Typed ``Never`` so mypy proves the matches below cover WriteOp.
    raise StoreError(f"unsupported write op: {type(op).__name__}")


def _key(op: WriteOp) -> tuple[str, str]:
    """The row an op touches; ops on different keys commute."""
    match op:
        case InsertInbox(record=record):
            return ("inbox", record.notification_id)
        case MarkInboxProcessed(notification_id=nid) | MarkInboxFailed(notification_id=nid):
            return ("inbox", nid)
        case UpsertOrder(order_id=oid) | AppendOrderEvent(order_id=oid):
            return ("order", oid)
        case AppendOutbox(event_id=eid):
            return ("outbox", eid)
        case SetCursor(name=name):
            return ("cursor", name)
        case SaveTokens(shop_key=shop_key):
            return ("tokens", shop_key)
        case UpsertSku(sku=sku):
            return ("sku", sku)
        case PutReservation(order_id=oid, sku=sku):
            return ("reservation", f"{oid}\x00{sku}")
        case AppendStockEvent(sku=sku):
            return ("stock", sku)
        case UpsertPurchaseOrder(po_id=po_id):
            return ("po", po_id)
        case PutAdjustmentKey(sku=sku) | DeleteAdjustmentKeys(sku=sku):
            # One key for all of a SKU's keys: a delete touches rows it names by expiry only.
            return ("adjustment_keys", sku)
        case _:
            _unsupported(op)


def segments(ops: Sequence[WriteOp]) -> list[Segment]:
    """Cut ``ops`` into segments (see the module docstring), keeping each op's position."""
    cut: list[Segment] = []
    touched: dict[tuple[str, str], int] = {}  # key -> highest kind rank touching it in cut[-1]
    for position, op in enumerate(ops):
        rank = _RANK.get(type(op))
        if rank is None:
            _unsupported(cast(Never, op))
        key = _key(op)
        if not cut or touched.get(key, -1) > rank:
            cut.append({})
            touched = {}
        cut[-1].setdefault(rank, []).append((position, op))
        touched[key] = max(touched.get(key, -1), rank)
    return cut


async def _apply_run(conn: Any, run: list[WriteOp]) -> Sequence[WriteResult]:
    match run[0]:
        case InsertInbox():
            return await insert_run(conn, cast(list[InsertInbox], run))
        case MarkInboxProcessed():
            await processed_run(conn, cast(list[MarkInboxProcessed], run))
        case MarkInboxFailed():
            await failed_run(conn, cast(list[MarkInboxFailed], run))
        case UpsertOrder():
            return await upsert_orders(conn, cast(list[UpsertOrder], run))
        case AppendOrderEvent():
            return await append_events(conn, cast(list[AppendOrderEvent], run))
        case AppendOutbox():
            return await append_outbox(conn, cast(list[AppendOutbox], run))
        case SetCursor():
            await set_cursors(conn, cast(list[SetCursor], run))
        case SaveTokens():
            await save_tokens(conn, cast(list[SaveTokens], run))
        case UpsertSku():
            return await upsert_skus(conn, cast(list[UpsertSku], run))
        case PutReservation():
            return await put_reservations(conn, cast(list[PutReservation], run))
        case AppendStockEvent():
            return await append_stock_events(conn, cast(list[AppendStockEvent], run))
        case UpsertPurchaseOrder():
            return await upsert_purchase_orders(conn, cast(list[UpsertPurchaseOrder], run))
        case DeleteAdjustmentKeys():
            return await pg_delete_run(conn, cast(list[DeleteAdjustmentKeys], run))
        case PutAdjustmentKey():
            return await pg_put_run(conn, cast(list[PutAdjustmentKey], run))
        case _:
            _unsupported(run[0])
    return [None] * len(run)


async def _apply_segments(conn: Any, cut: list[Segment], results: list[WriteResult]) -> None:
    for segment in cut:
        for rank in sorted(segment):
            pairs = segment[rank]
            answers = await _apply_run(conn, [op for _, op in pairs])
            for (position, _), answer in zip(pairs, answers, strict=True):
                results[position] = answer


async def apply_ops(conn: Any, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Apply ``ops`` atomically on ``conn`` (an asyncpg connection); results in op order.

    On any error nothing is applied and the error (asyncpg's, or StoreError for an op refused
    by the store itself) propagates.
    """
    cut = segments(ops)
    results: list[WriteResult] = [None] * len(ops)
    # AppendOrderEvent checks its orders, PutAdjustmentKey its keys, after their statement ran:
    # they need a transaction to roll back even alone.
    alone = len(cut) == 1 and len(cut[0]) == 1 and not cut[0].keys() & _CHECKED_AFTER
    if alone:
        await _apply_segments(conn, cut, results)
    else:
        async with conn.transaction():
            await _apply_segments(conn, cut, results)
    return results
