-- Which hand-off batch stored each row (e.g. `usage:3:17`, a buffer shard and its batch number). A batch retried
-- after an unknown outcome can tell its own rows (settle them) from copies another batch already stored (don't).
ALTER TABLE usage ADD COLUMN batch_id TEXT;
