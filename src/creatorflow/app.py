"""Composition root: opens the shared edges, installs the capabilities, serves HTTP, stops.

The capabilities (``wiring/``, in ``wiring.CAPABILITIES`` order) build the actor tree
(DESIGN §1), started in install order so each actor's dependencies are up first::

    root supervisor (one_for_one)
    ├── store_writer      group commit of every durable write                  (core)
    ├── inventory         keyed registry: one actor per seller SKU               (inventory)
    ├── stock_sync        pushes sellable stock to TikTok
    ├── inventory_keeper  sweeps expired holds, repairs reserved-count drift
    ├── stock_watcher     velocity, viral detection, stock-out forecast, purchase orders
    ├── order_scheduler   single writer of orders; runs the saga steps             (orders)
    ├── order_sync        stored webhooks → batched Get Order Detail → scheduler
    ├── reconciler        polls Get Order List by update_time (leader only)
    ├── inbox_pump        re-reads unprocessed inbox rows                         (inbox)
    └── webhook_ingress   dedupe → durable insert → hand-off

Beside the tree, opened here first: the store, the cache, the TikTok client (or the built-in
sandbox, ``wiring/tiktok.py``) and the supplier (or its sandbox, ``wiring/suppliers.py``).

Shutdown (SIGTERM/SIGINT, or leaving :func:`open_service`), within ``server.shutdown_grace_s``:
webhooks get 503, admitted ones are answered, the HTTP server stops, the actors drain in reverse
start order (ingress first, writer last), the store closes. The inbox keeps what is unprocessed.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from creatorflow.actors.ingress import IngressMsg
from creatorflow.actors.store_writer import Write
from creatorflow.adapters.cache import open_cache_from_config
from creatorflow.caching import LayeredCache, open_layered_cache
from creatorflow.config import Config, load_rules_file
from creatorflow.errors import ActorStopped
from creatorflow.metrics import Metrics, RuntimeCollector
from creatorflow.ports import Clock, SystemClock
from creatorflow.runtime import ActorRef, MonotonicClock, Supervisor, SystemMonotonicClock
from creatorflow.web.api import build_api
from creatorflow.web.app import CreatorFlowApp
from creatorflow.web.lifecycle import Lifecycle
from creatorflow.web.server import bind_socket, serve_http
from creatorflow.web.status import STATUS_TTL_S, StatusReporter
from creatorflow.wiring import Assembly, install_all, keys
from creatorflow.wiring.core import AppStore, check_bind, migrate, open_store
from creatorflow.wiring.keys import TreeRefs
from creatorflow.wiring.shipping import open_shipping_side
from creatorflow.wiring.suppliers import open_supplier
from creatorflow.wiring.tiktok import TikTokSide, open_tiktok_side
from creatorflow.wiring.tiktok import observers as tiktok_observers

log = logging.getLogger("creatorflow")


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
    refs: TreeRefs
    tiktok: TikTokSide
    assembly: Assembly

    @property
    def url(self) -> str:
        return _url(self.config.http.host, self.port)


def _url(host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


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
    on_call, on_breaker = tiktok_observers(metrics)
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
            open_shipping_side(config, clock) as shipping,
        ):
            asm = Assembly(
                config=config,
                clock=clock,
                timer=timer,
                store=store,
                cache=cache,
                metrics=metrics,
                tiktok=tiktok,
                supplier=supplier,
                supplier_sandbox=supplier_sandbox,
                shipping=shipping,
                rules=rules,
                lifecycle=Lifecycle(),
                root=Assembly.root_supervisor(config, timer),
            )
            install_all(asm)
            root = asm.root
            metrics.add_runtime_collector(RuntimeCollector(root.stats))
            web = _web_app(asm)
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
                asm.lifecycle.ready = True
                metrics.ready.set(1)
                service = _service(asm, port)
                try:
                    yield service
                finally:
                    with anyio.CancelScope(shield=True):
                        await _stop(service, http_stop, http_done)
                    tg.cancel_scope.cancel()
    finally:
        sock.close()


def _web_app(asm: Assembly) -> CreatorFlowApp:
    """The ASGI app: the hot routes, the probes, the mounts and the ``/api`` the capabilities
    contributed to."""

    async def readiness() -> dict[str, str]:
        await asm.store.ping()
        return {"store": "ok"}

    return CreatorFlowApp(
        webhooks=asm.refs.get(keys.WEBHOOKS),
        metrics=asm.metrics,
        lifecycle=asm.lifecycle,
        readiness=readiness,
        status=StatusReporter(
            store=asm.store,
            cache=asm.cache,
            lifecycle=asm.lifecycle,
            tree=asm.root.stats,
            clock=asm.clock,
            ttl_s=STATUS_TTL_S,  # unauthenticated: a snapshot, not a store ping per request
        ).report,
        api=build_api(asm.api_routes, token=asm.config.api.token),
        mounts=asm.mounts,
    )


def _service(asm: Assembly, port: int) -> Service:
    refs = TreeRefs.of(asm.refs)
    return Service(
        asm.config,
        port,
        asm.store,
        asm.cache,
        asm.metrics,
        asm.lifecycle,
        asm.root,
        refs.ingress,
        refs.writer,
        refs,
        asm.tiktok,
        asm,
    )


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


__all__ = ["Service", "check_bind", "migrate", "open_service", "serve"]
