"""Admin endpoints of the sandbox (under ``/sandbox/tiktok``) and the seeded order generator.

=======  ==================================  ===============================================
POST     /sandbox/tiktok/orders              create an order → ``{"order_id"}``; webhooks follow
GET      /sandbox/tiktok/orders/{id}         ``{"order_id", "status", "packages", "order",
                                            "history"}``: ``packages`` the shipped ones,
                                            ``[{"package_id", "tracking_number",
                                            "shipping_provider_id"}]``; ``order`` the order as
                                            the API renders it
POST     /sandbox/tiktok/orders/{id}/status  ``{"status": "CANCELLED"}``: move it, webhooks follow
                                            (also how a shipped order goes on to IN_TRANSIT and
                                            DELIVERED: the sandbox never moves it by itself)
POST     /sandbox/tiktok/generate            ``{"count": N, "seed": S?}`` → ``{"order_ids"}``
GET      /sandbox/tiktok/calls               API calls received, newest last (``?limit=N``)
GET|POST /sandbox/tiktok/faults              the fault plan; POST replaces the given fields
POST     /sandbox/tiktok/tokens/expire       expire every access token (next call: 105002)
GET      /sandbox/tiktok/webhooks            sender counters and its recent attempts
=======  ==================================  ===============================================

Answers are plain JSON (not the TikTok envelope); errors are ``{"error", "detail"}``. A bearer
token is required when the sandbox has an ``admin_token``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import parse_qsl

import msgspec

from creatorflow.errors import WebhookRejected
from creatorflow.sandbox._tiktok_order import DeliveryKind, LineSpec, OrderSpec
from creatorflow.web._http import Receive, Scope, Send, read_body, respond_error, respond_json

if TYPE_CHECKING:
    from creatorflow.sandbox.tiktok import TikTokSandbox

#: Sellable catalogue of generated orders: seller_sku → sale price.
CATALOG: Final = (
    ("MUG-RED", "19.99"),
    ("MUG-BLUE", "19.99"),
    ("TEE-S", "24.00"),
    ("TEE-M", "24.00"),
    ("TEE-L", "24.00"),
    ("CAP-BLK", "15.50"),
    ("BOTTLE-1L", "12.99"),
    ("SOCKS-3PK", "9.99"),
)
_KINDS: Final[tuple[DeliveryKind, ...]] = ("STANDARD", "EXPRESS", "ECONOMY")
_STATUSES: Final = ("AWAITING_SHIPMENT", "ON_HOLD", "UNPAID", "CANCELLED")
_POSTAL: Final = (("10001", "US"), ("94103", "US"), ("60601", "US"), ("73301", "US"))


class StatusBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    status: Annotated[str, msgspec.Meta(max_length=64)]


class GenerateBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    count: int
    seed: int | None = None


def random_order_spec(rng: random.Random) -> OrderSpec:
    """One realistic order: 1-3 SKUs, 1-3 units each, mostly STANDARD and AWAITING_SHIPMENT."""
    picks = rng.sample(CATALOG, k=rng.choice((1, 1, 1, 2, 3)))
    lines = [
        LineSpec(seller_sku=sku, quantity=rng.choice((1, 1, 1, 2, 3)), sale_price=price)
        for sku, price in picks
    ]
    postal, region = rng.choice(_POSTAL)
    return OrderSpec(
        lines=lines,
        delivery_type=rng.choices(_KINDS, weights=(60, 25, 15))[0],
        status=rng.choices(_STATUSES, weights=(75, 10, 10, 5))[0],
        on_hold=rng.random() < 0.5,
        is_cod=rng.random() < 0.05,
        user_id=str(7_000_000_000_000_000_000 + rng.randrange(300)),
        postal_code=postal,
        region_code=region,
    )


async def handle_admin(
    sandbox: TikTokSandbox, rest: str, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one admin request; ``rest`` is the path after ``/sandbox/tiktok``."""
    method: str = scope["method"]
    parts = rest.strip("/").split("/")
    try:
        body = await read_body(scope, receive, sandbox.config.max_body_bytes)
        await _dispatch(sandbox, method, parts, scope, body, send)
    except WebhookRejected as exc:
        await respond_error(send, exc.status, exc.code, exc.detail)
    except msgspec.ValidationError as exc:
        await respond_error(send, 400, "invalid_body", str(exc))
    except msgspec.DecodeError as exc:
        await respond_error(send, 400, "invalid_json", str(exc))
    except KeyError as exc:
        await respond_error(send, 404, "not_found", f"no order {exc.args[0]!r}")
    except ValueError as exc:
        await respond_error(send, 409, "invalid_request", str(exc))


async def _dispatch(
    sandbox: TikTokSandbox, method: str, parts: list[str], scope: Scope, body: bytes, send: Send
) -> None:
    match method, parts:
        case "POST", ["orders"]:
            order_id = await sandbox.create_order(msgspec.json.decode(body, type=OrderSpec))
            await respond_json(send, 200, {"order_id": order_id})
        case "GET", ["orders", order_id]:
            order = sandbox.book.get(order_id)
            if order is None:
                raise KeyError(order_id)
            view = {
                "order_id": order.id,
                "status": order.status,
                "packages": order.shipped_packages(),
                "order": sandbox.book.render(order),
                "history": order.history,
            }
            await respond_json(send, 200, view)
        case "POST", ["orders", order_id, "status"]:
            status = msgspec.json.decode(body, type=StatusBody).status
            steps = await sandbox.set_status(order_id, status)
            moved = [step.status for step in steps]
            await respond_json(send, 200, {"order_id": order_id, "status": status, "steps": moved})
        case "POST", ["generate"]:
            gen = msgspec.json.decode(body, type=GenerateBody)
            ids = await sandbox.generate_orders(gen.count, seed=gen.seed)
            await respond_json(send, 200, {"order_ids": ids})
        case "GET", ["calls"]:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            limit = int(query.get("limit", "0") or 0)
            calls = list(sandbox.calls)
            await respond_json(send, 200, {"calls": calls[-limit:] if limit > 0 else calls})
        case "GET", ["faults"]:
            await respond_json(send, 200, sandbox.faults.snapshot())
        case "POST", ["faults"]:
            changes: dict[str, Any] = msgspec.json.decode(body or b"{}", type=dict[str, Any])
            sandbox.faults.update(changes)
            await respond_json(send, 200, sandbox.faults.snapshot())
        case "POST", ["tokens", "expire"]:
            await respond_json(send, 200, {"expired": sandbox.tokens.expire_access_tokens()})
        case "GET", ["webhooks"]:
            hooks = sandbox.webhooks
            await respond_json(send, 200, {"stats": hooks.stats(), "log": list(hooks.log)[-100:]})
        case _:
            await respond_error(send, 404, "not_found", f"no sandbox admin route {method} {parts}")
