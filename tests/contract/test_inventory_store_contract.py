"""The inventory side of the store contract (SKUs, reservations, the stock journal, purchase
orders), run against every implementation: SQLite and Postgres (see ``store_factories.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import msgspec
import pytest
from store_factories import LeadingStore, pg_schema

from backends import per_backend
from creatorflow.adapters.store import open_postgres_store, open_sqlite_store
from creatorflow.adapters.store._migrate import apply_sqlite_migrations, load_migrations
from creatorflow.adapters.store._pg_migrate import advisory_key, apply_postgres_migrations
from creatorflow.errors import StoreError
from creatorflow.ports import (
    MAX_ADJUSTMENT_KEY_CHARS,
    AdjustmentKeyRow,
    AppendOrderEvent,
    AppendOutbox,
    AppendStockEvent,
    DeleteAdjustmentKeys,
    InboxRecord,
    InsertInbox,
    MarkInboxProcessed,
    PurchaseOrderState,
    PutAdjustmentKey,
    PutReservation,
    ReservationState,
    UpsertOrder,
    UpsertPurchaseOrder,
    UpsertSku,
    WriteOp,
)

pytestmark = pytest.mark.anyio

# Ids that sort differently bytewise than in a locale: upper case before lower, "_" between,
# a non-ASCII letter last.
ODD_IDS = ["B-2", "a-1", "_x", "é", "A-9", "b-0"]


def sku(
    name: str, on_hand: int = 10, reserved: int = 0, *, buffer: int = 0, at: int = 1
) -> UpsertSku:
    return UpsertSku(
        sku=name, on_hand=on_hand, reserved=reserved, safety_buffer=buffer, updated_at_ms=at
    )


def hold(
    order_id: str,
    name: str,
    qty: int = 1,
    state: ReservationState = "held",
    *,
    expires: int | None = None,
    created: int = 100,
    updated: int = 100,
) -> PutReservation:
    return PutReservation(
        order_id=order_id,
        sku=name,
        qty=qty,
        state=state,
        expires_at_ms=expires,
        created_at_ms=created,
        updated_at_ms=updated,
    )


def stock(name: str, kind: str = "reserve", *, order_id: str = "", at: int = 5) -> AppendStockEvent:
    return AppendStockEvent(
        sku=name,
        at_ms=at,
        kind=kind,
        order_id=order_id,
        delta_reserved=1,
        on_hand=10,
        reserved=1,
        reason=f"{name}:{kind}",
    )


def po(
    po_id: str,
    name: str = "sku-a",
    state: PurchaseOrderState = "requested",
    *,
    qty: int = 50,
    created: int = 1_000,
    detail: bytes = b"{}",
) -> UpsertPurchaseOrder:
    return UpsertPurchaseOrder(
        po_id=po_id,
        sku=name,
        supplier_id="supplier-1",
        qty=qty,
        state=state,
        created_at_ms=created,
        expected_at_ms=created + 86_400_000,
        updated_at_ms=created,
        detail=detail,
    )


def upsert_order(oid: str) -> UpsertOrder:
    return UpsertOrder(
        order_id=oid,
        shop_id="shop-1",
        state="reserved",
        tiktok_status="AWAITING_SHIPMENT",
        priority="HIGH",
        score=90,
        tiktok_update_time=1_700_000_000,
        updated_at_ms=1_700_000_000_000,
        doc=b"{}",
    )


def order_event(oid: str) -> AppendOrderEvent:
    return AppendOrderEvent(
        order_id=oid,
        at_ms=5,
        kind="transition",
        from_state="classified",
        to_state="reserved",
        detail=b"{}",
    )


def ins(nid: str) -> InsertInbox:
    record = InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")
    return InsertInbox(record=record)


def fields(struct: Any) -> dict[str, Any]:
    return msgspec.structs.asdict(struct)


def key(
    name: str, key_: str, delta: int = 5, *, at: int = 1_000, ttl: int = 1_000, reason: str = "r"
) -> PutAdjustmentKey:
    return PutAdjustmentKey(
        sku=name, key=key_, delta=delta, reason=reason, created_at_ms=at, expires_at_ms=at + ttl
    )


def key_row(op: PutAdjustmentKey) -> AdjustmentKeyRow:
    return AdjustmentKeyRow(**fields(op))


# --------------------------------------------------------------------------- SKUs


async def test_upsert_sku_reports_new_then_replaces_every_field(store: LeadingStore) -> None:
    assert await store.get_sku("sku-a") is None
    first = sku("sku-a", 10, 2)
    assert await store.apply([first]) == [True]
    row = await store.get_sku("sku-a")
    assert row is not None and fields(row) == fields(first)
    second = UpsertSku(
        sku="sku-a",
        on_hand=7,
        reserved=7,
        safety_buffer=3,
        shop_id="shop-1",
        product_id="p-1",
        sku_id="1729",
        warehouse_id="w-1",
        updated_at_ms=2,
    )
    assert await store.apply([second]) == [False]
    row = await store.get_sku("sku-a")
    assert row is not None and fields(row) == fields(second)
    # Repeats in one batch apply in order: the first is new, the last one's fields are kept.
    assert await store.apply([sku("sku-b", 1), sku("sku-b", 5, 4), sku("sku-a", 3)]) == [
        True,
        False,
        False,
    ]
    b, a = await store.get_sku("sku-b"), await store.get_sku("sku-a")
    assert b is not None and (b.on_hand, b.reserved) == (5, 4)
    assert a is not None and (a.on_hand, a.reserved, a.shop_id) == (3, 0, "")


@pytest.mark.parametrize(
    ("on_hand", "reserved", "buffer"), [(5, 6, 0), (-1, 0, 0), (5, -1, 0), (5, 0, -1)]
)
async def test_a_sku_row_breaking_the_stock_invariant_is_refused(
    store: LeadingStore, on_hand: int, reserved: int, buffer: int
) -> None:
    # DESIGN §6.4, enforced by the store too: 0 <= reserved <= on_hand (and a buffer >= 0).
    await store.apply([sku("kept", 5, 1)])
    with pytest.raises(StoreError):
        await store.apply([sku("kept", 9, 0), sku("bad", on_hand, reserved, buffer=buffer)])
    kept = await store.get_sku("kept")
    assert kept is not None and kept.on_hand == 5
    assert await store.get_sku("bad") is None


async def test_list_skus_pages_by_keyset_and_filters_on_available(store: LeadingStore) -> None:
    # available (on_hand - reserved): 0, 3, 6, 9, 0, 3 for the odd ids, 20 down to 9 for s00..s11.
    ops = {name: sku(name, 10 + i, i + (10 - i % 4 * 3)) for i, name in enumerate(ODD_IDS)}
    ops |= {f"s{i:02d}": sku(f"s{i:02d}", 20, i) for i in range(12)}
    await store.apply(list(ops.values()))

    async def pages(available_below: int | None) -> list[str]:
        seen: list[str] = []
        after: str | None = None
        while page := await store.list_skus(after=after, available_below=available_below, limit=5):
            assert len(page) <= 5
            seen.extend(r.sku for r in page)
            after = page[-1].sku
        return seen

    for below in (None, 10, 1):
        expected = sorted(
            (n for n, op in ops.items() if below is None or op.on_hand - op.reserved < below),
            key=str.encode,  # bytewise
        )
        assert await pages(below) == expected, below
    assert any(op.on_hand - op.reserved == 10 for op in ops.values())  # "strictly below"
    [one] = await store.list_skus(after="s03", limit=1)
    assert fields(one) == fields(ops["s04"])
    assert await store.list_skus(available_below=-100, limit=5) == []
    with pytest.raises(ValueError, match="limit"):
        await store.list_skus(limit=0)


# --------------------------------------------------------------------------- reservations


async def test_put_reservation_is_new_then_replaced_keeping_created_at(
    store: LeadingStore,
) -> None:
    first = hold("o1", "sku-a", 2, expires=5_000, created=100, updated=100)
    assert await store.apply([first]) == [True]
    assert [fields(r) for r in await store.order_reservations("o1")] == [fields(first)]
    second = hold("o1", "sku-a", 3, "committed", expires=None, created=999, updated=200)
    assert await store.apply([second]) == [False]
    [row] = await store.order_reservations("o1")
    assert fields(row) == fields(second) | {"created_at_ms": 100}
    # Within one batch: the first is new, the second replaces it and keeps its created_at.
    ops: list[WriteOp] = [
        hold("o2", "sku-a", 1, created=300, updated=300),
        hold("o2", "sku-b", 1, created=300, updated=300),
        hold("o2", "sku-a", 4, "released", created=400, updated=400),
    ]
    assert await store.apply(ops) == [True, True, False]
    a, b = await store.order_reservations("o2")
    assert (a.sku, a.qty, a.state, a.created_at_ms, a.updated_at_ms) == (
        "sku-a",
        4,
        "released",
        300,
        400,
    )
    assert (b.sku, b.state) == ("sku-b", "held")


async def test_held_reservations_and_order_reservations(store: LeadingStore) -> None:
    states: list[ReservationState] = ["held", "committed", "released", "expired"]
    ops: list[WriteOp] = [
        hold(oid, "sku-a", i + 1, states[i % 4], expires=None if i % 2 else 1_000 + i)
        for i, oid in enumerate([*ODD_IDS, "o-held-1", "o-held-2"])
    ]
    ops += [hold("a-1", name) for name in ("sku-b", "SKU-c", "sku-a-2")]
    await store.apply(ops)
    held = await store.held_reservations("sku-a")
    expected = sorted(
        (
            op.order_id
            for op in ops
            if isinstance(op, PutReservation) and op.sku == "sku-a" and op.state == "held"
        ),
        key=str.encode,
    )
    assert [r.order_id for r in held] == expected
    assert len(expected) == 2 and {r.state for r in held} == {"held"}
    assert {r.sku for r in held} == {"sku-a"}
    assert [r.sku for r in await store.order_reservations("a-1")] == [
        "SKU-c",
        "sku-a",
        "sku-a-2",
        "sku-b",
    ]
    assert [r.state for r in await store.order_reservations("B-2")] == ["held"]
    assert [r.state for r in await store.order_reservations("a-1")][1] == "committed"
    assert await store.held_reservations("ghost") == []
    assert await store.order_reservations("ghost") == []


async def test_expired_holds_soonest_first_bounded_and_only_held(store: LeadingStore) -> None:
    ops: list[WriteOp] = [
        hold("o3", "sku-a", expires=2_000),
        hold("o1", "sku-b", expires=2_000),
        hold("o1", "sku-a", expires=2_000),
        hold("o9", "sku-a", expires=1_000),
        hold("o5", "sku-a", expires=3_000),  # not yet expired at 2_000
        hold("o6", "sku-a", expires=None),  # a firm hold never expires
        hold("o7", "sku-a", 1, "committed", expires=500),
        hold("o8", "sku-a", 1, "expired", expires=500),
        hold("o0", "sku-a", 1, "released", expires=500),
    ]
    await store.apply(ops)
    expired = await store.expired_holds(2_000, 10)
    assert [(r.expires_at_ms, r.order_id, r.sku) for r in expired] == [
        (1_000, "o9", "sku-a"),
        (2_000, "o1", "sku-a"),  # same expiry: order id, then SKU
        (2_000, "o1", "sku-b"),
        (2_000, "o3", "sku-a"),
    ]
    assert [r.order_id for r in await store.expired_holds(2_000, 2)] == ["o9", "o1"]
    assert await store.expired_holds(999, 10) == []
    assert len(await store.expired_holds(10**12, 100)) == 5
    # Once swept (state expired), a hold no longer shows.
    await store.apply([hold("o9", "sku-a", 1, "expired", expires=1_000)])
    assert [r.order_id for r in await store.expired_holds(1_000, 10)] == []
    with pytest.raises(ValueError, match="limit"):
        await store.expired_holds(2_000, 0)


async def test_reservation_drift_finds_every_mismatch(store: LeadingStore) -> None:
    ops: list[WriteOp] = [
        sku("match", 10, 3),
        hold("o1", "match", 1),
        hold("o2", "match", 2),
        hold("o3", "match", 5, "committed"),  # closed rows do not count
        sku("too-high", 10, 4),
        hold("o1", "too-high", 1),
        sku("no-holds", 10, 2),
        sku("zero", 10, 0),
        hold("o1", "zero", 1, "released"),
        hold("o1", "orphan", 2),  # held rows, no SKU row: stored reserved counts as 0
        hold("o2", "orphan", 1),
        hold("o1", "Orphan-closed", 1, "expired"),
    ]
    await store.apply(ops)
    drift = await store.reservation_drift(10)
    assert drift == [("no-holds", 2, 0), ("orphan", 0, 3), ("too-high", 4, 1)]
    assert await store.reservation_drift(2) == drift[:2]
    # The reconciler's repair makes them agree.
    await store.apply([sku("too-high", 10, 1), sku("no-holds", 10, 0), sku("orphan", 5, 3)])
    assert await store.reservation_drift(10) == []
    with pytest.raises(ValueError, match="limit"):
        await store.reservation_drift(0)


# --------------------------------------------------------------------------- stock journal


async def test_stock_seq_runs_1_to_n_per_sku_within_and_across_batches(
    store: LeadingStore,
) -> None:
    # The SKU row need not exist, and upserting it does not touch the journal counter.
    ops: list[WriteOp] = [
        stock("a", "receive"),
        stock("a", "reserve", order_id="o1"),
        sku("b"),
        stock("b"),
        stock("a", "commit", order_id="o1"),
        sku("a"),
        stock("a", "release"),
    ]
    assert await store.apply(ops) == [1, 2, True, 1, 3, True, 4]
    assert await store.apply([stock("b"), stock("a"), stock("b"), sku("a", 3)]) == [2, 5, 3, False]
    assert await store.apply([stock("c")]) == [1]
    events = await store.stock_events("a", limit=100)
    assert [e.seq for e in events] == [5, 4, 3, 2, 1]
    assert [e.kind for e in events] == ["reserve", "release", "commit", "reserve", "receive"]
    commit = events[2]
    assert fields(commit) == {
        "sku": "a",
        "seq": 3,
        "at_ms": 5,
        "kind": "commit",
        "order_id": "o1",
        "delta_on_hand": 0,
        "delta_reserved": 1,
        "on_hand": 10,
        "reserved": 1,
        "reason": "a:commit",
    }
    assert [e.seq for e in await store.stock_events("b", limit=100)] == [3, 2, 1]


async def test_stock_events_newest_first_with_before_seq_paging(store: LeadingStore) -> None:
    await store.apply([stock("a", f"k{i}") for i in range(1, 13)] + [stock("other")])
    pages: list[list[int]] = []
    before: int | None = None
    while page := await store.stock_events("a", before_seq=before, limit=5):
        pages.append([e.seq for e in page])
        before = page[-1].seq
    assert pages == [[12, 11, 10, 9, 8], [7, 6, 5, 4, 3], [2, 1]]
    assert [e.kind for e in await store.stock_events("a", before_seq=4, limit=2)] == ["k3", "k2"]
    assert await store.stock_events("a", before_seq=1, limit=5) == []
    assert await store.stock_events("ghost", limit=5) == []
    with pytest.raises(ValueError, match="limit"):
        await store.stock_events("a", limit=0)


async def test_concurrent_appends_never_share_or_skip_a_seq(store: LeadingStore) -> None:
    # Journal entries alone: no SKU row lock queues the transactions up first, so on Postgres
    # only the journal counter keeps the numbering straight (new SKUs included).
    results: list[list[Any]] = []

    async def writer(first: str, second: str) -> None:
        for _ in range(10):
            results.append(await store.apply([stock(first), stock(second), stock(first)]))

    async with anyio.create_task_group() as tg:
        for task in range(4):
            tg.start_soon(writer, *(("x", "y") if task % 2 else ("y", "x")))
    seqs_x = [e.seq for e in await store.stock_events("x", limit=1000)]
    seqs_y = [e.seq for e in await store.stock_events("y", limit=1000)]
    assert seqs_x == list(range(60, 0, -1)) and seqs_y == list(range(60, 0, -1))
    assert sorted(s for batch in results for s in batch) == sorted(seqs_x + seqs_y)
    assert all(batch[2] > batch[0] for batch in results)


async def test_concurrent_decisions_never_share_or_skip_a_seq(store: LeadingStore) -> None:
    results: list[list[Any]] = []

    async def writer(task: int, first: str, second: str) -> None:
        for i in range(10):
            order = f"o{task}-{i}"
            # A group commit of two decisions, SKUs in opposite order in alternate tasks:
            # key-ordered locking means no deadlock however they interleave.
            ops: list[WriteOp] = [
                hold(order, first),
                sku(first, 1000, 1),
                stock(first, order_id=order),
                hold(order, second),
                sku(second, 1000, 1),
                stock(second, order_id=order),
                stock(first, "note"),
            ]
            results.append(await store.apply(ops))

    async with anyio.create_task_group() as tg:
        for task in range(4):
            tg.start_soon(writer, task, *(("x", "y") if task % 2 else ("y", "x")))
    seqs_x = [e.seq for e in await store.stock_events("x", limit=1000)]
    seqs_y = [e.seq for e in await store.stock_events("y", limit=1000)]
    assert seqs_x == list(range(60, 0, -1)) and seqs_y == list(range(60, 0, -1))
    returned = sorted(r for batch in results for r in (batch[2], batch[5], batch[6]))
    assert returned == sorted(seqs_x + seqs_y)
    # Within a batch the two events of its first SKU got consecutive numbers, in op order.
    assert all(batch[6] > batch[2] for batch in results)
    assert len(await store.held_reservations("x")) == 40


# --------------------------------------------------------------------------- purchase orders


async def test_purchase_order_is_new_then_replaced_keeping_created_at(
    store: LeadingStore,
) -> None:
    assert await store.get_purchase_order("po-1") is None
    first = po("po-1", detail=b'{"reason":"viral"}')
    assert await store.apply([first]) == [True]
    row = await store.get_purchase_order("po-1")
    assert row is not None and fields(row) == fields(first)
    second = UpsertPurchaseOrder(
        po_id="po-1",
        sku="sku-b",
        supplier_id="supplier-2",
        qty=60,
        state="confirmed",
        created_at_ms=5_000,
        expected_at_ms=9_000,
        updated_at_ms=5_000,
        detail=b"\x00raw",
    )
    assert await store.apply([second]) == [False]
    row = await store.get_purchase_order("po-1")
    assert row is not None and fields(row) == fields(second) | {"created_at_ms": 1_000}
    ops: list[WriteOp] = [po("po-2", created=7), po("po-2", state="failed", created=8)]
    assert await store.apply(ops) == [True, False]
    row = await store.get_purchase_order("po-2")
    assert row is not None and (row.state, row.created_at_ms) == ("failed", 7)


async def test_purchase_orders_filter_and_page(store: LeadingStore) -> None:
    skus = ["sku-a", "sku-b"]
    states: list[PurchaseOrderState] = ["requested", "confirmed", "delivered", "received", "failed"]
    ids = ODD_IDS + [f"po-{i:02d}" for i in range(14)]
    ops = {pid: po(pid, skus[i % 2], states[i % 5]) for i, pid in enumerate(ids)}
    await store.apply(list(ops.values()))

    async def pages(name: str | None, wanted: list[PurchaseOrderState]) -> list[str]:
        seen: list[str] = []
        after: str | None = None
        while page := await store.purchase_orders(sku=name, states=wanted, after=after, limit=3):
            assert len(page) <= 3
            seen.extend(r.po_id for r in page)
            after = page[-1].po_id
        return seen

    open_states: list[PurchaseOrderState] = ["requested", "confirmed", "delivered"]
    wanted_sets: list[list[PurchaseOrderState]] = [[], ["failed"], open_states]
    for name in (None, "sku-b"):
        for wanted in wanted_sets:
            expected = sorted(
                (
                    pid
                    for pid, op in ops.items()
                    if name in (None, op.sku) and (not wanted or op.state in wanted)
                ),
                key=str.encode,
            )
            assert expected, (name, wanted)
            assert await pages(name, wanted) == expected, (name, wanted)
    [one] = await store.purchase_orders(after="po-03", limit=1)
    assert fields(one) == fields(ops["po-04"])
    assert await store.purchase_orders(sku="ghost", limit=5) == []
    with pytest.raises(ValueError, match="limit"):
        await store.purchase_orders(limit=0)


# --------------------------------------------------------------------------- mixed batches


async def test_inventory_ops_commit_with_order_and_inbox_ops(store: LeadingStore) -> None:
    ops: list[WriteOp] = [
        ins("n1"),
        upsert_order("o1"),
        hold("o1", "sku-a", 2),
        sku("sku-a", 10, 2),
        stock("sku-a", order_id="o1"),
        order_event("o1"),
        AppendOutbox(
            event_id="e1", topic="order.updated", key="o1", payload=b"{}", created_at_ms=1
        ),
        MarkInboxProcessed(notification_id="n1", processed_at_ms=9),
        po("po-1", "sku-a"),
        hold("o1", "sku-a", 2, "committed"),
        sku("sku-a", 8, 0),
        stock("sku-a", "commit", order_id="o1"),
    ]
    assert await store.apply(ops) == [
        True,
        True,
        True,
        True,
        1,
        1,
        True,
        None,
        True,
        False,
        False,
        2,
    ]
    row = await store.get_sku("sku-a")
    assert row is not None and (row.on_hand, row.reserved) == (8, 0)
    [reservation] = await store.order_reservations("o1")
    assert reservation.state == "committed"
    inbox = await store.get_inbox("n1")
    assert inbox is not None and inbox.state == "processed"
    assert await store.reservation_drift(10) == []


@pytest.mark.parametrize("refused", ["unknown order", "bad state", "oversell"])
async def test_a_refused_op_rolls_back_the_inventory_ops_too(
    store: LeadingStore, refused: str
) -> None:
    await store.apply([sku("sku-a", 10, 0), stock("sku-a", "set"), po("po-0")])
    bad: WriteOp
    if refused == "unknown order":
        bad = order_event("ghost")
    elif refused == "bad state":
        bad = msgspec.structs.replace(hold("o9", "sku-z"), state="lost")
    else:
        bad = sku("sku-b", 1, 2)
    ops: list[WriteOp] = [
        ins("n1"),
        upsert_order("o1"),
        hold("o1", "sku-a", 2),
        sku("sku-a", 10, 2),
        stock("sku-a", order_id="o1"),
        stock("sku-new"),
        po("po-0", state="confirmed"),
        po("po-1"),
        bad,
    ]
    with pytest.raises(StoreError):
        await store.apply(ops)
    row = await store.get_sku("sku-a")
    assert row is not None and row.reserved == 0
    assert await store.order_reservations("o1") == []
    assert [e.seq for e in await store.stock_events("sku-a", limit=10)] == [1]
    assert await store.stock_events("sku-new", limit=10) == []
    old = await store.get_purchase_order("po-0")
    assert old is not None and old.state == "requested"
    assert await store.get_purchase_order("po-1") is None
    assert await store.get_order("o1") is None
    assert await store.get_inbox("n1") is None
    # Usable afterwards; the journal counters were not advanced by the rolled-back events.
    assert await store.apply(ops[:-1]) == [True, True, True, False, 2, 1, False, True]


# --------------------------------------------------------------------------- adjustment keys


async def test_an_adjustment_key_commits_with_its_adjustment_and_reads_back(
    store: LeadingStore,
) -> None:
    assert await store.get_adjustment_key("sku-a", "k-1") is None
    made = key("sku-a", "k-1", 5, reason="receipt")
    assert await store.apply([sku("sku-a", 15), stock("sku-a", "adjust"), made]) == [True, 1, True]
    assert await store.get_adjustment_key("sku-a", "k-1") == key_row(made)
    # Scoped to the SKU, compared bytewise and whole: none of these is the stored key.
    common = "k" * 128
    others: list[WriteOp] = [
        key("sku-b", "k-1"),
        key("sku-a", "K-1"),
        key("sku-a", common + "-one"),
        key("sku-a", common + "-two"),
        key("sku-a", "x" * MAX_ADJUSTMENT_KEY_CHARS),
    ]
    assert await store.apply(others) == [True] * len(others)
    for op in others:
        assert isinstance(op, PutAdjustmentKey)
        assert await store.get_adjustment_key(op.sku, op.key) == key_row(op)


@pytest.mark.parametrize("refused", ["live key", "too long", "empty", "no lifetime", "later op"])
async def test_a_refused_key_rolls_back_its_adjustment(store: LeadingStore, refused: str) -> None:
    await store.apply([sku("sku-a", 10), stock("sku-a", "set"), key("sku-a", "k-1", at=1_000)])
    bad: WriteOp = {
        "live key": key("sku-a", "k-1", at=1_999),  # expires at 2_000: still live at 1_999
        "too long": key("sku-a", "x" * (MAX_ADJUSTMENT_KEY_CHARS + 1)),
        "empty": key("sku-a", ""),
        "no lifetime": key("sku-a", "k-2", ttl=0),
        "later op": sku("sku-b", 1, 2),  # breaks 0 <= reserved <= on_hand
    }[refused]
    ops: list[WriteOp] = [sku("sku-a", 15), stock("sku-a", "adjust"), key("sku-a", "k-3"), bad]
    with pytest.raises(StoreError):
        await store.apply(ops)
    row = await store.get_sku("sku-a")
    assert row is not None and row.on_hand == 10
    assert [e.kind for e in await store.stock_events("sku-a", limit=10)] == ["set"]
    assert await store.get_adjustment_key("sku-a", "k-3") is None
    stored = await store.get_adjustment_key("sku-a", "k-1")
    assert stored is not None and stored.created_at_ms == 1_000  # the live key is unchanged
    # A live key alone (one statement) is refused too, and leaves nothing behind.
    with pytest.raises(StoreError):
        await store.apply([key("sku-a", "k-1", 9, at=1_500)])
    stored = await store.get_adjustment_key("sku-a", "k-1")
    assert stored is not None and stored.delta == 5


async def test_an_expired_key_is_replaced_and_repeats_in_one_apply_apply_in_order(
    store: LeadingStore,
) -> None:
    await store.apply([key("sku-a", "k-1", 5, at=1_000)])
    again = key("sku-a", "k-1", 7, at=2_000, reason="count")  # 2_000: the old one just expired
    assert await store.apply([again]) == [False]
    assert await store.get_adjustment_key("sku-a", "k-1") == key_row(again)
    # In one apply: a key, then the same key after it expired; then the same key while live.
    first, later = key("sku-a", "k-2", at=1_000), key("sku-a", "k-2", 9, at=2_000)
    assert await store.apply([first, later]) == [True, False]
    assert await store.get_adjustment_key("sku-a", "k-2") == key_row(later)
    with pytest.raises(StoreError):
        await store.apply([key("sku-a", "k-3", at=1_000), key("sku-a", "k-3", at=1_500)])
    assert await store.get_adjustment_key("sku-a", "k-3") is None


async def test_expired_keys_are_listed_soonest_first_and_deleted_per_sku_bounded(
    store: LeadingStore,
) -> None:
    ops: list[WriteOp] = [
        key("sku-a", "k-3", ttl=1_000),  # expires 2_000
        key("sku-b", "k-1", ttl=1_000),
        key("sku-a", "k-1", ttl=1_000),
        key("sku-a", "k-9", ttl=500),  # 1_500
        key("sku-a", "k-5", ttl=2_000),  # 3_000: not yet
    ]
    await store.apply(ops)
    expired = await store.expired_adjustment_keys(2_000, 10)
    assert [(k.expires_at_ms, k.sku, k.key) for k in expired] == [
        (1_500, "sku-a", "k-9"),
        (2_000, "sku-a", "k-1"),  # same expiry: SKU, then key
        (2_000, "sku-a", "k-3"),
        (2_000, "sku-b", "k-1"),
    ]
    assert [k.key for k in await store.expired_adjustment_keys(2_000, 2)] == ["k-9", "k-1"]
    assert await store.expired_adjustment_keys(1_499, 10) == []
    with pytest.raises(ValueError, match="limit"):
        await store.expired_adjustment_keys(2_000, 0)
    # Bounded, soonest first, only the SKU's expired keys; the count of rows deleted.
    delete = DeleteAdjustmentKeys(sku="sku-a", now_ms=2_000, limit=2)
    assert await store.apply([delete]) == [2]
    assert await store.get_adjustment_key("sku-a", "k-9") is None
    assert await store.get_adjustment_key("sku-a", "k-1") is None
    assert await store.get_adjustment_key("sku-a", "k-3") is not None
    assert await store.apply([delete, DeleteAdjustmentKeys(sku="sku-c", now_ms=9, limit=5)]) == [
        1,
        0,
    ]
    left = await store.expired_adjustment_keys(10**12, 10)
    assert [(k.sku, k.key) for k in left] == [("sku-b", "k-1"), ("sku-a", "k-5")]
    # A key and a sweep of the same SKU in one apply, either way round.
    assert await store.apply(
        [DeleteAdjustmentKeys(sku="sku-b", now_ms=2_000, limit=5), key("sku-b", "k-1", at=2_000)]
    ) == [1, True]
    assert await store.apply(
        [key("sku-b", "k-2", at=2_000), DeleteAdjustmentKeys(sku="sku-b", now_ms=2_500, limit=5)]
    ) == [True, 0]
    assert await store.get_adjustment_key("sku-b", "k-2") is not None


# --------------------------------------------------------------------------- migrations


@asynccontextmanager
async def _sqlite_v2(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    path = request.getfixturevalue("tmp_path") / "v2.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        apply_sqlite_migrations(conn, load_migrations("sqlite")[:2])
    finally:
        conn.close()
    yield lambda: open_sqlite_store(path, migrate=False)


@asynccontextmanager
async def _postgres_v2(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    import asyncpg  # type: ignore[import-untyped]

    url: str = request.getfixturevalue("postgres_url")
    async with pg_schema(url) as schema:
        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            migrations = load_migrations("postgres")[:2]
            await apply_postgres_migrations(conn, migrations, advisory_key("migrate", schema))
        finally:
            await conn.close()
        yield lambda: open_postgres_store(
            url, min_size=1, max_size=2, server_settings={"search_path": schema}, migrate=False
        )


V2_FACTORIES = [
    pytest.param(_sqlite_v2, id="sqlite"),
    pytest.param(
        _postgres_v2, id="postgres", marks=[pytest.mark.services, pytest.mark.asyncio_only]
    ),
]


@pytest.mark.parametrize(("anyio_backend", "v2"), per_backend(V2_FACTORIES))
async def test_inventory_migration_applies_on_a_v2_database(
    request: pytest.FixtureRequest,
    anyio_backend: Any,
    v2: Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Callable[[], Any]]],
) -> None:
    async with v2(request) as open_store:
        async with open_store() as old:
            assert await old.schema_version() == 2
            assert await old.apply([ins("n1"), upsert_order("o1")]) == [True, True]
        async with open_store() as store:
            latest = len(load_migrations("sqlite"))
            assert latest >= 3 and [m.name for m in load_migrations("sqlite")][2] == "inventory"
            assert [m.name for m in load_migrations("postgres")][2] == "inventory"
            assert await store.migrate() == list(range(3, latest + 1))
            assert await store.schema_version() == latest
            assert await store.migrate() == []
            assert await store.get_order("o1") is not None  # 0002's rows survive
            ops: list[WriteOp] = [sku("a"), hold("o1", "a"), stock("a"), po("p"), key("a", "k")]
            assert await store.apply(ops) == [True, True, 1, True, True]
            for dialect in ("sqlite", "postgres"):  # 0004: the keys of adjustments
                assert [m.name for m in load_migrations(dialect)][3] == "adjustment_keys"
