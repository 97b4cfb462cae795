"""``creatorflow.ports`` re-exports a frozen list of names (LAYOUT: new ports live in their
capability module and are imported from there, so the package root never grows)."""

from __future__ import annotations

import pkgutil

import creatorflow.ports as ports

FROZEN = frozenset(
    {
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
        "MAX_ADJUSTMENT_KEY_CHARS",
        "MAX_ORDER_IDS_PER_CALL",
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
    }
)


def test_the_package_root_re_exports_exactly_the_frozen_names() -> None:
    assert set(ports.__all__) == FROZEN
    public = {n for n in vars(ports) if not n.startswith("_")}
    modules = {m.name for m in pkgutil.iter_modules(ports.__path__)}
    assert public - modules - {"annotations"} - FROZEN == set()


def test_every_frozen_name_comes_from_a_capability_module() -> None:
    for name in FROZEN:
        value = getattr(ports, name)
        module = getattr(value, "__module__", None)
        if module is not None and module.startswith("creatorflow."):
            assert module.startswith("creatorflow.ports."), (name, module)
