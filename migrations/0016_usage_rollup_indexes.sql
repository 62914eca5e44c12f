-- Hourly rollups pruned, and a narrow read of the daily ones (docs/usage-log.md, "Rollups").
--
-- hours_before (ms, a UTC day): usage_hour holds no hour before it; /admin/usage answers there from usage_day in whole
-- days. Compaction (src/usage/compact.ts) raises it, then drops those hours a day at a time; 0: nothing pruned.
INSERT OR IGNORE INTO usage_state (name, num, text) VALUES ('hours_before', 0, NULL);

-- /admin/usage over whole days reads the figures of every group of those days: from this index (the group columns
-- come with it, as the table's key) rather than the table's ~50-column rows, a third of the bytes. usage_day is
-- written by compaction and by the rare late row, so the index costs calls nothing.
CREATE INDEX IF NOT EXISTS usage_day_figures ON usage_day (
  bucket, requests, errors, aborted, input_tokens, output_tokens, cached_tokens, thinking_tokens, tool_use_tokens,
  cost_usd, unpriced_calls, cache_hits, saved_usd
);

-- A Governor starting a budget reads a key's or team's spend of the pruned days from usage_day (src/governance/usage-log.ts),
-- as it reads the hours from usage_hour's (key_id, bucket) and (team_id, bucket) indexes.
CREATE INDEX IF NOT EXISTS usage_day_key ON usage_day (key_id, bucket);
CREATE INDEX IF NOT EXISTS usage_day_team ON usage_day (team_id, bucket);
