"""The sandbox's webhook sender: signed, in life-cycle order, retried, dropped/duplicated/held."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from sandbox_helpers import (
    APP_KEY,
    APP_SECRET,
    Collector,
    FakeWallClock,
    RecordingSleep,
    make_config,
)

from creatorflow.domain.webhook import sign_webhook
from creatorflow.runtime.testing import wait_all_tasks_blocked
from creatorflow.sandbox.tiktok import FaultConfig, TikTokSandbox, open_tiktok_sandbox

pytestmark = pytest.mark.anyio

MUG = {"lines": [{"seller_sku": "MUG-RED", "quantity": 1, "sale_price": "19.99"}]}


async def test_webhooks_are_signed_unique_and_in_life_cycle_order() -> None:
    clock, collector = FakeWallClock(), Collector()
    async with open_tiktok_sandbox(make_config(), clock=clock, deliver=collector.deliver) as app:
        order_id = await app.create_order({**MUG, "status": "IN_TRANSIT"})
        plain = await app.create_order({**MUG, "on_hold": False, "status": "AWAITING_SHIPMENT"})
        await app.set_status(order_id, "DELIVERED")
        await app.wait_webhooks_idle()
    for body, headers in collector.received:
        assert headers["authorization"] == sign_webhook(APP_KEY, APP_SECRET, body)
        assert headers["content-type"] == "application/json"
    payloads = collector.payloads
    assert len({p["tts_notification_id"] for p in payloads}) == len(payloads)
    assert {p["type"] for p in payloads} == {1}
    assert {p["shop_id"] for p in payloads} == {"7490000000000000001"}
    assert collector.statuses(order_id) == [
        "UNPAID", "ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED"
    ]  # fmt: skip
    assert collector.statuses(plain) == ["UNPAID", "AWAITING_SHIPMENT"]
    times = [p["data"]["update_time"] for p in payloads if p["data"]["order_id"] == order_id]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert payloads[0]["data"]["is_on_hold_order"] is True
    assert payloads[0]["timestamp"] == clock.now_ms() // 1000


@pytest.mark.parametrize(
    ("spelling", "expected"), [("CANCEL", {"CANCEL"}), ("CANCELLED", {"CANCELLED"})]
)
async def test_cancel_spelling_is_configurable(spelling: Any, expected: set[str]) -> None:
    collector = Collector()
    config = make_config(cancel_spelling=spelling)
    async with open_tiktok_sandbox(config, clock=FakeWallClock(), deliver=collector.deliver) as app:
        for _ in range(4):
            await app.set_status(await app.create_order(MUG), "CANCELLED")
        await app.wait_webhooks_idle()
    assert {s for s in collector.statuses() if s.startswith("CANCEL")} == expected
    last = collector.payloads[-1]["data"]["order_id"]
    assert app.book.require(last).status == "CANCELLED"  # the API always says CANCELLED


async def test_random_cancel_spelling_uses_both_and_repeats_with_the_seed() -> None:
    runs = []
    for _ in range(2):
        collector = Collector()
        async with open_tiktok_sandbox(
            make_config(seed=3), clock=FakeWallClock(), deliver=collector.deliver
        ) as app:
            for _ in range(12):
                await app.set_status(await app.create_order(MUG), "CANCELLED")
            await app.wait_webhooks_idle()
        runs.append([s for s in collector.statuses() if s.startswith("CANCEL")])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {"CANCEL", "CANCELLED"}


async def test_non_200_is_retried_on_the_schedule_then_given_up() -> None:
    sleep = RecordingSleep()
    collector = Collector(answers=[500, 503, 200, 500, 500, 500])
    config = make_config(webhook_retry_s=(1.0, 2.0))
    async with open_tiktok_sandbox(
        config, clock=FakeWallClock(), sleep=sleep, deliver=collector.deliver
    ) as app:
        await app.create_order({**MUG, "status": "UNPAID"})  # one webhook: 500, 503, 200
        await app.wait_webhooks_idle()
        await app.create_order({**MUG, "status": "UNPAID"})  # 500 three times: given up
        await app.wait_webhooks_idle()
    assert sleep.delays == [1.0, 2.0, 1.0, 2.0]
    ids = [p["tts_notification_id"] for p in collector.payloads]
    assert ids[:3] == [ids[0]] * 3 and ids[3:] == [ids[3]] * 3  # retries resend the same body
    stats = app.webhooks.stats()
    assert (stats["delivered"], stats["gave_up"], stats["pending"]) == (1, 1, 0)


async def test_a_target_that_raises_is_a_failed_attempt() -> None:
    async def broken(body: bytes, headers: Any) -> int:
        raise ConnectionError("refused")

    async with open_tiktok_sandbox(
        make_config(webhook_retry_s=()), clock=FakeWallClock(), deliver=broken
    ) as app:
        await app.create_order({**MUG, "status": "UNPAID"})
        await app.wait_webhooks_idle()
    assert app.webhooks.stats()["gave_up"] == 1


async def _run_with_faults(seed: int, faults: FaultConfig, orders: int) -> Collector:
    collector = Collector()
    config = make_config(seed=seed, faults=faults)
    async with open_tiktok_sandbox(config, clock=FakeWallClock(), deliver=collector.deliver) as app:
        for _ in range(orders):
            await app.create_order(MUG)  # 3 webhooks each, all queued before the sender runs
        await app.wait_webhooks_idle()
    return collector


async def test_dropped_webhooks_are_deterministic_with_the_seed() -> None:
    faults = FaultConfig(webhook_drop_rate=0.3)
    first = await _run_with_faults(11, faults, 20)
    second = await _run_with_faults(11, faults, 20)
    ids = [p["tts_notification_id"] for p in first.payloads]
    assert ids == [p["tts_notification_id"] for p in second.payloads]
    assert 20 <= len(ids) < 60


async def test_duplicated_webhooks_keep_their_notification_id() -> None:
    collector = await _run_with_faults(5, FaultConfig(webhook_duplicate_rate=0.5), 10)
    ids = [p["tts_notification_id"] for p in collector.payloads]
    assert len(ids) > 30 and len(set(ids)) == 30
    repeat = await _run_with_faults(5, FaultConfig(webhook_duplicate_rate=0.5), 10)
    assert ids == [p["tts_notification_id"] for p in repeat.payloads]


async def test_reordered_webhooks_arrive_out_of_order_but_all_arrive() -> None:
    collector = await _run_with_faults(9, FaultConfig(webhook_reorder_rate=0.4), 10)
    ids = [int(p["tts_notification_id"]) for p in collector.payloads]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 30
    assert ids != sorted(ids)
    repeat = await _run_with_faults(9, FaultConfig(webhook_reorder_rate=0.4), 10)
    assert ids == [int(p["tts_notification_id"]) for p in repeat.payloads]


async def test_outbox_is_bounded_and_enqueue_waits_for_room() -> None:
    collector = Collector()
    app = TikTokSandbox(make_config(webhook_outbox_size=2), deliver=collector.deliver)
    created = anyio.Event()

    async def create() -> None:
        await app.create_order({**MUG, "status": "AWAITING_SHIPMENT"})  # 3 webhooks > 2
        created.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(create)
        await wait_all_tasks_blocked()
        assert not created.is_set() and app.webhooks.stats()["outbox"] == 2
        await tg.start(app.run)
        await created.wait()
        await app.wait_webhooks_idle()
        tg.cancel_scope.cancel()
    assert collector.statuses() == ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"]


async def test_without_a_target_webhooks_are_counted_not_queued() -> None:
    app = TikTokSandbox(make_config())
    await app.create_order(MUG)
    await app.wait_webhooks_idle()
    assert app.webhooks.stats()["no_target"] == 3


async def test_lifespan_runs_the_sender_under_a_server() -> None:
    collector = Collector()
    app = TikTokSandbox(make_config(), deliver=collector.deliver)
    to_app, app_inbox = anyio.create_memory_object_stream[dict[str, Any]](4)
    app_outbox, from_app = anyio.create_memory_object_stream[dict[str, Any]](4)

    async def receive() -> dict[str, Any]:
        return await app_inbox.receive()

    async def send(message: Any) -> None:
        await app_outbox.send(message)

    async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as tg:
        tg.start_soon(app, {"type": "lifespan"}, receive, send)
        await to_app.send({"type": "lifespan.startup"})
        assert (await from_app.receive())["type"] == "lifespan.startup.complete"
        await app.create_order(MUG)
        await app.wait_webhooks_idle()
        await to_app.send({"type": "lifespan.shutdown"})
        assert (await from_app.receive())["type"] == "lifespan.shutdown.complete"
    assert collector.statuses() == ["UNPAID", "ON_HOLD", "AWAITING_SHIPMENT"]
