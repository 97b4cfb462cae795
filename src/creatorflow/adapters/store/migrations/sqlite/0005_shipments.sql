-- 0005 shipments: one row per order's shipment, and its label bytes (issue 12).
-- Postgres twin: migrations/postgres/0005_shipments.sql.
--
-- Written only by the carrier pool. A purchase attempt (its request_id) is committed here
-- before the gateway is called, so a crash or a lost reply is looked up by that id, never
-- retried blind: a label is bought at most once per order. next_check_at_ms schedules the
-- next look (a label retry, a tracking poll); NULL when nothing is due.
CREATE TABLE shipments (
    order_id         TEXT    NOT NULL PRIMARY KEY,
    shop_id          TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('awaiting_label', 'purchasing',
                         'labeled', 'shipped', 'in_transit', 'delivered', 'exception',
                         'voided', 'void_failed')),
    attempt          INTEGER NOT NULL CHECK (attempt >= 0),
    request_id       TEXT    NOT NULL,
    carrier          TEXT    NOT NULL,
    service          TEXT    NOT NULL,
    shipment_id      TEXT    NOT NULL,
    tracking_number  TEXT    NOT NULL,
    tracking_status  TEXT    NOT NULL,
    next_check_at_ms INTEGER,
    updated_at_ms    INTEGER NOT NULL,
    doc              BLOB    NOT NULL
) STRICT;

-- due_shipments: rows with something scheduled, soonest first, per state.
CREATE INDEX shipments_due ON shipments (state, next_check_at_ms, order_id)
    WHERE next_check_at_ms IS NOT NULL;

-- shipment_by_tracking: a carrier's push names the parcel by its tracking number.
CREATE INDEX shipments_by_tracking ON shipments (tracking_number)
    WHERE tracking_number != '';

CREATE TABLE labels (
    order_id      TEXT    NOT NULL PRIMARY KEY,
    shipment_id   TEXT    NOT NULL,
    label_type    TEXT    NOT NULL,
    data          BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
