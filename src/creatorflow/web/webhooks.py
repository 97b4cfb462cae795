"""``POST /webhooks/tiktok``: verify → parse → durable insert → 200.

Answers (DESIGN §5): 200 only after the row is committed (or was already there); 401 bad or
missing signature; 400 malformed JSON or envelope (JSON body naming the problem); 413 body over
``http.max_body_bytes``; 415 not JSON; 503 + Retry-After when the ingress mailbox is full, the
store is down, the commit takes longer than ``http.webhook_timeout_s`` (TikTok gives up after
3 s) or the service is draining; 500 when the store refuses the row itself. Unknown topics are
stored and counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import anyio

from creatorflow.actors.ingress import IngressMsg, Receive, Received
from creatorflow.domain.webhook import (
    AppCredentials,
    dedupe_key,
    parse_envelope,
    shop_of,
    verify_signature,
)
from creatorflow.errors import (
    ActorCrashed,
    ActorStopped,
    AdapterError,
    MailboxFull,
    StoreError,
    WebhookRejected,
)
from creatorflow.metrics import Metrics
from creatorflow.ports import Clock, InboxRecord
from creatorflow.runtime import ActorRef, Reply
from creatorflow.web._http import Receive as AsgiReceive
from creatorflow.web._http import (
    Scope,
    Send,
    header,
    read_body,
    require_json,
    respond,
    respond_error,
)
from creatorflow.web.lifecycle import Lifecycle

_OUTCOME_OF_STATUS = {
    400: "malformed",
    401: "bad_signature",
    413: "too_large",
    415: "unsupported_media_type",
}


class WebhookEndpoint:
    """The webhook route; one instance per service."""

    def __init__(
        self,
        *,
        apps: Sequence[AppCredentials],
        ingress: ActorRef[IngressMsg],
        metrics: Metrics,
        clock: Clock,
        lifecycle: Lifecycle,
        max_body_bytes: int,
        retry_after_s: int,
        timeout_s: float = 2.5,
    ) -> None:
        self._apps = tuple(apps)
        self._ingress = ingress
        self._metrics = metrics
        self._tally = metrics.webhooks
        self._clock = clock
        self._lifecycle = lifecycle
        self._max_body = max_body_bytes
        self._timeout_s = timeout_s
        self._retry_after = ((b"retry-after", str(retry_after_s).encode()),)

    async def __call__(self, scope: Scope, receive: AsgiReceive, send: Send) -> None:
        started = time.perf_counter()
        outcome = await self._handle(scope, receive, send)
        self._tally.request(outcome, time.perf_counter() - started)

    async def _unavailable(self, send: Send, code: str, detail: str) -> None:
        await respond_error(send, 503, code, detail, self._retry_after)

    async def _handle(self, scope: Scope, receive: AsgiReceive, send: Send) -> str:
        lifecycle = self._lifecycle
        if not lifecycle.accepting:
            await self._unavailable(send, "draining", "not accepting webhooks now; retry later")
            return "draining"
        try:
            require_json(scope)
            body = await read_body(scope, receive, self._max_body, max_depth=None)
            verify_signature(self._apps, body, _text(header(scope, b"authorization")))
            envelope = parse_envelope(body)
        except WebhookRejected as exc:
            await respond_error(send, exc.status, exc.code, exc.detail)
            return _OUTCOME_OF_STATUS.get(exc.status, "malformed")
        record = InboxRecord(
            notification_id=dedupe_key(envelope, body),
            type=envelope.type,
            shop_id=shop_of(envelope),
            received_at_ms=self._clock.now_ms(),
            body=body,
        )
        lifecycle.enter()
        try:
            try:
                reply = self._ingress.ask_nowait(Receive(record=record))
            except MailboxFull:
                await self._unavailable(send, "saturated", "ingress is saturated; retry later")
                return "saturated"
            except ActorStopped:
                await self._unavailable(send, "draining", "ingress is stopped; retry later")
                return "draining"
            try:
                result = await self._wait(reply)
            except StoreError as exc:
                # The store refused this webhook (not an outage): a retry will not help soon.
                await respond_error(send, 500, "store_refused", f"not stored: {exc}")
                return "store_refused"
            except TimeoutError:
                await self._unavailable(send, "timeout", "not stored in time; retry later")
                return "timeout"
            except (AdapterError, ActorCrashed, ActorStopped) as exc:
                await self._unavailable(send, "store_unavailable", f"not stored: {exc}")
                return "store_unavailable"
        finally:
            lifecycle.leave()
        await respond(send, 200)
        assert isinstance(result, Received)
        return "accepted" if result.new else "duplicate"

    async def _wait(self, reply: Reply[Any]) -> Any:
        """The ingress' answer, or TimeoutError after ``timeout_s``.

        On asyncio the deadline is a plain loop timer (~1 µs) that fails the reply slot: an
        anyio cancel scope (``fail_after``) cost 10-12 µs of CPU per request, a fifth of a
        webhook's whole cost in the service (``bench/ingress_cpu.py``: 55 -> 43 µs). The timer
        only ever fails the one reply this request waits for; an answer the ingress gives
        later is ignored (first answer wins), as after a cancelled wait. On trio: fail_after.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # trio
            with anyio.fail_after(self._timeout_s):
                return await reply.wait()
        timer = loop.call_later(self._timeout_s, _expire, reply)
        try:
            return await reply.wait()
        finally:
            timer.cancel()


def _expire(reply: Reply[Any]) -> None:
    reply.fail(TimeoutError("webhook not stored in time"))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")
