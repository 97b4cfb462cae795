"""The appliers of write ops, per store backend: each capability's store module registers how
its own ``WriteOp`` subclasses are applied, so adding an op touches no central ``match``.

``tests/contract/test_appliers.py`` checks that every ``WriteOp`` subclass has an applier in
both backends (what the closed union used to prove to the type checker).

SQLite (one op at a time inside ``BEGIN IMMEDIATE``): an op either has an answer (``run``:
executed alone, its result returned) or not (``sql`` + ``row``: adjacent ops with the same
``sql`` go through one ``executemany``).

Postgres (segments of one statement per kind, see ``_pg_apply``): ``key`` is the row an op
touches (ops on different keys commute), ``run`` applies a run of ops of the kind in one
statement and returns their answers (or ``None``: no answers), ``rank`` fixes the order kinds
run in within a segment (a total order over every kind; gaps leave room per capability:
inbox 100s, orders 200s, inventory 300s, shipping 400s, events 500s), ``transactional`` marks
kinds whose run may fail after a statement of it ran (a check after the statement, or one
statement per op): they always run in a transaction, even alone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from creatorflow.ports import WriteOp, WriteResult

Op = TypeVar("Op", bound=WriteOp)


class SqliteApplier(NamedTuple):
    run: Callable[[sqlite3.Connection, Any], WriteResult] | None = None
    sql: str = ""
    row: Callable[[Any], tuple[Any, ...]] | None = None


class PgApplier(NamedTuple):
    rank: int
    key: Callable[[Any], tuple[str, str]]
    run: Callable[[Any, list[Any]], Awaitable[Sequence[WriteResult] | None]]
    transactional: bool = False


SQLITE: dict[type[WriteOp], SqliteApplier] = {}
POSTGRES: dict[type[WriteOp], PgApplier] = {}


def sqlite_answering(kind: type[Op], run: Callable[[sqlite3.Connection, Op], WriteResult]) -> None:
    """Register a SQLite op that is executed alone and answers (new or not, a seq …)."""
    _add(SQLITE, kind, SqliteApplier(run=run))


def sqlite_batched(kind: type[Op], sql: str, row: Callable[[Op], tuple[Any, ...]]) -> None:
    """Register a SQLite op without an answer: adjacent ones share one ``executemany``."""
    _add(SQLITE, kind, SqliteApplier(sql=sql, row=row))


def postgres(
    kind: type[Op],
    *,
    rank: int,
    key: Callable[[Op], tuple[str, str]],
    run: Callable[[Any, list[Op]], Awaitable[Sequence[WriteResult] | None]],
    transactional: bool = False,
) -> None:
    """Register a Postgres op kind (see the module docstring)."""
    if any(a.rank == rank for a in POSTGRES.values()):
        raise RuntimeError(f"postgres applier rank {rank} is taken ({kind.__name__})")
    _add(POSTGRES, kind, PgApplier(rank, key, run, transactional))


def _add(table: dict[type[WriteOp], Any], kind: type[WriteOp], applier: Any) -> None:
    if kind in table:
        raise RuntimeError(f"{kind.__name__} has two appliers")
    table[kind] = applier
