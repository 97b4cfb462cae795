"""``POST /api/tiktok/authorize``: connect a real TikTok Shop seller (bearer token).

Body ``{"auth_code": "...", "shop_key": "..."}``: ``shop_key`` names this seller's authorization
(one per seller: a second seller with the same key would replace the first one's tokens). The
code (single-use, valid 30 min, reference §4.1) is traded for tokens saved under that key; the
shops they cover are read, remembered durably with the key, and added to those the reconciler
polls. Answers
``{"shop_key", "shops": [{"id", "name", "region"}], "access_expires_at"}``; ``400`` for a bad body
or a code TikTok refuses, ``503`` when TikTok or the store cannot be reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec

from creatorflow.domain.limits import Id
from creatorflow.errors import (
    AdapterError,
    CircuitOpen,
    TikTokAuthError,
    TikTokRequestRejected,
    WebhookRejected,
)
from creatorflow.ports import TikTokShop, TikTokTokens
from creatorflow.web._http import Receive, Scope, Send, read_body, respond_error, respond_json


class AuthorizeBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    auth_code: Annotated[str, msgspec.Meta(max_length=1024)]
    shop_key: Id  # stored as the key of the seller's tokens: 1-128 characters


Authorize = Callable[[str, str], Awaitable[tuple[TikTokTokens, list[TikTokShop]]]]


class AuthorizeEndpoint:
    """The route; ``authorize(shop_key, auth_code)`` does the work (see ``wiring/tiktok.py``)."""

    def __init__(self, authorize: Authorize) -> None:
        self._authorize = authorize

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await read_body(scope, receive, 16_384)
            body = msgspec.json.decode(raw, type=AuthorizeBody)
        except WebhookRejected as exc:
            await respond_error(send, exc.status, exc.code, exc.detail)
            return
        except msgspec.DecodeError as exc:
            await respond_error(send, 400, "bad_body", str(exc))
            return
        if not body.auth_code or not body.shop_key:
            await respond_error(send, 400, "bad_body", "auth_code and shop_key must not be empty")
            return
        try:
            tokens, shops = await self._authorize(body.shop_key, body.auth_code)
        except (TikTokAuthError, TikTokRequestRejected) as exc:
            await respond_error(send, 400, "authorization_refused", str(exc))
            return
        except (AdapterError, CircuitOpen) as exc:
            await respond_error(send, 503, "unavailable", str(exc), ((b"retry-after", b"5"),))
            return
        payload: dict[str, Any] = {
            "shop_key": body.shop_key,
            "shops": [{"id": s.id, "name": s.name, "region": s.region} for s in shops],
            "access_expires_at": tokens.access_expires_at,
        }
        await respond_json(send, 200, payload)
