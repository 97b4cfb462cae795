"""``GET /api/webhooks/{notification_id}``: what became of one webhook.

Read from the :class:`~creatorflow.ports.InboxReader` (in the service, ``web.status.CachedInbox``:
a ``processed`` answer is final, so it is cached). 404 for an id never received; 503
``store_unavailable`` (with ``Retry-After``) when the store cannot answer.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.ports import InboxReader, InboxState
from creatorflow.web.api._routing import ApiRoute, Param
from creatorflow.web.api._wire import json_response, lenient_segment
from creatorflow.web.api.errors import NotFound


class WebhookStatus(msgspec.Struct, kw_only=True):
    """One received webhook: its state, and the outcome of processing it."""

    notification_id: str
    type: int
    shop_id: str
    received_at_ms: int
    processed_at_ms: int | None
    attempts: int
    state: InboxState
    last_error: str | None


class WebhookStatusApi:
    """The route; :meth:`routes` lists it."""

    def __init__(self, inbox: InboxReader) -> None:
        self._inbox = inbox

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                method="GET",
                # ``path``: the id is the rest of the path, slashes included (as before Starlette).
                path="/api/webhooks/{notification_id:path}",
                endpoint=self.get_status,
                operation_id="getWebhookStatus",
                summary="What became of one webhook: received, processed or dead",
                tag="webhooks",
                params=(
                    Param(
                        name="notification_id",
                        location="path",
                        schema=str,
                        description="`tts_notification_id`, or `sha256:<hex of the body>`",
                    ),
                ),
                response=WebhookStatus,
                errors={404: ("not_found",), 503: ("store_unavailable",)},
            )
        ]

    async def get_status(self, request: Request) -> Response:
        notification_id = lenient_segment(request, "notification_id")
        status = await self._inbox.get_inbox(notification_id)
        if status is None:
            raise NotFound(f"no webhook with notification id {notification_id!r}")
        return json_response(
            WebhookStatus(
                notification_id=status.notification_id,
                type=status.type,
                shop_id=status.shop_id,
                received_at_ms=status.received_at_ms,
                processed_at_ms=status.processed_at_ms,
                attempts=status.attempts,
                state=status.state,
                last_error=status.last_error,
            )
        )
