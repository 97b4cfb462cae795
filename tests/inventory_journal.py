"""Checks shared by the inventory torture and kill -9 tests: read a SKU's whole journal and
replay it sequentially."""

from __future__ import annotations

from typing import Any

from creatorflow.domain.inventory import SkuStock
from creatorflow.ports import StockEventRow


async def all_events(store: Any, sku: str) -> list[StockEventRow]:
    """The SKU's whole journal, oldest first (seqs 1..n, no gap)."""
    events: list[StockEventRow] = []
    before: int | None = None
    while True:
        page = await store.stock_events(sku, before_seq=before, limit=500)
        events.extend(page)
        if len(page) < 500:
            break
        before = page[-1].seq
    events.reverse()
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), sku
    return events


def replay(sku: str, events: list[StockEventRow]) -> SkuStock:
    """Re-run the journal's decisions one at a time on a fresh stock; every one must be
    accepted as recorded and land on the counts the journal says."""
    stock = SkuStock(sku)
    for e in events:
        now = e.at_ms
        if e.kind == "reserve":
            current = stock.hold_of(e.order_id)
            qty = e.delta_reserved + (0 if current is None else current.qty)
            result = stock.reserve(e.order_id, qty, now)
            assert result.ok, (e, result)
        elif e.kind in ("release", "expire"):
            changes = stock.release(e.order_id, now)
            assert changes and changes[-1].delta_reserved == e.delta_reserved, e
        elif e.kind == "commit":
            changes = stock.commit(e.order_id, now, qty=-e.delta_on_hand)
            assert changes or e.delta_on_hand == 0, e
        elif e.kind in ("adjust", "set", "receive"):
            stock.adjust(e.delta_on_hand, now, reason=e.reason or e.kind)
        else:
            raise AssertionError(f"unexpected journal entry {e}")
        assert (stock.on_hand, stock.reserved) == (e.on_hand, e.reserved), e
    return stock
