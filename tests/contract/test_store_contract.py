"""The store port's inbox contract, run against every implementation: SQLite and Postgres.

The implementations and the ``store`` fixture are in ``store_factories.py`` / ``conftest.py``
(shared with ``test_order_store_contract.py``).
"""

from __future__ import annotations

import msgspec
import pytest
from store_factories import LeadingStore

from creatorflow.errors import StoreError
from creatorflow.ports import (
    InboxCursor,
    InboxRecord,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
    Store,
    WriteOp,
)

pytestmark = pytest.mark.anyio


def rec(nid: str, received_at_ms: int = 1_000, body: bytes = b"{}") -> InboxRecord:
    return InboxRecord(
        notification_id=nid, type=1, shop_id="shop-1", received_at_ms=received_at_ms, body=body
    )


def bad_rec(nid: str) -> InboxRecord:
    # msgspec does not validate on construction: a None where the schema says NOT NULL is
    # what a buggy caller could send, and every store must refuse it.
    return msgspec.structs.replace(rec(nid), shop_id=None)


def ins(nid: str, received_at_ms: int = 1_000, body: bytes = b"{}") -> InsertInbox:
    return InsertInbox(record=rec(nid, received_at_ms, body))


# --------------------------------------------------------------------------- writes


async def test_insert_reports_new_then_duplicate(store: Store) -> None:
    assert await store.apply([ins("a", 1_234, b'{"x":1}')]) == [True]
    assert await store.apply([ins("a", 9_999, b"other")]) == [False]
    status = await store.get_inbox("a")
    assert status is not None
    assert (status.notification_id, status.type, status.shop_id) == ("a", 1, "shop-1")
    assert status.received_at_ms == 1_234  # the duplicate changed nothing
    assert (status.state, status.attempts, status.processed_at_ms, status.last_error) == (
        "received",
        0,
        None,
        None,
    )
    [record] = await store.list_unprocessed(None, 10)
    assert record == rec("a", 1_234, b'{"x":1}')


async def test_duplicate_inside_one_batch_is_false_the_second_time(store: Store) -> None:
    results = await store.apply([ins("a", body=b"first"), ins("a", body=b"second"), ins("b")])
    assert results == [True, False, True]
    [first, _] = await store.list_unprocessed(None, 10)
    assert first.body == b"first"


async def test_empty_apply_is_a_no_op(store: Store) -> None:
    assert await store.apply([]) == []


async def test_results_follow_op_order_across_kinds(store: Store) -> None:
    ops: list[WriteOp] = [
        ins("a"),
        MarkInboxProcessed(notification_id="a", processed_at_ms=5),
        ins("b"),
        ins("a"),
        MarkInboxFailed(notification_id="b", error="boom"),
    ]
    assert await store.apply(ops) == [True, None, True, False, None]
    a, b = await store.get_inbox("a"), await store.get_inbox("b")
    assert a is not None
    assert (a.state, a.attempts, a.processed_at_ms) == ("processed", 1, 5)
    assert b is not None
    assert (b.state, b.attempts, b.last_error) == ("received", 1, "boom")


async def test_mark_processed_is_idempotent(store: Store) -> None:
    await store.apply([ins("a")])
    assert await store.apply([MarkInboxProcessed(notification_id="a", processed_at_ms=100)]) == [
        None
    ]
    await store.apply([MarkInboxProcessed(notification_id="a", processed_at_ms=200)])
    status = await store.get_inbox("a")
    assert status is not None
    assert (status.state, status.processed_at_ms, status.attempts) == ("processed", 100, 1)


async def test_mark_failed_counts_attempts_and_dead_parks(store: Store) -> None:
    await store.apply([ins("a"), ins("b")])
    await store.apply([MarkInboxFailed(notification_id="a", error="e1")])
    status = await store.get_inbox("a")
    assert status is not None
    assert (status.state, status.attempts, status.last_error) == (
        "received",
        1,
        "e1",
    )
    await store.apply([MarkInboxFailed(notification_id="a", error="e2", dead=True)])
    status = await store.get_inbox("a")
    assert status is not None
    assert (status.state, status.attempts, status.last_error) == (
        "dead",
        2,
        "e2",
    )
    assert [r.notification_id for r in await store.list_unprocessed(None, 10)] == ["b"]


async def test_failure_after_processed_changes_nothing(store: Store) -> None:
    await store.apply([ins("a"), MarkInboxProcessed(notification_id="a", processed_at_ms=7)])
    await store.apply([MarkInboxFailed(notification_id="a", error="late", dead=True)])
    status = await store.get_inbox("a")
    assert status is not None
    assert (status.state, status.attempts, status.last_error) == ("processed", 1, None)


async def test_marks_on_unknown_ids_change_nothing(store: Store) -> None:
    ops: list[WriteOp] = [
        MarkInboxProcessed(notification_id="ghost", processed_at_ms=1),
        MarkInboxFailed(notification_id="ghost", error="x"),
    ]
    assert await store.apply(ops) == [None, None]
    assert await store.get_inbox("ghost") is None


# --------------------------------------------------------------------------- atomicity


async def test_a_refused_op_rolls_back_the_whole_batch(store: Store) -> None:
    await store.apply([ins("kept")])
    ops: list[WriteOp] = [
        ins("a"),
        MarkInboxProcessed(notification_id="kept", processed_at_ms=1),
        InsertInbox(record=bad_rec("bad")),
        ins("b"),
    ]
    with pytest.raises(StoreError) as caught:
        await store.apply(ops)
    assert caught.value.__cause__ is not None  # the driver's error is chained, not leaked
    assert not type(caught.value).__module__.startswith(("sqlite3", "asyncpg"))
    assert await store.get_inbox("a") is None
    assert await store.get_inbox("bad") is None
    kept = await store.get_inbox("kept")
    assert kept is not None
    assert kept.state == "received"
    # The store is usable afterwards, and the same good ops commit without the bad one.
    assert await store.apply([ins("a"), ins("b")]) == [True, True]


# --------------------------------------------------------------------------- reads


async def test_get_inbox_unknown_is_none(store: Store) -> None:
    assert await store.get_inbox("never-seen") is None


async def test_list_unprocessed_pages_by_keyset(store: Store) -> None:
    # Ties on received_at_ms are broken by notification_id; inserted out of order.
    ids = [f"n{i:02d}" for i in range(30)]
    ops = [ins(nid, received_at_ms=1_000 + (i * 7) % 5) for i, nid in enumerate(reversed(ids))]
    await store.apply(ops)
    processed = {"n03", "n10"}
    dead = {"n04", "n21"}
    await store.apply(
        [MarkInboxProcessed(notification_id=n, processed_at_ms=1) for n in sorted(processed)]
        + [MarkInboxFailed(notification_id=n, error="x", dead=True) for n in sorted(dead)]
        + [MarkInboxFailed(notification_id="n05", error="retry me")]  # still unprocessed
    )
    expected = sorted(
        ((op.record.received_at_ms, op.record.notification_id) for op in ops),
    )
    expected = [key for key in expected if key[1] not in processed | dead]

    seen: list[tuple[int, str]] = []
    cursor: InboxCursor | None = None
    pages = 0
    while True:
        page = await store.list_unprocessed(cursor, 4)
        assert len(page) <= 4
        if not page:
            break
        pages += 1
        seen.extend((r.received_at_ms, r.notification_id) for r in page)
        last = page[-1]
        cursor = InboxCursor(
            received_at_ms=last.received_at_ms, notification_id=last.notification_id
        )
    assert seen == expected
    assert pages == -(-len(expected) // 4)


async def test_list_unprocessed_refuses_unbounded_limit(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.list_unprocessed(None, 0)


async def test_ping_answers(store: Store) -> None:
    await store.ping()  # raises StoreUnavailable when the store does not answer


async def test_ids_order_bytewise(store: Store) -> None:
    # Bytewise, as SQLite's BINARY collation: "B" < "Z" < "_" < "a" < "é" (not a locale order).
    ids = ["a", "é", "_", "B", "Z", "a-1", "A"]
    await store.apply([ins(nid, received_at_ms=5) for nid in ids])
    page = await store.list_unprocessed(None, 10)
    assert [r.notification_id for r in page] == sorted(ids, key=lambda n: n.encode())
    after = InboxCursor(received_at_ms=5, notification_id="Z")
    rest = await store.list_unprocessed(after, 10)
    assert [r.notification_id for r in rest] == ["_", "a", "a-1", "é"]


async def test_large_batch_mixed_with_repeats(store: Store) -> None:
    # Long runs of each kind (the batched statements), repeats inside and across runs.
    ops: list[WriteOp] = [ins(f"n{i:03d}") for i in range(300)] + [ins("n005"), ins("n299")]
    ops += [MarkInboxProcessed(notification_id=f"n{i:03d}", processed_at_ms=i) for i in range(10)]
    ops += [MarkInboxProcessed(notification_id="n000", processed_at_ms=999)]
    ops += [MarkInboxFailed(notification_id=f"n{i:03d}", error=f"e{i}") for i in range(5, 15)]
    ops += [
        MarkInboxFailed(notification_id="n012", error="again", dead=True),
        MarkInboxFailed(notification_id="n012", error="last"),
    ]
    ops += [ins("n300"), ins("n300")]
    results = await store.apply(ops)
    assert results[:302] == [True] * 300 + [False, False]
    assert results[302:-2] == [None] * (len(ops) - 304)
    assert results[-2:] == [True, False]
    first = await store.get_inbox("n000")
    assert first is not None
    assert (first.state, first.processed_at_ms, first.attempts) == ("processed", 0, 1)
    failed_after_processed = await store.get_inbox("n007")
    assert failed_after_processed is not None
    assert (failed_after_processed.attempts, failed_after_processed.last_error) == (1, None)
    folded = await store.get_inbox("n012")
    assert folded is not None
    assert (folded.state, folded.attempts, folded.last_error) == ("dead", 3, "last")
    page = await store.list_unprocessed(None, 400)
    assert len(page) == 301 - 10 - 1  # n000-n009 processed, n012 dead


# --------------------------------------------------------------------------- leader election


async def test_leadership_is_granted_held_and_given_up(store: LeadingStore) -> None:
    assert not await store.is_leading("pump")
    assert await store.try_lead("pump")
    assert await store.try_lead("pump")  # idempotent for the leader
    assert await store.is_leading("pump")
    assert not await store.is_leading("reconciler")  # names are independent
    await store.resign("pump")
    assert not await store.is_leading("pump")
    await store.resign("pump")  # no-op when not leading
    await store.resign("never-led")
    assert await store.try_lead("pump")
    assert await store.is_leading("pump")


async def test_two_names_are_led_and_resigned_independently(store: LeadingStore) -> None:
    assert await store.try_lead("a")
    assert await store.try_lead("b")
    await store.resign("a")
    assert not await store.is_leading("a")
    assert await store.is_leading("b")
