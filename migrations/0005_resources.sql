-- Gemini resources created through the gateway (files, context caches, batches, long-running operations): which key
-- and team own each one. A key sees only its own, plus its team's shared ones when both use resource_scope "team";
-- anything else answers 404 as if it did not exist (README, "Files, caches, batches and operations").
CREATE TABLE IF NOT EXISTS resources (
  provider    TEXT NOT NULL,                   -- upstream that holds it (gemini)
  name        TEXT NOT NULL,                   -- upstream name: files/abc, cachedContents/x, batches/y, models/veo-2.0-generate-001/operations/z
  kind        TEXT NOT NULL CHECK (kind IN ('file', 'cachedContent', 'batch', 'operation')),
  alias       TEXT,                            -- operations/{id}: a model's operation polled without its model
  key_id      TEXT NOT NULL,
  team_id     TEXT,
  shared      INTEGER NOT NULL DEFAULT 0,      -- 1: created under resource_scope "team", visible to team-scoped keys of team_id
  model       TEXT,                            -- canonical provider/model of a cache, batch or operation
  state       TEXT NOT NULL,                   -- active | deleted | gone, or the upstream's state of a batch or operation
  created_at  INTEGER NOT NULL,                -- ms since epoch
  updated_at  INTEGER NOT NULL,
  finished_at INTEGER,                         -- batch or operation seen finished (a batch's usage row written then)
  size_bytes  INTEGER,                         -- file: bytes uploaded through the gateway
  lines       INTEGER,                         -- file: lines uploaded (a JSONL batch input's request count)
  meta        TEXT,                            -- batch: JSON {hold, settle, requests, input_tokens, action, version}
  PRIMARY KEY (provider, name)
);
-- A key's (or team's) resources of one kind, oldest first: keyset-paged lists.
CREATE INDEX IF NOT EXISTS resources_key ON resources (key_id, kind, created_at, name);
CREATE INDEX IF NOT EXISTS resources_team ON resources (team_id, kind, created_at, name);
CREATE INDEX IF NOT EXISTS resources_alias ON resources (alias) WHERE alias IS NOT NULL;
-- Batches and operations not yet seen finished: what the scheduled sweep polls.
CREATE INDEX IF NOT EXISTS resources_open ON resources (updated_at) WHERE finished_at IS NULL AND kind IN ('batch', 'operation');

-- Resumable uploads in progress: the gateway's opaque upload id → the provider's upload URL (never shown to anyone),
-- bound to the key that started it, with what has been received so far.
CREATE TABLE IF NOT EXISTS uploads (
  id           TEXT PRIMARY KEY,               -- SHA-256 (hex) of the opaque id in the gateway's upload URL
  key_id       TEXT NOT NULL,
  team_id      TEXT,
  shared       INTEGER NOT NULL DEFAULT 0,
  upstream_url TEXT NOT NULL,
  declared     INTEGER,                        -- X-Goog-Upload-Header-Content-Length at start, if sent
  received     INTEGER NOT NULL DEFAULT 0,     -- bytes accepted upstream so far (the next X-Goog-Upload-Offset)
  lines        INTEGER NOT NULL DEFAULT 0,     -- newline bytes received so far
  ends_nl      INTEGER NOT NULL DEFAULT 1,     -- whether the last byte received was a newline
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expires_at);

-- A batch's one usage row counts many requests; every other row is one.
ALTER TABLE usage ADD COLUMN requests INTEGER NOT NULL DEFAULT 1;
