-- Rollups count the rows whose cost is short of what they used (usage.unpriced set, migrations/0010_costs.sql), so
-- /admin/usage's `unpriced_calls` reads them like every other figure (README, "Usage log").
ALTER TABLE usage_minute ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_hour ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_day ADD COLUMN unpriced_calls INTEGER NOT NULL DEFAULT 0;
