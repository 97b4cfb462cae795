"""The Postgres store against a real server: recovery, error translation, migrations, leaders.

The port's behaviour itself is pinned in ``tests/contract`` (on SQLite and Postgres alike);
here are the things only a real server can show. Each test works in a fresh schema of its own
and tags its connections with a unique ``application_name`` so that it terminates only its own
backends. asyncpg needs asyncio: no trio copies are generated (but one test checks the refusal
on trio). The test that restarts the whole server disturbs every other user of the server, so
it never runs beside other tests: marked ``restarts_postgres``, it runs alone in
``make pytest-restarts``.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import asyncpg  # type: ignore[import-untyped]
import pytest

from backends import ASYNCIO, TRIO, on_backends
from creatorflow.adapters.store import (
    PostgresStore,
    open_postgres_store,
    open_postgres_store_from_config,
)
from creatorflow.adapters.store import _inventory_rows as shared
from creatorflow.adapters.store import _pg_inventory as inventory
from creatorflow.adapters.store._migrate import load_migrations
from creatorflow.config import StoreConfig
from creatorflow.errors import ConfigError, StoreError, StoreUnavailable
from creatorflow.ports import InboxRecord, InsertInbox, MarkInboxProcessed

pytestmark = [pytest.mark.anyio, pytest.mark.services, pytest.mark.asyncio_only]

LATEST = len(load_migrations("postgres"))


def ins(nid: str) -> InsertInbox:
    record = InboxRecord(notification_id=nid, type=1, shop_id="s", received_at_ms=1, body=b"{}")
    return InsertInbox(record=record)


class Server:
    """A test's view of the server: its schema, its application name, an admin connection."""

    def __init__(self, url: str, schema: str, admin: Any) -> None:
        self.url = url
        self.schema = schema
        self.app = f"cf-test-{secrets.token_hex(4)}"
        self.admin = admin

    def open(self, **kwargs: Any) -> AbstractAsyncContextManager[PostgresStore]:
        kwargs.setdefault("min_size", 2)
        kwargs.setdefault("max_size", 4)
        return open_postgres_store(
            self.url,
            application_name=self.app,
            server_settings={"search_path": self.schema},
            **kwargs,
        )

    async def terminate_backends(self) -> int:
        """Terminate every backend of this test's application name; wait until they are gone."""
        rows = await self.admin.fetch(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
            "WHERE application_name = $1 AND pid <> pg_backend_pid()",
            self.app,
        )
        return len(rows)


@pytest.fixture
async def server(postgres_url: str) -> AsyncIterator[Server]:
    schema = f"cf_test_{secrets.token_hex(6)}"
    server = Server(postgres_url, schema, await asyncpg.connect(postgres_url))
    try:
        await server.admin.execute(f'CREATE SCHEMA "{schema}"')
        yield server
        await server.admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await server.admin.close()  # the restart test may have replaced it


# --------------------------------------------------------------------------- recovery


async def test_pool_recovers_after_its_backends_are_terminated(server: Server) -> None:
    async with server.open() as store:
        assert await store.apply([ins("before")]) == [True]
        assert await server.terminate_backends() >= 2  # min_size connections were idle
        # No reconnect by hand: the next calls get fresh connections from the pool.
        assert await store.apply([ins("after"), ins("before")]) == [True, False]
        assert await store.get_inbox("after") is not None
        await store.ping()
        # Terminated while a read holds a connection: reads retry on another connection.
        assert await server.terminate_backends() >= 1
        assert len(await store.list_unprocessed(None, 10)) == 2


async def test_a_statement_past_the_command_timeout_is_unavailable(server: Server) -> None:
    async with server.open(command_timeout_s=0.3) as store:
        await store.apply([ins("locked")])
        async with server.admin.transaction():
            # Hold the row lock, so the mark below waits for it until its own timeout.
            await server.admin.execute(
                f'SELECT 1 FROM "{server.schema}".inbox WHERE notification_id = $1 FOR UPDATE',
                "locked",
            )
            with pytest.raises(StoreUnavailable, match="apply") as caught:
                await store.apply([MarkInboxProcessed(notification_id="locked", processed_at_ms=1)])
        assert isinstance(caught.value.__cause__, TimeoutError)
        await store.apply([MarkInboxProcessed(notification_id="locked", processed_at_ms=1)])
        status = await store.get_inbox("locked")
        assert status is not None
        assert status.state == "processed"


# --------------------------------------------------------------------------- opening


async def test_refused_port_is_unavailable_quickly(anyio_backend: Any) -> None:
    with anyio.fail_after(5), pytest.raises(StoreUnavailable) as caught:
        async with open_postgres_store("postgresql://root@127.0.0.1:1/test", connect_timeout_s=2):
            pass
    assert isinstance(caught.value.__cause__, OSError)


async def test_unknown_host_is_unavailable_quickly(anyio_backend: Any) -> None:
    with anyio.fail_after(10), pytest.raises(StoreUnavailable):
        async with open_postgres_store(
            "postgresql://root@no-such-host.invalid:5432/test", connect_timeout_s=2
        ):
            pass


async def test_unknown_database_is_a_store_error(postgres_url: str, anyio_backend: Any) -> None:
    # A decision, not an accident: a wrong database name is a configuration mistake that
    # retrying will not fix, so start-up stops with StoreError rather than "unavailable".
    url = postgres_url.rsplit("/", 1)[0] + f"/no_such_db_{secrets.token_hex(4)}"
    with anyio.fail_after(5), pytest.raises(StoreError, match="does not exist") as caught:
        async with open_postgres_store(url):
            pass
    assert not isinstance(caught.value, StoreUnavailable)
    assert type(caught.value.__cause__).__module__.startswith("asyncpg")


@on_backends(TRIO)
async def test_trio_is_refused_with_a_config_error(anyio_backend: Any) -> None:
    with pytest.raises(ConfigError, match=r'server\.backend = "asyncio"'):
        async with open_postgres_store("postgresql://root@127.0.0.1:5432/test"):
            pass


async def test_config_errors_name_the_key(anyio_backend: Any) -> None:
    with pytest.raises(ConfigError, match=r"store\.database_url"):
        async with open_postgres_store_from_config(StoreConfig()):
            pass
    bad = StoreConfig(database_url="postgresql://x/y", pg_pool_min_size=5, pg_pool_max_size=2)
    with pytest.raises(ConfigError, match=r"store\.pg_pool_min_size"):
        async with open_postgres_store_from_config(bad):
            pass


async def test_open_from_config(server: Server) -> None:
    url = f"{server.url}?search_path={server.schema}"
    config = StoreConfig(database_url=url, pg_pool_min_size=1, pg_pool_max_size=2)
    async with open_postgres_store_from_config(config) as store:
        assert store.schema == server.schema
        assert await store.schema_version() == LATEST
        assert await store.apply([ins("x")]) == [True]


# --------------------------------------------------------------------------- migrations


async def test_concurrent_migrations_apply_each_version_once(server: Server) -> None:
    results: list[list[int]] = []
    async with server.open(migrate=False) as one, server.open(migrate=False) as two:
        assert await one.schema_version() == 0

        async def run(store: PostgresStore) -> None:
            results.append(await store.migrate())

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, one)
            tg.start_soon(run, two)
        # Each version applied exactly once, by one store or the other (they may split them).
        assert sorted(v for applied in results for v in applied) == list(range(1, LATEST + 1))
        assert await two.schema_version() == LATEST
        assert await one.migrate() == []


async def test_a_newer_database_is_refused(server: Server) -> None:
    async with server.open() as store:
        await server.admin.execute(
            f"INSERT INTO \"{server.schema}\".schema_migrations (version, name) VALUES (99, 'x')"
        )
        with pytest.raises(StoreError, match="newer"):
            await store.migrate()


#: Key columns of 0003_inventory: COLLATE "C", so keyset order is bytewise as in SQLite.
INVENTORY_KEYS = {
    ("skus", "sku"),
    ("reservations", "order_id"),
    ("reservations", "sku"),
    ("stock_events", "sku"),
    ("stock_event_seqs", "sku"),
    ("purchase_orders", "po_id"),
    ("purchase_orders", "sku"),
    ("purchase_orders", "state"),
}


async def test_inventory_keys_are_bytewise_and_reads_use_their_indexes(server: Server) -> None:
    async with server.open():
        pass  # migrated
    collations = await server.admin.fetch(
        "SELECT table_name, column_name, collation_name FROM information_schema.columns "
        "WHERE table_schema = $1",
        server.schema,
    )
    found = {(r[0], r[1]): r[2] for r in collations}
    assert {found[key] for key in INVENTORY_KEYS} == {"C"}
    reads = [
        (inventory.HELD_RESERVATIONS, ("s",), "reservations_held_by_sku"),
        (inventory.ORDER_RESERVATIONS, ("o",), "reservations_pkey"),
        (inventory.EXPIRED_HOLDS, (1, 10), "reservations_held_by_expiry"),
        (inventory.STOCK_EVENTS_BEFORE, ("s", 5, 10), "stock_events_pkey"),
        (shared.dialect(shared.list_skus_sql("a", 3), "$"), ("a", 3, 10), "skus_pkey"),
        (
            shared.dialect(shared.purchase_orders_sql("s", [], "p", any_array=True)[0], "$"),
            ("s", "p", 10),
            "purchase_orders_by_sku",
        ),
    ]
    async with server.admin.transaction():
        # Empty tables: forbid the sequential scans and sorts the planner would pick for them,
        # so the plan shows whether an index can serve the query (partial-index predicates
        # included) in the order asked.
        await server.admin.execute(f'SET LOCAL search_path = "{server.schema}"')
        await server.admin.execute("SET LOCAL enable_seqscan = off")
        await server.admin.execute("SET LOCAL enable_sort = off")
        for sql, params, index in reads:
            plan = " ".join(row[0] for row in await server.admin.fetch(f"EXPLAIN {sql}", *params))
            assert f"Index Scan using {index}" in plan or f"Backward using {index}" in plan, plan
            assert "Sort" not in plan, plan


# --------------------------------------------------------------------------- leader election


async def test_only_one_store_leads_a_name(server: Server) -> None:
    async with server.open() as one, server.open() as two:
        assert await one.try_lead("pump")
        assert not await two.try_lead("pump")
        assert not await two.is_leading("pump")
        assert await two.try_lead("reconciler")  # another name is free
        await one.resign("pump")
        assert await two.try_lead("pump")
        assert not await one.try_lead("pump")


async def test_leadership_ends_with_its_connection(server: Server) -> None:
    async with server.open() as one, server.open() as two:
        assert await one.try_lead("pump")
        await server.terminate_backends()  # every session of both stores, leader's included
        assert not await one.is_leading("pump")
        assert await two.try_lead("pump")  # the lock went with the session
        assert not await one.try_lead("pump")
        await two.resign("pump")
        assert await one.try_lead("pump")  # a fresh leadership connection
        assert await one.is_leading("pump")


async def test_closing_the_store_releases_leadership(server: Server) -> None:
    async with server.open() as two:
        async with server.open() as one:
            assert await one.try_lead("pump")
        assert await two.try_lead("pump")


# --------------------------------------------------------------------------- server restart


def _cluster_version() -> str | None:
    """The newest local cluster pg_ctlcluster can restart, or None."""
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") is None or not clusters.is_dir():
        return None
    versions = sorted(p.name for p in clusters.iterdir())
    return versions[-1] if versions else None


@pytest.mark.slow
@pytest.mark.restarts_postgres
@on_backends(ASYNCIO)  # one restart of the shared server is enough
async def test_store_recovers_after_a_server_restart(server: Server) -> None:
    version = _cluster_version()
    if version is None:
        pytest.skip("needs pg_ctlcluster to restart the local PostgreSQL server")
    async with server.open() as store:
        await store.apply([ins("before")])
        assert await store.try_lead("pump")
        await server.admin.close()
        command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
        await anyio.run_process(command)
        # Bounded wait for the server to answer again (the one allowed wait in these tests).
        with anyio.fail_after(30):
            while True:
                try:
                    await store.ping()
                    break
                except StoreUnavailable:
                    await anyio.sleep(0.1)
        assert await store.apply([ins("after")]) == [True]
        assert not await store.is_leading("pump")
        assert await store.try_lead("pump")
        server.admin = await asyncpg.connect(server.url)  # for the fixture's clean-up
