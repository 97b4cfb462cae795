"""Access tokens per shop key: cached, refreshed before they expire, one refresh at a time.

* :meth:`TokenKeeper.access_token` answers from a bounded in-memory cache (filled from the
  :class:`~creatorflow.ports.TokenStore`). When less than ``refresh_before_s`` is left it
  refreshes first; if that refresh fails while the old token is still valid, the old token is
  used (logged) and the next call tries again.
* :meth:`TokenKeeper.refresh_after_expired` is for TikTok's 105002: it refreshes unless the
  token the caller used was already replaced (by a concurrent refresh, or another process).
* Single flight: concurrent callers for one shop key share one refresh; the first caller runs
  it, the others wait on an event. If that caller is cancelled, a waiter takes over. The
  in-flight table is bounded (``max_inflight``): beyond it, callers get a retryable
  TikTokUnavailable rather than refreshing twice (a second refresh with a rotated refresh
  token would fail).
* Persistence: a refreshed pair is saved through the port (both tokens in one value) before it
  is used. If saving fails, the new pair is still used from memory (the old refresh token may
  already be dead at TikTok) and the save is retried on the shop's next call.
"""

from __future__ import annotations

import logging

import anyio

from creatorflow.adapters.tiktok.oauth import TikTokOAuth
from creatorflow.errors import (
    StoreError,
    StoreUnavailable,
    TikTokAuthError,
    TikTokError,
    TikTokUnavailable,
)
from creatorflow.ports import Clock, TikTokTokens, TokenStore
from creatorflow.runtime import KeyedLru

__all__ = ["TokenKeeper"]

logger = logging.getLogger("creatorflow.tiktok")

# A waiter whose refresher was cancelled takes over at most this often before giving up.
_MAX_TAKEOVERS = 3


class _Flight:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: TikTokTokens | None = None
        self.error: Exception | None = None


class TokenKeeper:
    """Tokens of every shop key of one app. Not thread-safe; one event loop, no locks."""

    def __init__(
        self,
        oauth: TikTokOAuth,
        store: TokenStore,
        *,
        wall_clock: Clock,
        refresh_before_s: float,
        max_shops: int,
        max_inflight: int = 1024,
    ) -> None:
        self._oauth = oauth
        self._store = store
        self._wall = wall_clock
        self._refresh_before_s = refresh_before_s
        self._cache: KeyedLru[str, TikTokTokens] = KeyedLru(max_shops)
        self._unsaved: KeyedLru[str, bool] = KeyedLru(max_shops)
        self._flights: dict[str, _Flight] = {}  # bounded: len <= max_inflight
        self._max_inflight = max_inflight

    def _now_s(self) -> int:
        return self._wall.now_ms() // 1000

    async def authorize(self, shop_key: str, auth_code: str) -> TikTokTokens:
        """Trade an auth code for tokens and save them under ``shop_key``.

        Raises:
            TikTokAuthError: the code was refused. TikTokUnavailable, TikTokError: see
                :meth:`TikTokOAuth.get_token`. StoreUnavailable, StoreError: not saved.
        """
        tokens = await self._oauth.get_token(auth_code)
        await self._store.save(shop_key, tokens)
        self._cache.put(shop_key, tokens)
        self._unsaved.pop(shop_key)
        return tokens

    async def access_token(self, shop_key: str) -> str:
        """A usable access token for ``shop_key``, refreshing it first when it is due.

        Blocks on the store and, when due, on the refresh (shared with concurrent callers).

        Raises:
            TikTokAuthError: no tokens stored, or both the token and the refresh are dead.
            TikTokUnavailable: the refresh failed and the token has expired already.
        """
        tokens = await self._current(shop_key)
        if tokens.access_expires_at - self._now_s() > self._refresh_before_s:
            return tokens.access_token
        try:
            tokens = await self._single_flight(shop_key, stale=None)
        except TikTokError as exc:
            if tokens.access_expires_at > self._now_s():
                logger.warning("tiktok %s: refresh failed, token still valid: %s", shop_key, exc)
                return tokens.access_token
            raise
        return tokens.access_token

    async def refresh_after_expired(self, shop_key: str, used: str) -> None:
        """TikTok said the access token ``used`` has expired (105002): replace it.

        Raises:
            TikTokAuthError: the refresh token is refused (re-authorize).
            TikTokUnavailable: the refresh failed for now.
        """
        await self._single_flight(shop_key, stale=used)

    async def _current(self, shop_key: str) -> TikTokTokens:
        tokens = self._cache.peek(shop_key)
        if tokens is None:
            tokens = await self._store.load(shop_key)
            if tokens is None:
                raise TikTokAuthError(f"no tokens for shop {shop_key!r}: authorize it first")
            self._cache.put(shop_key, tokens)
        elif shop_key in self._unsaved:
            await self._save(shop_key, tokens)
        return tokens

    async def _single_flight(self, shop_key: str, stale: str | None) -> TikTokTokens:
        for _ in range(_MAX_TAKEOVERS):
            flight = self._flights.get(shop_key)
            if flight is None:
                return await self._lead(shop_key, stale)
            await flight.done.wait()
            if flight.result is not None:
                return flight.result
            if flight.error is not None:
                raise flight.error
            # the refresher was cancelled: take over
        raise TikTokUnavailable(f"token refresh for {shop_key!r} keeps being abandoned")

    async def _lead(self, shop_key: str, stale: str | None) -> TikTokTokens:
        if len(self._flights) >= self._max_inflight:
            busy = TikTokUnavailable("too many token refreshes in flight")
            busy.maybe_applied = False
            raise busy
        flight = self._flights[shop_key] = _Flight()
        try:
            flight.result = await self._refresh(shop_key, stale)
            return flight.result
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[shop_key]
            flight.done.set()

    async def _refresh(self, shop_key: str, stale: str | None) -> TikTokTokens:
        # Re-read: another process (or an earlier flight) may have refreshed already.
        cached = self._cache.peek(shop_key)
        tokens = cached if shop_key in self._unsaved and cached else None
        if tokens is None:
            tokens = await self._store.load(shop_key)
        if tokens is None:
            raise TikTokAuthError(f"no tokens for shop {shop_key!r}: authorize it first")
        now_s = self._now_s()
        rotated = stale is not None and tokens.access_token != stale
        not_due = stale is None and tokens.access_expires_at - now_s > self._refresh_before_s
        if rotated or not_due:
            self._cache.put(shop_key, tokens)
            return tokens
        if tokens.refresh_expires_at <= now_s:
            raise TikTokAuthError(f"refresh token of shop {shop_key!r} expired: re-authorize")
        fresh = await self._oauth.refresh(tokens.refresh_token)
        self._cache.put(shop_key, fresh)
        self._unsaved.put(shop_key, True)
        await self._save(shop_key, fresh)
        logger.info("tiktok %s: tokens refreshed", shop_key)
        return fresh

    async def _save(self, shop_key: str, tokens: TikTokTokens) -> None:
        try:
            await self._store.save(shop_key, tokens)
        except (StoreUnavailable, StoreError) as exc:
            logger.error("tiktok %s: refreshed tokens not saved (retried later): %s", shop_key, exc)
            return
        self._unsaved.pop(shop_key)
