"""``GET /api/purchase-orders?sku=&state=&limit=&cursor=``: purchase orders to the supplier.

Read from the store (the last commit), po ids ascending, one page at a time
(:class:`PurchaseOrderPage`; cursors as in the other lists). ``state`` is one or more of
requested, confirmed, delivered, received, failed (any case), comma-separated or repeated;
``sku`` a SKU id. Errors: 400 ``invalid_parameter`` naming the parameter, 503
``store_unavailable`` (with ``Retry-After``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from creatorflow.domain.limits import SkuId
from creatorflow.ports import InventoryReader, PurchaseOrderRow, PurchaseOrderState
from creatorflow.web.api._routing import ApiRoute, Param
from creatorflow.web.api._stock import check_sku
from creatorflow.web.api._wire import MAX_LIMIT, Query, encode_cursor, json_response
from creatorflow.web.api.errors import BadParameter

_STATES: Final[dict[str, PurchaseOrderState]] = {
    "requested": "requested",
    "confirmed": "confirmed",
    "delivered": "delivered",
    "received": "received",
    "failed": "failed",
}


class PurchaseOrder(msgspec.Struct, kw_only=True):
    """One purchase order; ``detail`` is what the supplier said (JSON)."""

    po_id: str
    sku: str
    supplier_id: str
    qty: int
    state: PurchaseOrderState
    created_at_ms: int
    expected_at_ms: int
    updated_at_ms: int
    detail: Any


class PurchaseOrderPage(msgspec.Struct, kw_only=True):
    purchase_orders: list[PurchaseOrder]
    next_cursor: str | None


class PurchaseOrdersApi:
    """The route; :meth:`routes` lists it."""

    def __init__(self, reader: InventoryReader) -> None:
        self._reader = reader

    def routes(self) -> list[ApiRoute]:
        return [
            ApiRoute(
                method="GET",
                path="/api/purchase-orders",
                endpoint=self.list_purchase_orders,
                operation_id="listPurchaseOrders",
                summary="One page of purchase orders to the supplier, po ids ascending",
                tag="purchase-orders",
                params=_PARAMS,
                response=PurchaseOrderPage,
                errors={400: ("invalid_parameter",), 503: ("store_unavailable",)},
            )
        ]

    async def list_purchase_orders(self, request: Request) -> Response:
        query = Query(request)
        sku = query.one("sku")
        if sku is not None:
            sku = check_sku(sku)
        states: list[PurchaseOrderState] = []
        for given in query.all("state"):
            for name in given.split(","):
                state = _STATES.get(name.strip().lower())
                if state is None:
                    raise BadParameter("state", f"must be among {', '.join(_STATES)}")
                if state not in states:
                    states.append(state)
        limit = query.limit()
        after = query.after()
        rows = await self._reader.purchase_orders(
            sku=sku, states=states, after=after, limit=limit + 1
        )
        page = rows[:limit]
        more = len(rows) > limit
        return json_response(
            PurchaseOrderPage(
                purchase_orders=[_purchase_order(row) for row in page],
                next_cursor=encode_cursor(page[-1].po_id) if more else None,
            )
        )


_PARAMS: Final = (
    Param(name="sku", location="query", schema=SkuId, description="Only this SKU's orders"),
    Param(
        name="state",
        location="query",
        schema=list[PurchaseOrderState],
        description="Only orders in these states (repeated, or comma-separated)",
    ),
    Param(
        name="limit",
        location="query",
        schema=Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)],
        description="Purchase orders per page (default 50)",
    ),
    Param(
        name="cursor", location="query", schema=str, description="`next_cursor` of the last page"
    ),
)


def _purchase_order(row: PurchaseOrderRow) -> PurchaseOrder:
    try:
        detail: Any = msgspec.json.decode(row.detail) if row.detail else None
    except msgspec.DecodeError:
        detail = row.detail.decode("utf-8", "replace")
    return PurchaseOrder(
        po_id=row.po_id,
        sku=row.sku,
        supplier_id=row.supplier_id,
        qty=row.qty,
        state=row.state,
        created_at_ms=row.created_at_ms,
        expected_at_ms=row.expected_at_ms,
        updated_at_ms=row.updated_at_ms,
        detail=detail,
    )
