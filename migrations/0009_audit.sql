-- The audit trail: one row per admin write (keys, teams, tokens, rotation), who made it and what changed (fields
-- before and after; never a secret or a hash). Read newest first by GET /admin/audit; rows older than
-- AUDIT_RETENTION_DAYS are deleted by the cron.
CREATE TABLE IF NOT EXISTS audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  at          INTEGER NOT NULL,                -- ms since epoch
  actor_id    TEXT NOT NULL,                   -- `root`, or the admin token's id
  actor_name  TEXT NOT NULL,
  actor_role  TEXT NOT NULL,                   -- root, admin, viewer, team_admin
  action      TEXT NOT NULL,                   -- key.create, key.update, key.revoke, key.rotate, team.*, token.*
  target      TEXT NOT NULL,                   -- the id written (key_…, team_…, tok_…)
  changes     TEXT NOT NULL                    -- JSON: {field: {before, after}}
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_target ON audit (target, id);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor_id, id);
