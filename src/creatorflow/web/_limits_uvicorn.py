"""The limits of :mod:`creatorflow.web._limits` on uvicorn's httptools protocol (the hot path).

uvicorn has neither a header cap nor a head or body deadline (its keep-alive timer stops at the
first byte), and its ``limit_concurrency`` answers 503 only after reading a request, so
:func:`limited_protocol` returns a subclass of its ``HttpToolsProtocol`` that adds them.

Cost. A request adds a few attribute writes and one ``loop.time()``; no timer is armed or
cancelled per request. Each connection has at most one loop timer, armed at or before its
current read deadline; when it fires and the deadline has moved on (the usual case on a busy
keep-alive connection) it re-arms itself once for the new deadline. uvicorn's own keep-alive
timer (one ``call_later`` per response, cancelled by the next request) is served by this timer
too, so a request costs less CPU than with the stock protocol.

State of one connection (invariants):

- ``_reading_head``: the bytes arriving now belong to a request head (from the connection's
  start, or since the last request was fully read). ``_head_bytes`` counts them: at most
  ``max_header_bytes`` are fed to the parser (it buffers a header until it is complete).
  The count restarts when a request has been read, so a head that starts inside the chunk that
  ended the previous request may go uncounted for that chunk: with pipelining at most twice the
  cap is fed for one head.
- ``_in_body``: the head is complete, the body is not; ``_body_end`` is its total deadline.
- ``_deadline``: when the connection is closed if nothing changes; 0.0 while the application
  holds a whole request (its answer is not bounded here; ``shutdown_grace_s`` bounds it).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.config import Config as UvicornConfig
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from creatorflow.web._limits import (
    DRAIN_BODY_TIMEOUT_S,
    RESPONSE_408,
    RESPONSE_431,
    HttpLimits,
    RefusalLog,
    response_503,
)


def limited_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits`` (one per server)."""
    return type(
        "CreatorFlowHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {
            "limits": limits,
            "refusals": RefusalLog(limits.max_connections),
            "refusal": response_503(limits.retry_after_s),
            "_max_header_bytes": limits.max_header_bytes,
            "_head_timeout_s": limits.head_timeout_s,
        },
    )


#: Explicit base-class calls on the hot path: on Python 3.11, ``super()`` builds an object.
_base = HttpToolsProtocol


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with read deadlines, a header cap and a connection cap.

    Use :func:`limited_protocol`, which sets the class attributes for one server.
    """

    limits: ClassVar[HttpLimits]
    refusals: ClassVar[RefusalLog]
    refusal: ClassVar[bytes]
    _max_header_bytes: ClassVar[int]
    _head_timeout_s: ClassVar[float]

    def __init__(
        self,
        config: UvicornConfig,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._refused = False
        self._reading_head = True
        self._head_bytes = 0
        self._in_body = False
        self._body_end = 0.0
        self._body_idle_s = self.limits.body_timeout_s
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # uvicorn's keep-alive timeout, served by the same timer (never longer than the head's).
        self._keep_alive_s = min(float(config.timeout_keep_alive), self._head_timeout_s)
        self._idle_since = 0.0  # end of the last response while no next head has begun

    # -- connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            # Over the cap: never registered, so uvicorn neither counts nor waits for it.
            self._refused = True
            self.transport = transport
            self.refusals.refused(len(self.connections))
            transport.write(self.refusal)
            transport.close()
            return
        super().connection_made(transport)
        self._arm(self.loop.time() + self._head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            head_bytes = self._head_bytes + len(data)
            if head_bytes > self._max_header_bytes:
                self._feed_to_cap(data)
                return
            if self._idle_since and not self._head_bytes:
                # A request begins on an idle keep-alive connection: its head deadline counts
                # from the previous response. Never earlier than the keep-alive deadline, so
                # the timer needs no moving.
                self._deadline = self._idle_since + self._head_timeout_s
                self._idle_since = 0.0
            self._head_bytes = head_bytes
        _base.data_received(self, data)
        if self._in_body and not self.pipeline:
            self._body_progress()

    def shutdown(self) -> None:
        """Graceful stop: uvicorn closes idle connections and those still sending a head;
        a body still coming may pause at most ``DRAIN_BODY_TIMEOUT_S`` from now on."""
        super().shutdown()
        if self._in_body and not self.transport.is_closing():
            self._body_idle_s = min(self._body_idle_s, DRAIN_BODY_TIMEOUT_S)
            deadline = self.loop.time() + self._body_idle_s
            if self._deadline and self._deadline < deadline:
                deadline = self._deadline
            self._arm(deadline)

    # -- parser and response callbacks ------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._in_body = True
        self._deadline = 0.0
        _base.on_headers_complete(self)

    def on_message_complete(self) -> None:
        _base.on_message_complete(self)
        self._in_body = False
        self._body_end = 0.0
        self._reading_head = True
        self._head_bytes = 0

    def on_response_complete(self) -> None:
        # uvicorn's own, except for its keep-alive timer (a call_later per response, cancelled
        # by the next request), which is folded into the connection's one deadline timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._reading_head:
            now = self.loop.time()
            if self._head_bytes:  # the next head has begun already (pipelined)
                deadline = now + self._head_timeout_s
            else:
                self._idle_since = now
                deadline = now + self._keep_alive_s
            self._deadline = deadline
            if self._timer is None or deadline < self._timer_at:
                self._arm(deadline)
            return
        if self._in_body:  # a body still coming (reading resumed, or answered before reading)
            self._body_progress()

    # -- limits ------------------------------------------------------------------------------

    def _feed_to_cap(self, data: bytes) -> None:
        """``data`` would take the head past the cap: feed what fits, then 431 if still in it."""
        room = self._max_header_bytes - self._head_bytes
        if room > 0:
            self._head_bytes += room
            super().data_received(data[:room])
            if self.transport.is_closing():
                return  # the parser refused it (400)
            if not (self._reading_head and self._head_bytes):
                # The head ended within the cap: the rest is its body or the next request.
                self.data_received(data[room:])
                return
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.write(RESPONSE_431)
        self.transport.close()

    def _body_progress(self) -> None:
        now = self.loop.time()
        if not self._body_end:
            self._body_end = now + self.limits.body_total_timeout_s
        self._arm(min(now + self._body_idle_s, self._body_end))

    def _arm(self, deadline: float) -> None:
        """Set the read deadline; the timer is moved only when it would fire too late."""
        self._deadline = deadline
        timer = self._timer
        if timer is None or deadline < self._timer_at:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if not deadline or self.transport.is_closing():
            return  # the application holds a request; the next deadline arms a new timer
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline
            return
        self._expire()

    def _expire(self) -> None:
        cycle = self.cycle
        answering = cycle is not None and not cycle.response_complete
        if self._in_body and not self.pipeline:
            # The application waits for a body that does not come (or has answered already).
            if answering and not cycle.response_started:
                self.transport.write(RESPONSE_408)
            self.transport.close()
        elif not answering:
            if self._head_bytes:  # a request was begun: say why it ends
                self.transport.write(RESPONSE_408)
            self.transport.close()
        else:
            # A response is in progress and the next head waits behind it (pipelining): its
            # deadline starts again when that response is complete.
            self._deadline = 0.0
