-- Alert deliveries (README, "Alerts"): a durable outbox. An event is inserted once under its stable id (INSERT OR
-- IGNORE: a budget threshold crossed by two isolates at once, or an event written twice, is one row) and delivered
-- at least once, retried with backoff by whoever finds it due (the writer at once, then the cron) until the
-- receiver answers 2xx or the event is too old (src/alerts/outbox.ts).
CREATE TABLE IF NOT EXISTS alert_outbox (
  id           TEXT PRIMARY KEY,               -- the delivery's `id`, the same on every retry
  type         TEXT NOT NULL,                  -- budget.threshold | key.expiring | credential.cooled
  body         TEXT NOT NULL,                  -- the event as JSON ({id, type, at, subject, data})
  created_at   INTEGER NOT NULL,               -- ms since epoch
  state        TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed (gave up)
  attempts     INTEGER NOT NULL DEFAULT 0,
  next_at      INTEGER NOT NULL,               -- when a pending delivery is next due (also a claim: see outbox.ts)
  last_status  INTEGER,                        -- the receiver's last HTTP status; NULL: no answer (timeout, refused)
  last_error   TEXT,
  delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox (state, next_at);
CREATE INDEX IF NOT EXISTS alert_outbox_created ON alert_outbox (created_at);

-- Also for observability (GET /admin/metrics, `edgeway_upstream_attempts_total`): the rollups count each row's
-- upstream attempts by whether they served (src/usage/rollups.ts). Rows stored before this migration count none.
ALTER TABLE usage_minute ADD COLUMN attempts_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_minute ADD COLUMN attempts_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hour ADD COLUMN attempts_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hour ADD COLUMN attempts_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN attempts_ok INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN attempts_failed INTEGER NOT NULL DEFAULT 0;
