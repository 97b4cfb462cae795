"""How the Postgres store applies a batch of write ops: as few statements as keeps its meaning.

``apply`` promises that ops apply in order, each seeing the ones before it. Executing them one
statement per op would cost a round trip each, so the batch is cut into **segments** and each
segment runs as one statement per kind of op present, in a fixed kind order (each kind's
``rank`` in ``_registry.POSTGRES``, registered by its capability's module)::

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
from typing import Any

# Imported for their appliers (each module registers how its ops are applied).
from creatorflow.adapters.store import (  # noqa: F401
    _adjustment_keys,
    _pg_inventory,
    _pg_orders,
    _pg_shipping,
    _pg_sql,
)
from creatorflow.adapters.store import _registry as registry
from creatorflow.errors import StoreError
from creatorflow.ports import WriteOp, WriteResult

#: A segment: per kind rank, the (position in the batch, op) pairs of that kind, in op order.
Segment = dict[int, list[tuple[int, WriteOp]]]


def _applier(op: WriteOp) -> registry.PgApplier:
    applier = registry.POSTGRES.get(type(op))
    if applier is None:
        raise StoreError(f"unsupported write op: {type(op).__name__}")
    return applier


def segments(ops: Sequence[WriteOp]) -> list[Segment]:
    """Cut ``ops`` into segments (see the module docstring), keeping each op's position."""
    cut: list[Segment] = []
    touched: dict[tuple[str, str], int] = {}  # key -> highest kind rank touching it in cut[-1]
    for position, op in enumerate(ops):
        applier = _applier(op)
        rank, key = applier.rank, applier.key(op)
        if not cut or touched.get(key, -1) > rank:
            cut.append({})
            touched = {}
        cut[-1].setdefault(rank, []).append((position, op))
        touched[key] = max(touched.get(key, -1), rank)
    return cut


async def _apply_segments(conn: Any, cut: list[Segment], results: list[WriteResult]) -> None:
    for segment in cut:
        for rank in sorted(segment):
            pairs = segment[rank]
            run = [op for _, op in pairs]
            answers = await _applier(run[0]).run(conn, run)
            if answers is None:
                continue
            for (position, _), answer in zip(pairs, answers, strict=True):
                results[position] = answer


async def apply_ops(conn: Any, ops: Sequence[WriteOp]) -> list[WriteResult]:
    """Apply ``ops`` atomically on ``conn`` (an asyncpg connection); results in op order.

    On any error nothing is applied and the error (asyncpg's, or StoreError for an op refused
    by the store itself or with no applier) propagates.
    """
    cut = segments(ops)
    results: list[WriteResult] = [None] * len(ops)
    # Kinds checked after their statement ran (an order's events, adjustment keys) need a
    # transaction to roll back even alone.
    alone = (
        len(cut) == 1
        and len(cut[0]) == 1
        and not _applier(next(iter(cut[0].values()))[0][1]).transactional
    )
    if alone:
        await _apply_segments(conn, cut, results)
    else:
        async with conn.transaction():
            await _apply_segments(conn, cut, results)
    return results
