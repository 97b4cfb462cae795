"""``POST /api/tiktok/authorize``: connect a real TikTok Shop seller.

Body :class:`AuthorizeBody`: ``shop_key`` names this seller's authorization (one per seller: a
second seller with the same key would replace the first one's tokens). The code (single-use,
valid 30 min, reference §4.1) is traded for tokens saved under that key; the shops they cover
are read, remembered durably with the key, and added to those the reconciler polls. Answers
:class:`Authorized`; 400 ``bad_body`` or ``authorization_refused`` (TikTok refused the code),
503 ``unavailable`` (with ``Retry-After: 5``) when TikTok or the store cannot be reached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.domain.limits import Id
from creatorflow.errors import (
    AdapterError,
    CircuitOpen,
    TikTokAuthError,
    TikTokRequestRejected,
)
from creatorflow.ports import TikTokShop, TikTokTokens
from creatorflow.web.api._routing import ApiRoute
from creatorflow.web.api._wire import body_bytes, json_response
from creatorflow.web.api.errors import ApiError, BadBody, Unavailable

MAX_BODY_BYTES: Final = 16_384
#: Seconds to wait before trying TikTok again.
RETRY_AFTER_S: Final = 5


class AuthorizeBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    auth_code: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    shop_key: Id  # stored as the key of the seller's tokens: 1-128 characters


class Shop(msgspec.Struct, kw_only=True):
    id: str
    name: str
    region: str


class Authorized(msgspec.Struct, kw_only=True):
    """The seller is connected: the shops the tokens cover, and when the access token ends."""

    shop_key: str
    shops: list[Shop]
    access_expires_at: int


Authorize = Callable[[str, str], Awaitable[tuple[TikTokTokens, list[TikTokShop]]]]
_BODY = msgspec.json.Decoder(AuthorizeBody)


class AuthorizeApi:
    """The route; ``authorize(shop_key, auth_code)`` does the work (see ``wiring/tiktok.py``)."""

    def __init__(self, authorize: Authorize) -> None:
        self._authorize = authorize

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                method="POST",
                path="/api/tiktok/authorize",
                endpoint=self.authorize,
                operation_id="authorizeTikTokSeller",
                summary="Trade a seller's TikTok auth code for tokens; poll their shops",
                tag="tiktok",
                body=AuthorizeBody,
                response=Authorized,
                errors={
                    400: (
                        "bad_body",
                        "authorization_refused",
                        "too_deep",
                        "bad_content_length",
                        "disconnected",
                    ),
                    413: ("too_large",),
                    503: ("unavailable",),
                },
            )
        ]

    async def authorize(self, request: Request) -> Response:
        raw = await body_bytes(request, MAX_BODY_BYTES)
        try:
            body = _BODY.decode(raw)
        except msgspec.DecodeError as exc:
            raise BadBody(str(exc)) from None
        if not body.auth_code or not body.shop_key:
            raise BadBody("auth_code and shop_key must not be empty")
        try:
            tokens, shops = await self._authorize(body.shop_key, body.auth_code)
        except (TikTokAuthError, TikTokRequestRejected) as exc:
            raise ApiError(400, "authorization_refused", str(exc)) from exc
        except (AdapterError, CircuitOpen) as exc:  # TikTok's, or the store's: not the table's
            raise Unavailable("unavailable", str(exc), retry_after_s=RETRY_AFTER_S) from exc
        return json_response(
            Authorized(
                shop_key=body.shop_key,
                shops=[Shop(id=s.id, name=s.name, region=s.region) for s in shops],
                access_expires_at=tokens.access_expires_at,
            )
        )
