-- 0001 init: the webhook inbox (DESIGN §6.1-2).
--
-- Every webhook is inserted here, in a group-commit transaction, before ingress answers 200.
-- Rows are never deleted by the app: state moves received -> processed, or received -> dead
-- (parked with the last error and the attempt count; the operator replays it).
-- Tables are STRICT so a wrongly typed value fails here, as it would on Postgres.

CREATE TABLE inbox (
    notification_id TEXT    NOT NULL PRIMARY KEY,
    type            INTEGER NOT NULL,
    shop_id         TEXT    NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    body            BLOB    NOT NULL,
    processed_at_ms INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state           TEXT    NOT NULL DEFAULT 'received'
                            CHECK (state IN ('received', 'processed', 'dead')),
    last_error      TEXT
) STRICT;

-- The pump's keyset scan (list_unprocessed) and "age of the oldest unprocessed row" (health):
-- a partial index holds only rows still to do, so it stays small however large the inbox grows.
CREATE INDEX inbox_unprocessed ON inbox (received_at_ms, notification_id)
    WHERE state = 'received';
