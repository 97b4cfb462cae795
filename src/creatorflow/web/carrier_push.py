"""``POST /webhooks/carriers``: the carrier gateway's pushes (Karrio's ``tracker_updated`` and
``shipment_*`` events), a hint that a parcel moved.

Karrio sends its webhook secret itself in ``X-Event-Id`` (no HMAC, no timestamp: reference
shipping-apis §1.8); it is compared in constant time with ``shipping.webhook_secret``. A push
only names the parcel: the tracking poller reads the tracker from the gateway and that answer
is what counts, so a forged or replayed push can cost one tracker read, never a wrong state.
The answer is ``200`` as soon as the hint is queued (or dropped when the poller is busy: the
scheduled poll reads the parcel anyway); ``401`` for a bad secret, ``400`` for a body that is
not an event, ``413`` over the size limit.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Final

import msgspec

from creatorflow.domain.limits import OptionalId
from creatorflow.errors import CreatorFlowError, WebhookRejected
from creatorflow.web._http import Receive, Scope, Send, header, read_body, respond, respond_error

MAX_BODY_BYTES: Final = 262_144


class _Data(msgspec.Struct, kw_only=True):
    tracking_number: OptionalId | None = None


class _Event(msgspec.Struct, kw_only=True):
    event: str
    data: _Data | None = None


_DECODE = msgspec.json.Decoder(_Event)


class CarrierPushEndpoint:
    """The route; ``track`` hands a tracking number to the tracking poller (never blocks)."""

    def __init__(self, *, secret: str, track: Callable[[str], None]) -> None:
        self._secret = secret.encode()
        self._track = track

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await respond_error(
                send, 405, "method_not_allowed", "POST only", ((b"allow", b"POST"),)
            )
            return
        given = header(scope, b"x-event-id") or b""
        if not self._secret or not hmac.compare_digest(given, self._secret):
            await respond_error(send, 401, "bad_secret", "X-Event-Id is not the webhook secret")
            return
        try:
            body = await read_body(scope, receive, MAX_BODY_BYTES)
            event = _DECODE.decode(body)
        except WebhookRejected as exc:
            await respond_error(send, exc.status, exc.code, exc.detail)
            return
        except msgspec.DecodeError as exc:
            await respond_error(send, 400, "invalid_event", str(exc))
            return
        number = event.data.tracking_number if event.data is not None else None
        if number and (event.event == "tracker_updated" or event.event.startswith("shipment_")):
            try:
                self._track(number)
            except CreatorFlowError:
                pass  # the poller is saturated: its scheduled poll reads the parcel anyway
        await respond(send, 200)
