-- The usage log at scale (README, "Usage log"): rollups written with every usage batch, and the compaction state.
--
-- Rollups: one row per (UTC minute or hour, key, team, provider, model, status, outcome), upserted in the same D1
-- batch as the rows they count, from the rows that batch newly stores only (src/usage/rollups.ts). WITHOUT ROWID with
-- the key as the only index: an upsert writes one row. Latency and TTFB histograms are fixed buckets, each column
-- counting the rows in (previous bound, this bound] ms (src/usage/rollups.ts names the bounds).
-- Per minute: kept for the raw rows' window (compaction drops older ones).
CREATE TABLE IF NOT EXISTS usage_minute (
  bucket            INTEGER NOT NULL,          -- start of the UTC minute, ms since epoch
  key_id            TEXT NOT NULL,
  team_id           TEXT NOT NULL DEFAULT '',    -- '': no team (NULL would make every such row its own group)
  provider          TEXT NOT NULL DEFAULT '',    -- what served; '': nothing did
  model             TEXT NOT NULL DEFAULT '',
  status            INTEGER NOT NULL,
  outcome           TEXT NOT NULL,
  calls             INTEGER NOT NULL DEFAULT 0,  -- usage rows
  requests          INTEGER NOT NULL DEFAULT 0,  -- sum of the rows' requests (a batch's row counts all of its requests)
  errors            INTEGER NOT NULL DEFAULT 0,
  aborted           INTEGER NOT NULL DEFAULT 0,
  input_tokens      INTEGER NOT NULL DEFAULT 0,
  output_tokens     INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  thinking_tokens   INTEGER NOT NULL DEFAULT 0,
  tool_use_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_usd          REAL NOT NULL DEFAULT 0,
  latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
  ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
  ttfb_count        INTEGER NOT NULL DEFAULT 0,  -- rows with a ttfb_ms
  latency_le_100 INTEGER NOT NULL DEFAULT 0,
  latency_le_250 INTEGER NOT NULL DEFAULT 0,
  latency_le_500 INTEGER NOT NULL DEFAULT 0,
  latency_le_1000 INTEGER NOT NULL DEFAULT 0,
  latency_le_2500 INTEGER NOT NULL DEFAULT 0,
  latency_le_5000 INTEGER NOT NULL DEFAULT 0,
  latency_le_10000 INTEGER NOT NULL DEFAULT 0,
  latency_le_30000 INTEGER NOT NULL DEFAULT 0,
  latency_le_60000 INTEGER NOT NULL DEFAULT 0,
  latency_le_300000 INTEGER NOT NULL DEFAULT 0,
  latency_le_inf INTEGER NOT NULL DEFAULT 0,
  ttfb_le_50 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_100 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_250 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_1000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_2500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_5000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_10000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_30000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_60000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_inf INTEGER NOT NULL DEFAULT 0,
  -- Room for what later features count per call (response cache, guardrails); 0 until they write them.
  cache_hits        INTEGER NOT NULL DEFAULT 0,
  saved_usd         REAL NOT NULL DEFAULT 0,
  guardrail_actions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, key_id, team_id, provider, model, status, outcome)
) WITHOUT ROWID;
-- Per hour: kept for good (a year at 1,000 key/model/status groups an hour is ~9M rows).
CREATE TABLE IF NOT EXISTS usage_hour (
  bucket            INTEGER NOT NULL,          -- start of the UTC hour, ms since epoch
  key_id            TEXT NOT NULL,
  team_id           TEXT NOT NULL DEFAULT '',    -- '': no team (NULL would make every such row its own group)
  provider          TEXT NOT NULL DEFAULT '',    -- what served; '': nothing did
  model             TEXT NOT NULL DEFAULT '',
  status            INTEGER NOT NULL,
  outcome           TEXT NOT NULL,
  calls             INTEGER NOT NULL DEFAULT 0,  -- usage rows
  requests          INTEGER NOT NULL DEFAULT 0,  -- sum of the rows' requests (a batch's row counts all of its requests)
  errors            INTEGER NOT NULL DEFAULT 0,
  aborted           INTEGER NOT NULL DEFAULT 0,
  input_tokens      INTEGER NOT NULL DEFAULT 0,
  output_tokens     INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  thinking_tokens   INTEGER NOT NULL DEFAULT 0,
  tool_use_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_usd          REAL NOT NULL DEFAULT 0,
  latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
  ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
  ttfb_count        INTEGER NOT NULL DEFAULT 0,  -- rows with a ttfb_ms
  latency_le_100 INTEGER NOT NULL DEFAULT 0,
  latency_le_250 INTEGER NOT NULL DEFAULT 0,
  latency_le_500 INTEGER NOT NULL DEFAULT 0,
  latency_le_1000 INTEGER NOT NULL DEFAULT 0,
  latency_le_2500 INTEGER NOT NULL DEFAULT 0,
  latency_le_5000 INTEGER NOT NULL DEFAULT 0,
  latency_le_10000 INTEGER NOT NULL DEFAULT 0,
  latency_le_30000 INTEGER NOT NULL DEFAULT 0,
  latency_le_60000 INTEGER NOT NULL DEFAULT 0,
  latency_le_300000 INTEGER NOT NULL DEFAULT 0,
  latency_le_inf INTEGER NOT NULL DEFAULT 0,
  ttfb_le_50 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_100 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_250 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_1000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_2500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_5000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_10000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_30000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_60000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_inf INTEGER NOT NULL DEFAULT 0,
  -- Room for what later features count per call (response cache, guardrails); 0 until they write them.
  cache_hits        INTEGER NOT NULL DEFAULT 0,
  saved_usd         REAL NOT NULL DEFAULT 0,
  guardrail_actions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, key_id, team_id, provider, model, status, outcome)
) WITHOUT ROWID;
-- Per day: whole UTC days folded from the hourly rollups by compaction (src/usage/compact.ts), and after that added
-- to directly by a batch holding a row of such a day; what /admin/usage reads for whole days.
CREATE TABLE IF NOT EXISTS usage_day (
  bucket            INTEGER NOT NULL,          -- start of the UTC day, ms since epoch
  key_id            TEXT NOT NULL,
  team_id           TEXT NOT NULL DEFAULT '',    -- '': no team (NULL would make every such row its own group)
  provider          TEXT NOT NULL DEFAULT '',    -- what served; '': nothing did
  model             TEXT NOT NULL DEFAULT '',
  status            INTEGER NOT NULL,
  outcome           TEXT NOT NULL,
  calls             INTEGER NOT NULL DEFAULT 0,  -- usage rows
  requests          INTEGER NOT NULL DEFAULT 0,  -- sum of the rows' requests (a batch's row counts all of its requests)
  errors            INTEGER NOT NULL DEFAULT 0,
  aborted           INTEGER NOT NULL DEFAULT 0,
  input_tokens      INTEGER NOT NULL DEFAULT 0,
  output_tokens     INTEGER NOT NULL DEFAULT 0,
  cached_tokens     INTEGER NOT NULL DEFAULT 0,
  thinking_tokens   INTEGER NOT NULL DEFAULT 0,
  tool_use_tokens   INTEGER NOT NULL DEFAULT 0,
  cost_usd          REAL NOT NULL DEFAULT 0,
  latency_ms_sum    INTEGER NOT NULL DEFAULT 0,
  ttfb_ms_sum       INTEGER NOT NULL DEFAULT 0,
  ttfb_count        INTEGER NOT NULL DEFAULT 0,  -- rows with a ttfb_ms
  latency_le_100 INTEGER NOT NULL DEFAULT 0,
  latency_le_250 INTEGER NOT NULL DEFAULT 0,
  latency_le_500 INTEGER NOT NULL DEFAULT 0,
  latency_le_1000 INTEGER NOT NULL DEFAULT 0,
  latency_le_2500 INTEGER NOT NULL DEFAULT 0,
  latency_le_5000 INTEGER NOT NULL DEFAULT 0,
  latency_le_10000 INTEGER NOT NULL DEFAULT 0,
  latency_le_30000 INTEGER NOT NULL DEFAULT 0,
  latency_le_60000 INTEGER NOT NULL DEFAULT 0,
  latency_le_300000 INTEGER NOT NULL DEFAULT 0,
  latency_le_inf INTEGER NOT NULL DEFAULT 0,
  ttfb_le_50 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_100 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_250 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_1000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_2500 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_5000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_10000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_30000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_60000 INTEGER NOT NULL DEFAULT 0,
  ttfb_le_inf INTEGER NOT NULL DEFAULT 0,
  -- Room for what later features count per call (response cache, guardrails); 0 until they write them.
  cache_hits        INTEGER NOT NULL DEFAULT 0,
  saved_usd         REAL NOT NULL DEFAULT 0,
  guardrail_actions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, key_id, team_id, provider, model, status, outcome)
) WITHOUT ROWID;

-- Compaction state: days_through (ms, a UTC day) — usage_day holds every whole day before it; compacted_before (ms, a UTC hour) — D1 takes no usage row older (trigger below) and rollups
-- are read in whole hours before it; archived_ts/archived_id — every row at or before (ts, request_id), below
-- compacted_before, is in the R2 archive and out of D1.
CREATE TABLE IF NOT EXISTS usage_state (name TEXT PRIMARY KEY, num INTEGER, text TEXT);
INSERT OR IGNORE INTO usage_state (name, num, text) VALUES ('compacted_before', 0, NULL), ('archived', 0, ''), ('days_through', 0, NULL);
-- The archive's objects (R2, USAGE_ARCHIVE), one row each, written with the D1 delete of its rows: /admin/logs finds
-- the objects here without listing the bucket. Their rows never overlap (compaction moves the oldest rows first), so
-- objects newest first by their first row are rows newest first.
CREATE TABLE IF NOT EXISTS usage_archive (
  hour     INTEGER NOT NULL,                   -- the UTC hour of its rows (its folder), ms since epoch
  key      TEXT NOT NULL,                      -- usage/v1/YYYY/MM/DD/HH/<first ts>-<hash>.ndjson.gz
  first_ts INTEGER NOT NULL,
  last_ts  INTEGER NOT NULL,
  rows     INTEGER NOT NULL,
  bytes    INTEGER NOT NULL,
  PRIMARY KEY (first_ts, key)
) WITHOUT ROWID;
-- A row older than the compaction point is one already archived (a late replay): storing it again would count it
-- twice. Skipped without an error (RETURNING leaves it out; the rollups apply the same test).
CREATE TRIGGER IF NOT EXISTS usage_before_compacted BEFORE INSERT ON usage
WHEN NEW.ts < (SELECT num FROM usage_state WHERE name = 'compacted_before')
BEGIN SELECT RAISE(IGNORE); END;

-- Per-key and per-team reads of the hourly rollups (a Governor starting a budget, /admin/usage?key_id=). An upsert
-- that adds to an existing group leaves these untouched; only a new group of the hour writes them.
CREATE INDEX IF NOT EXISTS usage_hour_key ON usage_hour (key_id, bucket);
CREATE INDEX IF NOT EXISTS usage_hour_team ON usage_hour (team_id, bucket);

-- The rows logged before this migration, rolled up once.
INSERT OR IGNORE INTO usage_minute (bucket, key_id, team_id, provider, model, status, outcome, calls, requests, errors, aborted, input_tokens, output_tokens, cached_tokens, thinking_tokens, tool_use_tokens, cost_usd, latency_ms_sum, ttfb_ms_sum, ttfb_count, latency_le_100, latency_le_250, latency_le_500, latency_le_1000, latency_le_2500, latency_le_5000, latency_le_10000, latency_le_30000, latency_le_60000, latency_le_300000, latency_le_inf, ttfb_le_50, ttfb_le_100, ttfb_le_250, ttfb_le_500, ttfb_le_1000, ttfb_le_2500, ttfb_le_5000, ttfb_le_10000, ttfb_le_30000, ttfb_le_60000, ttfb_le_inf)
SELECT ts - ts % 60000, key_id, coalesce(team_id, ''), coalesce(provider, ''), coalesce(model, ''), status, outcome,
  count(*), sum(requests), total(outcome = 'error'), total(outcome = 'aborted'), total(input_tokens), total(output_tokens), total(cached_tokens), total(thinking_tokens), total(tool_use_tokens), total(cost_usd), total(latency_ms), total(ttfb_ms), count(ttfb_ms), total(1 AND latency_ms <= 100), total(latency_ms > 100 AND latency_ms <= 250), total(latency_ms > 250 AND latency_ms <= 500), total(latency_ms > 500 AND latency_ms <= 1000), total(latency_ms > 1000 AND latency_ms <= 2500), total(latency_ms > 2500 AND latency_ms <= 5000), total(latency_ms > 5000 AND latency_ms <= 10000), total(latency_ms > 10000 AND latency_ms <= 30000), total(latency_ms > 30000 AND latency_ms <= 60000), total(latency_ms > 60000 AND latency_ms <= 300000), total(latency_ms > 300000), total(1 AND ttfb_ms <= 50), total(ttfb_ms > 50 AND ttfb_ms <= 100), total(ttfb_ms > 100 AND ttfb_ms <= 250), total(ttfb_ms > 250 AND ttfb_ms <= 500), total(ttfb_ms > 500 AND ttfb_ms <= 1000), total(ttfb_ms > 1000 AND ttfb_ms <= 2500), total(ttfb_ms > 2500 AND ttfb_ms <= 5000), total(ttfb_ms > 5000 AND ttfb_ms <= 10000), total(ttfb_ms > 10000 AND ttfb_ms <= 30000), total(ttfb_ms > 30000 AND ttfb_ms <= 60000), total(ttfb_ms > 60000)
FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7;
INSERT OR IGNORE INTO usage_hour (bucket, key_id, team_id, provider, model, status, outcome, calls, requests, errors, aborted, input_tokens, output_tokens, cached_tokens, thinking_tokens, tool_use_tokens, cost_usd, latency_ms_sum, ttfb_ms_sum, ttfb_count, latency_le_100, latency_le_250, latency_le_500, latency_le_1000, latency_le_2500, latency_le_5000, latency_le_10000, latency_le_30000, latency_le_60000, latency_le_300000, latency_le_inf, ttfb_le_50, ttfb_le_100, ttfb_le_250, ttfb_le_500, ttfb_le_1000, ttfb_le_2500, ttfb_le_5000, ttfb_le_10000, ttfb_le_30000, ttfb_le_60000, ttfb_le_inf)
SELECT ts - ts % 3600000, key_id, coalesce(team_id, ''), coalesce(provider, ''), coalesce(model, ''), status, outcome,
  count(*), sum(requests), total(outcome = 'error'), total(outcome = 'aborted'), total(input_tokens), total(output_tokens), total(cached_tokens), total(thinking_tokens), total(tool_use_tokens), total(cost_usd), total(latency_ms), total(ttfb_ms), count(ttfb_ms), total(1 AND latency_ms <= 100), total(latency_ms > 100 AND latency_ms <= 250), total(latency_ms > 250 AND latency_ms <= 500), total(latency_ms > 500 AND latency_ms <= 1000), total(latency_ms > 1000 AND latency_ms <= 2500), total(latency_ms > 2500 AND latency_ms <= 5000), total(latency_ms > 5000 AND latency_ms <= 10000), total(latency_ms > 10000 AND latency_ms <= 30000), total(latency_ms > 30000 AND latency_ms <= 60000), total(latency_ms > 60000 AND latency_ms <= 300000), total(latency_ms > 300000), total(1 AND ttfb_ms <= 50), total(ttfb_ms > 50 AND ttfb_ms <= 100), total(ttfb_ms > 100 AND ttfb_ms <= 250), total(ttfb_ms > 250 AND ttfb_ms <= 500), total(ttfb_ms > 500 AND ttfb_ms <= 1000), total(ttfb_ms > 1000 AND ttfb_ms <= 2500), total(ttfb_ms > 2500 AND ttfb_ms <= 5000), total(ttfb_ms > 5000 AND ttfb_ms <= 10000), total(ttfb_ms > 10000 AND ttfb_ms <= 30000), total(ttfb_ms > 30000 AND ttfb_ms <= 60000), total(ttfb_ms > 60000)
FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7;
