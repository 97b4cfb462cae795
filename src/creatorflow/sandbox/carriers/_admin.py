"""Admin endpoints of the sandbox carriers (under ``/sandbox/carriers``, mounted or not).

=====  ===========================================  =========================================
GET    /sandbox/carriers/carriers                   ``{"carriers": [{"name", "services":
                                                    [{"code", "transit_days", "price"}],
                                                    "faults": {...}}]}``
POST   /sandbox/carriers/faults                     ``{"carrier", "outage"?, "error_rate"?,
                                                    "timeout_rate"?, "latency_ms"?: [lo, hi],
                                                    "timeout_s"?, "timeout_applied_rate"?,
                                                    "reset"?}`` → that carrier's faults
GET    /sandbox/carriers/purchases                  ``{"purchases": [{"shipment_id",
                                                    "carrier", "service", "tracking_number",
                                                    "reference", "request_id", "status",
                                                    "total_charge"}]}``, oldest first
POST   /sandbox/carriers/trackers/{number}/advance  ``{"status"}`` → the tracker, moved
GET    /sandbox/carriers/webhooks                   push counters and recent attempts
=====  ===========================================  =========================================

``price`` is for a 1 kg parcel in zone 1 (same country and postal region), ``total_charge``
the label's price; both in minor units of the carrier's currency. A purchase's ``status`` is
its shipment's (``created``, ..., ``delivered``; ``cancelled`` once voided). Answers are plain
JSON; errors are ``{"error", "detail"}`` (400 bad body, 404 unknown carrier / tracker / route,
409 a move the tracker cannot make). A bearer token is required when ``admin_token`` is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.sandbox.carriers._rates import admin_services
from creatorflow.sandbox.carriers._tracking import TrackerMoveError, render_tracker
from creatorflow.web._http import Receive, Scope, Send, read_body, respond_error, respond_json

if TYPE_CHECKING:
    from creatorflow.sandbox.carriers._sandbox import CarrierSandbox

#: First path segments (after the prefix) that are admin routes; anything else is the API.
ADMIN_ROUTES = frozenset({"carriers", "faults", "purchases", "trackers", "webhooks"})


class AdvanceBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Annotated[str, msgspec.Meta(max_length=64)]


class _NotFound(Exception):
    pass


async def handle_admin(
    sandbox: CarrierSandbox, rest: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one admin request; ``rest`` is the path after ``/sandbox/carriers``."""
    parts = rest.strip("/").split("/")
    try:
        body = await read_body(scope, receive, sandbox.config.max_body_bytes)
        status, payload = _dispatch(sandbox, scope["method"], parts, body)
    except WebhookRejected as exc:
        await respond_error(send, exc.status, exc.code, exc.detail)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        await respond_error(send, 400, "invalid_body", str(exc))
    except _NotFound as exc:
        await respond_error(send, 404, "not_found", str(exc))
    except TrackerMoveError as exc:
        await respond_error(send, 409, "invalid_move", str(exc))
    except ValueError as exc:
        await respond_error(send, 400, "invalid_body", str(exc))
    else:
        await respond_json(send, status, payload)


def _dispatch(
    sandbox: CarrierSandbox, method: str, parts: list[str], body: bytes
) -> tuple[int, Any]:
    match method, parts:
        case "GET", ["carriers"]:
            carriers = [
                {"name": c.name, "services": admin_services(c),
                 "faults": sandbox.faults[c.name].render()}
                for c in sandbox.config.carriers
            ]  # fmt: skip
            return 200, {"carriers": carriers}
        case "POST", ["faults"]:
            changes = msgspec.json.decode(body or b"{}", type=dict[str, Any])
            name = changes.pop("carrier", None)
            if not isinstance(name, str):
                raise ValueError('"carrier" (a carrier name) is required')
            carrier = sandbox.config.carrier(name)
            if carrier is None:
                raise _NotFound(f"no carrier {name!r}")
            faults = sandbox.faults[carrier.name]
            faults.update(changes)
            return 200, faults.render()
        case "GET", ["purchases"]:
            return 200, {"purchases": [dict(p) for p in sandbox.shipments.purchases.values()]}
        case "POST", ["trackers", number, "advance"]:
            status = msgspec.json.decode(body, type=AdvanceBody).status
            sandbox.tick()
            try:
                tracker = sandbox.trackers.advance(number, status, sandbox.clock.now_ms())
            except KeyError:
                raise _NotFound(f"no tracker {number!r}") from None
            return 200, render_tracker(tracker, test_mode=sandbox.config.test_mode)
        case "GET", ["webhooks"]:
            pushes = sandbox.pushes
            return 200, {"stats": pushes.stats(), "log": list(pushes.log)[-100:]}
    raise _NotFound(f"no sandbox admin route {method} /{'/'.join(parts)}")
