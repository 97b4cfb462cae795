"""The orders capability: the order scheduler (the single writer of orders, running the saga
steps other capabilities contributed), order sync (stored webhooks → batched Get Order Detail),
the reconciler (Get Order List by update time, leader only) and the orders API.
"""

from __future__ import annotations

from creatorflow.actors.order_scheduler import OrderScheduler
from creatorflow.actors.order_sync import OrderSync
from creatorflow.actors.reconciler import Reconciler
from creatorflow.domain.webhook import topic_name
from creatorflow.ports import InboxRecord
from creatorflow.runtime import Backoff, ChildSpec, Restart
from creatorflow.web.api.orders import OrdersApi
from creatorflow.wiring import keys
from creatorflow.wiring._assembly import Assembly


def install(asm: Assembly) -> None:
    oc = asm.config.orders
    metrics = asm.metrics
    writer = asm.refs.get(keys.WRITER)
    viral = asm.refs.get(keys.VIRAL_SKUS)
    pump = asm.refs.lazy(keys.PUMP)

    def on_transition(before: str, after: str) -> None:
        metrics.order_transitions.labels(before, after).inc()

    def on_processed(record: InboxRecord) -> None:
        metrics.count_processed(record.type, topic_name(record.type))

    scheduler = asm.refs.put(
        keys.SCHEDULER,
        asm.add(
            ChildSpec(
                name="order_scheduler",
                factory=lambda: OrderScheduler(
                    writer=writer,
                    orders=asm.store,
                    clock=asm.clock,
                    rules=asm.rules,
                    settings=asm.config.priority,
                    delivery_types=asm.tiktok.delivery_types_of,
                    cache_size=oc.cache_size,
                    queue_capacity=oc.saga_queue_capacity,
                    aging_s=oc.saga_aging_s,
                    on_transition=on_transition,
                    steps=tuple(asm.saga_steps),
                    self_ref=asm.refs.lazy(keys.SCHEDULER),
                    viral_skus=viral.current,
                    timer=asm.timer,
                ),
                mailbox_size=oc.scheduler_mailbox_size,
                restart=Restart.PERMANENT,
            )
        ),
    )
    asm.refs.put(
        keys.ORDER_SYNC,
        asm.add(
            ChildSpec(
                name="order_sync",
                factory=lambda: OrderSync(
                    tiktok=asm.tiktok.client,
                    scheduler=scheduler,
                    writer=writer,
                    pump=pump(),
                    clock_ms=asm.clock.now_ms,
                    recent_cap=2 * oc.sync_mailbox_size,
                    coalesce_ms=oc.sync_coalesce_ms,
                    batch_max_webhooks=oc.sync_batch_max_webhooks,
                    max_fetches_in_flight=oc.sync_max_fetches_in_flight,
                    max_attempts=oc.sync_max_attempts,
                    retry_backoff=Backoff(min_s=oc.sync_retry_min_s, max_s=oc.sync_retry_max_s),
                    on_processed=on_processed,
                    learn=asm.tiktok.learn_delivery_types,
                    timer=asm.timer,
                ),
                mailbox_size=oc.sync_mailbox_size,
                restart=Restart.PERMANENT,
            )
        ),
    )
    asm.refs.put(
        keys.RECONCILER,
        asm.add(
            ChildSpec(
                name="reconciler",
                factory=lambda: Reconciler(
                    tiktok=asm.tiktok.client,
                    shops=lambda: asm.tiktok.shop_ids,
                    scheduler=scheduler,
                    writer=writer,
                    cursors=asm.store,
                    leader=asm.store,
                    clock=asm.clock,
                    interval_s=oc.reconcile_interval_s,
                    overlap_s=oc.reconcile_overlap_s,
                    lookback_s=oc.reconcile_lookback_s,
                    sleep=asm.timer.sleep,
                ),
                mailbox_size=8,
                restart=Restart.PERMANENT,
            )
        ),
    )
    asm.api_routes += OrdersApi(orders=asm.store, scheduler=scheduler, shipments=asm.store).routes()
