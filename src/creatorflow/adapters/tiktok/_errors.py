"""Error translation of the TikTok adapter: HTTP status, envelope code and httpx errors in,
:mod:`creatorflow.errors` out (reference §3.3-§3.4)::

    answer or failure                                         → raised
    ├── HTTP 429, code 36009002                               → TikTokRateLimited (Retry-After)
    ├── code 105002                                           → TikTokTokenExpired (client
    │                                                           refreshes and resends once)
    ├── code 105001, 105005, 101000, 36004004; HTTP 401/403   → TikTokAuthError
    ├── code 106001, 106013, 36009004/09/10/14/21/22/23/33,   → TikTokRequestRejected
    │   21011028 (package of another shop: check the cipher)
    ├── HTTP 5xx or 408, code 36009003/36009007,              → TikTokUnavailable
    │   11001027, 21001003 (internal error / timeout)
    ├── a fulfillment code of shipping-apis §2.7              → its TikTokFulfillmentRefused
    │                                                           subclass (``FULFILLMENT_CODES``)
    ├── any other non-zero code                               → TikTokError (business refusal)
    ├── other HTTP 4xx                                        → TikTokRequestRejected
    ├── body that is not an envelope (HTML from a proxy)      → by HTTP status as above; a 2xx
    │                                                           is TikTokUnavailable
    ├── httpx connect error / connect or pool timeout         → TikTokUnavailable, not applied
    └── any other httpx error (read timeout, reset, protocol) → TikTokUnavailable, maybe applied

The code decides before the HTTP status: gateways answer errors with either.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from creatorflow.errors import (
    TikTokAfterSalePending,
    TikTokAlreadyShipped,
    TikTokAuthError,
    TikTokError,
    TikTokFulfillmentRefused,
    TikTokNoShippingProviders,
    TikTokOrderCancelled,
    TikTokOrderDelivered,
    TikTokRateLimited,
    TikTokRequestRejected,
    TikTokTokenExpired,
    TikTokTrackingDuplicate,
    TikTokTrackingRejected,
    TikTokUnavailable,
    TikTokWrongFlow,
    TikTokWrongRegion,
)

RATE_LIMITED = 36009002
TOKEN_EXPIRED = 105002
AUTH_CODES = frozenset({105001, 105005, 101000, 36004004})
REJECTED_CODES = frozenset(
    {
        106001, 106013, 36009004, 36009009, 36009010, 36009014, 36009021, 36009022, 36009023,
        36009033, 21011028,
    }
)  # fmt: skip
UNAVAILABLE_CODES = frozenset({36009003, 36009007, 11001027, 21001003})


def _codes(cls: type[TikTokFulfillmentRefused], *codes: int) -> dict[int, type[TikTokError]]:
    return dict.fromkeys(codes, cls)


#: Fulfillment refusals (reference shipping-apis §2.7 and §2.2), code → class.
FULFILLMENT_CODES: dict[int, type[TikTokError]] = {
    **_codes(TikTokAlreadyShipped, 21011006, 21011020, 21042056, 21008099, 11006021, 21011040),
    **_codes(TikTokOrderDelivered, 21011027),
    **_codes(TikTokOrderCancelled, 21011041, 21011042),
    **_codes(TikTokAfterSalePending, 21011007, 21008044),
    **_codes(TikTokTrackingDuplicate, 21011025, 21034012, 21011026),
    **_codes(TikTokTrackingRejected, 11028006, 21004012, 21004015, 21004016, 21022032),
    **_codes(TikTokWrongFlow, 21011048, 21008025, 21011004, 21011043),
    **_codes(TikTokWrongRegion, 21008106),
    **_codes(TikTokFulfillmentRefused, 21011049, 21011050, 21011051, 21011052),
    **_codes(TikTokNoShippingProviders, 21008116, 21008117),
}

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def error_for(
    *,
    http_status: int,
    code: int | None,
    message: str,
    request_id: str = "",
    retry_after_s: float | None = None,
) -> TikTokError | None:
    """The error an answer stands for, or None for a success (``code`` None: no envelope)."""
    number = -1 if code is None else code
    cls: type[TikTokError] | None = None
    if code == RATE_LIMITED or http_status == 429:
        cls, default = TikTokRateLimited, "too many requests"
    elif code == TOKEN_EXPIRED:
        cls, default = TikTokTokenExpired, "access token expired"
    elif code in AUTH_CODES:
        cls, default = TikTokAuthError, "not authorized"
    elif code in REJECTED_CODES:
        cls, default = TikTokRequestRejected, "request rejected"
    elif code in UNAVAILABLE_CODES or http_status >= 500 or http_status == 408:
        cls, default = TikTokUnavailable, "service unavailable"
    elif code is not None and code in FULFILLMENT_CODES:
        cls, default = FULFILLMENT_CODES[code], "fulfillment refused"
    elif code is not None and code != 0:
        cls, default = TikTokError, "refused"
    elif http_status in (401, 403):
        cls, default = TikTokAuthError, f"HTTP {http_status}"
    elif http_status >= 400:
        cls, default = TikTokRequestRejected, f"HTTP {http_status}"
    elif code is None:  # a 2xx/3xx that is not an envelope: a proxy or gateway in the way
        cls, default = TikTokUnavailable, "answer is not a TikTok envelope"
    if cls is None:
        return None
    error = cls(message or default, code=number, http_status=http_status, request_id=request_id)
    if isinstance(error, TikTokRateLimited):
        error.retry_after_s = retry_after_s
    return error


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_s)


@contextmanager
def translating_transport(what: str) -> Iterator[None]:
    """Turn httpx errors raised inside into TikTokUnavailable, chained.

    ``maybe_applied`` is False only when the connection never opened (nothing reached TikTok).
    """
    try:
        yield
    except httpx.HTTPError as exc:
        unavailable = TikTokUnavailable(f"{what}: {type(exc).__name__}: {exc}")
        unavailable.maybe_applied = not isinstance(exc, _NOT_SENT)
        raise unavailable from exc


def outcome_of(exc: BaseException | None) -> str:
    """Metric label of a call's end: ok, rate_limited, unavailable, auth, rejected, error."""
    if exc is None:
        return "ok"
    if isinstance(exc, TikTokRateLimited):
        return "rate_limited"
    if isinstance(exc, TikTokUnavailable):
        return "unavailable"
    if isinstance(exc, TikTokAuthError):
        return "auth"
    if isinstance(exc, TikTokRequestRejected):
        return "rejected"
    return "error"
