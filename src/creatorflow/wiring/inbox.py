"""The inbox capability: the webhook ingress (dedupe → durable insert → hand-off), the inbox
pump (re-reads unprocessed rows), the hot ``POST /webhooks/tiktok`` endpoint and
``GET /api/webhooks/{notification_id}``.

Installed after orders: the ingress hands stored webhooks to order sync (``ORDER_SYNC``).
"""

from __future__ import annotations

from creatorflow.actors.inbox_pump import InboxPump
from creatorflow.actors.ingress import WebhookIngress
from creatorflow.domain.webhook import topic_name
from creatorflow.ports import InboxRecord
from creatorflow.runtime import ChildSpec, Restart
from creatorflow.web.api.webhook_status import WebhookStatusApi
from creatorflow.web.status import CachedInbox
from creatorflow.web.webhooks import WebhookEndpoint
from creatorflow.wiring import keys
from creatorflow.wiring._assembly import Assembly

#: The pump's mailbox only needs room for one pending kick (see ``actors/inbox_pump.py``).
PUMP_MAILBOX = 2


def install(asm: Assembly) -> None:
    config = asm.config
    metrics = asm.metrics
    writer = asm.refs.get(keys.WRITER)
    consumer = asm.refs.get(keys.ORDER_SYNC)
    ingress = asm.refs.lazy(keys.INGRESS)

    def on_new(record: InboxRecord) -> None:
        metrics.count_received(record.type, topic_name(record.type))

    pump = asm.refs.put(
        keys.PUMP,
        asm.add(
            ChildSpec(
                name="inbox_pump",
                factory=lambda: InboxPump(
                    reader=asm.store,
                    consumer=consumer,
                    ingress=ingress(),
                    page_size=config.ingress.pump_page_size,
                    backoff=asm.restart_backoff(),
                    sleep=asm.timer.sleep,
                    on_pumped=metrics.inbox_pumped.inc,
                ),
                mailbox_size=PUMP_MAILBOX,
                restart=Restart.PERMANENT,
            )
        ),
    )
    ref = asm.refs.put(
        keys.INGRESS,
        asm.add(
            ChildSpec(
                name="webhook_ingress",
                factory=lambda: WebhookIngress(
                    writer=writer,
                    consumer=consumer,
                    pump=pump,
                    dedupe_cache_size=config.ingress.dedupe_cache_size,
                    max_in_flight=asm.concurrent_commits + 1,
                    on_new=on_new,
                    on_overflow=metrics.inbox_handoff_overflow.inc,
                ),
                mailbox_size=config.ingress.mailbox_size,
                restart=Restart.PERMANENT,
            )
        ),
    )
    asm.refs.put(
        keys.WEBHOOKS,
        WebhookEndpoint(
            apps=asm.tiktok.apps,
            ingress=ref,
            metrics=metrics,
            clock=asm.clock,
            lifecycle=asm.lifecycle,
            max_body_bytes=config.http.max_body_bytes,
            retry_after_s=config.http.retry_after_s,
            timeout_s=config.http.webhook_timeout_s,
        ),
    )
    asm.api_routes += WebhookStatusApi(CachedInbox(asm.store, asm.cache)).routes()
