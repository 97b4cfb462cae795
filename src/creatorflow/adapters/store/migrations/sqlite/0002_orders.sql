-- 0002 orders: orders, their journal, the event outbox, durable cursors, TikTok tokens
-- (DESIGN §3, §4, §6). Postgres twin: migrations/postgres/0002_orders.sql.
--
-- Documents (orders.doc, order_events.detail, outbox.payload, tiktok_tokens.doc) are msgspec
-- encoded by callers and opaque to the store; the other columns are what the store filters on.

-- One row per order; UpsertOrder replaces every column but last_event_seq.
-- last_event_seq is the per-order journal counter: AppendOrderEvent increments it in the same
-- transaction as it inserts the event, so seq runs 1..n per order without gaps.
CREATE TABLE orders (
    order_id           TEXT    NOT NULL PRIMARY KEY,
    shop_id            TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    tiktok_status      TEXT    NOT NULL,
    priority           TEXT    NOT NULL CHECK (priority IN ('HIGH', 'STANDARD', 'LOW')),
    score              INTEGER NOT NULL,
    tiktok_update_time INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    doc                BLOB    NOT NULL,
    last_event_seq     INTEGER NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0)
) STRICT;

-- list_orders(state=…) and list_orders(priority=…): keyset on order_id inside one value.
CREATE INDEX orders_by_state ON orders (state, order_id);
CREATE INDEX orders_by_priority ON orders (priority, order_id);

-- The journal: append-only, seq 1..n per order.
CREATE TABLE order_events (
    order_id   TEXT    NOT NULL REFERENCES orders (order_id),
    seq        INTEGER NOT NULL CHECK (seq >= 1),
    at_ms      INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    from_state TEXT,
    to_state   TEXT,
    detail     BLOB    NOT NULL,
    PRIMARY KEY (order_id, seq)
) STRICT;

-- Events to deliver at least once (DESIGN §4), written in the transaction of the change.
CREATE TABLE outbox (
    event_id           TEXT    NOT NULL PRIMARY KEY,
    topic              TEXT    NOT NULL,
    key                TEXT    NOT NULL,
    payload            BLOB    NOT NULL,
    created_at_ms      INTEGER NOT NULL,
    state              TEXT    NOT NULL DEFAULT 'pending'
                               CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT
) STRICT;

-- The dispatcher's claim: due pending rows, oldest due first.
CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);

-- Named durable cursors (the reconciler's update_time high-water mark).
CREATE TABLE cursors (
    name          TEXT    NOT NULL PRIMARY KEY,
    value         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;

-- A shop's OAuth tokens, both in one doc so they are replaced together.
CREATE TABLE tiktok_tokens (
    shop_key      TEXT    NOT NULL PRIMARY KEY,
    doc           BLOB    NOT NULL,
    updated_at_ms INTEGER NOT NULL
) STRICT;
