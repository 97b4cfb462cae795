"""Sandbox tokens (reference §4) and the gateway checks of every signed call (§3.1-§3.4).

Checks, in order, each answered like the real gateway (HTTP status in brackets):

1. ``app_key`` present and ours ........................ 36009004 [400] "invalid app_key"
2. ``sign`` present ..................................... 36009004 [400] "missing sign"
3. ``timestamp`` within [now - 5 min, now + 30 s] ....... 36009004 [400] "timestamp …"
4. ``sign`` right (``verify_request``) .................. 106001   [401]
5. ``x-tts-access-token`` present ....................... 36009004 [400] "invalid token header"
6. token known / not expired ............................ 105001 / 105002 [401]
7. ``shop_cipher``: required on shop endpoints ......... 106013 [400]; ours, else 101000 [403];
   refused on non-shop endpoints ........................ 36009004 [400] "Unexpected identifier"

Tokens are bounded (``max_tokens`` of each kind, oldest forgotten first); expiries are absolute
Unix seconds in the answers, as the real API returns them.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from creatorflow.adapters.tiktok.signing import verify_request
from creatorflow.ports import Clock
from creatorflow.sandbox._tiktok_config import TikTokSandboxConfig
from creatorflow.sandbox._tiktok_wire import (
    ACCESS_TOKEN_EXPIRED,
    ACCESS_TOKEN_INVALID,
    AUTH_CODE_INVALID,
    GATEWAY_CHECK,
    INVALID_SIGN,
    SHOP_CIPHER_MISSING,
    TOKEN_SHOP_MISMATCH,
    ApiError,
    business_error,
    gateway_error,
)


class Tokens:
    """Access and refresh tokens of the sandbox shop, with absolute expiries."""

    def __init__(self, config: TikTokSandboxConfig, clock: Clock, seed: int) -> None:
        self._config = config
        self._clock = clock
        self._rng = random.Random(f"tokens:{seed}")
        self._access: OrderedDict[str, int] = OrderedDict()
        self._refresh: OrderedDict[str, int] = OrderedDict()
        self._used_codes: OrderedDict[str, None] = OrderedDict()
        now = self._now()
        self._remember(self._access, config.access_token, now + config.access_token_ttl_s)
        self._remember(self._refresh, config.refresh_token, now + config.refresh_token_ttl_s)

    def _now(self) -> int:
        return self._clock.now_ms() // 1000

    def _remember(self, store: OrderedDict[str, Any], key: str, value: Any) -> None:
        store[key] = value
        while len(store) > self._config.max_tokens:
            store.popitem(last=False)

    def check_access(self, token: str) -> None:
        """Raise the real API's error for an unknown (105001) or expired (105002) token."""
        expires = self._access.get(token)
        if expires is None:
            raise ApiError(401, ACCESS_TOKEN_INVALID, "Invalid credentials: access token invalid")
        if self._now() >= expires:
            raise ApiError(401, ACCESS_TOKEN_EXPIRED, "Expired credentials: access token expired")

    def expire_access_tokens(self) -> int:
        """Make every access token expired now (so the next call gets 105002); how many."""
        now = self._now()
        for token in self._access:
            self._access[token] = min(self._access[token], now)
        return len(self._access)

    def _check_app(self, query: Mapping[str, str]) -> None:
        if query.get("app_key") != self._config.app_key:
            raise business_error(GATEWAY_CHECK, "Invalid params: app_key is invalid")
        if query.get("app_secret") != self._config.app_secret:
            raise business_error(GATEWAY_CHECK, "Invalid params: app_secret is invalid")

    def get(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/v2/token/get``: a single-use ``auth_code`` for a token pair."""
        self._check_app(query)
        if query.get("grant_type") != "authorized_code":
            raise business_error(AUTH_CODE_INVALID, "grant_type must be authorized_code")
        code = query.get("auth_code", "")
        if not code or code in self._used_codes:
            raise business_error(AUTH_CODE_INVALID, "auth_code is invalid, used or expired")
        self._remember(self._used_codes, code, None)
        return self._issue()

    def refresh(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/v2/token/refresh``: a new access **and** refresh token."""
        self._check_app(query)
        # The docs say refresh_token; the generated Node SDK sends authorized_code (ref §4.3).
        if query.get("grant_type") not in ("refresh_token", "authorized_code"):
            raise business_error(AUTH_CODE_INVALID, "grant_type must be refresh_token")
        token = query.get("refresh_token", "")
        expires = self._refresh.get(token)
        if expires is None or self._now() >= expires:
            raise business_error(AUTH_CODE_INVALID, "refresh_token is invalid or expired")
        del self._refresh[token]
        return self._issue()

    def _issue(self) -> dict[str, Any]:
        now = self._now()
        access = f"TTP_{self._rng.getrandbits(96):024x}"
        refresh = f"TTP_{self._rng.getrandbits(96):024x}"
        access_exp = now + self._config.access_token_ttl_s
        refresh_exp = now + self._config.refresh_token_ttl_s
        self._remember(self._access, access, access_exp)
        self._remember(self._refresh, refresh, refresh_exp)
        return {
            "access_token": access,
            "access_token_expire_in": access_exp,
            "refresh_token": refresh,
            "refresh_token_expire_in": refresh_exp,
            "open_id": "sandbox-open-id",
            "seller_name": self._config.shop_name,
            "seller_base_region": self._config.shop_region,
            "user_type": 0,
            "granted_scopes": ["seller.order.info", "seller.fulfillment.basic",
                               "seller.product.basic", "seller.logistics",
                               "seller.authorization.info"],
        }  # fmt: skip


def verify_call(
    config: TikTokSandboxConfig,
    tokens: Tokens,
    now_s: int,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    access_token: str | None,
    shop_scoped: bool,
) -> None:
    """Run the gateway checks above on one signed API call.

    Raises:
        ApiError: the first check that fails, with the real API's code and HTTP status.
    """
    if query.get("app_key") != config.app_key:
        raise gateway_error("Invalid credentials: app_key is invalid")
    given = query.get("sign")
    if not given:
        raise gateway_error("Invalid credentials: missing sign")
    try:
        timestamp = int(query.get("timestamp", ""))
    except ValueError:
        raise gateway_error("Invalid params: timestamp is missing or not a number") from None
    if not now_s - config.timestamp_past_s <= timestamp <= now_s + config.timestamp_future_s:
        raise gateway_error("Invalid timestamp: timestamp is out of the allowed window")
    if not verify_request(config.app_secret, path, query, body, given):
        raise ApiError(401, INVALID_SIGN, "Invalid credentials. The 'sign' parameter is invalid.")
    if not access_token:
        raise gateway_error("Invalid credentials: invalid token header x-tts-access-token")
    tokens.check_access(access_token)
    cipher = query.get("shop_cipher")
    if not shop_scoped:
        if cipher is not None:
            raise gateway_error("Unexpected identifier: shop_cipher")
        return
    if not cipher:
        raise ApiError(400, SHOP_CIPHER_MISSING, "shop_cipher is required")
    if cipher != config.shop_cipher:
        raise ApiError(403, TOKEN_SHOP_MISMATCH, "access token does not match this shop_cipher")
