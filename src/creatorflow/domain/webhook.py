"""TikTok Shop webhooks: signature check and envelope parsing (pure, no I/O).

Reference: ``shared/reference/tiktok-shop-api.md`` §1. The ``Authorization`` header is the
lowercase hex HMAC-SHA256 of ``app_key + raw_body`` keyed with ``app_secret``; there is no
timestamp in the signature, so dedupe on ``tts_notification_id`` is the replay defence.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Annotated, Any, Final

import msgspec

from creatorflow.domain.limits import (
    MAX_JSON_DEPTH,
    Id,
    NonNegativeInt64,
    OptionalId,
    json_too_deep,
)
from creatorflow.errors import WebhookRejected

#: Numeric webhook ``type`` → event_type name (reference §1.4). Unknown numbers are stored and
#: counted, never rejected.
TOPICS: Final[dict[int, str]] = {
    1: "ORDER_STATUS_CHANGE",
    2: "REVERSE_STATUS_UPDATE",
    3: "RECIPIENT_ADDRESS_UPDATE",
    4: "PACKAGE_UPDATE",
    5: "PRODUCT_STATUS_CHANGE",
    6: "SELLER_DEAUTHORIZATION",
    7: "UPCOMING_AUTHORIZATION_EXPIRATION",
    11: "CANCELLATION_STATUS_CHANGE",
    12: "RETURN_STATUS_CHANGE",
    13: "NEW_CONVERSATION",
    14: "NEW_MESSAGE",
    15: "PRODUCT_INFORMATION_CHANGE",
    16: "PRODUCT_CREATION",
    18: "PRODUCT_CATEGORY_CHANGE",
    27: "INVENTORY_STATUS_CHANGE",
    33: "NEW_MESSAGE_LISTENER",
    36: "INVOICE_STATUS_CHANGE",
    37: "PRODUCT_AUDIT_STATUS_CHANGE",
    42: "COMBINED_LISTING_CHANGE",
}

ORDER_STATUS_CHANGE: Final = 1

#: Prefix of the dedupe key used when a webhook has no ``tts_notification_id``.
BODY_HASH_PREFIX: Final = "sha256:"


class AppCredentials(msgspec.Struct, frozen=True, kw_only=True):
    """One TikTok Shop app: webhooks signed with any configured app are accepted."""

    app_key: str
    app_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"AppCredentials(app_key={self.app_key!r}, app_secret='********')"


#: Largest webhook ``type`` accepted (TikTok's topics are small numbers; unknown ones are
#: stored, so the bound only keeps the value inside the column).
MAX_TYPE: Final = 2**31 - 1

Topic = Annotated[int, msgspec.Meta(ge=0, le=MAX_TYPE)]
Status = Annotated[str, msgspec.Meta(max_length=64)]


class WebhookEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """The common envelope of every TikTok Shop webhook (reference §1.3).

    Bounded at the edge (``domain.limits``): ``type`` 0 to 2^31-1, ``timestamp`` a
    non-negative 64-bit integer, ids at most 128 characters without control characters, ``data``
    nested at most ``MAX_JSON_DEPTH`` levels.
    """

    type: Topic
    timestamp: NonNegativeInt64
    data: dict[str, Any]
    tts_notification_id: OptionalId | None = None
    shop_id: OptionalId | None = None
    seller_open_id: OptionalId | None = None
    creator_open_id: OptionalId | None = None


class OrderStatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """``data`` of type 1: only a hint (it even says ``CANCEL``), so the order is re-read."""

    order_id: Id
    order_status: Status
    update_time: NonNegativeInt64
    is_on_hold_order: bool = False


_ENVELOPE_DECODER: Final = msgspec.json.Decoder(WebhookEnvelope)
_TOO_DEEP: Final = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


def sign_webhook(app_key: str, app_secret: str, body: bytes) -> str:
    """The ``Authorization`` value TikTok Shop sends for ``body`` (also used by the sandbox)."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def verify_signature(apps: Sequence[AppCredentials], body: bytes, header: str | None) -> str:
    """Return the app_key whose secret signed ``body``.

    Every configured app is tried with a constant-time comparison.

    Raises:
        WebhookRejected: 401 when the header is missing or matches no app.
    """
    if not header:
        raise WebhookRejected(401, "missing_signature", "Authorization header is required")
    candidate = header.strip().lower().encode()
    matched: str | None = None
    for app in apps:
        expected = sign_webhook(app.app_key, app.app_secret, body).encode()
        if hmac.compare_digest(expected, candidate) and matched is None:
            matched = app.app_key
    if matched is None:
        raise WebhookRejected(401, "bad_signature", "signature does not match any configured app")
    return matched


def parse_envelope(body: bytes) -> WebhookEnvelope:
    """Decode and validate the envelope, and the ``data`` of the topics we act on.

    Raises:
        WebhookRejected: 400 naming the problem (msgspec's message, e.g.
            ``Expected `int`, got `str` - at `$.type```).
    """
    if json_too_deep(body):
        raise WebhookRejected(400, "too_deep", _TOO_DEEP)
    try:
        envelope = _ENVELOPE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise WebhookRejected(400, "invalid_envelope", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise WebhookRejected(400, "invalid_json", str(exc)) from None
    if envelope.type == ORDER_STATUS_CHANGE:
        order_status_change(envelope)
    return envelope


def order_status_change(envelope: WebhookEnvelope) -> OrderStatusChange:
    """The typed ``data`` of an ORDER_STATUS_CHANGE webhook.

    Raises:
        WebhookRejected: 400 when ``data`` lacks a field or has a wrong type.
    """
    try:
        return msgspec.convert(envelope.data, OrderStatusChange)
    except msgspec.ValidationError as exc:
        text = str(exc).replace("`$.", "`$.data.").replace("`$`", "`$.data`")
        raise WebhookRejected(400, "invalid_data", text) from None


def dedupe_key(envelope: WebhookEnvelope, body: bytes) -> str:
    """``tts_notification_id``, or the SHA-256 of the raw body when TikTok sent none."""
    if envelope.tts_notification_id:
        return envelope.tts_notification_id
    return BODY_HASH_PREFIX + hashlib.sha256(body).hexdigest()


def shop_of(envelope: WebhookEnvelope) -> str:
    """The shop (or seller/creator) the webhook is about; empty when none is given."""
    return envelope.shop_id or envelope.seller_open_id or envelope.creator_open_id or ""


def topic_name(type_: int) -> str:
    """Event-type name of a numeric topic, ``UNKNOWN_<n>`` for numbers we do not know."""
    return TOPICS.get(type_, f"UNKNOWN_{type_}")
