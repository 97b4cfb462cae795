"""OrderScheduler on the real SQLite store: follows TikTok, classifies, journals, outbox."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from creatorflow.actors.order_scheduler import (
    Command,
    CommandResult,
    Observe,
    OrderDoc,
    OrderScheduler,
    SchedulerMsg,
)
from creatorflow.actors.store_writer import StoreWriter
from creatorflow.adapters.store.sqlite import SqliteStore, open_sqlite_store
from creatorflow.domain.automation import load_rules
from creatorflow.domain.priority import PrioritySettings
from creatorflow.domain.state_machine import OrderState
from creatorflow.errors import DomainError, InvalidTransition
from creatorflow.ports import TikTokOrder
from creatorflow.runtime import ActorRef, open_actor

pytestmark = pytest.mark.anyio

FIRST_ID = "576000000000000001"
BASE: dict[str, Any] = {
    "id": "576000000000000001",
    "status": "AWAITING_SHIPMENT",
    "create_time": 1700000000,
    "update_time": 1700000100,
    "rts_sla_time": 1700259200,
    "delivery_option_id": "opt-express",
    "user_id": "buyer-1",
    "payment": {"currency": "USD", "total_amount": "43.18"},
    "recipient_address": {"postal_code": "10001", "region_code": "US"},
    "line_items": [
        {"id": "l1", "sku_id": "s1", "seller_sku": "MUG-RED", "sale_price": "19.99"},
        {"id": "l2", "sku_id": "s1", "seller_sku": "MUG-RED", "sale_price": "19.99"},
    ],
}


def snapshot(**changes: Any) -> TikTokOrder:
    raw = copy.deepcopy(BASE) | changes
    return msgspec.convert(raw, TikTokOrder)


class Clock:
    now = 1_700_000_200_000

    def now_ms(self) -> int:
        return self.now


@asynccontextmanager
async def scheduler(
    tmp_path: Path, rules: str = ""
) -> AsyncIterator[tuple[ActorRef[SchedulerMsg], SqliteStore]]:
    async with (
        open_sqlite_store(tmp_path / "db.sqlite3", synchronous="OFF") as store,
        open_actor(StoreWriter(store), "writer", 256) as writer,
    ):
        actor = OrderScheduler(
            writer=writer,
            orders=store,
            clock=Clock(),
            rules=load_rules(rules),
            settings=PrioritySettings(),
            delivery_types=lambda shop: {"opt-express": "EXPRESS"},  # type: ignore[dict-item]
        )
        async with open_actor(actor, "scheduler", 256) as ref:
            yield ref, store
            await ref.flush()
        await writer.flush()


async def test_new_order_is_classified_journaled_and_announced(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        await ref.tell(Observe(shop_id="shop", order=snapshot()))
        await ref.flush()
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "classified"
        assert row.tiktok_status == "AWAITING_SHIPMENT"
        assert row.priority == "HIGH"  # EXPRESS delivery
        doc = msgspec.json.decode(row.doc, type=OrderDoc)
        assert [(line.seller_sku, line.quantity) for line in doc.order.lines] == [("MUG-RED", 2)]
        assert any(reason.startswith("delivery") for reason, _ in doc.priority.reasons)
        events = await store.order_events("576000000000000001", 10)
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, "received"),
            ("received", "classified"),
        ]
        claimed = await store.claim_outbox(Clock.now + 1, 10, 1000)
        assert [e.topic for e in claimed] == ["order.created"]


async def test_follows_tiktok_and_ignores_regressions(tmp_path: Path, anyio_backend: Any) -> None:
    async with scheduler(tmp_path) as (ref, store):
        await ref.tell(Observe(shop_id="shop", order=snapshot()))
        await ref.tell(
            Observe(shop_id="shop", order=snapshot(status="CANCELLED", update_time=1700000300))
        )
        await ref.flush()
        await ref.tell(
            Observe(shop_id="shop", order=snapshot(status="UNPAID", update_time=1700000200))
        )
        await ref.tell(
            Observe(shop_id="shop", order=snapshot(status="CANCELLED", update_time=1700000300))
        )
        await ref.flush()
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "cancelled"
        assert row.tiktok_status == "CANCELLED"
        assert row.tiktok_update_time == 1700000300
        events = await store.order_events("576000000000000001", 10)
        assert [e.to_state for e in events] == ["received", "classified", "cancelled"]


async def test_operator_hold_release_and_invalid_command(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        await ref.tell(Observe(shop_id="shop", order=snapshot()))
        held = await ref.ask(Command(order_id="576000000000000001", action="hold", reason="check"))
        assert held == CommandResult(order_id="576000000000000001", state="needs_attention")
        released = await ref.ask(Command(order_id="576000000000000001", action="release"))
        assert released.state == "classified"
        with pytest.raises(KeyError):
            await ref.ask(Command(order_id="nope", action="hold"))
        await ref.tell(
            Observe(shop_id="shop", order=snapshot(status="CANCELLED", update_time=1700000900))
        )
        with pytest.raises(InvalidTransition):
            await ref.ask(Command(order_id="576000000000000001", action="release"))
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert OrderState(row.state) is OrderState.CANCELLED


async def test_rule_hold_for_review_sends_to_manual_queue(
    tmp_path: Path, anyio_backend: Any
) -> None:
    rules = """
[[rules]]
name = "big orders"
match = "first"
when = { currency = "USD", total_at_least = "40.00" }
then = { hold_for_review = true }
"""
    async with scheduler(tmp_path, rules) as (ref, store):
        await ref.tell(Observe(shop_id="shop", order=snapshot()))
        await ref.flush()
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "needs_attention"
        kinds = [e.kind for e in await store.order_events("576000000000000001", 10)]
        assert "decision" in kinds


async def test_two_changes_in_one_second_keep_the_later_one(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        await ref.ask(Observe(shop_id="shop", order=snapshot(status="UNPAID", update_time=5)))
        same_second = snapshot(status="AWAITING_SHIPMENT", update_time=5)
        await ref.ask(Observe(shop_id="shop", order=same_second))
        await ref.ask(Observe(shop_id="shop", order=snapshot(status="UNPAID", update_time=5)))
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.tiktok_status == "AWAITING_SHIPMENT"  # not lost, and not moved back


async def test_an_unreadable_order_is_parked_and_its_neighbours_go_on(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        bad = snapshot(id="576000000000000009", payment={"currency": "USD", "total_amount": "x"})
        await ref.ask(Observe(shop_id="shop", order=bad))  # answered: parked, not refused
        await ref.ask(Observe(shop_id="shop", order=snapshot()))
        row = await store.get_order("576000000000000009")
        assert row is not None
        assert row.state == "needs_attention"
        doc = msgspec.json.decode(row.doc, type=OrderDoc)
        assert doc.unreadable is not None
        assert "total_amount" in doc.unreadable.reason
        document = msgspec.json.decode(doc.unreadable.document)
        assert document["payment"]["total_amount"] == "x"  # the snapshot as TikTok sent it
        assert doc.order.lines == ()
        assert sum(w for _, w in doc.priority.reasons) == doc.priority.score
        events = await store.order_events("576000000000000009", 10)
        assert [(e.from_state, e.to_state) for e in events] == [
            (None, "received"),
            ("received", "needs_attention"),
        ]
        good = await store.get_order("576000000000000001")
        assert good is not None
        assert good.state == "classified"
        # An operator cannot release it: its lines are unknown.
        with pytest.raises(InvalidTransition):
            await ref.ask(Command(order_id="576000000000000009", action="release"))


async def test_a_parked_order_is_classified_when_a_readable_snapshot_comes(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        bad = snapshot(payment={"currency": "USD", "total_amount": "1e30"})
        await ref.ask(Observe(shop_id="shop", order=bad))
        fixed = snapshot(update_time=1700000200)
        await ref.ask(Observe(shop_id="shop", order=fixed))
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "classified"
        doc = msgspec.json.decode(row.doc, type=OrderDoc)
        assert doc.unreadable is None
        assert len(doc.order.lines) == 1
        events = await store.order_events("576000000000000001", 10)
        assert [(e.from_state, e.to_state) for e in events][-2:] == [
            ("needs_attention", "received"),
            ("received", "classified"),
        ]


async def test_a_readable_order_whose_next_snapshot_is_unreadable_is_flagged(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        await ref.ask(Observe(shop_id="shop", order=snapshot()))
        bad = snapshot(update_time=1700000200, payment={"currency": "USD", "total_amount": "-1"})
        await ref.ask(Observe(shop_id="shop", order=bad))
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "needs_attention"
        doc = msgspec.json.decode(row.doc, type=OrderDoc)
        assert doc.unreadable is not None
        assert len(doc.order.lines) == 1  # the last readable order is kept
        # TikTok still settles it: a cancel (readable or not) cancels the parked order.
        cancelled = snapshot(
            update_time=1700000300,
            status="CANCELLED",
            payment={"currency": "USD", "total_amount": "-1"},
        )
        await ref.ask(Observe(shop_id="shop", order=cancelled))
        row = await store.get_order("576000000000000001")
        assert row is not None
        assert row.state == "cancelled"


async def test_an_order_without_a_usable_id_fails_its_asker_only(
    tmp_path: Path, anyio_backend: Any
) -> None:
    async with scheduler(tmp_path) as (ref, store):
        with pytest.raises(DomainError):
            await ref.ask(Observe(shop_id="shop", order=snapshot(id="x" * 129)))
        await ref.ask(Observe(shop_id="shop", order=snapshot()))
        assert await store.get_order("x" * 129) is None
        assert await store.get_order("576000000000000001") is not None


async def test_a_repeat_buyer_scores_higher(tmp_path: Path, anyio_backend: Any) -> None:
    async def reasons(store: SqliteStore, oid: str) -> list[str]:
        row = await store.get_order(oid)
        assert row is not None
        return [r for r, _ in msgspec.json.decode(row.doc, type=OrderDoc).priority.reasons]

    async with scheduler(tmp_path) as (ref, store):
        await ref.ask(Observe(shop_id="shop", order=snapshot(id="o-1", delivery_option_id="x")))
        assert "repeat_buyer" not in await reasons(store, "o-1")  # the buyer's first order
        await ref.ask(Observe(shop_id="shop", order=snapshot(id="o-2", delivery_option_id="x")))
        assert "repeat_buyer" in await reasons(store, "o-2")
        # A newer snapshot of an order does not count that order as an earlier one.
        solo = snapshot(id="o-3", user_id="solo", delivery_option_id="x")
        await ref.ask(Observe(shop_id="shop", order=solo))
        later = snapshot(id="o-3", user_id="solo", delivery_option_id="x", update_time=1700000900)
        await ref.ask(Observe(shop_id="shop", order=later))
        assert "repeat_buyer" not in await reasons(store, "o-3")  # itself is no earlier order


async def test_outbox_event_ids_come_from_the_injected_clock(
    tmp_path: Path, anyio_backend: Any
) -> None:
    # The clock stands still: ids must still differ, and carry the clock's time, not the host's.
    async with scheduler(tmp_path) as (ref, store):
        await ref.ask(Observe(shop_id="shop", order=snapshot()))
        await ref.ask(Command(order_id="576000000000000001", action="hold"))
        await ref.ask(Command(order_id="576000000000000001", action="release"))
        await ref.ask(Command(order_id="576000000000000001", action="hold"))
        rows = await store.claim_outbox(Clock.now, limit=10, lease_ms=1000)
    ids = [row.event_id for row in rows]
    assert len(ids) == len(set(ids)) == 4
    assert all(f":576000000000000001:{Clock.now}:" in event_id for event_id in ids)


async def test_milestones_come_with_their_own_event_and_carrier_news_moves_the_order(
    tmp_path: Path, anyio_backend: Any
) -> None:
    from creatorflow.actors.order_scheduler import ShipmentMoved
    from creatorflow.domain.state_machine import OrderEvent

    async with scheduler(tmp_path) as (ref, store):
        await ref.ask(Observe(shop_id="shop", order=snapshot()))
        shipped = snapshot(update_time=1700000200, status="AWAITING_COLLECTION")
        await ref.ask(Observe(shop_id="shop", order=shipped))
        await ref.ask(
            ShipmentMoved(order_id=FIRST_ID, event=OrderEvent.TRANSIT, why="carrier scan")
        )
        # Not from in_transit: a second TRANSIT is ignored, DELIVER applies.
        await ref.ask(ShipmentMoved(order_id=FIRST_ID, event=OrderEvent.TRANSIT, why="again"))
        await ref.ask(ShipmentMoved(order_id=FIRST_ID, event=OrderEvent.DELIVER, why="done"))
        row = await store.get_order(FIRST_ID)
        topics = [e.topic for e in await store.claim_outbox(Clock.now, limit=20, lease_ms=1000)]
    assert row is not None and row.state == "delivered"
    assert topics.count("order.shipped") == 1
    assert topics.count("order.delivered") == 1
    assert topics.count("order.created") == 1
    assert topics.count("order.updated") == 3  # shipped, in transit, delivered
