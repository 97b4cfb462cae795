"""Connection limits for the HTTP servers we run: read deadlines, a header cap, a connection cap.

What each limit means (the ``[http]`` settings), the same on every server:

- ``head_timeout_s``: the request line and headers must have arrived this long after the
  connection was accepted or the previous response was sent; otherwise the connection is closed
  (with a ``408`` when the client had begun a request, silently when it sent nothing).
- ``body_timeout_s`` / ``body_total_timeout_s``: a body the application waits for must not pause
  longer than the first nor take longer than the second; otherwise ``408`` and close.
- ``max_header_bytes``: a head longer than this gets ``431`` and the connection is closed; no more
  than the cap (and one socket read) is ever buffered for it.
- ``max_connections``: at most this many open connections, lowered to what the process's
  ``RLIMIT_NOFILE`` leaves after a reserve (:func:`connection_cap`); one more is answered ``503``
  and closed at once, and :class:`RefusalLog` says so (one WARNING per interval, with a count).
- Shutdown: idle connections and connections still sending a head are closed at once; a body
  still coming may pause at most :data:`DRAIN_BODY_TIMEOUT_S`; responses in progress finish.

The server-specific parts live beside this module: ``_limits_uvicorn`` (a protocol subclass: the
hot path) and ``_limits_hypercorn`` (hypercorn's own settings plus what it lacks).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from creatorflow.config import HttpConfig
from creatorflow.web._http import Receive, Scope, Send

log = logging.getLogger("creatorflow.web")

#: An ASGI application, as the servers take it.
App = Callable[[Scope, Receive, Send], Awaitable[None]]

#: File descriptors kept for everything but client connections: the store, the cache, outbound
#: HTTP (TikTok, the supplier), logs. The connection cap stays this far below RLIMIT_NOFILE.
FD_RESERVE: Final = 256

#: Once shutdown starts, a request body still coming may pause at most this long.
DRAIN_BODY_TIMEOUT_S: Final = 1.0

#: At most one "refused" WARNING per this many seconds (the next one carries the count).
REFUSAL_LOG_INTERVAL_S: Final = 10.0


def _canned(status: bytes, *extra: bytes) -> bytes:
    lines = [b"HTTP/1.1 " + status, b"content-length: 0", b"connection: close", *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


#: Written straight to the socket (no application involved), then the connection is closed.
RESPONSE_408: Final = _canned(b"408 Request Timeout")
RESPONSE_431: Final = _canned(b"431 Request Header Fields Too Large")


def response_503(retry_after_s: int) -> bytes:
    """The answer to a connection over the cap: ``503`` with ``Retry-After``, then close."""
    return _canned(b"503 Service Unavailable", b"retry-after: %d" % retry_after_s)


def nofile_limit() -> int | None:
    """The process's soft ``RLIMIT_NOFILE``, or None when unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def connection_cap(configured: int, nofile: int | None) -> int:
    """``configured``, lowered so that connections never take the last descriptors.

    The cap is at most ``nofile - FD_RESERVE``, but never below half of ``nofile`` (a small limit,
    such as macOS's 256, still serves); at least 1.
    """
    if nofile is None:
        return configured
    return max(1, min(configured, max(nofile - FD_RESERVE, nofile // 2)))


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The limits one server enforces; see the module docstring for their meaning."""

    head_timeout_s: float
    body_timeout_s: float
    body_total_timeout_s: float
    max_header_bytes: int
    max_connections: int
    retry_after_s: int

    @classmethod
    def from_config(cls, http: HttpConfig, nofile: int | None = None) -> HttpLimits:
        """The ``[http]`` settings, with ``max_connections`` capped by ``nofile``."""
        return cls(
            head_timeout_s=http.head_timeout_s,
            body_timeout_s=http.body_timeout_s,
            body_total_timeout_s=http.body_total_timeout_s,
            max_header_bytes=http.max_header_bytes,
            max_connections=connection_cap(http.max_connections, nofile),
            retry_after_s=http.retry_after_s,
        )


class RefusalLog:
    """Says, at most once per ``interval_s``, that connections were refused, and how many.

    The first refusal is logged at once; the ones that follow within the interval are counted
    and reported by the first line after it. A flood of refusals thus costs one line per
    interval, and a single refusal is never silent.
    """

    def __init__(
        self,
        cap: int,
        *,
        interval_s: float = REFUSAL_LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cap = cap
        self._interval_s = interval_s
        self._clock = clock
        self._count = 0
        self._next_at = 0.0

    def refused(self, open_connections: int) -> None:
        """Count one refused connection; log if the interval since the last line has passed."""
        self._count += 1
        now = self._clock()
        if now < self._next_at:
            return
        log.warning(
            "http: %d open connections reach the cap of %d (http.max_connections, within "
            "RLIMIT_NOFILE): refused %d connection(s) since the last such line",
            open_connections,
            self._cap,
            self._count,
        )
        self._count = 0
        self._next_at = now + self._interval_s
