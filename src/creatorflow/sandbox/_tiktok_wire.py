"""The sandbox's wire format: the response envelope, error codes and their HTTP statuses.

Every API answer is ``{"code", "message", "request_id", "data"}`` (reference §3.3). An error is
raised as :class:`ApiError` anywhere below the router and turned into that envelope, with the
HTTP status the real gateway uses (reference §3.3-§3.4; e.g. 400 + 36009004 and 404 + 36009009
were observed). Codes the reference does not list (internal error, business errors of the ship
and warehouse endpoints) are the sandbox's choice and named here once.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

SUCCESS: Final = 0
TOO_MANY_REQUESTS: Final = 36009002
INTERNAL_ERROR: Final = 36009003  # sandbox's choice for injected 5xx and outages
GATEWAY_CHECK: Final = 36009004  # overloaded: missing sign, bad app_key, timestamp, params…
INVALID_PATH: Final = 36009009
INVALID_METHOD: Final = 36009010
BODY_TOO_LARGE: Final = 36009021
BAD_BODY: Final = 36009023
ACCESS_TOKEN_INVALID: Final = 105001
ACCESS_TOKEN_EXPIRED: Final = 105002
TOKEN_SHOP_MISMATCH: Final = 101000
INVALID_SIGN: Final = 106001
SHOP_CIPHER_MISSING: Final = 106013
AUTH_CODE_INVALID: Final = 36004004
# Business errors of the fulfilment/logistics endpoints (sandbox's choice, HTTP 200):
ORDER_NOT_FOUND: Final = 21001001
PACKAGE_NOT_FOUND: Final = 21011001
NOT_SHIPPABLE: Final = 21011002
WAREHOUSE_NOT_FOUND: Final = 21021001
INVENTORY_INVALID: Final = 12019001
# Fulfilment errors documented in shipping-apis §2.2 / §2.7 (HTTP 200):
ALREADY_SHIPPED: Final = 21011006
ALREADY_DELIVERED: Final = 21011027
ORDER_CANCELLED: Final = 21011041
TRACKING_DUPLICATE: Final = 21011025
TRACKING_INVALID: Final = 21004012  # "bad characters" (the sandbox's pick of the §2.7 codes)
NOT_IN_REGION: Final = 21008106
NO_PROVIDER_SUBSCRIPTION: Final = 21008116
PLATFORM_FULFILLED_OPTION: Final = 21008117

_json_encode = msgspec.json.Encoder().encode


class ApiError(Exception):
    """Raised by a sandbox handler; the router answers it as the real API would.

    Attributes:
        status: HTTP status of the answer.
        code: TikTok ``code`` of the envelope (never 0).
        message: TikTok ``message``.
        headers: extra response headers (``Retry-After`` for 429 / 503).
    """

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def gateway_error(message: str) -> ApiError:
    """HTTP 400 + 36009004: the gateway's overloaded validation code (branch on message)."""
    return ApiError(400, GATEWAY_CHECK, message)


def business_error(code: int, message: str) -> ApiError:
    """An endpoint-specific error: HTTP 200 with a non-zero code."""
    return ApiError(200, code, message)


def envelope(request_id: str, data: Any = None, code: int = SUCCESS, message: str = "") -> bytes:
    """The JSON envelope of every API answer; ``data`` is omitted on errors like the real one."""
    payload: dict[str, Any] = {
        "code": code,
        "message": message or ("Success" if code == SUCCESS else "error"),
        "request_id": request_id,
    }
    if code == SUCCESS:
        payload["data"] = {} if data is None else data
    return _json_encode(payload)


def encode_json(payload: Any) -> bytes:
    """Compact JSON (the byte string that is then signed, sent and never re-serialized)."""
    return _json_encode(payload)
