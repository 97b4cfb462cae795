"""Error translation of the Karrio adapter: HTTP status and error body in, ``CarrierError`` out.

::

    answer or failure                                  → raised                 maybe_applied
    ├── 400, 406, 422 (other 4xx not below)            → CarrierRejected
    ├── 401, 403                                       → CarrierAuthError
    ├── 404                                            → CarrierNotFound
    ├── 409 (``state_error``)                          → CarrierStateError
    ├── 424 ``{"messages": [...]}``                    → AllCarriersFailed (``failures``)
    ├── 429                                            → CarrierRateLimited (Retry-After)
    ├── 408, 5xx, a 1xx/3xx (a proxy in the way)       → CarrierUnavailable      yes
    ├── 2xx that cannot be read (not JSON, too large)  → CarrierUnavailable      yes
    ├── httpx connect error, connect or pool timeout   → CarrierUnavailable      no
    └── any other httpx error (read timeout, reset)    → CarrierUnavailable      yes

Error bodies are ``{"errors": [{"code", "message", "level"}]}``, or ``{"messages": [...]}``
when carriers failed (424, and a carrier's own validation errors under 400); anything else
(an HTML page from a proxy) still maps by status. The message is the first few entries,
joined; the code and carrier are the first entry's.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import msgspec

from creatorflow.adapters.carriers._karrio_wire import MAX_MESSAGE_CHARS, WireErrors
from creatorflow.errors import (
    AllCarriersFailed,
    CarrierAuthError,
    CarrierError,
    CarrierNotFound,
    CarrierRateLimited,
    CarrierRejected,
    CarrierStateError,
    CarrierUnavailable,
)

#: Connection never opened: nothing reached the gateway.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Entries quoted in one error message.
_QUOTED = 3


def error_for(
    status: int, body: bytes, *, what: str, retry_after: str | None = None
) -> CarrierError:
    """The error a non-2xx answer stands for (``what`` names the call, e.g. ``POST
    /v1/shipments``)."""
    try:
        parsed = msgspec.json.decode(body, type=WireErrors)
    except msgspec.DecodeError:
        parsed = WireErrors()
    entries: list[tuple[str | int | None, str | None, str | None]]
    entries = [(e.code, e.message, None) for e in parsed.errors or ()]
    entries += [(m.code, m.message, m.carrier_name) for m in parsed.messages or ()]
    code = str(entries[0][0] or "")[:64] if entries else ""
    carrier = next((str(c)[:128] for _, _, c in entries if c), "")
    text = "; ".join(str(m) for _, m, _ in entries[:_QUOTED] if m)[:MAX_MESSAGE_CHARS]
    message = f"{what}: {text or f'HTTP {status}'}"
    if status == 424:
        failures = tuple(
            (str(m.carrier_name or "")[:128], str(m.message or "")[:MAX_MESSAGE_CHARS])
            for m in parsed.messages or ()
        )
        return AllCarriersFailed(message, failures=failures, status=status, code=code)
    if status == 429:
        limited = CarrierRateLimited(message, carrier=carrier, status=status, code=code)
        limited.retry_after_s = parse_retry_after(retry_after)
        return limited
    if status in (401, 403):
        return CarrierAuthError(message, carrier=carrier, status=status, code=code)
    if status == 404:
        return CarrierNotFound(message, carrier=carrier, status=status, code=code)
    if status == 409:
        return CarrierStateError(message, carrier=carrier, status=status, code=code)
    if 400 <= status < 500 and status != 408:
        return CarrierRejected(message, carrier=carrier, status=status, code=code)
    return CarrierUnavailable(message, carrier=carrier, status=status, code=code)


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


@contextmanager
def translating_transport(what: str) -> Iterator[None]:
    """Turn httpx errors raised inside into :class:`CarrierUnavailable`, chained;
    ``maybe_applied`` is False only when the connection never opened."""
    try:
        yield
    except httpx.HTTPError as exc:
        unavailable = CarrierUnavailable(f"{what}: {type(exc).__name__}: {exc}")
        unavailable.maybe_applied = not isinstance(exc, _NOT_SENT)
        raise unavailable from exc
    except httpx.InvalidURL as exc:  # shipping.base_url is wrong: a configuration bug
        raise CarrierError(f"{what}: invalid URL: {exc}") from exc
