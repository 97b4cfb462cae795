"""The TikTok Shop API endpoints the sandbox serves (reference §2.2, §4, §4.5, §5; shipping-apis
§2.2-§2.6: Get Shipping Providers, Mark Package As Shipped, Ship Package, Get Package Detail,
Get Order Tracking; ``_tiktok_shipping`` holds their rules).

Each handler takes an :class:`ApiRequest` (already past the gateway checks) and returns
``(data, steps)``: the envelope's ``data`` and the status steps whose webhooks must follow.
Handlers raise :class:`ApiError` for the real API's errors and never block.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from creatorflow.sandbox._tiktok_auth import Tokens
from creatorflow.sandbox._tiktok_config import TikTokSandboxConfig
from creatorflow.sandbox._tiktok_order import DELIVERY_OPTIONS, sku_ids
from creatorflow.sandbox._tiktok_orders import OrderBook, SearchFilter, StatusStep
from creatorflow.sandbox._tiktok_shipping import (
    check_mark_region,
    check_tracking,
    mark_warning,
    providers_of,
)
from creatorflow.sandbox._tiktok_wire import (
    BAD_BODY,
    INVENTORY_INVALID,
    PACKAGE_NOT_FOUND,
    WAREHOUSE_NOT_FOUND,
    ApiError,
    business_error,
    gateway_error,
)

MAX_IDS: Final = 50
T = TypeVar("T")
Result = tuple[dict[str, Any], list[StatusStep]]


class ApiRequest(NamedTuple):
    """One API call: the path parameters matched by the route, the decoded query, the body."""

    params: dict[str, str]
    query: dict[str, str]
    body: bytes


class SelfShipment(msgspec.Struct, frozen=True):
    tracking_number: str = ""
    shipping_provider_id: str = ""


class ShipPackage(msgspec.Struct, frozen=True):
    id: str = ""
    handover_method: str = "DROP_OFF"
    pickup_slot: dict[str, int] | None = None
    self_shipment: SelfShipment | None = None


class BatchShip(msgspec.Struct, frozen=True):
    packages: list[ShipPackage]


class MarkShipped(msgspec.Struct, frozen=True):
    tracking_number: str
    shipping_provider_id: str
    order_line_item_ids: list[str] | None = None


class WarehouseQuantity(msgspec.Struct, frozen=True):
    quantity: int
    warehouse_id: str | None = None


class SkuInventory(msgspec.Struct, frozen=True):
    id: str
    inventory: list[WarehouseQuantity]


class InventoryUpdate(msgspec.Struct, frozen=True):
    skus: list[SkuInventory]


def _decode(body: bytes, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(body or b"{}", type=kind)
    except msgspec.ValidationError as exc:
        raise gateway_error(f"Invalid params: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, BAD_BODY, f"Invalid request body: {exc}") from None


class ShopApi:
    """Handlers of the signed endpoints and the token endpoints, and their route table."""

    def __init__(self, config: TikTokSandboxConfig, book: OrderBook, tokens: Tokens) -> None:
        self._config = config
        self._book = book
        self._tokens = tokens
        # (method, pattern, handler, signed, shop_scoped)
        self.routes: list[tuple[str, re.Pattern[str], Callable[[ApiRequest], Result], bool, bool]]
        self.routes = [
            ("GET", _p("/authorization/202309/shops"), self.shops, True, False),
            ("GET", _p("/order/202309/orders"), self.get_orders, True, True),
            ("POST", _p("/order/202309/orders/search"), self.search_orders, True, True),
            ("POST", _p("/fulfillment/202309/packages/ship"), self.batch_ship, True, True),
            ("POST", _p("/fulfillment/202309/packages/{package_id}/ship"), self.ship, True, True),
            ("POST", _p("/fulfillment/202309/orders/{order_id}/packages"), self.mark, True, True),
            ("GET", _p("/fulfillment/202309/packages/{package_id}"), self.package, True, True),
            (
                "GET",
                _p("/fulfillment/202309/orders/{order_id}/tracking"),
                self.tracking,
                True,
                True,
            ),
            (
                "POST",
                _p("/product/202309/products/{product_id}/inventory/update"),
                self.update_inventory,
                True,
                True,
            ),
            (
                "GET",
                _p("/logistics/202309/warehouses/{warehouse_id}/delivery_options"),
                self.delivery_options,
                True,
                True,
            ),
            (
                "GET",
                _p("/logistics/202309/delivery_options/{delivery_option_id}/shipping_providers"),
                self.shipping_providers,
                True,
                True,
            ),
            ("GET", _p("/api/v2/token/get"), self.token_get, False, False),
            ("GET", _p("/api/v2/token/refresh"), self.token_refresh, False, False),
        ]

    # ------------------------------------------------------------------ auth, orders

    def shops(self, req: ApiRequest) -> Result:
        """``GET /authorization/202309/shops``: the one authorized shop and its cipher."""
        c = self._config
        shop = {"id": c.shop_id, "cipher": c.shop_cipher, "code": "SBXSHOP", "name": c.shop_name,
                "region": c.shop_region, "seller_type": "LOCAL"}  # fmt: skip
        return {"shops": [shop]}, []

    def token_get(self, req: ApiRequest) -> Result:
        """``GET /api/v2/token/get`` (unsigned; app_secret in the query)."""
        return self._tokens.get(req.query), []

    def token_refresh(self, req: ApiRequest) -> Result:
        """``GET /api/v2/token/refresh``: new access and refresh tokens."""
        return self._tokens.refresh(req.query), []

    def get_orders(self, req: ApiRequest) -> Result:
        """Get Order Detail: ``ids`` comma-separated, at most 50 (more: 36009004)."""
        ids = [i.strip() for i in req.query.get("ids", "").split(",") if i.strip()]
        if not ids:
            raise gateway_error("Invalid params: ids is required")
        if len(ids) > MAX_IDS:
            raise gateway_error(f"Invalid params: ids allows at most {MAX_IDS} order ids")
        orders = [self._book.get(i) for i in dict.fromkeys(ids)]
        return {"orders": [self._book.render(o) for o in orders if o is not None]}, []

    def search_orders(self, req: ApiRequest) -> Result:
        """Get Order List: filters in the body, keyset paging with ``page_token``."""
        try:
            page_size = int(req.query.get("page_size", ""))
        except ValueError:
            raise gateway_error("Invalid params: page_size is required") from None
        if not 1 <= page_size <= 100:
            raise gateway_error("Invalid params: page_size must be within [1, 100]")
        sort_field = req.query.get("sort_field", "create_time")
        sort_order = req.query.get("sort_order", "DESC")
        if sort_field not in ("create_time", "update_time") or sort_order not in ("ASC", "DESC"):
            raise gateway_error("Invalid params: sort_field / sort_order")
        flt = _decode(req.body, SearchFilter)
        token = req.query.get("page_token", "")
        orders, next_token, total = self._book.search(
            flt, page_size, token, sort_field, sort_order == "DESC"
        )
        return {"orders": orders, "next_page_token": next_token, "total_count": total}, []

    # ------------------------------------------------------------------ fulfilment

    def _ship_one(self, package: ShipPackage) -> list[StatusStep]:
        order = self._book.order_of_package(package.id)
        if order is None:
            raise business_error(PACKAGE_NOT_FOUND, f"package {package.id} not found")
        shipment = package.self_shipment
        if shipment is None:  # TikTok shipping: the sandbox makes up the platform's number
            tracking, provider = f"SBX{package.id[-10:]}", ""
        else:
            tracking = check_tracking(shipment.tracking_number)
            provider = shipment.shipping_provider_id
        _, steps = self._book.ship(order, tracking, provider, None, package_id=package.id)
        return steps

    def ship(self, req: ApiRequest) -> Result:
        """Ship Package: tracking on the package's lines; AWAITING_COLLECTION when all are."""
        package = _decode(req.body, ShipPackage)
        package = msgspec.structs.replace(package, id=req.params["package_id"])
        return {}, self._ship_one(package)

    def batch_ship(self, req: ApiRequest) -> Result:
        """Batch Ship Packages: code 0 with per-package ``data.errors[]``."""
        errors: list[dict[str, Any]] = []
        steps: list[StatusStep] = []
        for package in _decode(req.body, BatchShip).packages:
            try:
                steps.extend(self._ship_one(package))
            except ApiError as exc:
                detail = {"package_id": package.id}
                errors.append({"code": exc.code, "message": exc.message, "detail": detail})
        return {"errors": errors}, steps

    def mark(self, req: ApiRequest) -> Result:
        """Mark Package As Shipped (US/EMEA/JP shops only, else 21008106): the given lines
        (all by default) into a package; AWAITING_COLLECTION when every line is shipped."""
        body = _decode(req.body, MarkShipped)
        check_mark_region(self._config.shop_region)
        order = self._book.require(req.params["order_id"])
        tracking = check_tracking(body.tracking_number)
        provider = body.shipping_provider_id
        package_id, steps = self._book.ship(order, tracking, provider, body.order_line_item_ids)
        shipped = [line.id for line in order.lines_of(package_id)]
        data = {"order_id": order.id, "package_id": package_id, "order_line_item_ids": shipped,
                "warning": {"message": mark_warning(tracking, provider)}}  # fmt: skip
        return data, steps

    def package(self, req: ApiRequest) -> Result:
        """Get Package Detail."""
        package_id = req.params["package_id"]
        order = self._book.order_of_package(package_id)
        if order is None:
            raise business_error(PACKAGE_NOT_FOUND, f"package {package_id} not found")
        return order.package_view(package_id), []

    def tracking(self, req: ApiRequest) -> Result:
        """Get Order Tracking: events since the order shipped (milliseconds)."""
        order = self._book.require(req.params["order_id"])
        return {"tracking": order.tracking_events()}, []

    def shipping_providers(self, req: ApiRequest) -> Result:
        """Get Shipping Providers of one of the warehouse's delivery options."""
        known = frozenset(option_id for option_id, _ in DELIVERY_OPTIONS.values())
        providers = providers_of(req.params["delivery_option_id"], known)
        return {"shipping_providers": providers}, []

    def update_inventory(self, req: ApiRequest) -> Result:
        """Update Inventory: per-SKU ``data.errors[]``, levels kept per warehouse."""
        product_id = req.params["product_id"]
        errors: list[dict[str, Any]] = []
        for sku in _decode(req.body, InventoryUpdate).skus:
            problem = self._inventory_problem(product_id, sku)
            if problem:
                detail = {"sku_id": sku.id, "extra_errors": []}
                errors.append({"code": INVENTORY_INVALID, "message": problem, "detail": detail})
                continue
            for item in sku.inventory:
                warehouse = item.warehouse_id or self._config.warehouse_id
                self._book.set_inventory(sku.id, warehouse, item.quantity)
        return {"errors": errors}, []

    def _inventory_problem(self, product_id: str, sku: SkuInventory) -> str:
        owner = self._book.product_of(sku.id)
        if owner is not None and owner != product_id:
            return f"sku {sku.id} does not belong to product {product_id}"
        for item in sku.inventory:
            if not 0 <= item.quantity <= 99_999:
                return "quantity must be within [0, 99999]"
            if item.warehouse_id not in (None, self._config.warehouse_id):
                return f"warehouse {item.warehouse_id} is not assigned to sku {sku.id}"
        return ""

    def delivery_options(self, req: ApiRequest) -> Result:
        """Delivery options of the sandbox warehouse: STANDARD, EXPRESS, ECONOMY."""
        if req.params["warehouse_id"] != self._config.warehouse_id:
            raise business_error(WAREHOUSE_NOT_FOUND, "warehouse not found")
        options = [
            {"id": option_id, "name": name, "type": kind, "description": f"{name} (sandbox)"}
            for kind, (option_id, name) in DELIVERY_OPTIONS.items()
        ]
        return {"delivery_options": options}, []


def _p(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


__all__ = ["ApiRequest", "ShopApi", "sku_ids"]
