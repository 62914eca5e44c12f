-- The response cache (README, "Response cache"): each usage row says whether its answer came from the cache
-- (`cache`: hit, miss or bypass; NULL when no cache policy applied) and what a hit saved (`saved_usd`: the
-- original call's cost; the hit's own cost_usd is 0). The rollups' cache_hits and saved_usd (0008) count them.
ALTER TABLE usage ADD COLUMN cache TEXT;
ALTER TABLE usage ADD COLUMN saved_usd REAL NOT NULL DEFAULT 0;
