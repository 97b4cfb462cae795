"""The sandbox's webhook sender: signed ORDER_STATUS_CHANGE pushes, like TikTok's.

Flow: ``enqueue`` signs each status step into a webhook (reference §1.2-§1.5: ``Authorization``
= HMAC-SHA256(app_secret, app_key + body), unique ``tts_notification_id``) and puts it in a
bounded outbox (``webhook_outbox_size``; ``enqueue`` waits when it is full). ``run`` is the one
consumer: it draws each webhook's fate (drop / duplicate / hold back), makes the first attempt
in outbox order, and hands a failed one (non-200 or transport error) to a retry task that tries
again after each delay of ``webhook_retry_s`` (TikTok: +2 min, +30 min, +3 h, +12 h), then gives
up. At most ``webhook_max_retrying`` webhooks wait for a retry; beyond that a failure is given
up at once. A held-back webhook is released after the next one is sent, or after
``webhook_reorder_hold_s`` without a next one.

Who closes what: ``run`` owns its task group and, for a URL target, its httpx client.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NamedTuple

import anyio
import anyio.abc
import anyio.lowlevel
import httpx

from creatorflow.domain.webhook import sign_webhook
from creatorflow.ports import Clock
from creatorflow.sandbox._tiktok_config import TikTokSandboxConfig, id_base
from creatorflow.sandbox._tiktok_faults import Faults
from creatorflow.sandbox._tiktok_orders import StatusStep
from creatorflow.sandbox._tiktok_wire import encode_json

log = logging.getLogger("creatorflow.sandbox.tiktok")

#: Delivers one webhook: ``(body, headers) -> HTTP status``; raising counts as a failed attempt.
DeliverFn = Callable[[bytes, Mapping[str, str]], Awaitable[int]]
SleepFn = Callable[[float], Awaitable[None]]


class Webhook(NamedTuple):
    """One signed webhook, sent (and retried) byte for byte."""

    notification_id: str
    order_id: str
    order_status: str
    body: bytes
    headers: Mapping[str, str]


class WebhookSender:
    """Bounded outbox of signed webhooks and the task that delivers them."""

    def __init__(
        self,
        config: TikTokSandboxConfig,
        faults: Faults,
        clock: Clock,
        sleep: SleepFn,
        deliver: DeliverFn | None,
    ) -> None:
        self._config = config
        self._faults = faults
        self._clock = clock
        self._sleep = sleep
        self._deliver = deliver
        # Bounded outbox: ``_put`` waits for room, so ``maxlen`` never silently drops one.
        self._outbox: deque[Webhook] = deque(maxlen=config.webhook_outbox_size)
        self._ready: anyio.Event | None = None  # set when a webhook arrives
        self._space: anyio.Event | None = None  # set when a webhook leaves
        self._spelling = random.Random(f"cancel-spelling:{config.seed}")
        self._seq = 0
        self._id_base = id_base(config.seed)
        self._pending = 0
        self._retrying = 0
        self._idle: anyio.Event | None = None
        self.log: deque[dict[str, Any]] = deque(maxlen=config.max_webhook_log)
        self.counts: dict[str, int] = dict.fromkeys(
            ("enqueued", "attempts", "delivered", "failed_attempts", "dropped", "duplicated",
             "reordered", "gave_up", "no_target"),
            0,
        )  # fmt: skip

    @property
    def enabled(self) -> bool:
        """Whether there is anywhere to send to (a URL or a deliver function)."""
        return self._deliver is not None or bool(self._config.webhook_url)

    # ------------------------------------------------------------------ producing

    def build(self, step: StatusStep) -> Webhook:
        """Sign one ORDER_STATUS_CHANGE webhook for ``step``."""
        self._seq += 1
        status = step.status
        if status == "CANCELLED":
            spelling = self._config.cancel_spelling
            if spelling == "random":
                spelling = self._spelling.choice(("CANCEL", "CANCELLED"))
            status = spelling
        notification_id = str(7_400_000_000_000_000_000 + self._id_base + self._seq)
        body = encode_json(
            {
                "type": 1,
                "tts_notification_id": notification_id,
                "shop_id": self._config.shop_id,
                "timestamp": self._clock.now_ms() // 1000,
                "data": {
                    "order_id": step.order_id,
                    "order_status": status,
                    "is_on_hold_order": step.is_on_hold_order,
                    "update_time": step.update_time,
                },
            }
        )
        signature = sign_webhook(self._config.app_key, self._config.app_secret, body)
        headers = {"content-type": "application/json", "authorization": signature}
        return Webhook(notification_id, step.order_id, status, body, headers)

    async def enqueue(self, steps: Iterable[StatusStep]) -> None:
        """Sign and queue webhooks for ``steps`` in order; waits while the outbox is full.

        Without a target (no URL, no deliver function) the webhooks are counted and discarded.
        """
        for step in steps:
            hook = self.build(step)
            self.counts["enqueued"] += 1
            if not self.enabled:
                self.counts["no_target"] += 1
                continue
            self._pending += 1
            await self._put(hook)

    async def _put(self, hook: Webhook) -> None:
        while len(self._outbox) >= self._config.webhook_outbox_size:
            if self._space is None:
                self._space = anyio.Event()
            await self._space.wait()
        self._outbox.append(hook)
        if self._ready is not None:
            self._ready.set()
            self._ready = None

    async def _get(self) -> Webhook:
        await anyio.lowlevel.checkpoint()
        while not self._outbox:
            if self._ready is None:
                self._ready = anyio.Event()
            await self._ready.wait()
        hook = self._outbox.popleft()
        if self._space is not None:
            self._space.set()
            self._space = None
        return hook

    async def wait_idle(self) -> None:
        """Block until every queued webhook was delivered, dropped or given up (incl. retries)."""
        while self._pending > 0:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    def _finish(self) -> None:
        self._pending -= 1
        if self._pending == 0 and self._idle is not None:
            self._idle.set()
            self._idle = None

    # ------------------------------------------------------------------ consuming

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver webhooks until cancelled (a URL target gets an httpx client owned here)."""
        deliver = self._deliver
        async with httpx.AsyncClient(timeout=self._config.webhook_timeout_s) as client:
            if deliver is None:
                url = self._config.webhook_url

                async def post(body: bytes, headers: Mapping[str, str]) -> int:
                    return (await client.post(url, content=body, headers=dict(headers))).status_code

                deliver = post
            async with anyio.create_task_group() as tg:
                task_status.started()
                await self._consume(tg, deliver)

    async def _consume(self, tg: anyio.abc.TaskGroup, deliver: DeliverFn) -> None:
        held: list[Webhook] = []
        while True:
            hook: Webhook | None = None
            if held:
                with anyio.move_on_after(self._config.webhook_reorder_hold_s):
                    hook = await self._get()
            else:
                hook = await self._get()
            if hook is None:  # nothing came after the held ones: release them
                for old in held:
                    await self._first_attempt(tg, deliver, old)
                held.clear()
                continue
            fate = self._faults.webhook_fate()
            if fate.drop:
                self.counts["dropped"] += 1
                self._record(hook, 0, None, "dropped")
                self._finish()
                continue
            if fate.hold and len(held) < self._config.webhook_reorder_window:
                self.counts["reordered"] += 1
                held.append(hook)
                continue
            await self._first_attempt(tg, deliver, hook)
            if fate.duplicate:
                self.counts["duplicated"] += 1
                self._pending += 1
                await self._first_attempt(tg, deliver, hook)
            for old in held:
                await self._first_attempt(tg, deliver, old)
            held.clear()

    async def _first_attempt(
        self, tg: anyio.abc.TaskGroup, deliver: DeliverFn, hook: Webhook
    ) -> None:
        if await self._attempt(deliver, hook, 1):
            self._finish()
        elif self._config.webhook_retry_s and self._retrying < self._config.webhook_max_retrying:
            self._retrying += 1
            tg.start_soon(self._retry, deliver, hook)
        else:
            self.counts["gave_up"] += 1
            self._record(hook, 1, None, "gave_up")
            self._finish()

    async def _retry(self, deliver: DeliverFn, hook: Webhook) -> None:
        try:
            for attempt, delay in enumerate(self._config.webhook_retry_s, start=2):
                await self._sleep(delay)
                if await self._attempt(deliver, hook, attempt):
                    return
            self.counts["gave_up"] += 1
            self._record(hook, len(self._config.webhook_retry_s) + 1, None, "gave_up")
        finally:
            self._retrying -= 1
            self._finish()

    async def _attempt(self, deliver: DeliverFn, hook: Webhook, attempt: int) -> bool:
        self.counts["attempts"] += 1
        status: int | None = None
        try:
            with anyio.fail_after(self._config.webhook_timeout_s):
                status = await deliver(hook.body, hook.headers)
        # The target is anything a test or an operator points us at: any failure of it is a
        # failed attempt, retried like TikTok does, never a crash of the sender.
        except Exception as exc:
            log.debug("webhook %s attempt %d failed: %r", hook.notification_id, attempt, exc)
        ok = status == 200
        self.counts["delivered" if ok else "failed_attempts"] += 1
        self._record(hook, attempt, status, "delivered" if ok else "failed")
        return ok

    def _record(self, hook: Webhook, attempt: int, status: int | None, outcome: str) -> None:
        self.log.append(
            {
                "notification_id": hook.notification_id,
                "order_id": hook.order_id,
                "order_status": hook.order_status,
                "attempt": attempt,
                "http_status": status,
                "outcome": outcome,
                "time_ms": self._clock.now_ms(),
            }
        )

    def stats(self) -> dict[str, Any]:
        """Counters, the outbox depth and how many wait for a retry."""
        return {
            **self.counts,
            "pending": self._pending,
            "retrying": self._retrying,
            "outbox": len(self._outbox),
        }


__all__ = ["DeliverFn", "SleepFn", "Webhook", "WebhookSender"]
