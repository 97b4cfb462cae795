"""Shipment store contract: the same assertions on SQLite and Postgres (issue 12)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from store_factories import LeadingStore

from creatorflow.errors import StoreError
from creatorflow.ports.shipments import LabelRow, PutLabel, PutShipment, ShipmentRow

pytestmark = pytest.mark.anyio


def shipment(order_id: str = "o1", **changes: Any) -> ShipmentRow:
    row = ShipmentRow(
        order_id=order_id,
        shop_id="shop",
        state="purchasing",
        attempt=1,
        request_id=f"{order_id}-1",
        updated_at_ms=1_000,
        doc=b'{"attempts": []}',
    )
    return msgspec.structs.replace(row, **changes)


async def test_put_shipment_reports_new_then_replaces_every_field(store: LeadingStore) -> None:
    assert await store.apply([PutShipment(row=shipment())]) == [True]
    labeled = shipment(
        state="labeled",
        attempt=2,
        request_id="o1-2",
        carrier="swift",
        service="swift_priority",
        shipment_id="shp_1",
        tracking_number="SW123",
        tracking_status="pending",
        next_check_at_ms=5_000,
        updated_at_ms=2_000,
        doc=b'{"attempts": [1, 2]}',
        shop_id="shop-2",
    )
    assert await store.apply([PutShipment(row=labeled)]) == [False]
    assert await store.get_shipment("o1") == labeled
    assert await store.get_shipment("nope") is None


async def test_repeats_in_one_write_apply_in_order(store: LeadingStore) -> None:
    first, second = shipment(attempt=1), shipment(state="labeled", attempt=2, request_id="o1-2")
    results = await store.apply([PutShipment(row=first), PutShipment(row=second)])
    assert results == [True, False]
    found = await store.get_shipment("o1")
    assert found is not None and (found.state, found.attempt) == ("labeled", 2)


async def test_due_shipments_are_by_state_and_time_soonest_first_and_bounded(
    store: LeadingStore,
) -> None:
    await store.apply(
        [
            PutShipment(row=shipment("a", state="shipped", next_check_at_ms=300)),
            PutShipment(row=shipment("b", state="shipped", next_check_at_ms=100)),
            PutShipment(row=shipment("c", state="in_transit", next_check_at_ms=100)),
            PutShipment(row=shipment("d", state="shipped", next_check_at_ms=900)),  # not due
            PutShipment(row=shipment("e", state="shipped", next_check_at_ms=None)),
            PutShipment(row=shipment("f", state="delivered", next_check_at_ms=50)),
        ]
    )
    due = await store.due_shipments(["shipped", "in_transit"], now_ms=500, limit=10)
    assert [row.order_id for row in due] == ["b", "c", "a"]
    assert [r.order_id for r in await store.due_shipments(["shipped"], 500, 1)] == ["b"]
    with pytest.raises(ValueError, match="limit"):
        await store.due_shipments(["shipped"], 500, 0)
    with pytest.raises(ValueError, match="state"):
        await store.due_shipments([], 500, 1)


async def test_labels_are_stored_and_replaced(store: LeadingStore) -> None:
    pdf = b"%PDF-1.4 " + bytes(range(256))
    label = LabelRow(
        order_id="o1", shipment_id="shp_1", label_type="PDF", data=pdf, created_at_ms=10
    )
    assert await store.apply([PutLabel(label=label)]) == [None]
    assert await store.get_label("o1") == label
    zpl = msgspec.structs.replace(label, label_type="ZPL", data=b"^XA^XZ", shipment_id="shp_2")
    await store.apply([PutLabel(label=zpl)])
    assert await store.get_label("o1") == zpl
    assert await store.get_label("o2") is None


async def test_a_bad_state_is_refused_and_nothing_of_the_write_applies(
    store: LeadingStore,
) -> None:
    bad = shipment("x", state="lost")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await store.apply([PutShipment(row=shipment("y")), PutShipment(row=bad)])
    assert await store.get_shipment("y") is None


async def test_a_shipment_is_found_by_its_tracking_number(store: LeadingStore) -> None:
    await store.apply(
        [
            PutShipment(row=shipment("a", tracking_number="TN1", updated_at_ms=1)),
            PutShipment(row=shipment("b", tracking_number="TN2", updated_at_ms=2)),
            PutShipment(row=shipment("c")),  # no tracking number yet
        ]
    )
    found = await store.shipment_by_tracking("TN2")
    assert found is not None and found.order_id == "b"
    assert await store.shipment_by_tracking("") is None
    assert await store.shipment_by_tracking("nope") is None
