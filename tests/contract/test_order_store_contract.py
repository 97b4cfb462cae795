"""The order side of the store contract (orders, journal, outbox, cursors, tokens), run against
every implementation: SQLite and Postgres (see ``store_factories.py``)."""

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
    AppendOrderEvent,
    AppendOutbox,
    InboxRecord,
    InsertInbox,
    MarkInboxProcessed,
    Priority,
    SaveTokens,
    SetCursor,
    UpsertOrder,
    WriteOp,
)

pytestmark = pytest.mark.anyio


def upsert(
    oid: str,
    state: str = "received",
    priority: Priority = "STANDARD",
    *,
    score: int = 50,
    doc: bytes = b"{}",
    update_time: int = 1_700_000_000,
) -> UpsertOrder:
    return UpsertOrder(
        order_id=oid,
        shop_id="shop-1",
        state=state,
        tiktok_status="AWAITING_SHIPMENT",
        priority=priority,
        score=score,
        tiktok_update_time=update_time,
        updated_at_ms=update_time * 1000,
        doc=doc,
    )


def event(oid: str, kind: str = "transition", to: str | None = "classified") -> AppendOrderEvent:
    return AppendOrderEvent(
        order_id=oid,
        at_ms=5,
        kind=kind,
        from_state="received",
        to_state=to,
        detail=f"{oid}:{kind}".encode(),
    )


def outbox(eid: str, payload: bytes = b"{}", created_at_ms: int = 1_000) -> AppendOutbox:
    return AppendOutbox(
        event_id=eid, topic="order.updated", key="o1", payload=payload, created_at_ms=created_at_ms
    )


def ins(nid: str) -> InsertInbox:
    record = InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")
    return InsertInbox(record=record)


# --------------------------------------------------------------------------- orders


async def test_upsert_reports_new_then_replaces_every_field(store: LeadingStore) -> None:
    assert await store.get_order("o1") is None
    assert await store.apply([upsert("o1", doc=b"v1")]) == [True]
    second = upsert("o1", "reserved", "HIGH", score=91, doc=b"v2", update_time=1_700_000_100)
    assert await store.apply([second]) == [False]
    row = await store.get_order("o1")
    assert row is not None
    assert msgspec.structs.asdict(row) == msgspec.structs.asdict(second)


async def test_upsert_repeats_in_one_batch_apply_in_order(store: LeadingStore) -> None:
    ops: list[WriteOp] = [upsert("a", doc=b"1"), upsert("b"), upsert("a", "shipped", doc=b"2")]
    assert await store.apply(ops) == [True, True, False]
    row = await store.get_order("a")
    assert row is not None
    assert (row.state, row.doc) == ("shipped", b"2")


async def test_journal_seq_runs_1_to_n_within_and_across_batches(store: LeadingStore) -> None:
    ops: list[WriteOp] = [
        upsert("a"),
        event("a", "transition"),
        event("a", "decision", None),
        upsert("b"),
        event("b"),
        event("a", "hold"),
    ]
    assert await store.apply(ops) == [True, 1, 2, True, 1, 3]
    assert await store.apply([event("a"), event("b"), event("a")]) == [4, 2, 5]
    # Re-upserting an order keeps its journal counter.
    assert await store.apply([upsert("a", "reserved"), event("a")]) == [False, 6]
    events = await store.order_events("a", 100)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    first, second = events[0], events[1]
    assert (first.order_id, first.at_ms, first.kind, first.detail) == (
        "a",
        5,
        "transition",
        b"a:transition",
    )
    assert (first.from_state, first.to_state) == ("received", "classified")
    assert (second.kind, second.to_state) == ("decision", None)
    assert [e.seq for e in await store.order_events("a", 2)] == [1, 2]
    assert [e.seq for e in await store.order_events("b", 10)] == [1, 2]
    assert await store.order_events("ghost", 10) == []
    with pytest.raises(ValueError, match="limit"):
        await store.order_events("a", 0)


async def test_event_and_upsert_interleaved_keep_their_order(store: LeadingStore) -> None:
    # An upsert after an event of the same order must not run before it (nor reset anything).
    ops: list[WriteOp] = [upsert("a", doc=b"1"), event("a"), upsert("a", doc=b"2"), event("a")]
    assert await store.apply(ops) == [True, 1, False, 2]
    row = await store.get_order("a")
    assert row is not None
    assert row.doc == b"2"


async def test_event_of_an_unknown_order_is_refused_with_its_batch(store: LeadingStore) -> None:
    with pytest.raises(StoreError, match="unknown order"):
        await store.apply([event("ghost")])
    with pytest.raises(StoreError):
        await store.apply([upsert("a"), event("a"), event("ghost")])
    assert await store.get_order("a") is None
    # An event before its order's upsert in the same batch is refused too (ops apply in order).
    with pytest.raises(StoreError):
        await store.apply([event("b"), upsert("b")])
    assert await store.get_order("b") is None


async def test_concurrent_appends_never_share_or_skip_a_seq(store: LeadingStore) -> None:
    await store.apply([upsert("a"), upsert("b")])
    results: list[list[Any]] = []

    async def writer(first: str, second: str) -> None:
        for _ in range(10):
            # Opposite order of the orders in alternate tasks: id-ordered locking means no
            # deadlock however they interleave.
            results.append(await store.apply([event(first), event(second), event(first)]))

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(writer, *(("a", "b") if i % 2 else ("b", "a")))
    seqs_a = [e.seq for e in await store.order_events("a", 1000)]
    seqs_b = [e.seq for e in await store.order_events("b", 1000)]
    assert seqs_a == list(range(1, 61)) and seqs_b == list(range(1, 61))
    returned = sorted(s for r in results for s in r)
    assert returned == sorted(seqs_a + seqs_b)


# --------------------------------------------------------------------------- listing


async def test_list_orders_filters_and_pages_by_keyset(store: LeadingStore) -> None:
    states = ["received", "reserved", "shipped"]
    priorities: list[Priority] = ["HIGH", "STANDARD", "LOW"]
    ids = [f"o{(i * 7) % 30:02d}" for i in range(30)] + ["O-upper", "_x", "é"]
    rows = {oid: upsert(oid, states[i % 3], priorities[(i // 3) % 3]) for i, oid in enumerate(ids)}
    await store.apply(list(rows.values()))

    async def pages(state: str | None, priority: Priority | None) -> list[str]:
        seen: list[str] = []
        after: str | None = None
        while page := await store.list_orders(state=state, priority=priority, after=after, limit=4):
            assert len(page) <= 4
            seen.extend(r.order_id for r in page)
            after = page[-1].order_id
        return seen

    for state in (None, "reserved"):
        for priority in (None, "HIGH"):
            expected = sorted(
                (
                    oid
                    for oid, op in rows.items()
                    if state in (None, op.state) and priority in (None, op.priority)
                ),
                key=str.encode,  # bytewise
            )
            assert await pages(state, priority) == expected, (state, priority)
    [one] = await store.list_orders(after="o28", limit=1)
    assert msgspec.structs.asdict(one) == msgspec.structs.asdict(rows["o29"])
    assert await store.list_orders(state="cancelled", limit=5) == []
    with pytest.raises(ValueError, match="limit"):
        await store.list_orders(limit=0)


# --------------------------------------------------------------------------- outbox


async def test_outbox_insert_is_idempotent_on_event_id(store: LeadingStore) -> None:
    ops: list[WriteOp] = [outbox("e1", b"first"), outbox("e1", b"second"), outbox("e2")]
    assert await store.apply(ops) == [True, False, True]
    assert await store.apply([outbox("e1", b"third")]) == [False]
    claimed = await store.claim_outbox(now_ms=1_000, limit=10, lease_ms=100)
    assert [(r.event_id, r.payload) for r in claimed] == [("e1", b"first"), ("e2", b"{}")]
    first = claimed[0]
    assert (first.topic, first.key, first.created_at_ms) == ("order.updated", "o1", 1_000)
    assert (first.state, first.attempts, first.last_error) == ("pending", 0, None)


async def test_claim_leases_due_events_oldest_first(store: LeadingStore) -> None:
    await store.apply([outbox("late", created_at_ms=3_000), outbox("b", created_at_ms=1_000)])
    await store.apply([outbox("a", created_at_ms=1_000), outbox("c", created_at_ms=2_000)])
    assert await store.claim_outbox(now_ms=999, limit=10, lease_ms=500) == []
    claimed = await store.claim_outbox(now_ms=2_000, limit=2, lease_ms=500)
    assert [(r.event_id, r.next_attempt_at_ms) for r in claimed] == [("a", 2_500), ("b", 2_500)]
    # Leased rows are skipped until the lease ends; the rest is still claimable.
    assert [r.event_id for r in await store.claim_outbox(2_100, 10, 500)] == ["c"]
    again = await store.claim_outbox(now_ms=3_000, limit=10, lease_ms=500)
    assert [r.event_id for r in again] == ["a", "b", "c", "late"]  # due 2500, 2500, 2600, 3000
    with pytest.raises(ValueError, match="limit"):
        await store.claim_outbox(now_ms=1, limit=0, lease_ms=1)
    with pytest.raises(ValueError, match="lease_ms"):
        await store.claim_outbox(now_ms=1, limit=1, lease_ms=0)


# --------------------------------------------------------------------------- cursors, tokens


async def test_cursor_is_set_and_last_write_wins(store: LeadingStore) -> None:
    assert await store.get_cursor("reconcile:shop-1") is None
    ops: list[WriteOp] = [
        SetCursor(name="reconcile:shop-1", value="100", updated_at_ms=1),
        SetCursor(name="other", value="x", updated_at_ms=1),
        SetCursor(name="reconcile:shop-1", value="200", updated_at_ms=2),
    ]
    assert await store.apply(ops) == [None, None, None]
    assert await store.get_cursor("reconcile:shop-1") == "200"
    await store.apply([SetCursor(name="reconcile:shop-1", value="300", updated_at_ms=3)])
    assert await store.get_cursor("reconcile:shop-1") == "300"
    assert await store.get_cursor("other") == "x"


async def test_tokens_are_saved_and_replaced_whole(store: LeadingStore) -> None:
    assert await store.load_tokens("shop-1") is None
    ops: list[WriteOp] = [
        SaveTokens(shop_key="shop-1", doc=b"pair-1", updated_at_ms=1),
        SaveTokens(shop_key="shop-1", doc=b"pair-2", updated_at_ms=2),
    ]
    assert await store.apply(ops) == [None, None]
    assert await store.load_tokens("shop-1") == b"pair-2"
    await store.apply([SaveTokens(shop_key="shop-1", doc=b"\x00pair-3", updated_at_ms=3)])
    assert await store.load_tokens("shop-1") == b"\x00pair-3"
    assert await store.load_tokens("shop-2") is None


# --------------------------------------------------------------------------- mixed batches


async def test_a_transition_commits_with_its_journal_outbox_and_inbox_ack(
    store: LeadingStore,
) -> None:
    ops: list[WriteOp] = [
        ins("n1"),
        upsert("a"),
        event("a"),
        outbox("ev-a"),
        MarkInboxProcessed(notification_id="n1", processed_at_ms=9),
        SetCursor(name="c", value="1", updated_at_ms=1),
        SaveTokens(shop_key="s", doc=b"t", updated_at_ms=1),
        upsert("b"),
        event("b"),
        outbox("ev-b"),
        MarkInboxProcessed(notification_id="n0", processed_at_ms=9),  # unknown: no-op
        ins("n0"),  # after its mark: stays received
    ]
    assert await store.apply(ops) == [
        True,
        True,
        1,
        True,
        None,
        None,
        None,
        True,
        1,
        True,
        None,
        True,
    ]
    n1, n0 = await store.get_inbox("n1"), await store.get_inbox("n0")
    assert n1 is not None and n1.state == "processed"
    assert n0 is not None and n0.state == "received"


async def test_a_refused_op_rolls_back_every_kind_in_the_batch(store: LeadingStore) -> None:
    await store.apply([upsert("kept", doc=b"old")])
    bad = msgspec.structs.replace(upsert("bad"), priority="URGENT")  # type: ignore[arg-type]
    ops: list[WriteOp] = [
        ins("n1"),
        upsert("kept", doc=b"new"),
        event("kept"),
        upsert("a"),
        event("a"),
        outbox("ev-a"),
        SetCursor(name="c", value="1", updated_at_ms=1),
        SaveTokens(shop_key="s", doc=b"t", updated_at_ms=1),
        bad,
    ]
    with pytest.raises(StoreError) as caught:
        await store.apply(ops)
    assert caught.value.__cause__ is not None
    kept = await store.get_order("kept")
    assert kept is not None and kept.doc == b"old"
    assert await store.order_events("kept", 10) == []
    assert await store.get_order("a") is None
    assert await store.get_inbox("n1") is None
    assert await store.get_cursor("c") is None
    assert await store.load_tokens("s") is None
    assert await store.claim_outbox(now_ms=10_000, limit=10, lease_ms=1) == []
    # Usable afterwards; the journal counter was not advanced by the rolled-back event.
    assert await store.apply(ops[:-1]) == [True, False, 1, True, 1, True, None, None]


# --------------------------------------------------------------------------- migrations


@asynccontextmanager
async def _sqlite_v1(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    path = request.getfixturevalue("tmp_path") / "v1.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        apply_sqlite_migrations(conn, load_migrations("sqlite")[:1])
    finally:
        conn.close()
    yield lambda: open_sqlite_store(path, migrate=False)


@asynccontextmanager
async def _postgres_v1(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], Any]]:
    import asyncpg  # type: ignore[import-untyped]

    url: str = request.getfixturevalue("postgres_url")
    async with pg_schema(url) as schema:
        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            migrations = load_migrations("postgres")[:1]
            await apply_postgres_migrations(conn, migrations, advisory_key("migrate", schema))
        finally:
            await conn.close()
        yield lambda: open_postgres_store(
            url, min_size=1, max_size=2, server_settings={"search_path": schema}, migrate=False
        )


V1_FACTORIES = [
    pytest.param(_sqlite_v1, id="sqlite"),
    pytest.param(
        _postgres_v1, id="postgres", marks=[pytest.mark.services, pytest.mark.asyncio_only]
    ),
]


@pytest.mark.parametrize(("anyio_backend", "v1"), per_backend(V1_FACTORIES))
async def test_orders_migration_applies_on_a_v1_database(
    request: pytest.FixtureRequest,
    anyio_backend: Any,
    v1: Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Callable[[], Any]]],
) -> None:
    async with v1(request) as open_store:
        async with open_store() as old:
            assert await old.schema_version() == 1
            assert await old.apply([ins("n1")]) == [True]
        async with open_store() as store:
            latest = len(load_migrations("sqlite"))
            assert latest >= 2
            assert len(load_migrations("postgres")) == latest  # the dialects stay twins
            assert await store.migrate() == list(range(2, latest + 1))
            assert await store.schema_version() == latest
            assert await store.migrate() == []  # re-run: a no-op
            assert await store.get_inbox("n1") is not None  # 0001's rows survive
            assert await store.apply([upsert("a"), event("a"), outbox("e")]) == [True, 1, True]
