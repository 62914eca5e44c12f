-- Refused calls (401/402/403/429 before any upstream call) are counted, not logged one row each: one row per key,
-- minute, status and reason, per buffer shard that counted them (each shard writes its own running total, so a
-- replayed write cannot count twice). N refusals cost O(1) rows.
CREATE TABLE IF NOT EXISTS refusals (
  ts      INTEGER NOT NULL,                    -- start of the UTC minute, ms since epoch
  key_id  TEXT NOT NULL,
  team_id TEXT,
  status  INTEGER NOT NULL,
  reason  TEXT NOT NULL,                       -- short: `revoked`, `budget`, `requests/min`, ...
  shard   TEXT NOT NULL,
  count   INTEGER NOT NULL,
  PRIMARY KEY (key_id, ts, status, reason, shard)
);
CREATE INDEX IF NOT EXISTS refusals_ts ON refusals (ts);
CREATE INDEX IF NOT EXISTS refusals_team_ts ON refusals (team_id, ts);
