"""Composition root: opens the adapters, builds the actor tree, serves HTTP, stops gracefully.

Tree (DESIGN §1), started in this order so each actor's dependencies are up first::

    root supervisor (one_for_one)
    ├── store_writer      group commit of every durable write
    ├── inventory         keyed registry: one actor per seller SKU, the only writer of its stock
    ├── stock_sync        pushes sellable stock to TikTok (coalesced per SKU, one call per product)
    ├── inventory_keeper  sweeps expired holds of sleeping SKUs, repairs reserved-count drift
    ├── stock_watcher     sales velocity + content metrics → viral detection, stock-out
    │                     forecast, inventory.critical alerts, purchase orders to the supplier
    ├── order_scheduler   single writer of orders: classify, state machine, journal, outbox;
    │                     runs the saga (reservation step → inventory)
    ├── order_sync        stored webhooks → batched Get Order Detail → scheduler
    ├── inbox_pump        re-reads unprocessed inbox rows (at start, after overflows, retries)
    ├── webhook_ingress   dedupe → durable insert → hand-off
    └── reconciler        polls Get Order List by update_time (leader only)

Beside the tree: the TikTok client, and the built-in sandbox TikTok Shop when no real TikTok
is configured (``tiktok_side.py``); the supplier client, talking to the built-in sandbox
supplier (mounted at ``/sandbox/supplier``) when no supplier URL is configured.

Shutdown (SIGTERM/SIGINT, or leaving :func:`open_service`): stop accepting webhooks (503),
wait for admitted webhooks to be answered, stop the HTTP server, then seal and drain the
actors in reverse start order (reconciler and ingress first, writer last), then close the
store — all within ``server.shutdown_grace_s``. What is still unprocessed then stays in the
inbox for the next start.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio

from creatorflow.actors.inbox_pump import InboxPump
from creatorflow.actors.ingress import IngressMsg, Kick, Process, WebhookIngress
from creatorflow.actors.inventory import (
    InventoryHooks,
    InventoryMsg,
    SkuActor,
    TikTokSkuRef,
)
from creatorflow.actors.inventory_keeper import InventoryKeeper, KeeperMsg
from creatorflow.actors.order_scheduler import OrderScheduler, Requeue, SchedulerMsg
from creatorflow.actors.order_sync import OrderSync
from creatorflow.actors.reconciler import ReconcileNow, Reconciler
from creatorflow.actors.reservation_step import ReservationStep
from creatorflow.actors.stock_sync import StockLevel, StockSync, StockSyncMsg
from creatorflow.actors.stock_watcher import (
    ReorderSettings,
    SaleObserved,
    StockWatcher,
    WatcherMsg,
)
from creatorflow.actors.store_writer import StoreWriter, Write
from creatorflow.adapters.cache import open_cache_from_config
from creatorflow.adapters.store.postgres import open_postgres_store_from_config
from creatorflow.adapters.store.sqlite import SQLITE_FILENAME, open_sqlite_store_from_config
from creatorflow.adapters.suppliers import HttpSupplierSettings, open_http_supplier
from creatorflow.adapters.tiktok import CallObserved
from creatorflow.caching import LayeredCache, open_layered_cache
from creatorflow.config import Config, load_rules_file, masked
from creatorflow.domain.automation import RuleSet
from creatorflow.domain.webhook import topic_name
from creatorflow.errors import ActorStopped, ConfigError, CreatorFlowError
from creatorflow.metrics import Metrics, RuntimeCollector
from creatorflow.metrics_inventory import InventoryMetrics
from creatorflow.ports import (
    Clock,
    InboxRecord,
    LeaderElection,
    SchemaMigrator,
    Store,
    Supplier,
    SystemClock,
)
from creatorflow.runtime import (
    ActorRef,
    Backoff,
    BreakerState,
    ChildSpec,
    MonotonicClock,
    Registry,
    Restart,
    Strategy,
    Supervisor,
    SystemMonotonicClock,
)
from creatorflow.sandbox.supplier import SupplierSandbox, SupplierSandboxConfig
from creatorflow.sandbox.tiktok import PREFIX
from creatorflow.tiktok_side import TikTokSide, open_tiktok_side
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.inventory import InventoryApi
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.orders import OrdersApi
from creatorflow.web.server import bind_socket, serve_http
from creatorflow.web.status import CachedInbox, StatusReporter
from creatorflow.web.tiktok_auth import AuthorizeEndpoint
from creatorflow.web.webhooks import WebhookEndpoint

log = logging.getLogger("creatorflow")

M = TypeVar("M")

#: The pump's mailbox only needs room for one pending kick (see ``actors/inbox_pump.py``).
PUMP_MAILBOX = 2


@dataclass
class Service:
    """A running service (what :func:`open_service` yields): for the CLI and for tests."""

    config: Config
    port: int
    store: AppStore
    cache: LayeredCache
    metrics: Metrics
    lifecycle: Lifecycle
    supervisor: Supervisor
    ingress: ActorRef[IngressMsg]
    writer: ActorRef[Write]
    refs: Refs
    tiktok: TikTokSide

    @property
    def url(self) -> str:
        return _url(self.config.http.host, self.port)


def _url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


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
            "CREATORFLOW_TIKTOK_BASE_URL with CREATORFLOW_TIKTOK_APP_KEY/_APP_SECRET (and "
            "supplier.base_url, or reorder.enabled = false), or sandbox.allow_public = true "
            "for a public demo"
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


def builtin_sandboxes(config: Config) -> list[str]:
    """The built-in sandboxes ``serve`` would run for this configuration."""
    names = []
    if not config.tiktok.base_url:
        names.append("TikTok Shop")
    if not config.supplier.base_url and config.reorder.enabled:
        names.append("supplier")
    return names


class AppStore(Store, SchemaMigrator, LeaderElection, Protocol):
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
    async with open_store(_without_auto_migrate(config)) as store:
        applied = await store.migrate()
        return applied, await store.schema_version()


def _without_auto_migrate(config: Config) -> Config:
    import msgspec

    return msgspec.structs.replace(
        config, store=msgspec.structs.replace(config.store, migrate_on_start=False)
    )


#: Where the built-in sandbox supplier is mounted when ``supplier.base_url`` is empty.
SUPPLIER_PREFIX = "/sandbox/supplier"


@asynccontextmanager
async def open_supplier(
    config: Config, clock: Clock
) -> AsyncIterator[tuple[Supplier, SupplierSandbox | None]]:
    """The configured supplier; without a ``base_url``, an in-process sandbox supplier (also
    mounted at :data:`SUPPLIER_PREFIX`), reached through ``httpx.ASGITransport``.

    Raises:
        ConfigError: a supplier setting out of range.
    """
    import httpx

    sc = config.supplier
    sandbox: SupplierSandbox | None = None
    transport: httpx.AsyncBaseTransport | None = None
    base_url, api_key = sc.base_url, sc.api_key
    if not base_url:
        sandbox = SupplierSandbox(
            SupplierSandboxConfig(api_key="sandbox-supplier-key", lead_time_s=sc.lead_time_s),
            clock=clock,
        )
        transport = httpx.ASGITransport(app=sandbox)
        base_url, api_key = "http://sandbox-supplier", "sandbox-supplier-key"
    try:
        settings = HttpSupplierSettings(
            supplier_id=sc.id,
            base_url=base_url,
            api_key=api_key,
            lead_time_s=sc.lead_time_s,
            timeout_s=sc.timeout_s,
            max_attempts=sc.max_attempts,
        )
    except ValueError as exc:
        raise ConfigError(f"config: supplier: {exc}") from None
    async with open_http_supplier(settings, transport=transport) as supplier:
        log.info("supplier: %s at %s", sc.id, "the built-in sandbox" if sandbox else sc.base_url)
        yield supplier, sandbox


class _ViralBoard:
    """The viral SKUs as the stock watcher last published them (read by the scheduler)."""

    def __init__(self) -> None:
        self.skus: frozenset[str] = frozenset()

    def publish(self, skus: frozenset[str]) -> None:
        self.skus = skus

    def current(self) -> frozenset[str]:
        return self.skus


@dataclass
class Refs:
    """The refs of the tree that the HTTP layer and tests talk to."""

    ingress: ActorRef[IngressMsg]
    writer: ActorRef[Write]
    scheduler: ActorRef[SchedulerMsg]
    reconciler: ActorRef[ReconcileNow]
    inventory: Registry[str, InventoryMsg]
    stock_sync: ActorRef[StockSyncMsg]
    keeper: ActorRef[KeeperMsg]
    watcher: ActorRef[WatcherMsg]


def _tell_or_drop(ref: ActorRef[M], msg: M) -> None:
    """Tell without waiting, from a hook that must not block: a full or stopping mailbox drops
    the message (each caller says what repairs that)."""
    try:
        ref.tell_nowait(msg)
    except CreatorFlowError:
        pass


def _build_tree(
    config: Config,
    store: AppStore,
    metrics: Metrics,
    clock: Clock,
    tiktok: TikTokSide,
    rules: RuleSet,
    supplier: Supplier,
    timer: MonotonicClock,
) -> tuple[Supervisor, Refs]:
    """The actor tree. ``clock`` is wall time (timestamps, expiries); every timer (debounce,
    coalescing, backoff, intervals, idle passivation) sleeps on the monotonic ``timer``."""
    rt = config.runtime
    # SQLite has one writer by construction; Postgres runs commits on separate pool connections.
    commits = config.store.pg_max_concurrent_commits if config.store.database_url else 1
    root = Supervisor(
        "root",
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=rt.restart_max,
        within_s=rt.restart_window_s,
        backoff=Backoff(min_s=rt.backoff_min_ms / 1000, max_s=rt.backoff_max_ms / 1000),
        clock=timer,
    )

    def on_new(record: InboxRecord) -> None:
        metrics.count_received(record.type, topic_name(record.type))

    def on_processed(record: InboxRecord) -> None:
        metrics.count_processed(record.type, topic_name(record.type))

    writer: ActorRef[Write] = root.add(
        ChildSpec(
            name="store_writer",
            factory=lambda: StoreWriter(
                store,
                batch_max_size=config.store.batch_max_size,
                batch_max_wait_ms=config.store.batch_max_wait_ms,
                on_commit=metrics.observe_commit,
                max_concurrent_commits=commits,
                on_failure=metrics.count_store_failure,
            ),
            mailbox_size=config.store.writer_mailbox_size,
            restart=Restart.PERMANENT,
        )
    )
    ic = config.inventory
    ss = config.stock_sync
    inv_metrics = InventoryMetrics(metrics.registry)

    def on_level(sku: str, sellable: int, ref: TikTokSkuRef | None, version: int) -> None:
        if ref is None or not ss.enabled:
            return
        # Full or stopping: the periodic resync pushes it.
        _tell_or_drop(stock_sync, StockLevel(sku=sku, sellable=sellable, ref=ref, version=version))

    def on_sale(sku: str, qty: int, at_ms: int) -> None:
        # Full: velocity misses a sale (the reservation itself is durable).
        _tell_or_drop(watcher, SaleObserved(sku=sku, qty=qty, at_ms=at_ms))

    def on_restock(sku: str, order_ids: Sequence[str]) -> None:
        # Dropped: the scheduler's periodic requeue picks backordered orders up.
        _tell_or_drop(scheduler, Requeue(order_ids=tuple(order_ids), boost=True))

    def on_expired(sku: str, order_ids: Sequence[str]) -> None:
        # Their step moves them on (backordered, or held again if TikTok was paid); dropped,
        # the start-up requeue and the next snapshot find them.
        _tell_or_drop(scheduler, Requeue(order_ids=tuple(order_ids)))

    hooks = InventoryHooks(
        on_sale=on_sale,
        on_expired=on_expired,
        on_level=on_level,
        on_restock=on_restock,
        on_outcome=inv_metrics.count_reservation,
    )
    inventory: Registry[str, InventoryMsg] = Registry(
        "inventory",
        lambda sku: SkuActor(
            sku,
            writer=writer,
            reader=store,
            clock=clock,
            default_safety_buffer=ic.default_safety_buffer,
            hooks=hooks,
            idempotency_ttl_s=ic.idempotency_ttl_s,
        ),
        mailbox_size=ic.sku_mailbox_size,
        max_active=ic.max_active_skus,
        idle_s=ic.idle_s,
        max_restarts=rt.restart_max,
        within_s=rt.restart_window_s,
        backoff=Backoff(min_s=rt.backoff_min_ms / 1000, max_s=rt.backoff_max_ms / 1000),
        clock=timer,
    )
    root.add_child(inventory, restart=Restart.PERMANENT)

    async def list_levels() -> list[StockLevel]:
        levels: list[StockLevel] = []
        after: str | None = None
        while len(levels) < ss.max_pending_skus:
            rows = await store.list_skus(after=after, limit=500)
            for row in rows:
                if row.product_id and row.sku_id:
                    ref = TikTokSkuRef(
                        shop_id=row.shop_id,
                        product_id=row.product_id,
                        sku_id=row.sku_id,
                        warehouse_id=row.warehouse_id,
                    )
                    sellable = max(0, row.on_hand - row.reserved - row.safety_buffer)
                    levels.append(
                        StockLevel(
                            sku=row.sku, sellable=sellable, ref=ref, version=row.updated_at_ms
                        )
                    )
            if len(rows) < 500:
                break
            after = rows[-1].sku
        return levels

    stock_sync: ActorRef[StockSyncMsg] = root.add(
        ChildSpec(
            name="stock_sync",
            factory=lambda: StockSync(
                tiktok=tiktok.client,
                debounce_s=ss.debounce_ms / 1000,
                max_pending=ss.max_pending_skus,
                max_in_flight=ss.max_calls_in_flight,
                max_quantity=ss.max_quantity,
                resync_interval_s=ss.resync_interval_s if ss.enabled else None,
                list_levels=list_levels,
                on_push=inv_metrics.count_stock_push,
                timer=timer,
            ),
            mailbox_size=ss.max_pending_skus,
            restart=Restart.PERMANENT,
        )
    )
    keeper: ActorRef[KeeperMsg] = root.add(
        ChildSpec(
            name="inventory_keeper",
            factory=lambda: InventoryKeeper(
                reader=store,
                ask=inventory.ask,
                tell_nowait=inventory.tell_nowait,
                clock=clock,
                sweep_interval_s=ic.sweep_interval_s,
                sweep_batch=ic.sweep_batch,
                repair_interval_s=ic.repair_interval_s,
                on_repair=inv_metrics.count_inventory_repairs,
                timer=timer,
            ),
            mailbox_size=8,
            restart=Restart.PERMANENT,
        )
    )
    rc = config.reorder
    viral = _ViralBoard()

    def on_purchase_order(outcome: str) -> None:
        inv_metrics.purchase_orders.labels(outcome).inc()
        if outcome == "opened":
            inv_metrics.alerts.labels("critical").inc()

    def publish_viral(skus: frozenset[str]) -> None:
        viral.publish(skus)
        inv_metrics.viral_skus.set(len(skus))

    def on_viral(sku: str, started: bool) -> None:
        inv_metrics.alerts.labels("viral" if started else "viral_ended").inc()

    watcher: ActorRef[WatcherMsg] = root.add(
        ChildSpec(
            name="stock_watcher",
            factory=lambda: StockWatcher(
                ask_sku=inventory.ask,
                writer=writer,
                reader=store,
                clock=clock,
                supplier_for=lambda sku: supplier,
                detector=config.viral,
                reorder=ReorderSettings(
                    enabled=rc.enabled,
                    cover_days=rc.cover_days,
                    safety_s=rc.safety_s,
                    cooldown_s=rc.cooldown_s,
                    pack_size=rc.pack_size,
                    min_qty=rc.min_qty,
                    min_units=rc.min_units,
                    max_qty=rc.max_qty,
                ),
                self_ref=lambda: watcher,
                max_skus=rc.max_skus,
                tick_s=rc.tick_s,
                follow_up_s=rc.follow_up_s,
                on_viral=on_viral,
                on_purchase_order=on_purchase_order,
                publish_viral=publish_viral,
                timer=timer,
            ),
            mailbox_size=rc.watcher_mailbox_size,
            restart=Restart.PERMANENT,
        )
    )

    def on_backorder(order_id: str, skus: list[str]) -> None:
        inv_metrics.alerts.labels("backorder").inc()
        log.warning("order %s backordered: no stock of %s", order_id, ", ".join(skus))

    reservation = ReservationStep(
        inventory.ask,
        clock=clock,
        hold_ttl_s=ic.hold_ttl_s,
        timeout_s=ic.step_timeout_s,
        on_backorder=on_backorder,
        holds_of=store.order_reservations,
    )
    oc = config.orders

    def on_transition(before: str, after: str) -> None:
        metrics.order_transitions.labels(before, after).inc()

    scheduler: ActorRef[SchedulerMsg] = root.add(
        ChildSpec(
            name="order_scheduler",
            factory=lambda: OrderScheduler(
                writer=writer,
                orders=store,
                clock=clock,
                rules=rules,
                settings=config.priority,
                delivery_types=tiktok.delivery_types_of,
                cache_size=oc.cache_size,
                queue_capacity=oc.saga_queue_capacity,
                aging_s=oc.saga_aging_s,
                on_transition=on_transition,
                steps=(reservation,),
                self_ref=lambda: scheduler,
                viral_skus=viral.current,
                timer=timer,
            ),
            mailbox_size=oc.scheduler_mailbox_size,
            restart=Restart.PERMANENT,
        )
    )
    consumer: ActorRef[Process] = root.add(
        ChildSpec(
            name="order_sync",
            factory=lambda: OrderSync(
                tiktok=tiktok.client,
                scheduler=scheduler,
                writer=writer,
                pump=pump,
                clock_ms=clock.now_ms,
                recent_cap=2 * oc.sync_mailbox_size,
                coalesce_ms=oc.sync_coalesce_ms,
                batch_max_webhooks=oc.sync_batch_max_webhooks,
                max_fetches_in_flight=oc.sync_max_fetches_in_flight,
                max_attempts=oc.sync_max_attempts,
                retry_backoff=Backoff(min_s=oc.sync_retry_min_s, max_s=oc.sync_retry_max_s),
                on_processed=on_processed,
                learn=tiktok.learn_delivery_types,
                timer=timer,
            ),
            mailbox_size=oc.sync_mailbox_size,
            restart=Restart.PERMANENT,
        )
    )
    pump: ActorRef[Kick] = root.add(
        ChildSpec(
            name="inbox_pump",
            factory=lambda: InboxPump(
                reader=store,
                consumer=consumer,
                ingress=ingress,
                page_size=config.ingress.pump_page_size,
                backoff=Backoff(min_s=rt.backoff_min_ms / 1000, max_s=rt.backoff_max_ms / 1000),
                sleep=timer.sleep,
                on_pumped=metrics.inbox_pumped.inc,
            ),
            mailbox_size=PUMP_MAILBOX,
            restart=Restart.PERMANENT,
        )
    )
    ingress: ActorRef[IngressMsg] = root.add(
        ChildSpec(
            name="webhook_ingress",
            factory=lambda: WebhookIngress(
                writer=writer,
                consumer=consumer,
                pump=pump,
                dedupe_cache_size=config.ingress.dedupe_cache_size,
                max_in_flight=commits + 1,
                on_new=on_new,
                on_overflow=metrics.inbox_handoff_overflow.inc,
            ),
            mailbox_size=config.ingress.mailbox_size,
            restart=Restart.PERMANENT,
        )
    )
    reconciler: ActorRef[ReconcileNow] = root.add(
        ChildSpec(
            name="reconciler",
            factory=lambda: Reconciler(
                tiktok=tiktok.client,
                shops=lambda: tiktok.shop_ids,
                scheduler=scheduler,
                writer=writer,
                cursors=store,
                leader=store,
                clock=clock,
                interval_s=oc.reconcile_interval_s,
                overlap_s=oc.reconcile_overlap_s,
                lookback_s=oc.reconcile_lookback_s,
                sleep=timer.sleep,
            ),
            mailbox_size=8,
            restart=Restart.PERMANENT,
        )
    )
    return root, Refs(
        ingress=ingress,
        writer=writer,
        scheduler=scheduler,
        reconciler=reconciler,
        inventory=inventory,
        stock_sync=stock_sync,
        keeper=keeper,
        watcher=watcher,
    )


@asynccontextmanager
async def open_service(
    config: Config, *, clock: Clock | None = None, timer: MonotonicClock | None = None
) -> AsyncIterator[Service]:
    """Start everything; yield once the tree is ready and the socket listens; stop gracefully.

    ``clock`` (wall time) and ``timer`` (the monotonic clock every actor timer and the TikTok
    client's backoff, limiter and breaker sleep on) default to the real ones; tests pass fakes.

    Raises:
        ConfigError: bad bind, port in use, unsupported store.
        StoreUnavailable / StoreError: the store cannot be opened or migrated.
    """
    check_bind(config)
    clock = clock or SystemClock()
    timer = timer or SystemMonotonicClock()
    rules = await anyio.to_thread.run_sync(load_rules_file, config)
    sock = bind_socket(config.http.host, config.http.port)
    port = int(sock.getsockname()[1])
    metrics = Metrics()

    def on_call(call: CallObserved) -> None:
        metrics.tiktok_calls.labels(call.api, call.outcome).inc()
        metrics.tiktok_latency.observe(call.latency_s)

    def on_breaker(name: str, state: BreakerState) -> None:
        metrics.breaker_state.labels(name).set(int(state))

    try:
        async with (
            open_store(config) as store,
            open_cache_from_config(config.cache) as cache_port,
            open_layered_cache(cache_port, config.cache) as cache,
            open_tiktok_side(
                config,
                store=store,
                service_url=_url(config.http.host, port),
                clock=clock,
                timer=timer,
                on_call=on_call,
                on_breaker_change=on_breaker,
            ) as tiktok,
            open_supplier(config, clock) as (supplier, supplier_sandbox),
        ):
            apps = tiktok.apps
            lifecycle = Lifecycle()
            root, refs = _build_tree(config, store, metrics, clock, tiktok, rules, supplier, timer)
            ingress, writer = refs.ingress, refs.writer
            metrics.add_runtime_collector(RuntimeCollector(root.stats))

            async def readiness() -> dict[str, str]:
                await store.ping()
                return {"store": "ok"}

            webhooks = WebhookEndpoint(
                apps=apps,
                ingress=ingress,
                metrics=metrics,
                clock=clock,
                lifecycle=lifecycle,
                max_body_bytes=config.http.max_body_bytes,
                retry_after_s=config.http.retry_after_s,
                timeout_s=config.http.webhook_timeout_s,
            )
            mounts: dict[str, Any] = {}
            if tiktok.sandbox is not None:
                mounts[PREFIX] = tiktok.sandbox
            # Off loopback the sandboxes are mounted only when asked for (check_bind).
            mount_ok = is_loopback(config.http.host) or config.sandbox.allow_public
            if supplier_sandbox is not None and mount_ok:
                mounts[SUPPLIER_PREFIX] = supplier_sandbox
            web = CreatorFlowApp(
                webhooks=webhooks,
                inbox=CachedInbox(store, cache),
                metrics=metrics,
                lifecycle=lifecycle,
                readiness=readiness,
                status=StatusReporter(
                    store=store, cache=cache, lifecycle=lifecycle, tree=root.stats, clock=clock
                ).report,
                api_token=config.api.token,
                orders=OrdersApi(orders=store, scheduler=refs.scheduler),
                inventory=InventoryApi(
                    ask=refs.inventory.ask,
                    reader=store,
                    clock_ms=clock.now_ms,
                    watcher_tell=refs.watcher.tell_nowait,
                    watcher_ask=refs.watcher.ask,
                ),
                mounts=mounts or None,
                authorize=AuthorizeEndpoint(tiktok.authorize),
            )
            http_stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                await tg.start(_run_tree, root)
                http_done = anyio.Event()

                async def run_http(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                    try:
                        await serve_http(web, sock, config, http_stop, task_status=task_status)
                    finally:
                        http_done.set()

                await tg.start(run_http)
                lifecycle.ready = True
                metrics.ready.set(1)
                service = Service(
                    config,
                    port,
                    store,
                    cache,
                    metrics,
                    lifecycle,
                    root,
                    ingress,
                    writer,
                    refs,
                    tiktok,
                )
                try:
                    yield service
                finally:
                    with anyio.CancelScope(shield=True):
                        await _stop(service, http_stop, http_done)
                    tg.cancel_scope.cancel()
    finally:
        sock.close()


async def _run_tree(root: Supervisor, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    """Run the root supervisor; however it ends (escalation included), close its mailboxes so
    no ask waits forever (``close`` is idempotent after a graceful stop)."""
    try:
        await root.run(task_status=task_status)
    finally:
        root.close(ActorStopped("root"))


async def _stop(service: Service, http_stop: anyio.Event, http_done: anyio.Event) -> None:
    grace = service.config.server.shutdown_grace_s
    service.lifecycle.draining = True
    service.metrics.ready.set(0)
    log.info("shutdown: draining (grace %.1f s)", grace)
    with anyio.move_on_after(grace) as scope:
        await service.lifecycle.wait_idle()
        http_stop.set()
        await http_done.wait()
        await service.supervisor.stop()
    if scope.cancelled_caught:
        log.warning("shutdown: grace period of %.1f s exceeded; stopping now", grace)
    else:
        log.info("shutdown: drained")


async def serve(config: Config) -> None:
    """``creatorflow serve``: run until SIGTERM or SIGINT, then stop gracefully."""
    async with open_service(config) as service:
        print(f"creatorflow: listening on {service.url}", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("received %s", signal.Signals(signum).name)
                break
