"""The sandbox's order book: create, move, read, search, ship; inventory levels.

State (bounded): at most ``max_orders`` orders, oldest evicted first (with their packages);
inventory levels for at most ``max_orders`` SKUs; the owner of at most ``max_orders`` tracking
numbers (a number is refused on a second order: 21011025). Ids are deterministic: a counter
offset by the seed, shaped like TikTok's 18-19 digit snowflakes. Every status change returns
:class:`StatusStep` values, which the caller turns into webhooks, in life-cycle order.
Update times strictly increase per order, so steps of one order are ordered by ``update_time``.
"""

from __future__ import annotations

import base64
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, NamedTuple

import msgspec

from creatorflow.ports import Clock
from creatorflow.sandbox._tiktok_config import TikTokSandboxConfig, id_base
from creatorflow.sandbox._tiktok_order import (
    CANCELLED,
    SHIPPABLE,
    LineItem,
    OrderSpec,
    SandboxOrder,
    parse_money,
    sku_ids,
)
from creatorflow.sandbox._tiktok_wire import (
    ALREADY_DELIVERED,
    ALREADY_SHIPPED,
    NOT_SHIPPABLE,
    ORDER_CANCELLED,
    ORDER_NOT_FOUND,
    TRACKING_DUPLICATE,
    ApiError,
    business_error,
    gateway_error,
)

_SHIPPED = frozenset({"AWAITING_COLLECTION", "IN_TRANSIT"})
_DELIVERED = frozenset({"DELIVERED", "COMPLETED"})


class StatusStep(NamedTuple):
    """One status an order entered: the content of one ORDER_STATUS_CHANGE webhook."""

    order_id: str
    status: str
    update_time: int
    is_on_hold_order: bool


class SearchFilter(msgspec.Struct, frozen=True, kw_only=True):
    """JSON body of Get Order List (filters we honour; others are accepted and ignored)."""

    order_status: str | None = None
    create_time_ge: int | None = None
    create_time_lt: int | None = None
    update_time_ge: int | None = None
    update_time_lt: int | None = None


class OrderBook:
    """Orders, packages and inventory of the one sandbox shop. Never blocks; no I/O."""

    def __init__(self, config: TikTokSandboxConfig, clock: Clock, rng: random.Random) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._orders: OrderedDict[str, SandboxOrder] = OrderedDict()
        self._packages: dict[str, str] = {}
        self._tracking: OrderedDict[str, str] = OrderedDict()  # number (upper) → order id
        self.inventory: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._products: OrderedDict[str, str] = OrderedDict()
        self._seq = 0
        self._id_base = id_base(config.seed)

    def __len__(self) -> int:
        return len(self._orders)

    def _now(self) -> int:
        return self._clock.now_ms() // 1000

    def _next_id(self, prefix: int) -> str:
        self._seq += 1
        return str(prefix * 10**15 + self._id_base + self._seq)

    # ------------------------------------------------------------------ create / move

    def create(self, spec: OrderSpec) -> tuple[SandboxOrder, list[StatusStep]]:
        """Create an order in UNPAID and walk it to ``spec.status``.

        Raises:
            ValueError: bad lines (no lines, quantity < 1, too many units, bad price) or a
                status the life cycle cannot reach.
        """
        units = sum(line.quantity for line in spec.lines)
        if not spec.lines or any(line.quantity < 1 for line in spec.lines):
            raise ValueError("lines must be non-empty, each with quantity >= 1")
        if units > self._config.max_units_per_order:
            raise ValueError(f"at most {self._config.max_units_per_order} units per order")
        items: list[LineItem] = []
        for line in spec.lines:
            cents = parse_money(line.sale_price)
            sku_id, product_id = sku_ids(line.seller_sku)
            self._products[sku_id] = product_id
            self._products.move_to_end(sku_id)
            items.extend(
                LineItem(self._next_id(577), line.seller_sku, sku_id, product_id, cents)
                for _ in range(line.quantity)
            )
        user_id = spec.user_id or str(7_000_000_000_000_000_000 + self._rng.randrange(10**9))
        order = SandboxOrder(
            id=self._next_id(576),
            status="UNPAID",
            create_time=0,
            update_time=0,
            delivery_kind=spec.delivery_type,
            package_id=self._next_id(115),
            lines=items,
            user_id=user_id,
            on_hold=spec.on_hold,
            is_cod=spec.is_cod,
            buyer_message=spec.buyer_message,
            order_type=spec.order_type,
            postal_code=spec.postal_code,
            region_code=spec.region_code,
        )
        for item in items:
            item.package_id = order.package_id
        path = [] if spec.status == "UNPAID" else order.path_to(spec.status)
        # Backdate so that every step has its own second and the last one is "now".
        start = self._now() - len(path)
        order.create_time = start
        order.apply("UNPAID", start)
        steps = [StatusStep(order.id, "UNPAID", start, order.on_hold)]
        steps.extend(self._walk(order, path))
        self._store(order)
        return order, steps

    def move(self, order_id: str, status: str) -> list[StatusStep]:
        """Move an order forward (or cancel it); one step per status passed.

        Raises:
            KeyError: no such order.
            ValueError: the move is not allowed (see ``SandboxOrder.path_to``).
        """
        order = self._orders[order_id]
        return self._walk(order, order.path_to(status))

    def _walk(self, order: SandboxOrder, path: Sequence[str]) -> list[StatusStep]:
        at = max(order.update_time + 1, self._now() - len(path) + 1)
        steps = []
        for status in path:
            order.apply(status, at)
            steps.append(StatusStep(order.id, status, at, order.on_hold))
            at += 1
        return steps

    def _store(self, order: SandboxOrder) -> None:
        self._orders[order.id] = order
        self._packages[order.package_id] = order.id
        while len(self._orders) > self._config.max_orders:
            _, old = self._orders.popitem(last=False)
            for package_id in old.package_ids():
                self._packages.pop(package_id, None)
        while len(self._products) > self._config.max_orders:
            self._products.popitem(last=False)

    # ------------------------------------------------------------------ read

    def get(self, order_id: str) -> SandboxOrder | None:
        """The order, or None."""
        return self._orders.get(order_id)

    def render(self, order: SandboxOrder) -> dict[str, Any]:
        """The API shape of one order."""
        return order.to_api(self._config.currency, self._config.warehouse_id)

    def search(
        self, flt: SearchFilter, page_size: int, token: str, sort_field: str, descending: bool
    ) -> tuple[list[dict[str, Any]], str, int]:
        """One page of Get Order List: ``(orders, next_page_token, total_count)``.

        Keyset paging on ``(sort value, id)``: a page token stays valid while orders change.

        Raises:
            ApiError: a malformed ``page_token``.
        """
        matched = [
            (getattr(o, sort_field), o.id, o) for o in self._orders.values() if _matches(o, flt)
        ]
        matched.sort(key=lambda item: (item[0], item[1]), reverse=descending)
        if token:
            after = _decode_token(token)
            matched_after = [
                m for m in matched if ((m[0], m[1]) < after if descending else (m[0], m[1]) > after)
            ]
        else:
            matched_after = matched
        page = matched_after[:page_size]
        more = len(matched_after) > page_size
        next_token = _encode_token(page[-1][0], page[-1][1]) if more and page else ""
        return [self.render(o) for _, _, o in page], next_token, len(matched)

    # ------------------------------------------------------------------ fulfilment

    def order_of_package(self, package_id: str) -> SandboxOrder | None:
        """The order a package belongs to, or None."""
        order_id = self._packages.get(package_id)
        return None if order_id is None else self._orders.get(order_id)

    def require(self, order_id: str) -> SandboxOrder:
        """The order, or a business error ``ORDER_NOT_FOUND``."""
        order = self._orders.get(order_id)
        if order is None:
            raise business_error(ORDER_NOT_FOUND, f"order {order_id} not found")
        return order

    def ship(
        self,
        order: SandboxOrder,
        tracking: str,
        provider: str,
        line_ids: Sequence[str] | None,
        *,
        package_id: str | None = None,
    ) -> tuple[str, list[StatusStep]]:
        """Put tracking on lines and move the order when configured: to AWAITING_COLLECTION
        once every line is shipped, else to PARTIALLY_SHIPPING. Returns the package shipped.

        Ship Package passes ``package_id`` (its lines ship); Mark Package As Shipped passes
        ``line_ids`` (None or empty: every line) and gets the order's first package when that is
        exactly what ships, a new package otherwise.

        Raises:
            ApiError: 21011041 cancelled, 21011027 delivered, 21011006 shipped already (any
                chosen line has tracking, or the order is past shipping), 21011002 not
                awaiting shipment or a line not on the order, 21011025 the tracking number is
                on another order.
        """
        if order.status == CANCELLED:
            raise business_error(ORDER_CANCELLED, f"order {order.id} is cancelled")
        if order.status in _DELIVERED:
            raise business_error(ALREADY_DELIVERED, f"order {order.id} is {order.status}")
        if package_id is not None:
            chosen = order.lines_of(package_id)
        elif not line_ids:
            chosen = list(order.lines)
        else:
            by_id = {line.id: line for line in order.lines}
            unknown = [i for i in line_ids if i not in by_id]
            if unknown:
                raise business_error(
                    NOT_SHIPPABLE, f"line items {unknown} are not on order {order.id}"
                )
            chosen = [by_id[i] for i in dict.fromkeys(line_ids)]
        shipped = sorted({line.tracking_number for line in chosen if line.tracking_number})
        if shipped or order.status in _SHIPPED:
            raise business_error(
                ALREADY_SHIPPED,
                f"order {order.id} is shipped already ({order.status}, tracking {shipped})",
            )
        if order.status not in SHIPPABLE:
            raise business_error(
                NOT_SHIPPABLE, f"order {order.id} is {order.status}, not awaiting shipment"
            )
        key = tracking.upper()
        owner = self._tracking.get(key)
        if owner is not None and owner != order.id and owner in self._orders:
            raise business_error(
                TRACKING_DUPLICATE, f"tracking number {tracking} is used by another order"
            )
        if package_id is None:
            first = {line.id for line in order.lines_of(order.package_id)}
            whole = {line.id for line in chosen} == first
            package_id = order.package_id if whole else self._next_id(115)
            self._packages[package_id] = order.id
        order.tracking_number, order.shipping_provider_id = tracking, provider
        for line in chosen:
            line.tracking_number, line.shipping_provider_id = tracking, provider
            line.package_status = "PROCESSING"
            line.package_id = package_id
        self._tracking[key] = order.id
        self._tracking.move_to_end(key)
        while len(self._tracking) > self._config.max_orders:
            self._tracking.popitem(last=False)
        return package_id, self._advance(order)

    def _advance(self, order: SandboxOrder) -> list[StatusStep]:
        if not self._config.ship_advances_status:
            return []
        if all(line.tracking_number for line in order.lines):
            return self.move(order.id, "AWAITING_COLLECTION")
        if order.status == "AWAITING_SHIPMENT":
            return self.move(order.id, "PARTIALLY_SHIPPING")
        return []

    def product_of(self, sku_id: str) -> str | None:
        """The product of a SKU seen on an order, or None."""
        return self._products.get(sku_id)

    def set_inventory(self, sku_id: str, warehouse_id: str, quantity: int) -> None:
        """Record a stock level (bounded: the oldest SKU is forgotten first)."""
        key = (sku_id, warehouse_id)
        self.inventory.pop(key, None)
        self.inventory[key] = quantity
        while len(self.inventory) > self._config.max_orders:
            self.inventory.popitem(last=False)


def _matches(order: SandboxOrder, flt: SearchFilter) -> bool:
    if flt.order_status is not None and order.status != flt.order_status:
        return False
    bounds = (
        (order.update_time, flt.update_time_ge, flt.update_time_lt),
        (order.create_time, flt.create_time_ge, flt.create_time_lt),
    )
    for value, ge, lt in bounds:
        if (ge is not None and value < ge) or (lt is not None and value >= lt):
            return False
    return True


def _encode_token(value: int, order_id: str) -> str:
    return base64.urlsafe_b64encode(f"{value}:{order_id}".encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        value, order_id = raw.split(":", 1)
        return int(value), order_id
    except (ValueError, UnicodeDecodeError):
        raise gateway_error("Invalid params: page_token is invalid") from None


__all__ = ["ApiError", "OrderBook", "SearchFilter", "StatusStep"]
