"""The typed keys under which capabilities register what others use (see ``_assembly.Refs``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from creatorflow.wiring._assembly import Key, Refs

if TYPE_CHECKING:
    from creatorflow.actors.ingress import IngressMsg, Kick, Process
    from creatorflow.actors.inventory import InventoryMsg
    from creatorflow.actors.inventory_keeper import KeeperMsg
    from creatorflow.actors.order_scheduler import SchedulerMsg
    from creatorflow.actors.reconciler import ReconcileNow
    from creatorflow.actors.shipping.messages import CarrierPoolMsg
    from creatorflow.actors.shipping.tracking import PollerMsg
    from creatorflow.actors.stock_sync import StockSyncMsg
    from creatorflow.actors.stock_watcher import WatcherMsg
    from creatorflow.actors.store_writer import Write
    from creatorflow.runtime import ActorRef, Published, Registry
    from creatorflow.web.webhooks import WebhookEndpoint

WRITER: Key[ActorRef[Write]] = Key("store_writer")
INVENTORY: Key[Registry[str, InventoryMsg]] = Key("inventory")
STOCK_SYNC: Key[ActorRef[StockSyncMsg]] = Key("stock_sync")
KEEPER: Key[ActorRef[KeeperMsg]] = Key("inventory_keeper")
WATCHER: Key[ActorRef[WatcherMsg]] = Key("stock_watcher")
VIRAL_SKUS: Key[Published[frozenset[str]]] = Key("viral_skus")
SCHEDULER: Key[ActorRef[SchedulerMsg]] = Key("order_scheduler")
ORDER_SYNC: Key[ActorRef[Process]] = Key("order_sync")
RECONCILER: Key[ActorRef[ReconcileNow]] = Key("reconciler")
PUMP: Key[ActorRef[Kick]] = Key("inbox_pump")
INGRESS: Key[ActorRef[IngressMsg]] = Key("webhook_ingress")
WEBHOOKS: Key[WebhookEndpoint] = Key("webhook_endpoint")
CARRIER_POOL: Key[ActorRef[CarrierPoolMsg]] = Key("carrier_pool")
TRACKING_POLLER: Key[ActorRef[PollerMsg]] = Key("tracking_poller")


@dataclass
class TreeRefs:
    """The refs of the tree that the HTTP layer, the CLI and tests talk to."""

    ingress: ActorRef[IngressMsg]
    writer: ActorRef[Write]
    scheduler: ActorRef[SchedulerMsg]
    reconciler: ActorRef[ReconcileNow]
    inventory: Registry[str, InventoryMsg]
    stock_sync: ActorRef[StockSyncMsg]
    keeper: ActorRef[KeeperMsg]
    watcher: ActorRef[WatcherMsg]

    @classmethod
    def of(cls, refs: Refs) -> TreeRefs:
        """Read them from the registry once every capability is installed."""
        return cls(
            ingress=refs.get(INGRESS),
            writer=refs.get(WRITER),
            scheduler=refs.get(SCHEDULER),
            reconciler=refs.get(RECONCILER),
            inventory=refs.get(INVENTORY),
            stock_sync=refs.get(STOCK_SYNC),
            keeper=refs.get(KEEPER),
            watcher=refs.get(WATCHER),
        )
