"""HTTP server runners: uvicorn (default, asyncio) and hypercorn (asyncio or trio).

The composition root binds the listening socket itself (so ``port = 0`` works and the real port
is known before anything is served) and hands it to the runner. Runners install no signal
handlers: the composition root owns SIGTERM/SIGINT and sets ``shutdown`` when it is time to stop
accepting connections. Each runner is started with ``tg.start()`` and returns after a graceful
stop of the server (open requests finish first).

Both enforce the ``[http]`` connection limits (read deadlines, header cap, connection cap; see
:mod:`creatorflow.web._limits`): uvicorn through a protocol subclass, hypercorn through its own
settings plus what ``_limits_hypercorn`` adds.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
from collections.abc import Generator

import anyio
import sniffio
import uvicorn
from anyio.abc import TaskStatus

from creatorflow.config import Config
from creatorflow.errors import ConfigError
from creatorflow.web._limits import App, HttpLimits, nofile_limit
from creatorflow.web._limits_uvicorn import limited_protocol

log = logging.getLogger("creatorflow.web")

#: Net allocations of GC-tracked objects that trigger a young-generation collection while
#: serving (CPython's default is 700). See :func:`serving_gc`.
GC_GEN0_THRESHOLD = 10_000


def bind_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Create, bind and listen a TCP socket (IPv6 if ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"config: http.port: cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


async def serve_http(
    app: App,
    sock: socket.socket,
    config: Config,
    shutdown: anyio.Event,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` with the configured server until ``shutdown`` is set."""
    backend = sniffio.current_async_library()
    kind = config.server.kind
    nofile = nofile_limit()
    limits = HttpLimits.from_config(config.http, nofile)
    if limits.max_connections < config.http.max_connections:
        log.info(
            "http: at most %d connections (http.max_connections %d, RLIMIT_NOFILE %s)",
            limits.max_connections,
            config.http.max_connections,
            nofile,
        )
    with serving_gc():
        if kind == "uvicorn":
            if backend != "asyncio":
                raise ConfigError("config: server.kind: uvicorn needs the asyncio backend")
            await _serve_uvicorn(app, sock, config, limits, shutdown, task_status)
        else:
            await _serve_hypercorn(app, sock, config, limits, shutdown, backend, task_status)


@contextlib.contextmanager
def serving_gc() -> Generator[None, None, None]:
    """While serving: fewer, cheaper garbage collections; restored afterwards.

    Every webhook allocates a few dozen GC-tracked objects (coroutines, futures, dicts,
    messages) that reference counting frees again; with a few hundred requests in flight the
    net count keeps crossing CPython's gen-0 threshold of 700 (~300 collections per 20,000
    webhooks, 2-3 of them full ones over the ~70k objects made at start-up): 5-11 µs of CPU per
    webhook (``bench/ingress_cpu.py``, GC column). So, once the tree is up, the objects made so
    far are frozen (long-lived, never scanned again) and gen 0 is collected every 10,000 net
    allocations: GC then costs ~0 and a webhook 34 instead of 37-38.5 µs. Cycles are still
    collected, in bigger batches (a few MB at most). Process-wide state, so it is undone when
    the server stops (tests run several services in one process).
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(previous[0], GC_GEN0_THRESHOLD), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


class _EmbeddedUvicorn(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the composition root."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve_uvicorn(
    app: App,
    sock: socket.socket,
    config: Config,
    limits: HttpLimits,
    shutdown: anyio.Event,
    task_status: TaskStatus[None],
) -> None:
    server = _EmbeddedUvicorn(
        uvicorn.Config(
            app,
            http=limited_protocol(limits),  # httptools, plus deadlines and caps
            lifespan="off",
            proxy_headers=False,  # TikTok calls us directly; no X-Forwarded-* rewriting per request
            access_log=config.http.access_log,
            log_level="warning",
            # Two regex checks and a header line less per response; nobody needs the banner.
            server_header=False,
            timeout_graceful_shutdown=max(1, int(config.server.shutdown_grace_s)),
            backlog=2048,
        )
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        # The socket already listens: connections wait in its backlog until uvicorn accepts.
        task_status.started()
        await shutdown.wait()
        server.should_exit = True


async def _serve_hypercorn(
    app: App,
    sock: socket.socket,
    config: Config,
    limits: HttpLimits,
    shutdown: anyio.Event,
    backend: str,
    task_status: TaskStatus[None],
) -> None:
    from creatorflow.web._limits_hypercorn import (
        BodyDeadlines,
        install_connection_cap,
        limited_config,
    )

    install_connection_cap()
    hc = limited_config(limits)
    hc.bind = [f"fd://{os.dup(sock.fileno())}"]
    hc.accesslog = logging.getLogger("creatorflow.access") if config.http.access_log else None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = config.server.shutdown_grace_s
    hc.backlog = 2048
    limited = BodyDeadlines(app, limits)

    async def stop() -> None:
        await shutdown.wait()
        limited.drain()  # stalled bodies end soon; hypercorn closes idle connections itself

    if backend == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(limited, hc, shutdown_trigger=stop, task_status=task_status)  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: asyncio_serve(limited, hc, shutdown_trigger=stop))  # type: ignore[arg-type]
            task_status.started()
