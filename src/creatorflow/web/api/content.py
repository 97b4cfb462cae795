"""``POST /api/content-metrics``: video metrics for the stock watcher (viral detection).

Body: one :class:`ContentMetric` or a list of 1 to 500 (cumulative counts of a video linked to a
SKU; ``at_ms`` defaults to now and may not be more than 5 minutes ahead of it), at most
128 KiB. Answered ``202 {"accepted": n}``: each metric is told to the watcher in order, never
waiting; a full watcher is 503 ``watcher_busy`` with ``"accepted"`` (the first n were taken; the
counts are cumulative, so sending them all again is harmless) and ``Retry-After``; a stopped one
``watcher_unavailable`` (also with ``accepted``), no watcher at all ``watcher_unavailable``
without ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.actors.stock_watcher import ContentObserved
from creatorflow.domain.limits import SkuId
from creatorflow.errors import MailboxFull, RuntimeFault
from creatorflow.web.api._routing import ApiRoute
from creatorflow.web.api._wire import MAX_I64, body_bytes, decode, json_if_typed, json_response
from creatorflow.web.api.errors import BadBody, Unavailable

MAX_METRICS: Final = 500
METRICS_MAX_BODY_BYTES: Final = 131072  # 500 metrics of ~120 bytes, with room for long ids
#: How far ahead of this server's clock a content metric's ``at_ms`` may be (clock skew).
MAX_CLOCK_SKEW_MS: Final = 5 * 60_000

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_I64)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ContentMetric(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One video's cumulative metrics."""

    sku: SkuId
    video_id: NonEmpty
    views: Count
    likes: Count = 0
    shares: Count = 0
    at_ms: Count | None = None


ContentMetrics = (
    ContentMetric
    | Annotated[list[ContentMetric], msgspec.Meta(min_length=1, max_length=MAX_METRICS)]
)


class Accepted(msgspec.Struct, kw_only=True):
    accepted: int


_METRICS = msgspec.json.Decoder(ContentMetrics)


class ContentMetricsApi:
    """The route; :meth:`routes` lists it.

    Args:
        watcher_tell: gives the stock watcher a metric without waiting (``tell_nowait``:
            raises MailboxFull when full); None: every request is 503.
        clock_ms: wall-clock milliseconds, the default ``at_ms``.
    """

    def __init__(
        self, *, watcher_tell: Callable[[ContentObserved], None] | None, clock_ms: Callable[[], int]
    ) -> None:
        self._tell = watcher_tell
        self._clock_ms = clock_ms

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                method="POST",
                path="/api/content-metrics",
                endpoint=self.content_metrics,
                operation_id="postContentMetrics",
                summary="Video metrics (one or a list) for viral detection",
                tag="content",
                body=ContentMetrics,
                status=202,
                response=Accepted,
                errors={
                    400: ("bad_body", "too_deep", "bad_content_length", "disconnected"),
                    413: ("too_large",),
                    415: ("unsupported_media_type",),
                    503: ("watcher_busy", "watcher_unavailable"),
                },
            )
        ]

    async def content_metrics(self, request: Request) -> Response:
        """Tell the watcher each metric, in order (202)."""
        tell = self._tell
        if tell is None:
            raise Unavailable(
                "watcher_unavailable", "no stock watcher is running", retry_after_s=None
            )
        json_if_typed(request)
        raw = await body_bytes(request, METRICS_MAX_BODY_BYTES)
        body = decode(_METRICS, raw, "a content metric or a list of them")
        metrics = [body] if isinstance(body, ContentMetric) else body
        now_ms = self._clock_ms()
        for metric in metrics:
            if metric.at_ms is not None and metric.at_ms > now_ms + MAX_CLOCK_SKEW_MS:
                raise BadBody(
                    f"at_ms {metric.at_ms} is in the future (now {now_ms}); leave it out for now"
                )
        for accepted, metric in enumerate(metrics):
            msg = ContentObserved(
                sku=metric.sku,
                video_id=metric.video_id,
                views=metric.views,
                likes=metric.likes,
                shares=metric.shares,
                at_ms=now_ms if metric.at_ms is None else metric.at_ms,
            )
            try:
                tell(msg)
            except RuntimeFault as exc:
                # MailboxFull sheds load; ActorStopped: the watcher is gone (restarting or down).
                code = "watcher_busy" if isinstance(exc, MailboxFull) else "watcher_unavailable"
                detail = f"{exc}; the first {accepted} metrics were accepted"
                raise Unavailable(code, detail, accepted=accepted) from exc
        return json_response(Accepted(accepted=len(metrics)), 202)
