/**
 * The trace outbox (migrations/0018_trace_outbox.sql): where a batch goes when the isolate holding it cannot deliver
 * it in its leader's window, so that the end of the isolate does not lose it. Nothing here runs on a call's path:
 * the exporter parks after the response (src/observe/traces/exporter.ts), and delivery runs from the cron
 * (src/index.ts, every 10 minutes) and from a leader that has just seen the collector take a batch.
 *
 * A parked batch is the encoded OTLP request, so every try sends the same bytes, the same span ids; it is deleted
 * only after a 2xx. Like the alert outbox (src/alerts/outbox.ts), a deliverer claims a row by moving its `next_at`
 * past the time one export may take, a retryable failure backs off (30 s doubling to the cron's 10 minutes) and
 * ends the run (the collector is down: the rest waits), and a refusal for good (a 4xx, a 500, a redirect, never
 * followed) deletes the row and counts its spans as `rejected`. Bounded: at most MAX_ROWS rows and MAX_BYTES bytes,
 * none older than MAX_AGE_MS; past that the oldest rows go and their spans are counted as `outbox`, in the same
 * transaction. A run stops starting exports once its deadline is near, so a hanging collector costs it one timeout.
 */
import type { Env } from "../../env";
import { getConfig } from "../../config";
import { postOtlp } from "./post";
import type { TraceSettings } from "./settings";

/** A payload's largest size (D1 takes rows up to 2 MB); a bigger batch is split before it is parked. */
export const MAX_ROW_BYTES = 1_000_000;
export interface OutboxLimits {
  maxRows: number;
  maxBytes: number;
  maxAgeMs: number;
}
export const OUTBOX_LIMITS: OutboxLimits = { maxRows: 1_000, maxBytes: 64 * 1024 * 1024, maxAgeMs: 86_400_000 };
const FIRST_RETRY_MS = 30_000;
/** The cron's period: a row waits no longer than that after the collector is back. */
const MAX_RETRY_MS = 600_000;
/** What one cron run may spend (a scheduled event every 10 minutes has 30 s of wall time). */
export const CRON_BUDGET_MS = 25_000;
const CRON_MAX_ROWS = 100;
/** The longest one export from the outbox may take, whatever OTEL_EXPORTER_OTLP_TIMEOUT says. */
const MAX_TIMEOUT_MS = 20_000;

export const retryDelay = (attempts: number) => Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_MS);

export interface Parcel {
  spans: number;
  contentType: string;
  payload: Uint8Array;
}

/** The rows past the bounds, newest kept: by count, by total bytes, by age. */
const OVER = `SELECT id, spans FROM (
    SELECT id, spans, created, SUM(bytes) OVER w AS total, ROW_NUMBER() OVER w AS n FROM trace_outbox WINDOW w AS (ORDER BY id DESC)
  ) WHERE n > ?1 OR total > ?2 OR created < ?3`;

/** Counts the spans of the rows past the bounds as `outbox` drops, then deletes those rows (one transaction). */
function trimStatements(db: D1Database, limits: OutboxLimits, now: number): D1PreparedStatement[] {
  const args = [limits.maxRows, limits.maxBytes, now - limits.maxAgeMs] as const;
  return [
    db.prepare(`INSERT INTO trace_drops (reason, count) SELECT 'outbox', s FROM (SELECT SUM(spans) AS s FROM (${OVER})) WHERE s > 0
      ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count`).bind(...args),
    db.prepare(`DELETE FROM trace_outbox WHERE id IN (SELECT id FROM (${OVER}))`).bind(...args),
  ];
}

/** Parks the parcels (due at once) and trims the outbox to its bounds, in one transaction. Throws when D1 does. */
export async function park(db: D1Database, parcels: readonly Parcel[], limits = OUTBOX_LIMITS, now = Date.now()): Promise<void> {
  if (!parcels.length) return;
  await db.batch([
    ...parcels.map((p) =>
      db.prepare("INSERT INTO trace_outbox (created, next_at, spans, bytes, content_type, payload) VALUES (?1, ?1, ?2, ?3, ?4, ?5)")
        .bind(now, p.spans, p.payload.byteLength, p.contentType, p.payload)),
    ...trimStatements(db, limits, now),
  ]);
}

export interface OutboxRun {
  /** Rows and spans the collector took. */
  delivered: number;
  spans: number;
  /** Rows refused for good (deleted, counted as `rejected`). */
  rejected: number;
  /** A retryable failure ended the run (the row waits for its backoff). */
  failed?: string;
}

/**
 * Delivers due rows, oldest first, one at a time, until none is due, `maxRows` were tried, a retryable failure, or
 * the deadline would not leave room for one more export. Throws when D1 does.
 */
export async function deliverParked(
  db: D1Database,
  s: TraceSettings,
  opts: { deadline: number; timeoutMs: number; maxRows: number },
): Promise<OutboxRun> {
  const run: OutboxRun = { delivered: 0, spans: 0, rejected: 0 };
  const timeoutMs = Math.min(opts.timeoutMs, MAX_TIMEOUT_MS);
  for (let i = 0; i < opts.maxRows && Date.now() + timeoutMs <= opts.deadline; i++) {
    const now = Date.now();
    const row = await db
      .prepare(
        `UPDATE trace_outbox SET next_at = ?1 + ?2 WHERE id = (SELECT id FROM trace_outbox WHERE next_at <= ?1 ORDER BY id LIMIT 1)
         RETURNING id, attempts, spans, content_type, payload`,
      )
      .bind(now, timeoutMs + 10_000)
      .first<{ id: number; attempts: number; spans: number; content_type: string; payload: ArrayBuffer | number[] }>();
    if (!row) break;
    const body = row.payload instanceof ArrayBuffer ? new Uint8Array(row.payload) : Uint8Array.from(row.payload);
    const r = await postOtlp(s, body, row.content_type, timeoutMs);
    if (r.ok) {
      await db.prepare("DELETE FROM trace_outbox WHERE id = ?1").bind(row.id).run();
      run.delivered++;
      run.spans += row.spans;
      continue;
    }
    if (r.retryAfterMs === undefined) {
      // Counted only if the row is still there (the bound may have dropped it, and counted it, meanwhile).
      await db.batch([
        db.prepare(`INSERT INTO trace_drops (reason, count) SELECT 'rejected', spans FROM trace_outbox WHERE id = ?1
          ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count`).bind(row.id),
        db.prepare("DELETE FROM trace_outbox WHERE id = ?1").bind(row.id),
      ]);
      run.rejected++;
      console.error(`traces: a parked batch of ${row.spans} spans was refused: ${r.error}; dropped`);
      continue;
    }
    const attempts = row.attempts + 1;
    // Retry-After honoured up to the cap: a collector cannot park a batch out of reach.
    const next = Date.now() + Math.min(Math.max(retryDelay(attempts), r.retryAfterMs), MAX_RETRY_MS);
    await db.prepare("UPDATE trace_outbox SET attempts = ?2, next_at = ?3 WHERE id = ?1").bind(row.id, attempts, next).run();
    run.failed = r.error;
    break;
  }
  return run;
}

/** The traces' share of the cron: the bounds applied, then whatever is due delivered, within CRON_BUDGET_MS. */
export async function tracesCron(env: Env, opts: { budgetMs?: number; limits?: OutboxLimits } = {}): Promise<OutboxRun | undefined> {
  const s = getConfig(env).traces;
  // Traces off: no query at all (parked rows wait for traces to be on again, and the age bound then drops the old).
  if (!s) return undefined;
  try {
    const began = Date.now();
    await env.DB.batch(trimStatements(env.DB, opts.limits ?? OUTBOX_LIMITS, began));
    const run = await deliverParked(env.DB, s, { deadline: began + (opts.budgetMs ?? CRON_BUDGET_MS), timeoutMs: s.timeoutMs, maxRows: CRON_MAX_ROWS });
    if (run.failed) console.error(`traces: outbox delivery to ${new URL(s.url).origin} failed: ${run.failed}; ${run.delivered} batches delivered this run`);
    return run;
  } catch (e) {
    console.error(`traces: outbox: ${String(e).slice(0, 200)}`);
    return undefined;
  }
}
