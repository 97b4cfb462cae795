"""The limits of :mod:`creatorflow.web._limits` on hypercorn (asyncio and trio).

Mapped onto hypercorn's own settings where it has them (:func:`limited_config`):

- head deadline: ``keep_alive_timeout``. hypercorn's idle timer runs from the connection's start
  and from the end of each response until a request head has been parsed, which is exactly the
  head deadline (and its idle keep-alive timeout as well); it also fires when shutdown starts,
  which closes idle and half-sent heads at once. No 408 is sent.
- header cap: ``h11_max_incomplete_size`` (h11 answers 431; at most the cap plus one 64 KiB
  read is buffered) and ``h2_max_header_list_size`` for HTTP/2.

What hypercorn lacks, added here:

- body deadlines: its only read timeout (``read_timeout``) also runs while the application
  works on an answer, so it is left off and :class:`BodyDeadlines` (ASGI middleware) bounds
  each ``receive()`` of a body instead; the total counts from the application's first read.
- connection cap: hypercorn accepts every connection. :func:`install_connection_cap` replaces
  the ``TCPServer`` name that ``hypercorn.asyncio.run`` and ``hypercorn.trio.run`` look up with
  subclasses that consult the :class:`ConnectionGate` of the server's config (servers without
  one are unaffected). The trio one also stops the idle timer when the connection closes
  (hypercorn's trio server leaves it running until ``keep_alive_timeout``, which would hold
  the connection's place that long). This relies on hypercorn's module layout (0.17, 0.18);
  ``tests/security/test_http_limits.py`` fails if it changes.
"""

from __future__ import annotations

import anyio
import trio
from hypercorn.asyncio import run as asyncio_run
from hypercorn.asyncio.tcp_server import TCPServer as AsyncioTCPServer
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import run as trio_run
from hypercorn.trio.tcp_server import TCPServer as TrioTCPServer

from creatorflow.web._http import Message, Receive, Scope, Send
from creatorflow.web._limits import (
    DRAIN_BODY_TIMEOUT_S,
    App,
    HttpLimits,
    RefusalLog,
    response_503,
)

_408_HEADERS = ((b"content-length", b"0"), (b"connection", b"close"))


class ConnectionGate:
    """Counts a server's open connections and refuses those over the cap (with the log)."""

    def __init__(self, limits: HttpLimits) -> None:
        self.cap = limits.max_connections
        self.open = 0
        self.refusal = response_503(limits.retry_after_s)
        self._log = RefusalLog(limits.max_connections)

    def admit(self) -> bool:
        """Take a place for a new connection; False (and counted for the log) when full."""
        if self.open >= self.cap:
            self._log.refused(self.open)
            return False
        self.open += 1
        return True

    def release(self) -> None:
        """Give back the place of a connection admitted earlier."""
        self.open -= 1


class LimitedHyperConfig(HyperConfig):
    """hypercorn's config, plus the gate the patched TCP servers consult."""

    connection_gate: ConnectionGate | None = None


def limited_config(limits: HttpLimits) -> LimitedHyperConfig:
    """A hypercorn config enforcing what it can of ``limits`` (see the module docstring)."""
    hc = LimitedHyperConfig()
    hc.keep_alive_timeout = limits.head_timeout_s
    hc.h11_max_incomplete_size = limits.max_header_bytes
    hc.h2_max_header_list_size = limits.max_header_bytes
    hc.read_timeout = None
    hc.connection_gate = ConnectionGate(limits)
    return hc


class _GatedAsyncioTCPServer(AsyncioTCPServer):
    async def run(self) -> None:
        gate: ConnectionGate | None = getattr(self.config, "connection_gate", None)
        if gate is None:
            await super().run()
            return
        if not gate.admit():
            try:
                self.writer.write(gate.refusal)
                self.writer.close()  # after the 503 is flushed
            except (ConnectionError, RuntimeError):
                pass
            return
        try:
            await super().run()
        finally:
            gate.release()


class _GatedTrioTCPServer(TrioTCPServer):
    _gate: ConnectionGate | None = None

    async def run(self) -> None:
        gate: ConnectionGate | None = getattr(self.config, "connection_gate", None)
        if gate is None:
            await super().run()
            return
        if not gate.admit():
            with trio.move_on_after(1.0):
                try:
                    await self.stream.send_all(gate.refusal)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
            await trio.aclose_forcefully(self.stream)
            return
        self._gate = gate
        try:
            await super().run()
        finally:
            self._release()

    async def _close(self) -> None:
        await super()._close()
        self._release()  # the descriptor is free now
        # hypercorn's trio server (unlike its asyncio one) leaves the idle timer running here,
        # which keeps the connection's task alive until keep_alive_timeout.
        await self.idle_task.stop()

    def _release(self) -> None:
        if self._gate is not None:
            self._gate.release()
            self._gate = None


def install_connection_cap() -> None:
    """Make hypercorn's workers build gated TCP servers (idempotent; see the module docstring)."""
    asyncio_run.TCPServer = _GatedAsyncioTCPServer  # type: ignore[attr-defined]
    trio_run.TCPServer = _GatedTrioTCPServer  # type: ignore[attr-defined]


class BodyDeadlines:
    """ASGI middleware: a request body must keep coming (``body_timeout_s`` between reads of
    the application, ``body_total_timeout_s`` in all), else ``408`` with ``connection: close``.

    Only reads of a body that is not complete yet are bounded (one cancel scope each); what the
    application sends after a timeout is dropped, since the 408 has answered the request.
    """

    def __init__(self, app: App, limits: HttpLimits) -> None:
        self._app = app
        self._limits = limits
        self._idle_s = limits.body_timeout_s
        self._waiting: set[anyio.CancelScope] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = _Request(self, receive, send)
        await self._app(scope, request.receive, request.send)

    def drain(self) -> None:
        """Shutdown has started: bodies still coming may pause at most DRAIN_BODY_TIMEOUT_S.

        Call from the server's event loop.
        """
        self._idle_s = min(self._idle_s, DRAIN_BODY_TIMEOUT_S)
        deadline = anyio.current_time() + self._idle_s
        for scope in self._waiting:
            scope.deadline = min(scope.deadline, deadline)


class _Request:
    __slots__ = ("_body_done", "_end", "_owner", "_receive", "_send", "_started", "_timed_out")

    def __init__(self, owner: BodyDeadlines, receive: Receive, send: Send) -> None:
        self._owner = owner
        self._receive = receive
        self._send = send
        self._end = 0.0
        self._body_done = False
        self._timed_out = False
        self._started = False

    async def receive(self) -> Message:
        if self._timed_out:
            return {"type": "http.disconnect"}
        if self._body_done:
            return await self._receive()
        owner = self._owner
        now = anyio.current_time()
        if not self._end:
            self._end = now + owner._limits.body_total_timeout_s
        message: Message | None = None
        with anyio.CancelScope(deadline=min(now + owner._idle_s, self._end)) as scope:
            owner._waiting.add(scope)
            try:
                message = await self._receive()
            finally:
                owner._waiting.discard(scope)
        if message is None:
            self._timed_out = True
            if not self._started:
                self._started = True
                await self._send(
                    {"type": "http.response.start", "status": 408, "headers": _408_HEADERS}
                )
                await self._send({"type": "http.response.body", "body": b""})
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self._timed_out:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)
