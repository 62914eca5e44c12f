-- Span rollups (docs/usage-log.md, "Rollups"): epoch-aligned blocks of 4^level days (level 1: 4 days, 2: 16, 3: 64,
-- 4: 256), each the sum of its four blocks of the level below (level 1: of its four days in usage_day). Compaction
-- (src/usage/compact.ts) folds whole blocks once the level below holds all of them, and raises 'spans_through_<level>'
-- (ms, a block start of that level: the level holds every whole block before it); a batch holding a row of a folded
-- block adds it to every level already folded there (src/usage/rollups.ts). /admin/usage reads a long range as the
-- biggest whole blocks that fit, so a year is a few blocks' groups rather than 365 days' of them.
CREATE TABLE IF NOT EXISTS usage_span (
  level             INTEGER NOT NULL,          -- 1..4: blocks of 4^level days
  bucket            INTEGER NOT NULL,          -- start of the block: a multiple of its length since the epoch, ms
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
    unpriced_calls    INTEGER NOT NULL DEFAULT 0,
  attempts_ok       INTEGER NOT NULL DEFAULT 0,
  attempts_failed   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (level, bucket, key_id, team_id, provider, model, status, outcome)
) WITHOUT ROWID;
INSERT OR IGNORE INTO usage_state (name, num, text) VALUES
  ('spans_through_1', 0, NULL), ('spans_through_2', 0, NULL), ('spans_through_3', 0, NULL), ('spans_through_4', 0, NULL);

-- /admin/usage's read of whole blocks, as usage_day_figures serves whole days: the figures it sums (the group columns
-- come with the key), not the ~50-column rows. Written by compaction and the rare late row only.
CREATE INDEX IF NOT EXISTS usage_span_figures ON usage_span (
  level, bucket, requests, errors, aborted, input_tokens, output_tokens, cached_tokens, thinking_tokens, tool_use_tokens,
  cost_usd, unpriced_calls, cache_hits, saved_usd, guardrail_actions
);
-- /admin/usage?key_id= and ?team_id= over blocks.
CREATE INDEX IF NOT EXISTS usage_span_key ON usage_span (key_id, level, bucket);
CREATE INDEX IF NOT EXISTS usage_span_team ON usage_span (team_id, level, bucket);
