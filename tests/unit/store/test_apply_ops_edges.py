"""The SQLite store's ``apply_ops`` (the inbox insert path of every webhook) at its edges: a
transaction left open on the connection is not absorbed into the next batch, and an op it does
not know is refused by name with nothing of the batch committed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from creatorflow.adapters.store._migrate import apply_sqlite_migrations, load_migrations
from creatorflow.adapters.store._sqlite_sql import apply_ops
from creatorflow.errors import StoreError
from creatorflow.ports import InboxRecord, InsertInbox, WriteOp


def insert(nid: str) -> InsertInbox:
    return InsertInbox(
        record=InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")
    )


def connect(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    apply_sqlite_migrations(conn, load_migrations("sqlite"))
    return conn


def ids(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT notification_id FROM inbox ORDER BY 1")]


def test_a_leftover_transaction_is_rolled_back_not_joined(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    try:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO inbox (notification_id, type, shop_id, received_at_ms, body) "
            "VALUES ('stray', 1, 's', 1, x'')"
        )
        assert apply_ops(conn, [insert("n-1"), insert("n-1")]) == [True, False]
        assert not conn.in_transaction
        assert ids(conn) == ["n-1"]  # the stray row was never committed
    finally:
        conn.close()


def test_an_unknown_op_is_refused_by_name_and_the_batch_rolls_back(tmp_path: Path) -> None:
    conn = connect(tmp_path)
    try:
        ops: list[WriteOp] = [insert("n-1"), object()]  # type: ignore[list-item]
        with pytest.raises(StoreError, match=r"^unsupported write op: object$"):
            apply_ops(conn, ops)
        assert not conn.in_transaction
        assert ids(conn) == []
    finally:
        conn.close()
