-- 0002 orders: orders, their journal, the event outbox, durable cursors, TikTok tokens
-- (DESIGN §3, §4, §6). Postgres twin of migrations/sqlite/0002_orders.sql.
--
-- Documents (orders.doc, order_events.detail, outbox.payload, tiktok_tokens.doc) are msgspec
-- encoded by callers and opaque to the store; the other columns are what the store filters on.
-- Keys are COLLATE "C" (bytewise, like SQLite's BINARY) so keyset order matches SQLite's;
-- integers are bigint because SQLite's INTEGER is 64-bit.

-- One row per order; UpsertOrder replaces every column but last_event_seq.
-- last_event_seq is the per-order journal counter: AppendOrderEvent increments it under the
-- row's lock in the same transaction as it inserts the event, so seq runs 1..n per order
-- without gaps, also across concurrent transactions.
CREATE TABLE orders (
    order_id           text   COLLATE "C" NOT NULL PRIMARY KEY,
    shop_id            text   NOT NULL,
    state              text   COLLATE "C" NOT NULL,
    tiktok_status      text   NOT NULL,
    priority           text   COLLATE "C" NOT NULL
                              CHECK (priority IN ('HIGH', 'STANDARD', 'LOW')),
    score              bigint NOT NULL,
    tiktok_update_time bigint NOT NULL,
    updated_at_ms      bigint NOT NULL,
    doc                bytea  NOT NULL,
    last_event_seq     bigint NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
);

-- list_orders(state=…) and list_orders(priority=…): keyset on order_id inside one value.
CREATE INDEX orders_by_state ON orders (state, order_id);
CREATE INDEX orders_by_priority ON orders (priority, order_id);

-- The journal: append-only, seq 1..n per order.
CREATE TABLE order_events (
    order_id   text   COLLATE "C" NOT NULL REFERENCES orders (order_id),
    seq        bigint NOT NULL CHECK (seq >= 1),
    at_ms      bigint NOT NULL,
    kind       text   NOT NULL,
    from_state text,
    to_state   text,
    detail     bytea  NOT NULL,
    PRIMARY KEY (order_id, seq)
);

-- Events to deliver at least once (DESIGN §4), written in the transaction of the change.
CREATE TABLE outbox (
    event_id           text   COLLATE "C" NOT NULL PRIMARY KEY,
    topic              text   NOT NULL,
    key                text   NOT NULL,
    payload            bytea  NOT NULL,
    created_at_ms      bigint NOT NULL,
    state              text   NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts           bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms bigint NOT NULL,
    last_error         text
);

-- The dispatcher's claim: due pending rows, oldest due first.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);

-- Named durable cursors (the reconciler's update_time high-water mark).
CREATE TABLE cursors (
    name          text   COLLATE "C" NOT NULL PRIMARY KEY,
    value         text   NOT NULL,
    updated_at_ms bigint NOT NULL
);

-- A shop's OAuth tokens, both in one doc so they are replaced together.
CREATE TABLE tiktok_tokens (
    shop_key      text   COLLATE "C" NOT NULL PRIMARY KEY,
    doc           bytea  NOT NULL,
    updated_at_ms bigint NOT NULL
);
