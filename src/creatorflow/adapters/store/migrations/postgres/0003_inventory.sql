-- 0003 inventory: stock per SKU, reservations, the stock journal, purchase orders
-- (DESIGN §3, §6.4, §8). Postgres twin of migrations/sqlite/0003_inventory.sql.
--
-- Each SKU has one writer (its actor), so rows are replaced, last write wins. skus.reserved is
-- the actor's running total; the reservation rows are the truth it is derived from, and
-- reservation_drift compares the two. No foreign keys: a reservation or a journal entry may
-- name a SKU that has no row (yet).
-- Keys are COLLATE "C" (bytewise, like SQLite's BINARY) so keyset order matches SQLite's;
-- integers are bigint because SQLite's INTEGER is 64-bit.

-- One row per seller SKU; UpsertSku replaces every column. The CHECK is DESIGN §6.4's
-- invariant, so an oversell is refused by the store too (StoreError, the batch rolls back).
CREATE TABLE skus (
    sku           text   COLLATE "C" NOT NULL PRIMARY KEY,
    on_hand       bigint NOT NULL,
    reserved      bigint NOT NULL,
    safety_buffer bigint NOT NULL CHECK (safety_buffer >= 0),
    shop_id       text   NOT NULL,
    product_id    text   NOT NULL,
    sku_id        text   NOT NULL,
    warehouse_id  text   NOT NULL,
    updated_at_ms bigint NOT NULL,
    CHECK (0 <= reserved AND reserved <= on_hand)
);

-- Stock one order holds of one SKU. The primary key serves order_reservations (SKUs ascending).
CREATE TABLE reservations (
    order_id      text   COLLATE "C" NOT NULL,
    sku           text   COLLATE "C" NOT NULL,
    qty           bigint NOT NULL CHECK (qty >= 1),
    state         text   NOT NULL CHECK (state IN ('held', 'committed', 'released', 'expired')),
    expires_at_ms bigint,
    created_at_ms bigint NOT NULL,
    updated_at_ms bigint NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- held_reservations(sku) and the per-SKU sums of reservation_drift: only open holds, which
-- stay few however many closed reservations pile up.
CREATE INDEX reservations_held_by_sku ON reservations (sku, order_id, qty)
    WHERE state = 'held';
-- The expiry sweep (expired_holds): soonest expiry first, firm holds (no expiry) left out.
CREATE INDEX reservations_held_by_expiry ON reservations (expires_at_ms, order_id, sku)
    WHERE state = 'held' AND expires_at_ms IS NOT NULL;

-- The journal of each SKU: append-only, seq 1..n per SKU (primary key: newest first by seq).
CREATE TABLE stock_events (
    sku            text   COLLATE "C" NOT NULL,
    seq            bigint NOT NULL CHECK (seq >= 1),
    at_ms          bigint NOT NULL,
    kind           text   NOT NULL,
    order_id       text   NOT NULL,
    delta_on_hand  bigint NOT NULL,
    delta_reserved bigint NOT NULL,
    on_hand        bigint NOT NULL,
    reserved       bigint NOT NULL,
    reason         text   NOT NULL,
    PRIMARY KEY (sku, seq)
);

-- The journal counter of each SKU, apart from skus because a SKU may be journaled before (or
-- without) having a row there. AppendStockEvent bumps it (an upsert: the row lock queues
-- concurrent transactions on one SKU) and inserts the events numbered from the old value in
-- the same statement, so seq runs 1..n per SKU without gaps, also across transactions.
CREATE TABLE stock_event_seqs (
    sku      text   COLLATE "C" NOT NULL PRIMARY KEY,
    last_seq bigint NOT NULL CHECK (last_seq >= 1)
);

-- Purchase orders to suppliers; po_id is also the idempotency key sent to the supplier.
CREATE TABLE purchase_orders (
    po_id          text   COLLATE "C" NOT NULL PRIMARY KEY,
    sku            text   COLLATE "C" NOT NULL,
    supplier_id    text   NOT NULL,
    qty            bigint NOT NULL CHECK (qty >= 1),
    state          text   COLLATE "C" NOT NULL
                          CHECK (state IN ('requested', 'confirmed', 'delivered', 'received',
                                           'failed')),
    created_at_ms  bigint NOT NULL,
    expected_at_ms bigint NOT NULL,
    updated_at_ms  bigint NOT NULL,
    detail         bytea  NOT NULL
);

-- purchase_orders(sku=…) and purchase_orders(states=…): keyset on po_id inside one value.
CREATE INDEX purchase_orders_by_sku ON purchase_orders (sku, po_id);
CREATE INDEX purchase_orders_by_state ON purchase_orders (state, po_id);
