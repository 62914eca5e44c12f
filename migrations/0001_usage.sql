-- One row per inference call. Never holds a secret, a prompt or a response.
CREATE TABLE IF NOT EXISTS usage (
  request_id      TEXT PRIMARY KEY,
  ts              INTEGER NOT NULL,            -- ms since epoch, when the call started
  key_id          TEXT NOT NULL,
  team_id         TEXT,
  requested_model TEXT NOT NULL,
  provider        TEXT,                        -- what served (null when nothing did)
  model           TEXT,
  action          TEXT NOT NULL,
  stream          INTEGER NOT NULL,
  status          INTEGER NOT NULL,
  outcome         TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'aborted')),
  error           TEXT,
  attempts        INTEGER NOT NULL,
  fallback_index  INTEGER,
  attempts_json   TEXT NOT NULL,               -- [{target,status,reason,latency_ms}]
  input_tokens    INTEGER NOT NULL DEFAULT 0,
  output_tokens   INTEGER NOT NULL DEFAULT 0,
  cached_tokens   INTEGER NOT NULL DEFAULT 0,
  thinking_tokens INTEGER NOT NULL DEFAULT 0,
  cost_usd        REAL NOT NULL DEFAULT 0,
  latency_ms      INTEGER NOT NULL,
  ttfb_ms         INTEGER
);
