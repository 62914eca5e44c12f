/** The one INSERT of a usage row, shared by every writer (buffer shards, queue consumer, direct fallback). */
import type { CallRecord } from "./record";

// Idempotent by request_id. A conflict is a no-op either way; it counts as a change (meta.changes = 1) only when
// the stored row came from the same batch, so a retried batch knows its own rows from copies stored by another.
// ON CONFLICT on the key only: OR IGNORE would also skip, silently, a row failing a CHECK or NOT NULL.
const INSERT = `INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action,
  stream, status, outcome, error, attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens,
  thinking_tokens, cost_usd, latency_ms, ttfb_ms, batch_id, close_code, closed_by, modality_tokens, requests)
  VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
  ON CONFLICT (request_id) DO UPDATE SET batch_id = batch_id WHERE batch_id = excluded.batch_id`;

export function insertStatement(db: D1Database, r: CallRecord, batchId: string | null = null): D1PreparedStatement {
  return db.prepare(INSERT).bind(
    r.request_id, r.ts, r.key_id, r.team_id, r.requested_model, r.provider, r.model, r.action,
    r.stream ? 1 : 0, r.status, r.outcome, r.error, r.attempts.length, r.fallback_index, JSON.stringify(r.attempts),
    r.tokens.input, r.tokens.output, r.tokens.cached, r.tokens.thinking, r.cost_usd, r.latency_ms, r.ttfb_ms, batchId,
    r.session?.close_code ?? null, r.session?.closed_by ?? null, r.session ? JSON.stringify(r.session.modality_tokens) : null,
    r.requests ?? 1,
  );
}

/** Whether a statement's result says the row is this batch's: newly inserted, or inserted earlier by the same batch. */
export const storedByThisBatch = (r: D1Result) => (r.meta?.changes ?? 0) > 0;
