"""One signed TikTok API call, end to end: limiter, breaker, token, signing, retries, metrics.

Per call::

    retry(up to max_retries + 1 attempts, ExponentialJitter 1 s·2^n + 0-0.5 s, ≤ 60 s):
        breaker(shop, group).allow()            → CircuitOpen at once when open
        limiter(shop, group).acquire()          → waits on the clock (429s are avoided here)
        token = keeper.access_token(shop_key)   → proactive refresh, single flight
        send signed request, check HTTP status + envelope
        105002 → refresh (single flight) and send once more with the new token

What is retried: 429/36009002 always (TikTok did not process it; the wait honours
``Retry-After``, capped); TikTokUnavailable when the call is idempotent or the request never
left (connect failure); nothing else. Breaker verdicts: TikTokUnavailable is a failure; a 429
counts nothing (the limiter deals with it); any other answer is a success (TikTok is up, the
request was wrong). The JSON body is encoded once; those bytes are signed and sent.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import TypeVar

import httpx
import msgspec

from creatorflow.adapters.tiktok import _wire
from creatorflow.adapters.tiktok._errors import (
    error_for,
    outcome_of,
    parse_retry_after,
    translating_transport,
)
from creatorflow.adapters.tiktok._token_keeper import TokenKeeper
from creatorflow.adapters.tiktok._types import (
    BreakerObserver,
    CallObserved,
    CallObserver,
    Endpoint,
    Policy,
)
from creatorflow.adapters.tiktok.signing import sign_request
from creatorflow.errors import (
    CircuitOpen,
    TikTokError,
    TikTokRateLimited,
    TikTokTokenExpired,
    TikTokUnavailable,
)
from creatorflow.ports import Clock
from creatorflow.runtime import (
    CircuitBreaker,
    ExponentialJitter,
    KeyedLru,
    MonotonicClock,
    TokenBucket,
    retry,
)

logger = logging.getLogger("creatorflow.tiktok")

T = TypeVar("T")


class Caller:
    """Sends signed API calls with the resilience above. Owned by ``TikTokClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        keeper: TokenKeeper,
        *,
        app_key: str,
        app_secret: str,
        base_url: str,
        policy: Policy,
        clock: MonotonicClock,
        wall_clock: Clock,
        rng: random.Random | None = None,
        observer: CallObserver | None = None,
        on_breaker_change: BreakerObserver | None = None,
    ) -> None:
        self._http = http
        self._keeper = keeper
        self._app_key = app_key
        self._app_secret = app_secret
        self._base = base_url.rstrip("/")
        self._policy = policy
        self._clock = clock
        self._wall = wall_clock
        self._observer = observer
        self._backoff = ExponentialJitter(1.0, policy.retry_max_wait_s, jitter_s=0.5, rng=rng)
        # Per (shop, group) state: a shop uses a few API groups.
        cap = policy.max_shops * 4
        self.limiters: KeyedLru[str, TokenBucket] = KeyedLru(
            cap, lambda _: TokenBucket(policy.rate_per_s, policy.burst, clock=clock)
        )
        self.breakers: KeyedLru[str, CircuitBreaker] = KeyedLru(
            cap,
            lambda key: CircuitBreaker(
                key,
                clock=clock,
                failure_threshold=policy.breaker_failures,
                failure_rate=policy.breaker_failure_rate,
                min_calls=policy.breaker_min_calls,
                window=policy.breaker_window,
                open_s=policy.breaker_open_s,
                on_state_change=on_breaker_change,
            ),
        )

    async def call(
        self,
        endpoint: Endpoint,
        path: str,
        decoder: _wire.DataDecoder[T],
        *,
        shop_id: str,
        shop_key: str,
        cipher: str | None,
        params: Mapping[str, str] | None = None,
        body: bytes = b"",
        idempotent: bool | None = None,
    ) -> T:
        """Make the call; returns the decoded ``data``. Blocks for the whole retry loop.

        Raises:
            CircuitOpen: the (shop, group) breaker refuses calls; nothing was sent.
            TikTokError: and its subclasses, as translated in ``_errors``, after retries.
        """
        safe = endpoint.idempotent if idempotent is None else idempotent
        key = f"{shop_id}/{endpoint.group}"

        def retryable(exc: Exception) -> bool:
            if isinstance(exc, TikTokRateLimited):
                return True
            return isinstance(exc, TikTokUnavailable) and (safe or not exc.maybe_applied)

        def retry_after(exc: Exception) -> float | None:
            return exc.retry_after_s if isinstance(exc, TikTokRateLimited) else None

        def on_retry(number: int, exc: Exception, delay: float) -> None:
            logger.info(
                "tiktok %s %s: retry %d in %.2f s: %s", endpoint.api, key, number, delay, exc
            )

        async def attempt() -> T:
            return await self._attempt(
                endpoint, path, decoder, key, shop_id, shop_key, cipher, params or {}, body
            )

        return await retry(
            attempt,
            attempts=self._policy.max_retries + 1,
            backoff=self._backoff,
            clock=self._clock,
            is_retryable=retryable,
            retry_after=retry_after,
            max_retry_after_s=self._policy.retry_max_wait_s,
            on_retry=on_retry,
        )

    async def _attempt(
        self,
        endpoint: Endpoint,
        path: str,
        decoder: _wire.DataDecoder[T],
        key: str,
        shop_id: str,
        shop_key: str,
        cipher: str | None,
        params: Mapping[str, str],
        body: bytes,
    ) -> T:
        breaker = self.breakers.get(key)
        limiter = self.limiters.get(key)
        refreshed = False
        token = ""
        while True:
            try:
                permit = breaker.allow()
            except CircuitOpen:
                self._observe(endpoint, shop_id, "circuit_open", -1, 0, 0.0)
                raise
            try:
                await limiter.acquire()
                try:
                    token = await self._keeper.access_token(shop_key)
                except TikTokUnavailable as exc:
                    exc.maybe_applied = False  # the call itself was not sent
                    raise
                data = await self._send(
                    endpoint, path, decoder, shop_id, token, cipher, params, body
                )
            except TikTokTokenExpired:
                breaker.record_success(permit)
                if refreshed:
                    raise
                refreshed = True
                await self._keeper.refresh_after_expired(shop_key, token)
                continue
            except TikTokUnavailable:
                breaker.record_failure(permit)
                raise
            except TikTokRateLimited:
                breaker.record_ignored(permit)
                raise
            except TikTokError:
                breaker.record_success(permit)
                raise
            except BaseException:
                breaker.record_ignored(permit)
                raise
            breaker.record_success(permit)
            return data

    async def _send(
        self,
        endpoint: Endpoint,
        path: str,
        decoder: _wire.DataDecoder[T],
        shop_id: str,
        token: str,
        cipher: str | None,
        params: Mapping[str, str],
        body: bytes,
    ) -> T:
        query = {"app_key": self._app_key, "timestamp": str(self._wall.now_ms() // 1000), **params}
        if cipher is not None:
            query["shop_cipher"] = cipher
        query["sign"] = sign_request(self._app_secret, path, query, body)
        headers = {"x-tts-access-token": token, "content-type": "application/json"}
        started = self._clock.now()
        status, code = 0, -1
        error: BaseException | None = None
        try:
            with translating_transport(f"{endpoint.method} {path}"):
                response = await self._http.request(
                    endpoint.method,
                    self._base + path,
                    params=query,
                    content=body or None,
                    headers=headers,
                )
            status = response.status_code
            envelope = _decode_envelope(response.content)
            code = -1 if envelope is None else envelope.code
            failure = error_for(
                http_status=status,
                code=None if envelope is None else envelope.code,
                message="" if envelope is None else envelope.message,
                request_id="" if envelope is None else envelope.request_id,
                retry_after_s=parse_retry_after(
                    response.headers.get("retry-after"), self._wall.now_ms() / 1000
                ),
            )
            if failure is not None:
                raise failure
            assert envelope is not None
            try:
                return decoder.decode(envelope.data)
            except msgspec.DecodeError as exc:
                raise TikTokError(
                    f"{endpoint.api}: unexpected data: {exc}",
                    code=0,
                    http_status=status,
                    request_id=envelope.request_id,
                ) from exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            if error is None or isinstance(error, TikTokError):  # not for cancellation
                latency = self._clock.now() - started
                self._observe(endpoint, shop_id, outcome_of(error), code, status, latency)

    def _observe(
        self, endpoint: Endpoint, shop_id: str, outcome: str, code: int, status: int, latency: float
    ) -> None:
        if self._observer is None:
            return
        try:
            self._observer(
                CallObserved(
                    api=endpoint.api,
                    shop_id=shop_id,
                    outcome=outcome,
                    code=code,
                    http_status=status,
                    latency_s=latency,
                )
            )
        except Exception:
            logger.exception("tiktok call observer failed")


def _decode_envelope(content: bytes) -> _wire.Envelope | None:
    try:
        return _wire.ENVELOPE.decode(content)
    except msgspec.DecodeError:
        return None
