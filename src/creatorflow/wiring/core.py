"""The core capability: the store (opening, migrating), the store writer, the bind checks.

The store writer is the group commit every other capability writes through (DESIGN §1, §6.5);
it is installed first, so it starts first and stops last.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import msgspec

from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.postgres import open_postgres_store_from_config
from creatorflow.adapters.store.sqlite import SQLITE_FILENAME, open_sqlite_store_from_config
from creatorflow.config import Config, masked
from creatorflow.errors import ConfigError
from creatorflow.ports import LeaderElection, SchemaMigrator, Store
from creatorflow.ports.shipments import ShipmentReader
from creatorflow.runtime import ChildSpec, Restart
from creatorflow.wiring import keys
from creatorflow.wiring._assembly import Assembly

log = logging.getLogger("creatorflow")


class AppStore(Store, ShipmentReader, SchemaMigrator, LeaderElection, Protocol):
    """What the composition root needs of a store adapter (both adapters are all of these)."""


@asynccontextmanager
async def open_store(config: Config) -> AsyncIterator[AppStore]:
    """Open the configured store: Postgres when ``store.database_url`` is set, else SQLite.

    Raises:
        ConfigError: Postgres under the trio backend.
        StoreUnavailable / StoreError: the store cannot be opened or migrated.
    """
    if config.store.database_url:
        async with open_postgres_store_from_config(config.store) as pg:
            log.info("store: Postgres at %s", masked(config)["store"]["database_url"])
            yield pg
        return
    async with open_sqlite_store_from_config(config.store) as store:
        log.info("store: SQLite at %s", Path(config.store.data_dir) / SQLITE_FILENAME)
        yield store


async def migrate(config: Config) -> tuple[list[int], int]:
    """``creatorflow migrate``: apply pending migrations; return (applied, schema version)."""
    manual = msgspec.structs.replace(
        config, store=msgspec.structs.replace(config.store, migrate_on_start=False)
    )
    async with open_store(manual) as store:
        applied = await store.migrate()
        return applied, await store.schema_version()


def install(asm: Assembly) -> None:
    """The store writer: every durable write of every capability goes through it."""
    sc = asm.config.store
    metrics = asm.metrics
    asm.refs.put(
        keys.WRITER,
        asm.add(
            ChildSpec(
                name="store_writer",
                factory=lambda: StoreWriter(
                    asm.store,
                    batch_max_size=sc.batch_max_size,
                    batch_max_wait_ms=sc.batch_max_wait_ms,
                    on_commit=metrics.observe_commit,
                    max_concurrent_commits=asm.concurrent_commits,
                    on_failure=metrics.count_store_failure,
                ),
                mailbox_size=sc.writer_mailbox_size,
                restart=Restart.PERMANENT,
            )
        ),
    )


# --------------------------------------------------------------------------- the bind


def check_bind(config: Config) -> None:
    """Refuse a non-loopback bind without an API token (DESIGN §5), with a built-in sandbox
    (unless ``sandbox.allow_public``), or with a real TikTok but no app credentials.

    The sandboxes sign with public default secrets: served on a public address, anyone could
    push signed webhooks. A public demo has to ask for it (and gets a loud warning).
    """
    host = config.http.host
    if is_loopback(host):
        return
    if not config.api.token:
        raise ConfigError(
            f"config: api.token: required when http.host is not loopback ({host}); "
            "set CREATORFLOW_API_TOKEN"
        )
    sandboxes = builtin_sandboxes(config)
    if sandboxes and not config.sandbox.allow_public:
        raise ConfigError(
            f"config: sandbox.allow_public: http.host {host} is not loopback and the built-in "
            f"sandbox {' and '.join(sandboxes)} would serve it with public secrets; set "
            "CREATORFLOW_TIKTOK_BASE_URL with CREATORFLOW_TIKTOK_APP_KEY/_APP_SECRET, "
            "CREATORFLOW_SHIPPING_BASE_URL (and supplier.base_url, or reorder.enabled = "
            "false), or sandbox.allow_public = true for a public demo"
        )
    if config.tiktok.base_url and not config.tiktok_apps():
        raise ConfigError(
            f"config: tiktok.app_key: http.host {host} is not loopback and no TikTok app is "
            "configured (no webhook could be verified); set CREATORFLOW_TIKTOK_APP_KEY and "
            "CREATORFLOW_TIKTOK_APP_SECRET"
        )
    if sandboxes:
        log.warning(
            "SANDBOX ON A PUBLIC ADDRESS: the built-in sandbox %s is served on %s with public "
            "default secrets (sandbox.allow_public = true); anyone who reaches this port can "
            "push signed webhooks. Never use this for a real shop.",
            " and ".join(sandboxes),
            host,
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (``http.host``) is a loopback address."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_mount_sandboxes(config: Config) -> bool:
    """Whether the built-in sandboxes may be served on this bind (see :func:`check_bind`)."""
    return is_loopback(config.http.host) or config.sandbox.allow_public


def builtin_sandboxes(config: Config) -> list[str]:
    """The built-in sandboxes ``serve`` would run for this configuration."""
    names = []
    if not config.tiktok.base_url:
        names.append("TikTok Shop")
    if not config.supplier.base_url and config.reorder.enabled:
        names.append("supplier")
    if not config.shipping.base_url:
        names.append("carriers")
    return names
