"""TikTok Shop OAuth (reference §4): trade an auth code for tokens, refresh them.

Both calls are ``GET`` on the auth host with ``app_key``, ``app_secret`` and the grant in the
query, and no ``sign``. ``grant_type`` is literally ``authorized_code`` to get and
``refresh_token`` to refresh. A refresh returns a new access token **and** a new refresh token;
the caller persists both at once (:class:`~creatorflow.ports.TokenStore`).

Expiries (``access_token_expire_in``, ``refresh_token_expire_in``) are absolute Unix timestamps
despite their names; defensively, a value below 10^9 (before 2001) is read as seconds from now.

Neither call is retried here: an auth code is single-use, and a refresh whose answer was lost
may already have rotated the refresh token. The app secret travels in the query, so URLs of
these calls are never logged.
"""

from __future__ import annotations

import logging

import httpx
import msgspec

from creatorflow.adapters.tiktok import _wire
from creatorflow.adapters.tiktok._errors import error_for, translating_transport
from creatorflow.errors import TikTokError
from creatorflow.ports import Clock, TikTokTokens

__all__ = ["TOKEN_GET_PATH", "TOKEN_REFRESH_PATH", "TikTokOAuth", "absolute_expiry"]

logger = logging.getLogger("creatorflow.tiktok")

TOKEN_GET_PATH = "/api/v2/token/get"
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"

#: Expiry values below this are durations, not timestamps (10^9 s is September 2001).
_ABSOLUTE_FROM = 1_000_000_000


def absolute_expiry(value: int, now_s: int) -> int:
    """An expiry field as absolute Unix seconds (a value < 10^9 is taken as seconds from now)."""
    if value < _ABSOLUTE_FROM:
        return now_s + max(value, 0)
    return value


class TikTokOAuth:
    """OAuth calls of one app against the auth host.

    Args:
        http: the client's httpx client (the caller opens and closes it).
        app_key, app_secret: the app's credentials.
        auth_base_url: e.g. ``https://auth.tiktok-shops.com`` (a path prefix is kept).
        wall_clock: turns relative expiries into absolute ones.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_key: str,
        app_secret: str,
        auth_base_url: str,
        wall_clock: Clock,
    ) -> None:
        self._http = http
        self._app_key = app_key
        self._app_secret = app_secret
        self._base = auth_base_url.rstrip("/")
        self._wall = wall_clock

    async def get_token(self, auth_code: str) -> TikTokTokens:
        """Trade a seller's single-use ``auth_code`` (valid 30 min) for tokens.

        Blocks for one HTTP round trip.

        Raises:
            TikTokAuthError: the code is invalid, used or expired (36004004): restart OAuth.
            TikTokUnavailable: TikTok could not be reached or failed.
            TikTokError: any other refusal, or an answer without both tokens.
        """
        return await self._grant(
            TOKEN_GET_PATH, {"auth_code": auth_code, "grant_type": "authorized_code"}
        )

    async def refresh(self, refresh_token: str) -> TikTokTokens:
        """Exchange ``refresh_token`` for a new pair of tokens. Blocks for one round trip.

        Raises:
            TikTokAuthError: the refresh token is refused: the seller must re-authorize.
            TikTokUnavailable: TikTok could not be reached or failed (the old pair may or may
                not still work: the caller keeps it).
            TikTokError: any other refusal, or an answer without both tokens.
        """
        return await self._grant(
            TOKEN_REFRESH_PATH, {"refresh_token": refresh_token, "grant_type": "refresh_token"}
        )

    async def _grant(self, path: str, grant: dict[str, str]) -> TikTokTokens:
        params = {"app_key": self._app_key, "app_secret": self._app_secret, **grant}
        with translating_transport(f"GET {path}"):
            response = await self._http.get(self._base + path, params=params)
        now_s = self._wall.now_ms() // 1000
        try:
            envelope: _wire.Envelope | None = _wire.ENVELOPE.decode(response.content)
        except msgspec.DecodeError:
            envelope = None
        error = error_for(
            http_status=response.status_code,
            code=None if envelope is None else envelope.code,
            message="" if envelope is None else envelope.message,
            request_id="" if envelope is None else envelope.request_id,
        )
        if error is not None:
            logger.warning("tiktok oauth %s failed: %s", path, error)
            raise error
        assert envelope is not None
        try:
            data = _wire.TOKENS.decode(envelope.data)
        except msgspec.DecodeError as exc:
            raise TikTokError(
                f"token answer without usable tokens: {exc}", code=0, request_id=envelope.request_id
            ) from exc
        if not data.access_token or not data.refresh_token:
            raise TikTokError("token answer lacks a token", code=0, request_id=envelope.request_id)
        return TikTokTokens(
            access_token=data.access_token,
            access_expires_at=absolute_expiry(data.access_token_expire_in, now_s),
            refresh_token=data.refresh_token,
            refresh_expires_at=absolute_expiry(data.refresh_token_expire_in, now_s),
            open_id=data.open_id,
            seller_name=data.seller_name,
            seller_base_region=data.seller_base_region,
        )

    def __repr__(self) -> str:
        return f"TikTokOAuth(app_key={self._app_key!r}, auth_base_url={self._base!r})"
