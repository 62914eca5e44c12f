-- Indexes for /admin/logs (newest first, keyset-paged on (ts, request_id)) and /admin/usage (time range, per key/team).
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts, request_id);
CREATE INDEX IF NOT EXISTS usage_key_ts ON usage (key_id, ts, request_id);
CREATE INDEX IF NOT EXISTS usage_team_ts ON usage (team_id, ts, request_id);
