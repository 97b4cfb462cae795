"""Rows of the inventory tables as port structs, and the reads' SQL; shared by both dialects.

Each converter takes a row (a ``sqlite3`` tuple or an ``asyncpg.Record``) whose columns come in
the order of the matching ``*_COLUMNS`` string here. The read statements are written once with
``{p}`` placeholders; :func:`dialect` fills them in (``?`` for SQLite, ``$1``, ``$2``, … for
Postgres). Keys compare bytewise in both (SQLite BINARY, Postgres ``COLLATE "C"``), so the
``ORDER BY``s here give the same order on both stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, cast

from creatorflow.ports import (
    PurchaseOrderRow,
    PurchaseOrderState,
    ReservationRow,
    ReservationState,
    SkuRow,
    StockEventRow,
)

SKU_COLUMNS = (
    "sku, on_hand, reserved, safety_buffer, shop_id, product_id, sku_id, warehouse_id, "
    "updated_at_ms"
)
RESERVATION_COLUMNS = "order_id, sku, qty, state, expires_at_ms, created_at_ms, updated_at_ms"
STOCK_EVENT_COLUMNS = (
    "sku, seq, at_ms, kind, order_id, delta_on_hand, delta_reserved, on_hand, reserved, reason"
)
PO_COLUMNS = (
    "po_id, sku, supplier_id, qty, state, created_at_ms, expected_at_ms, updated_at_ms, detail"
)

GET_SKU = f"SELECT {SKU_COLUMNS} FROM skus WHERE sku = {{p}}"

# Both use the partial index reservations_held_by_sku / the primary key: no sort needed.
HELD_RESERVATIONS = f"""
SELECT {RESERVATION_COLUMNS} FROM reservations WHERE sku = {{p}} AND state = 'held'
ORDER BY order_id"""

ORDER_RESERVATIONS = f"""
SELECT {RESERVATION_COLUMNS} FROM reservations WHERE order_id = {{p}} ORDER BY sku"""

# The partial index reservations_held_by_expiry; ``IS NOT NULL`` spelled out so both planners
# see that the query implies the index's condition.
EXPIRED_HOLDS = f"""
SELECT {RESERVATION_COLUMNS} FROM reservations
WHERE state = 'held' AND expires_at_ms IS NOT NULL AND expires_at_ms <= {{p}}
ORDER BY expires_at_ms, order_id, sku LIMIT {{p}}"""

# Every SKU row against the sum of its held rows, plus held rows whose SKU has no row (stored
# reserved 0). A full scan: the reconciler's job, not the hot path. ``CAST``: Postgres sums
# bigints to numeric.
RESERVATION_DRIFT = """
WITH held AS (
    SELECT sku, CAST(sum(qty) AS bigint) AS qty FROM reservations WHERE state = 'held'
    GROUP BY sku
)
SELECT sku, stored, held FROM (
    SELECT s.sku AS sku, s.reserved AS stored, coalesce(h.qty, 0) AS held
    FROM skus AS s LEFT JOIN held AS h ON h.sku = s.sku
    UNION ALL
    SELECT h.sku, 0, h.qty FROM held AS h
    WHERE NOT EXISTS (SELECT 1 FROM skus AS s WHERE s.sku = h.sku)
) AS d
WHERE stored <> held ORDER BY sku LIMIT {p}"""

STOCK_EVENTS_LATEST = f"""
SELECT {STOCK_EVENT_COLUMNS} FROM stock_events WHERE sku = {{p}}
ORDER BY seq DESC LIMIT {{p}}"""

STOCK_EVENTS_BEFORE = f"""
SELECT {STOCK_EVENT_COLUMNS} FROM stock_events WHERE sku = {{p}} AND seq < {{p}}
ORDER BY seq DESC LIMIT {{p}}"""

GET_PO = f"SELECT {PO_COLUMNS} FROM purchase_orders WHERE po_id = {{p}}"


def dialect(sql: str, placeholder: str) -> str:
    """``sql`` with each ``{p}`` replaced: ``"?"`` as is, ``"$"`` numbered from ``$1``."""
    if placeholder == "?":
        return sql.replace("{p}", "?")
    numbers = itertools.count(1)
    parts = sql.split("{p}")
    return parts[0] + "".join(f"${next(numbers)}{part}" for part in parts[1:])


def list_skus_sql(after: str | None, available_below: int | None) -> str:
    """The keyset scan of ``list_skus`` (primary key order); parameters after, available_below,
    limit (absent filters take none)."""
    tests = (("sku > {p}", after), ("on_hand - reserved < {p}", available_below))
    where = [test for test, value in tests if value is not None]
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    return f"SELECT {SKU_COLUMNS} FROM skus {condition}ORDER BY sku LIMIT {{p}}"


def purchase_orders_sql(
    sku: str | None, states: Sequence[str], after: str | None, *, any_array: bool
) -> tuple[str, list[Any]]:
    """The keyset scan of ``purchase_orders`` and its parameters but the limit (last).

    ``states`` becomes ``state = ANY({p})`` with one array parameter when ``any_array``
    (Postgres), else ``state IN ({p}, …)`` with one parameter each (SQLite).
    """
    where: list[str] = []
    params: list[Any] = []
    if sku is not None:
        where.append("sku = {p}")
        params.append(sku)
    if states and any_array:
        where.append("state = ANY({p}::text[])")
        params.append(list(states))
    elif states:
        where.append(f"state IN ({', '.join('{p}' for _ in states)})")
        params.extend(states)
    if after is not None:
        where.append("po_id > {p}")
        params.append(after)
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    sql = f"SELECT {PO_COLUMNS} FROM purchase_orders {condition}ORDER BY po_id LIMIT {{p}}"
    return sql, params


def to_sku(row: Any) -> SkuRow:
    """A :class:`SkuRow` from a row of ``SKU_COLUMNS``."""
    sku, on_hand, reserved, buffer, shop, product, sku_id, warehouse, updated = row
    return SkuRow(
        sku=sku,
        on_hand=on_hand,
        reserved=reserved,
        safety_buffer=buffer,
        shop_id=shop,
        product_id=product,
        sku_id=sku_id,
        warehouse_id=warehouse,
        updated_at_ms=updated,
    )


def to_reservation(row: Any) -> ReservationRow:
    """A :class:`ReservationRow` from a row of ``RESERVATION_COLUMNS``."""
    order_id, sku, qty, state, expires, created, updated = row
    return ReservationRow(
        order_id=order_id,
        sku=sku,
        qty=qty,
        state=cast(ReservationState, state),
        expires_at_ms=expires,
        created_at_ms=created,
        updated_at_ms=updated,
    )


def to_stock_event(row: Any) -> StockEventRow:
    """A :class:`StockEventRow` from a row of ``STOCK_EVENT_COLUMNS``."""
    sku, seq, at_ms, kind, order_id, d_on_hand, d_reserved, on_hand, reserved, reason = row
    return StockEventRow(
        sku=sku,
        seq=seq,
        at_ms=at_ms,
        kind=kind,
        order_id=order_id,
        delta_on_hand=d_on_hand,
        delta_reserved=d_reserved,
        on_hand=on_hand,
        reserved=reserved,
        reason=reason,
    )


def to_purchase_order(row: Any) -> PurchaseOrderRow:
    """A :class:`PurchaseOrderRow` from a row of ``PO_COLUMNS``."""
    po_id, sku, supplier, qty, state, created, expected, updated, detail = row
    return PurchaseOrderRow(
        po_id=po_id,
        sku=sku,
        supplier_id=supplier,
        qty=qty,
        state=cast(PurchaseOrderState, state),
        created_at_ms=created,
        expected_at_ms=expected,
        updated_at_ms=updated,
        detail=bytes(detail),
    )


def to_drift(row: Any) -> tuple[str, int, int]:
    """``(sku, stored reserved, sum of held qty)`` from a ``RESERVATION_DRIFT`` row."""
    return (str(row[0]), int(row[1]), int(row[2]))
