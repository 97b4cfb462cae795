-- 0005 shipments: one row per order's shipment, and its label bytes (issue 12).
-- Postgres twin of migrations/sqlite/0005_shipments.sql (ids COLLATE "C": bytewise order).
--
-- Written only by the carrier pool. A purchase attempt (its request_id) is committed here
-- before the gateway is called, so a crash or a lost reply is looked up by that id, never
-- retried blind: a label is bought at most once per order. next_check_at_ms schedules the
-- next look (a label retry, a tracking poll); NULL when nothing is due.
CREATE TABLE shipments (
    order_id         text   COLLATE "C" NOT NULL PRIMARY KEY,
    shop_id          text   NOT NULL,
    state            text   NOT NULL CHECK (state IN ('awaiting_label', 'purchasing',
                         'labeled', 'shipped', 'in_transit', 'delivered', 'exception',
                         'voided', 'void_failed')),
    attempt          bigint NOT NULL CHECK (attempt >= 0),
    request_id       text   NOT NULL,
    carrier          text   NOT NULL,
    service          text   NOT NULL,
    shipment_id      text   NOT NULL,
    tracking_number  text   NOT NULL,
    tracking_status  text   NOT NULL,
    next_check_at_ms bigint,
    updated_at_ms    bigint NOT NULL,
    doc              bytea  NOT NULL
);

-- due_shipments: rows with something scheduled, soonest first, per state.
CREATE INDEX shipments_due ON shipments (state, next_check_at_ms, order_id)
    WHERE next_check_at_ms IS NOT NULL;

-- shipment_by_tracking: a carrier's push names the parcel by its tracking number.
CREATE INDEX shipments_by_tracking ON shipments (tracking_number)
    WHERE tracking_number != '';

CREATE TABLE labels (
    order_id      text   COLLATE "C" NOT NULL PRIMARY KEY,
    shipment_id   text   NOT NULL,
    label_type    text   NOT NULL,
    data          bytea  NOT NULL,
    created_at_ms bigint NOT NULL
);
