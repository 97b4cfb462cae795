"""Versioned migrations of the SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from creatorflow.adapters.store import _inventory_rows as shared
from creatorflow.adapters.store import _migrate, open_sqlite_store
from creatorflow.adapters.store import _sqlite_inventory as inventory
from creatorflow.adapters.store._migrate import (
    Migration,
    apply_sqlite_migrations,
    load_migrations,
    split_statements,
)
from creatorflow.errors import StoreError

pytestmark = pytest.mark.anyio

#: The tables and indexes of 0003_inventory.
INVENTORY_OBJECTS = {
    "skus",
    "reservations",
    "reservations_held_by_sku",
    "reservations_held_by_expiry",
    "stock_events",
    "stock_event_seqs",
    "purchase_orders",
    "purchase_orders_by_sku",
    "purchase_orders_by_state",
}


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}


async def test_fresh_database_gets_every_migration_recorded(
    tmp_path: Path, anyio_backend: Any
) -> None:
    db = tmp_path / "m.sqlite3"
    latest = load_migrations("sqlite")[-1].version
    async with open_sqlite_store(db, migrate=False) as store:
        assert await store.schema_version() == 0
        assert await store.migrate() == list(range(1, latest + 1))
        assert await store.schema_version() == latest
        assert await store.migrate() == []  # re-run is a no-op
    assert {"inbox", "inbox_unprocessed", "schema_migrations"} <= _tables(db)
    assert _tables(db) >= INVENTORY_OBJECTS
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations").fetchall()
    assert next((v, n) for v, n, _ in rows) == (1, "init")
    assert all(applied_at.endswith("Z") for _, _, applied_at in rows)


async def test_reopening_a_migrated_database_applies_nothing(
    tmp_path: Path, anyio_backend: Any
) -> None:
    db = tmp_path / "m.sqlite3"
    async with open_sqlite_store(db) as store:  # migrate=True by default
        version = await store.schema_version()
        assert version >= 1
    async with open_sqlite_store(db) as store:
        assert await store.migrate() == []
        assert await store.schema_version() == version
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (version,)


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations("sqlite")
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert [m.name for m in migrations][:3] == ["init", "orders", "inventory"]
    assert [m.name for m in load_migrations("postgres")] == [m.name for m in migrations]
    assert all(split_statements(m.sql) for m in migrations)


def test_failed_migration_rolls_back_and_keeps_earlier_ones() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    good = Migration(1, "one", "CREATE TABLE t (x INTEGER);\n")
    bad = Migration(2, "two", "CREATE TABLE u (x INTEGER);\nCREATE TABLE t (y INTEGER);\n")
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        apply_sqlite_migrations(conn, (good, bad))
    names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "u" not in names  # the half of migration 2 that ran was rolled back
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]
    assert not conn.in_transaction


def test_database_newer_than_the_build_is_refused() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    one = Migration(1, "one", "CREATE TABLE t (x INTEGER);")
    two = Migration(2, "two", "CREATE TABLE u (x INTEGER);")
    assert apply_sqlite_migrations(conn, (one, two)) == [1, 2]
    with pytest.raises(StoreError, match="newer"):
        apply_sqlite_migrations(conn, (one,))


def test_split_keeps_triggers_whole_and_drops_trailing_comments() -> None:
    sql = """
    -- leading comment
    CREATE TABLE t (x INTEGER);
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = x + 1 WHERE rowid = new.rowid;
    END;
    -- trailing comment
    """
    statements = split_statements(sql)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER")
    assert statements[1].endswith("END;")
    with pytest.raises(StoreError, match="unterminated"):
        split_statements("CREATE TABLE t (x INTEGER)")


@pytest.mark.parametrize(
    ("files", "error"),
    [
        (["0001_init.sql", "0003_gap.sql"], "expected 0002"),
        (["0001_init.sql", "0001_again.sql"], "expected 0002"),
        (["1_init.sql"], "not named"),
        (["0001_Init-Me.sql"], "not named"),
    ],
)
def test_misnumbered_migration_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: list[str], error: str
) -> None:
    folder = tmp_path / "migrations" / "sqlite"
    folder.mkdir(parents=True)
    for name in files:
        (folder / name).write_text("SELECT 1;\n")
    (folder / "README.txt").write_text("ignored: not .sql")
    monkeypatch.setattr(_migrate, "files", lambda package: tmp_path)
    with pytest.raises(StoreError, match=error):
        load_migrations("sqlite")


def _po_sql(sku: str | None, states: list[str], after: str | None) -> str:
    return shared.dialect(shared.purchase_orders_sql(sku, states, after, any_array=False)[0], "?")


@pytest.mark.parametrize(
    ("sql", "params", "index"),
    [
        (inventory.HELD_RESERVATIONS, ("s",), "reservations_held_by_sku (sku=?)"),
        (inventory.ORDER_RESERVATIONS, ("o",), "sqlite_autoindex_reservations_1 (order_id=?)"),
        (inventory.EXPIRED_HOLDS, (1, 10), "reservations_held_by_expiry"),
        (inventory.STOCK_EVENTS_LATEST, ("s", 10), "sqlite_autoindex_stock_events_1 (sku=?)"),
        (
            inventory.STOCK_EVENTS_BEFORE,
            ("s", 5, 10),
            "sqlite_autoindex_stock_events_1 (sku=? AND seq<?)",
        ),
        (
            shared.dialect(shared.list_skus_sql("a", 3), "?"),
            ("a", 3, 10),
            "sqlite_autoindex_skus_1 (sku>?)",
        ),
        (
            _po_sql("s", [], "p"),
            ("s", "p", 10),
            "purchase_orders_by_sku (sku=? AND po_id>?)",
        ),
        (
            _po_sql(None, ["failed"], None),
            ("failed", 10),
            "purchase_orders_by_state (state=?)",
        ),
    ],
)
def test_inventory_reads_use_the_indexes_of_0003(
    sql: str, params: tuple[object, ...], index: str
) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    apply_sqlite_migrations(conn, load_migrations("sqlite"))
    plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))
    assert f"USING INDEX {index}" in plan
    assert "TEMP B-TREE" not in plan  # no sort: the index gives the order
