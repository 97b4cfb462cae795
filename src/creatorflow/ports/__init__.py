"""Ports: the small interfaces actors use to reach the outside world, one module per capability.

Each port is a ``typing.Protocol`` of one to four methods; adapters in ``adapters/`` implement
them and the composition root wires them in. Callers own timeouts (``anyio.fail_after``); ports
take none. Ports raise only errors from ``creatorflow.errors``, never driver exceptions.

Modules: ``clock``, ``store`` (the transactional write, ``WriteOp``, health, migrations,
leaders), ``inbox``, ``orders``, ``inventory``, ``tiktok``, ``suppliers``, ``cache`` and, for new
capabilities, their own module (``ports.shipping`` …).

This package re-exports the names that existed when ``ports`` was one module, and no others:
the list is frozen (``tests/unit/test_ports_surface.py`` pins it). New code imports from the
capability module: ``from creatorflow.ports.inventory import SkuRow``.
"""

from __future__ import annotations

from creatorflow.ports.cache import (
    Cache,
)
from creatorflow.ports.clock import (
    Clock,
    SystemClock,
)
from creatorflow.ports.inbox import (
    InboxCursor,
    InboxReader,
    InboxRecord,
    InboxState,
    InboxStatus,
    InsertInbox,
    MarkInboxFailed,
    MarkInboxProcessed,
)
from creatorflow.ports.inventory import (
    MAX_ADJUSTMENT_KEY_CHARS,
    AdjustmentKeyRow,
    AppendStockEvent,
    DeleteAdjustmentKeys,
    InventoryReader,
    PurchaseOrderRow,
    PurchaseOrderState,
    PutAdjustmentKey,
    PutReservation,
    ReservationRow,
    ReservationState,
    SkuRow,
    StockEventRow,
    UpsertPurchaseOrder,
    UpsertSku,
)
from creatorflow.ports.orders import (
    AppendOrderEvent,
    AppendOutbox,
    CursorReader,
    OrderEventRow,
    OrderReader,
    OrderRow,
    OutboxClaimer,
    OutboxRow,
    OutboxState,
    Priority,
    SaveTokens,
    SetCursor,
    TokenReader,
    UpsertOrder,
)
from creatorflow.ports.store import (
    LeaderElection,
    SchemaMigrator,
    Store,
    StoreHealth,
    TransactionalStore,
    WriteOp,
    WriteResult,
)
from creatorflow.ports.suppliers import (
    ContentMetricsSource,
    ContentSample,
    Supplier,
    SupplierOrder,
    SupplierOrderState,
)
from creatorflow.ports.tiktok import (
    MAX_ORDER_IDS_PER_CALL,
    TikTokAddress,
    TikTokDeliveryOption,
    TikTokFulfillment,
    TikTokItemError,
    TikTokLineItem,
    TikTokLogistics,
    TikTokOrder,
    TikTokOrderPage,
    TikTokOrders,
    TikTokPackage,
    TikTokPayment,
    TikTokShop,
    TikTokSkuInventory,
    TikTokTokens,
    TikTokWriteResult,
    TokenStore,
)

__all__ = [
    "MAX_ADJUSTMENT_KEY_CHARS",
    "MAX_ORDER_IDS_PER_CALL",
    "AdjustmentKeyRow",
    "AppendOrderEvent",
    "AppendOutbox",
    "AppendStockEvent",
    "Cache",
    "Clock",
    "ContentMetricsSource",
    "ContentSample",
    "CursorReader",
    "DeleteAdjustmentKeys",
    "InboxCursor",
    "InboxReader",
    "InboxRecord",
    "InboxState",
    "InboxStatus",
    "InsertInbox",
    "InventoryReader",
    "LeaderElection",
    "MarkInboxFailed",
    "MarkInboxProcessed",
    "OrderEventRow",
    "OrderReader",
    "OrderRow",
    "OutboxClaimer",
    "OutboxRow",
    "OutboxState",
    "Priority",
    "PurchaseOrderRow",
    "PurchaseOrderState",
    "PutAdjustmentKey",
    "PutReservation",
    "ReservationRow",
    "ReservationState",
    "SaveTokens",
    "SchemaMigrator",
    "SetCursor",
    "SkuRow",
    "StockEventRow",
    "Store",
    "StoreHealth",
    "Supplier",
    "SupplierOrder",
    "SupplierOrderState",
    "SystemClock",
    "TikTokAddress",
    "TikTokDeliveryOption",
    "TikTokFulfillment",
    "TikTokItemError",
    "TikTokLineItem",
    "TikTokLogistics",
    "TikTokOrder",
    "TikTokOrderPage",
    "TikTokOrders",
    "TikTokPackage",
    "TikTokPayment",
    "TikTokShop",
    "TikTokSkuInventory",
    "TikTokTokens",
    "TikTokWriteResult",
    "TokenReader",
    "TokenStore",
    "TransactionalStore",
    "UpsertOrder",
    "UpsertPurchaseOrder",
    "UpsertSku",
    "WriteOp",
    "WriteResult",
]
