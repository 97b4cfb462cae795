"""Karrio-style ``tracker_updated`` pushes: a bounded outbox and one sender task.

Like Karrio (reference shipping-apis.md §1.8): body ``{"event": "tracker_updated", "data":
<tracker>}``, header ``X-Event-Id: <webhook secret>`` (the secret itself: no HMAC, no
timestamp), one attempt per event, no retry; after ``webhook_disable_after`` consecutive
failed attempts (non-2xx or transport error) the endpoint is disabled and later events are
counted and dropped. Karrio has no shipment-delivered event: ``tracker_updated`` says it.

``enqueue`` never blocks (trackers move inside a request or a tick): the outbox holds at most
``webhook_outbox_size`` events and drops the oldest when full (counted in ``dropped``), as a
real push is lost when the receiver is down. ``run`` delivers until cancelled and owns its
httpx client when it posts to ``webhook_url``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import msgspec

from creatorflow.ports import Clock
from creatorflow.sandbox.carriers._config import CarrierSandboxConfig

log = logging.getLogger("creatorflow.sandbox.carriers")

#: Delivers one push: ``(body, headers) -> HTTP status``; raising counts as a failed attempt.
DeliverFn = Callable[[bytes, Mapping[str, str]], Awaitable[int]]

_encode = msgspec.json.Encoder().encode


class TrackerPush:
    """The outbox of ``tracker_updated`` events and their delivery."""

    def __init__(
        self, config: CarrierSandboxConfig, clock: Clock, deliver: DeliverFn | None
    ) -> None:
        self._config = config
        self._clock = clock
        self._deliver = deliver
        self._outbox: deque[bytes] = deque(maxlen=config.webhook_outbox_size)
        self._ready: anyio.Event | None = None
        self._idle: anyio.Event | None = None
        self._busy = False
        self._failures = 0
        self.disabled = False
        self.log: deque[dict[str, Any]] = deque(maxlen=config.max_webhook_log)
        self.counts: dict[str, int] = dict.fromkeys(
            ("enqueued", "delivered", "failed", "dropped", "disabled_drops"), 0
        )

    @property
    def enabled(self) -> bool:
        """Whether there is a target (a URL or a deliver function)."""
        return self._deliver is not None or bool(self._config.webhook_url)

    def enqueue(self, tracker: dict[str, Any]) -> None:
        """Queue a ``tracker_updated`` event for ``tracker``. Never blocks."""
        if not self.enabled:
            return
        if self.disabled:
            self.counts["disabled_drops"] += 1
            return
        if len(self._outbox) == self._outbox.maxlen:
            self.counts["dropped"] += 1  # the append below pushes the oldest out
        self._outbox.append(_encode({"event": "tracker_updated", "data": tracker}))
        self.counts["enqueued"] += 1
        if self._ready is not None:
            self._ready.set()
            self._ready = None

    async def wait_idle(self) -> None:
        """Block until the outbox is empty and no push is in flight."""
        while self._outbox or self._busy:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Deliver queued events one at a time until cancelled."""
        async with httpx.AsyncClient(timeout=self._config.webhook_timeout_s) as client:
            deliver = self._deliver
            if deliver is None:
                url = self._config.webhook_url

                async def post(body: bytes, headers: Mapping[str, str]) -> int:
                    return (await client.post(url, content=body, headers=dict(headers))).status_code

                deliver = post
            task_status.started()
            while True:
                await anyio.lowlevel.checkpoint()
                while not self._outbox:
                    if self._idle is not None:
                        self._idle.set()
                        self._idle = None
                    self._ready = self._ready or anyio.Event()
                    await self._ready.wait()
                body = self._outbox.popleft()
                self._busy = True
                try:
                    await self._attempt(deliver, body)
                finally:
                    self._busy = False

    async def _attempt(self, deliver: DeliverFn, body: bytes) -> None:
        headers = {"content-type": "application/json", "x-event-id": self._config.webhook_secret}
        status: int | None = None
        try:
            with anyio.fail_after(self._config.webhook_timeout_s):
                status = await deliver(body, headers)
        # The target is whatever an operator points us at: any failure is a failed attempt.
        except Exception as exc:
            log.debug("tracker_updated push failed: %r", exc)
        ok = status is not None and 200 <= status < 300
        self.counts["delivered" if ok else "failed"] += 1
        self._failures = 0 if ok else self._failures + 1
        if self._failures >= self._config.webhook_disable_after and not self.disabled:
            self.disabled = True
            log.warning("tracker_updated pushes disabled after %d failures", self._failures)
        self.log.append(
            {"time_ms": self._clock.now_ms(), "http_status": status, "ok": ok, "bytes": len(body)}
        )

    def stats(self) -> dict[str, Any]:
        """Counters, the outbox depth, whether pushing was disabled."""
        return {**self.counts, "outbox": len(self._outbox), "disabled": self.disabled}
