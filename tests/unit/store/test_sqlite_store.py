"""SQLite-specific behaviour: durability settings, WAL reads, query plans, error translation."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from creatorflow.adapters.store import SqliteDurability, open_sqlite_store
from creatorflow.adapters.store._sqlite_conn import translate_error
from creatorflow.adapters.store._sqlite_sql import LIST_UNPROCESSED_AFTER, LIST_UNPROCESSED_FIRST
from creatorflow.errors import StoreError, StoreUnavailable
from creatorflow.ports import InboxCursor, InboxRecord, InsertInbox

pytestmark = pytest.mark.anyio


def ins(nid: str, received_at_ms: int = 1) -> InsertInbox:
    record = InboxRecord(
        notification_id=nid, type=1, shop_id="s", received_at_ms=received_at_ms, body=b"{}"
    )
    return InsertInbox(record=record)


# --------------------------------------------------------------------------- durability


async def test_default_is_wal_and_synchronous_full(tmp_path: Path, anyio_backend: Any) -> None:
    db = tmp_path / "d.sqlite3"
    async with open_sqlite_store(db) as store:
        assert await store.durability() == SqliteDurability("wal", "FULL", True)
    with sqlite3.connect(db) as conn:  # WAL is persistent in the file itself
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize("level", ["OFF", "NORMAL", "EXTRA"])
async def test_synchronous_follows_config(tmp_path: Path, anyio_backend: Any, level: Any) -> None:
    async with open_sqlite_store(tmp_path / "d.sqlite3", synchronous=level) as store:
        durability = await store.durability()
    assert (durability.journal_mode, durability.synchronous) == ("wal", level)


async def test_unknown_synchronous_level_is_refused(tmp_path: Path, anyio_backend: Any) -> None:
    with pytest.raises(StoreError, match="synchronous"):
        async with open_sqlite_store(tmp_path / "d.sqlite3", synchronous="SOMETIMES"):  # type: ignore[arg-type]
            pass  # pragma: no cover


# --------------------------------------------------------------------------- errors


async def test_missing_directory_is_unavailable(tmp_path: Path, anyio_backend: Any) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        async with open_sqlite_store(tmp_path / "missing" / "d.sqlite3"):
            pass  # pragma: no cover
    assert isinstance(caught.value.__cause__, sqlite3.Error)


async def test_a_directory_as_database_is_unavailable(tmp_path: Path, anyio_backend: Any) -> None:
    with pytest.raises(StoreUnavailable):
        async with open_sqlite_store(tmp_path):
            pass  # pragma: no cover


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_read_only_directory_is_unavailable(tmp_path: Path, anyio_backend: Any) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreUnavailable):
            async with open_sqlite_store(folder / "d.sqlite3"):
                pass  # pragma: no cover
    finally:
        folder.chmod(0o700)


async def test_locked_database_is_unavailable_then_recovers(
    tmp_path: Path, anyio_backend: Any
) -> None:
    db = tmp_path / "d.sqlite3"
    async with open_sqlite_store(db, busy_timeout_ms=50) as store:
        other = sqlite3.connect(db, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StoreUnavailable, match="locked") as caught:
                await store.apply([ins("a")])
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            # WAL: reads go on while someone else writes.
            assert await store.get_inbox("a") is None
            await store.ping()
            other.execute("ROLLBACK")
        finally:
            other.close()
        assert await store.apply([ins("a")]) == [True]


async def test_wrongly_typed_value_is_a_store_error(tmp_path: Path, anyio_backend: Any) -> None:
    bad = InboxRecord(notification_id="a", type="one", shop_id="s", received_at_ms=1, body=b"")  # type: ignore[arg-type]
    async with open_sqlite_store(tmp_path / "d.sqlite3") as store:
        with pytest.raises(StoreError) as caught:
            await store.apply([InsertInbox(record=bad)])
        assert isinstance(caught.value.__cause__, sqlite3.IntegrityError)
        assert await store.get_inbox("a") is None


async def test_closed_store_is_unavailable(tmp_path: Path, anyio_backend: Any) -> None:
    async with open_sqlite_store(tmp_path / "d.sqlite3") as store:
        pass
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.apply([ins("a")])
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.ping()


@pytest.mark.parametrize(
    ("exc", "code", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), 5, StoreUnavailable),
        (sqlite3.OperationalError("disk I/O error"), 10, StoreUnavailable),
        (sqlite3.OperationalError("unable to open database file"), 14, StoreUnavailable),
        (sqlite3.OperationalError("database or disk is full"), 13, StoreUnavailable),
        (sqlite3.OperationalError("no such table: inbox"), 1, StoreError),
        (sqlite3.IntegrityError("NOT NULL constraint failed"), 1299, StoreError),
        (sqlite3.DatabaseError("database disk image is malformed"), 11, StoreError),
        (sqlite3.OperationalError("database is locked"), None, StoreUnavailable),
        (sqlite3.OperationalError("near 'SELEC': syntax error"), None, StoreError),
        (sqlite3.ProgrammingError("Error binding parameter 1"), None, StoreError),
    ],
)
def test_translate_error(exc: sqlite3.Error, code: int | None, expected: type) -> None:
    if code is not None:
        exc.sqlite_errorcode = code
    translated = translate_error(exc, "apply")
    assert type(translated) is expected
    assert str(exc) in str(translated)


# --------------------------------------------------------------------------- reads


async def test_unprocessed_scans_use_the_partial_index(tmp_path: Path, anyio_backend: Any) -> None:
    db = tmp_path / "d.sqlite3"
    async with open_sqlite_store(db) as store:
        await store.apply([ins(f"n{i}", i) for i in range(50)])
        page = await store.list_unprocessed(
            InboxCursor(received_at_ms=10, notification_id="n10"), 3
        )
        assert [r.notification_id for r in page] == ["n11", "n12", "n13"]
    with sqlite3.connect(db) as conn:
        for sql, params in [(LIST_UNPROCESSED_FIRST, (5,)), (LIST_UNPROCESSED_AFTER, (1, "a", 5))]:
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "USING INDEX inbox_unprocessed" in plan
            assert "TEMP B-TREE" not in plan  # no sort: the index gives the order
