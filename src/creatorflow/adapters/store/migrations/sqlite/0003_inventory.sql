-- 0003 inventory: stock per SKU, reservations, the stock journal, purchase orders
-- (DESIGN §3, §6.4, §8). Postgres twin: migrations/postgres/0003_inventory.sql.
--
-- Each SKU has one writer (its actor), so rows are replaced, last write wins. skus.reserved is
-- the actor's running total; the reservation rows are the truth it is derived from, and
-- reservation_drift compares the two. No foreign keys: a reservation or a journal entry may
-- name a SKU that has no row (yet).

-- One row per seller SKU; UpsertSku replaces every column. The CHECK is DESIGN §6.4's
-- invariant, so an oversell is refused by the store too (StoreError, the batch rolls back).
CREATE TABLE skus (
    sku           TEXT    NOT NULL PRIMARY KEY,
    on_hand       INTEGER NOT NULL,
    reserved      INTEGER NOT NULL,
    safety_buffer INTEGER NOT NULL CHECK (safety_buffer >= 0),
    shop_id       TEXT    NOT NULL,
    product_id    TEXT    NOT NULL,
    sku_id        TEXT    NOT NULL,
    warehouse_id  TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    CHECK (0 <= reserved AND reserved <= on_hand)
) STRICT;

-- Stock one order holds of one SKU. The primary key serves order_reservations (SKUs ascending).
CREATE TABLE reservations (
    order_id      TEXT    NOT NULL,
    sku           TEXT    NOT NULL,
    qty           INTEGER NOT NULL CHECK (qty >= 1),
    state         TEXT    NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
    expires_at_ms INTEGER,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (order_id, sku)
) STRICT;

-- held_reservations(sku) and the per-SKU sums of reservation_drift: only open holds, which
-- stay few however many closed reservations pile up.
CREATE INDEX reservations_held_by_sku ON reservations (sku, order_id, qty)
    WHERE state = 'held';
-- The expiry sweep (expired_holds): soonest expiry first, firm holds (no expiry) left out.
CREATE INDEX reservations_held_by_expiry ON reservations (expires_at_ms, order_id, sku)
    WHERE state = 'held' AND expires_at_ms IS NOT NULL;

-- The journal of each SKU: append-only, seq 1..n per SKU (primary key: newest first by seq).
CREATE TABLE stock_events (
    sku            TEXT    NOT NULL,
    seq            INTEGER NOT NULL CHECK (seq >= 1),
    at_ms          INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    order_id       TEXT    NOT NULL,
    delta_on_hand  INTEGER NOT NULL,
    delta_reserved INTEGER NOT NULL,
    on_hand        INTEGER NOT NULL,
    reserved       INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    PRIMARY KEY (sku, seq)
) STRICT;

-- The journal counter of each SKU, apart from skus because a SKU may be journaled before (or
-- without) having a row there. AppendStockEvent bumps it and inserts the event with the number
-- in the same transaction, so seq runs 1..n per SKU without gaps.
CREATE TABLE stock_event_seqs (
    sku      TEXT    NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL CHECK (last_seq >= 1)
) STRICT;

-- Purchase orders to suppliers; po_id is also the idempotency key sent to the supplier.
CREATE TABLE purchase_orders (
    po_id          TEXT    NOT NULL PRIMARY KEY,
    sku            TEXT    NOT NULL,
    supplier_id    TEXT    NOT NULL,
    qty            INTEGER NOT NULL CHECK (qty >= 1),
    state          TEXT    NOT NULL
                           CHECK (state IN ('requested', 'confirmed', 'delivered', 'received',
                                            'failed')),
    created_at_ms  INTEGER NOT NULL,
    expected_at_ms INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    detail         BLOB    NOT NULL
) STRICT;

-- purchase_orders(sku=…) and purchase_orders(states=…): keyset on po_id inside one value.
CREATE INDEX purchase_orders_by_sku ON purchase_orders (sku, po_id);
CREATE INDEX purchase_orders_by_state ON purchase_orders (state, po_id);
