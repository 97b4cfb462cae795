"""HTTP server runners: uvicorn (default, asyncio) and hypercorn (asyncio or trio).

The composition root binds the listening socket itself (so ``port = 0`` works and the real port
is known before anything is served) and hands it to the runner. Runners install no signal
handlers: the composition root owns SIGTERM/SIGINT and sets ``shutdown`` when it is time to stop
accepting connections. Each runner is started with ``tg.start()`` and returns after a graceful
stop of the server (open requests finish first).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Generator

import anyio
import sniffio
import uvicorn
from anyio.abc import TaskStatus

from creatorflow.config import Config
from creatorflow.errors import ConfigError
from creatorflow.web._http import Receive, Scope, Send

log = logging.getLogger("creatorflow.web")

#: Net allocations of GC-tracked objects that trigger a young-generation collection while
#: serving (CPython's default is 700). See :func:`serving_gc`.
GC_GEN0_THRESHOLD = 10_000


_App = Callable[[Scope, Receive, Send], Awaitable[None]]


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
    app: _App,
    sock: socket.socket,
    config: Config,
    shutdown: anyio.Event,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``sock`` with the configured server until ``shutdown`` is set."""
    backend = sniffio.current_async_library()
    kind = config.server.kind
    with serving_gc():
        if kind == "uvicorn":
            if backend != "asyncio":
                raise ConfigError("config: server.kind: uvicorn needs the asyncio backend")
            await _serve_uvicorn(app, sock, config, shutdown, task_status)
        else:
            await _serve_hypercorn(app, sock, config, shutdown, backend, task_status)


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
    app: _App,
    sock: socket.socket,
    config: Config,
    shutdown: anyio.Event,
    task_status: TaskStatus[None],
) -> None:
    server = _EmbeddedUvicorn(
        uvicorn.Config(
            app,
            http="httptools",
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
    app: _App,
    sock: socket.socket,
    config: Config,
    shutdown: anyio.Event,
    backend: str,
    task_status: TaskStatus[None],
) -> None:
    from hypercorn.config import Config as HyperConfig

    hc = HyperConfig()
    hc.bind = [f"fd://{os.dup(sock.fileno())}"]
    hc.accesslog = logging.getLogger("creatorflow.access") if config.http.access_log else None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = config.server.shutdown_grace_s
    hc.backlog = 2048
    if backend == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, hc, shutdown_trigger=shutdown.wait, task_status=task_status)  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: asyncio_serve(app, hc, shutdown_trigger=shutdown.wait))  # type: ignore[arg-type]
            task_status.started()
