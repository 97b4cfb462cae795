-- 0001 init: the webhook inbox (DESIGN §6.1-2). Postgres twin of migrations/sqlite/0001_init.sql.
--
-- Every webhook is inserted here, in a group-commit transaction, before ingress answers 200.
-- Rows are never deleted by the app: state moves received -> processed, or received -> dead
-- (parked with the last error and the attempt count; the operator replays it).
-- Integers are bigint because SQLite's INTEGER is 64-bit: the same values fit in both.
-- notification_id is COLLATE "C" so it compares bytewise, like SQLite's BINARY collation: the
-- keyset order of list_unprocessed is the same on both stores.

CREATE TABLE inbox (
    notification_id text   COLLATE "C" NOT NULL PRIMARY KEY,
    type            bigint NOT NULL,
    shop_id         text   NOT NULL,
    received_at_ms  bigint NOT NULL,
    body            bytea  NOT NULL,
    processed_at_ms bigint,
    attempts        bigint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    state           text   NOT NULL DEFAULT 'received'
                           CHECK (state IN ('received', 'processed', 'dead')),
    last_error      text
);

-- The pump's keyset scan (list_unprocessed) and "age of the oldest unprocessed row" (health):
-- a partial index holds only rows still to do, so it stays small however large the inbox grows.
CREATE INDEX inbox_unprocessed ON inbox (received_at_ms, notification_id)
    WHERE state = 'received';
