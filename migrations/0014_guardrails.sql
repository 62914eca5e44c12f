-- Guardrails (README, "Guardrails"): what each policy did on a call, as JSON
-- `[{policy, stage, action, entities: {entity: count}}]` (never the matched text); NULL when no policy acted.
-- The rollups' `guardrail_actions` (migrations/0008_usage_scale.sql) count its entries.
ALTER TABLE usage ADD COLUMN guardrails TEXT;
