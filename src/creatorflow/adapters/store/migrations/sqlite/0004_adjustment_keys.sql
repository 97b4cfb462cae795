-- 0004 adjustment keys: the Idempotency-Key of each keyed stock adjustment
-- (POST /api/inventory/{sku}/adjustments).
-- Postgres twin: migrations/postgres/0004_adjustment_keys.sql.
--
-- The SKU's actor writes the key in the same transaction as the adjustment (its journal entry
-- and SKU row), so a key is stored if and only if its adjustment committed; a retry after the
-- actor was put to sleep or the service restarted finds it here and is not applied again.
-- Keys are scoped to their SKU and kept until expires_at_ms (inventory.idempotency_ttl_s);
-- the inventory keeper has the SKU's actor delete expired ones. Length: 1 to 255 characters,
-- as the API accepts them.
CREATE TABLE adjustment_keys (
    sku           TEXT    NOT NULL,
    key           TEXT    NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    delta         INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (sku, key),
    CHECK (expires_at_ms > created_at_ms)
) STRICT;

-- The keeper's scan (expired_adjustment_keys) and each SKU's bounded delete: expired rows only,
-- soonest first; they are few, since the sweep removes them every inventory.sweep_interval_s.
CREATE INDEX adjustment_keys_by_expiry ON adjustment_keys (expires_at_ms, sku, key);
