/** The one INSERT of a usage row, shared by every writer (buffer shards, queue consumer, direct fallback). */
import type { CallRecord } from "./row";

// Idempotent by request_id. A conflict is a no-op either way; it counts as a change (meta.changes = 1) only when
// the stored row came from the same batch, so a retried batch knows its own rows from copies stored by another.
// ON CONFLICT on the key only: OR IGNORE would also skip, silently, a row failing a CHECK or NOT NULL.
const INSERT = `INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action,
  stream, status, outcome, error, attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens,
  thinking_tokens, tool_use_tokens, cost_usd, latency_ms, ttfb_ms, batch_id, close_code, closed_by, modality_tokens, requests, unpriced,
  cache, saved_usd, guardrails)
  VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
  ON CONFLICT (request_id) DO UPDATE SET batch_id = batch_id WHERE batch_id = excluded.batch_id`;

// `tool_use` may be missing from a row an isolate of an earlier version handed off (during a deploy): 0 then.
export function insertStatement(db: D1Database, r: CallRecord, batchId: string | null = null): D1PreparedStatement {
  return db.prepare(INSERT).bind(
    r.request_id, r.ts, r.key_id, r.team_id, r.requested_model, r.provider, r.model, r.action,
    r.stream ? 1 : 0, r.status, r.outcome, r.error, r.attempts.length, r.fallback_index, JSON.stringify(r.attempts),
    r.tokens.input, r.tokens.output, r.tokens.cached, r.tokens.thinking, r.tokens.tool_use ?? 0, r.cost_usd, r.latency_ms, r.ttfb_ms, batchId,
    r.session?.close_code ?? null, r.session?.closed_by ?? null, r.session ? JSON.stringify(r.session.modality_tokens) : null,
    r.requests ?? 1, r.unpriced ?? null, r.cache ?? null, r.saved_usd ?? 0, r.guardrails ? JSON.stringify(r.guardrails) : null,
  );
}

// The same INSERT for a whole batch in one statement: the rows go as the one JSON text the usage buffer already
// keeps (one bound parameter, not 28 per row), and SQLite takes them apart (json_each). Column for column what
// insertStatement binds. RETURNING names the rows that are this batch's (inserted now, or earlier under the same
// batch id): a conflict the WHERE skips is not returned.
const field = (path: string) => `json_extract(r.value, '$.${path}')`;
const INSERT_JSON = `INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action,
  stream, status, outcome, error, attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens,
  thinking_tokens, tool_use_tokens, cost_usd, latency_ms, ttfb_ms, batch_id, close_code, closed_by, modality_tokens, requests, unpriced,
  cache, saved_usd, guardrails)
  SELECT ${["request_id", "ts", "key_id", "team_id", "requested_model", "provider", "model", "action"].map(field).join(", ")},
    CASE WHEN ${field("stream")} THEN 1 ELSE 0 END, ${["status", "outcome", "error"].map(field).join(", ")},
    json_array_length(r.value, '$.attempts'), ${field("fallback_index")}, ${field("attempts")},
    ${["tokens.input", "tokens.output", "tokens.cached", "tokens.thinking"].map(field).join(", ")}, coalesce(${field("tokens.tool_use")}, 0),
    ${["cost_usd", "latency_ms", "ttfb_ms"].map(field).join(", ")},
    ?2, ${["session.close_code", "session.closed_by", "session.modality_tokens"].map(field).join(", ")},
    coalesce(${field("requests")}, 1), ${field("unpriced")}, ${field("cache")}, coalesce(${field("saved_usd")}, 0), ${field("guardrails")}
  FROM json_each(?1) AS r WHERE true
  ON CONFLICT (request_id) DO UPDATE SET batch_id = batch_id WHERE batch_id = excluded.batch_id
  RETURNING request_id`;

/** One statement storing every row of `json` (a CallRecord[] as JSON) under `batchId`; its results are this batch's ids. */
export function insertRowsStatement(db: D1Database, json: string, batchId: string): D1PreparedStatement {
  return db.prepare(INSERT_JSON).bind(json, batchId);
}
