"""``GET /status``: aggregated health, and the cached webhook-status reader.

Each component is ``ok``, ``degraded`` (working with reduced service, e.g. the cache is down
and every read goes to the store) or ``down``; the overall status is the worst of them. "Accepting"
and "processing" are reported apart (DESIGN §8): ``inbox.oldest_unprocessed_age_s`` says how far
behind processing is even while webhooks are still acknowledged.

``/status`` needs no token, so the service serves a snapshot: :class:`StatusReporter` with
``ttl_s`` > 0 keeps its last report that long, and concurrent requests wait for the one run
of the checks in flight; however often it is asked, the store and the cache are pinged at most
once per ``ttl_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Literal

import anyio
import msgspec

from creatorflow.caching import LayeredCache
from creatorflow.errors import AdapterError
from creatorflow.ports import Clock, InboxCursor, InboxReader, InboxRecord, InboxStatus, Store
from creatorflow.runtime import SupervisorStats
from creatorflow.web.lifecycle import Lifecycle

Level = Literal["ok", "degraded", "down"]
_ORDER: Final[dict[str, int]] = {"ok": 0, "degraded": 1, "down": 2}
_CHECK_TIMEOUT_S: Final = 2.0
#: How long the service serves one ``/status`` report (seconds).
STATUS_TTL_S: Final = 1.0
_STATUS_CODEC: Final = msgspec.msgpack.Decoder(InboxStatus)
_encode = msgspec.msgpack.Encoder().encode


class CachedInbox:
    """An :class:`InboxReader` that keeps finished webhooks in the ``query`` cache layer.

    Only ``processed`` answers are cached: that state is terminal, so a cached answer is never
    stale. Anything else (received, dead, unknown) is read from the store every time.
    """

    def __init__(self, store: InboxReader, cache: LayeredCache) -> None:
        self._store = store
        self._cache = cache

    async def get_inbox(self, notification_id: str) -> InboxStatus | None:
        cached = await self._cache.get("query", f"inbox:{notification_id}")
        if cached is not None:
            try:
                return _STATUS_CODEC.decode(cached)
            except msgspec.DecodeError:
                pass  # an older layout: read the store again
        status = await self._store.get_inbox(notification_id)
        if status is not None and status.state == "processed":
            await self._cache.put("query", f"inbox:{notification_id}", _encode(status))
        return status

    async def list_unprocessed(self, after: InboxCursor | None, limit: int) -> list[InboxRecord]:
        return await self._store.list_unprocessed(after, limit)


class StatusReporter:
    """Builds the ``/status`` document from live checks, at most once per ``ttl_s``.

    Args:
        ttl_s: how long a report is served again (0: every call runs the checks).
        monotonic: the clock ``ttl_s`` is measured on (seconds).
    """

    def __init__(
        self,
        *,
        store: Store,
        cache: LayeredCache,
        lifecycle: Lifecycle,
        tree: Callable[[], SupervisorStats],
        clock: Clock,
        ttl_s: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache = cache
        self._lifecycle = lifecycle
        self._tree = tree
        self._clock = clock
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = anyio.Lock()
        self._last: tuple[Level, dict[str, Any]] | None = None
        self._last_at = 0.0

    async def report(self) -> tuple[Level, dict[str, Any]]:
        """(overall, document): the last report if younger than ``ttl_s``, else a new one.

        A checkpoint; waits for a run of the checks already in flight rather than starting
        another (each check is bounded by a short deadline).
        """
        if self._ttl_s <= 0:
            return await self._checks()
        async with self._lock:
            if self._last is None or self._monotonic() - self._last_at >= self._ttl_s:
                self._last = await self._checks()
                self._last_at = self._monotonic()
            return self._last

    async def _checks(self) -> tuple[Level, dict[str, Any]]:
        """Run the checks (each bounded by a short deadline); return (overall, document)."""
        components: dict[str, dict[str, Any]] = {
            "store": await self._store_check(),
            "cache": await self._cache_check(),
            "tree": self._tree_check(),
        }
        components["inbox"] = await self._inbox_check(components["store"]["status"])
        overall: Level = max(
            (c["status"] for c in components.values()), key=lambda level: _ORDER[level]
        )
        return overall, {"status": overall, "components": components}

    async def _store_check(self) -> dict[str, Any]:
        try:
            with anyio.fail_after(_CHECK_TIMEOUT_S):
                await self._store.ping()
        except (AdapterError, TimeoutError) as exc:
            return {"status": "down", "error": str(exc) or type(exc).__name__}
        return {"status": "ok"}

    async def _cache_check(self) -> dict[str, Any]:
        with anyio.move_on_after(_CHECK_TIMEOUT_S):
            await self._cache.probe()
        health = self._cache.health()
        return {"status": health.status, "last_error": health.last_error, "errors": health.errors}

    def _tree_check(self) -> dict[str, Any]:
        lifecycle = self._lifecycle
        state = "draining" if lifecycle.draining else "running" if lifecycle.ready else "starting"
        stats = self._tree()
        stopped = [path for path, child in stats.walk() if not child.running]
        restarts = {path: child.restarts for path, child in stats.walk() if child.restarts}
        level: Level = "ok" if state == "running" and not stopped else "degraded"
        return {"status": level, "state": state, "stopped": stopped, "restarts": restarts}

    async def _inbox_check(self, store_level: str) -> dict[str, Any]:
        if store_level == "down":
            return {"status": "down", "oldest_unprocessed_age_s": None}
        try:
            with anyio.fail_after(_CHECK_TIMEOUT_S):
                oldest = await self._store.list_unprocessed(None, 1)
        except (AdapterError, TimeoutError) as exc:
            return {"status": "down", "error": str(exc) or type(exc).__name__}
        age = None
        if oldest:
            age = max(0.0, (self._clock.now_ms() - oldest[0].received_at_ms) / 1000)
        return {"status": "ok", "oldest_unprocessed_age_s": age}
