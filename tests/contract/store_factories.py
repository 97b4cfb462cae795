"""Store factories shared by the store contract tests (``test_*store_contract.py``).

To add an implementation, append a ``pytest.param(factory, id=...)`` to ``FACTORIES``: a factory
takes the fixture request (for ``tmp_path``, ``postgres_url``, …) and returns an async context
manager yielding a migrated, empty store that is a :class:`~creatorflow.ports.Store` and a
:class:`~creatorflow.ports.LeaderElection`. The ``store`` fixture (``conftest.py``) runs each
test once per factory.

Postgres runs on asyncio only (marked ``asyncio_only``: no trio variant is generated) and each
test gets a fresh schema of its own (random name, ``search_path`` set through the pool's server
settings, dropped afterwards), so tests never see each other's rows or locks.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

import pytest

from creatorflow.adapters.store import open_postgres_store, open_sqlite_store
from creatorflow.ports import LeaderElection, SchemaMigrator, Store


class LeadingStore(Store, LeaderElection, SchemaMigrator, Protocol):
    """What every store adapter implements."""


StoreFactory = Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[LeadingStore]]


def sqlite_factory(request: pytest.FixtureRequest) -> AbstractAsyncContextManager[LeadingStore]:
    """A migrated SQLite store in the test's ``tmp_path``."""
    tmp_path = request.getfixturevalue("tmp_path")
    return open_sqlite_store(tmp_path / "contract.sqlite3")


@asynccontextmanager
async def pg_schema(url: str) -> AsyncIterator[str]:
    """A fresh, empty schema with a random name, dropped (with its rows) on exit."""
    import asyncpg  # type: ignore[import-untyped]  # only when Postgres tests run

    name = f"cf_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield name
        finally:
            await admin.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await admin.close()


@asynccontextmanager
async def postgres_factory(request: pytest.FixtureRequest) -> AsyncIterator[LeadingStore]:
    """A migrated Postgres store on a fresh schema of its own."""
    url: str = request.getfixturevalue("postgres_url")
    async with (
        pg_schema(url) as schema,
        open_postgres_store(
            url, min_size=1, max_size=4, server_settings={"search_path": schema}
        ) as opened,
    ):
        yield opened


FACTORIES = [
    pytest.param(sqlite_factory, id="sqlite"),
    pytest.param(
        postgres_factory, id="postgres", marks=[pytest.mark.services, pytest.mark.asyncio_only]
    ),
]
