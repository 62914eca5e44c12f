-- Dimensions of a call no price covered (README, "Prices and costs"), comma-separated: `model` (no price at all),
-- `input:<MODALITY>` / `output:<MODALITY>` (a modality the price table does not know), `per_image`, `per_second`,
-- `cache_storage_per_hour`. NULL when every dimension was priced. /admin/usage counts the rows as `unpriced_calls`.
ALTER TABLE usage ADD COLUMN unpriced TEXT;
