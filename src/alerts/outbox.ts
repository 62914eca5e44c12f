/**
 * The alert outbox (migrations/0015_alerts.sql): events are written to D1 once under a stable id, then delivered
 * at least once. Whoever writes an event tries to deliver it at once; the cron (every 10 minutes) delivers whatever
 * is due, so a delivery survives the end of the isolate that wrote it and a receiver down for hours. Retries back
 * off (30 s doubling to 1 h) and stop after MAX_AGE_MS; every retry carries the same `id`.
 */
import type { Env } from "../env";
import { sendAlert, SEND_TIMEOUT_MS, type AlertEvent } from "./send";
import { alertSettings } from "./settings";

/** An event before it has an id: `seed` names it uniquely (the same seed is the same event, written once). */
export type AlertDraft = Omit<AlertEvent, "id"> & { seed: string };

const FIRST_RETRY_MS = 30_000;
const MAX_RETRY_MS = 3_600_000;
/** A delivery not made in 3 days is given up (state `failed`, kept for the admin API). */
const MAX_AGE_MS = 3 * 86_400_000;
/** A run's claim on the rows it is delivering: others leave them alone that long. */
const CLAIM_MS = 2 * SEND_TIMEOUT_MS + 10_000;
const BATCH = 25;

export const retryDelay = (attempts: number) => Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, attempts - 1), MAX_RETRY_MS);

/** The stable id of an event: a hash of its seed. */
export async function alertId(seed: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(seed));
  return `alert_${[...new Uint8Array(d).slice(0, 16)].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** Writes the events (in order) unless already written; returns how many were new. */
export async function enqueue(db: D1Database, drafts: readonly AlertDraft[], now = Date.now()): Promise<number> {
  if (!drafts.length) return 0;
  const statements = await Promise.all(
    drafts.map(async ({ seed, ...rest }) => {
      const event: AlertEvent = { id: await alertId(seed), ...rest };
      return db
        .prepare("INSERT OR IGNORE INTO alert_outbox (id, type, body, created_at, next_at) VALUES (?, ?, ?, ?, ?)")
        .bind(event.id, event.type, JSON.stringify(event), now, now);
    }),
  );
  const results = await db.batch(statements);
  return results.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
}

export interface DeliveryRun {
  delivered: number;
  retrying: number;
  failed: number;
}

/**
 * Delivers what is due, oldest first, one at a time (a crossing of 50% then 80% arrives in that order). The rows
 * are claimed in one statement first, so two runs at once do not both send them; a run that fails to send one stops
 * there and puts the rest back behind it, keeping the order.
 */
export async function deliverDue(env: Env, opts: { now?: number; timeoutMs?: number } = {}): Promise<DeliveryRun> {
  const run: DeliveryRun = { delivered: 0, retrying: 0, failed: 0 };
  const settings = alertSettings(env);
  if (!settings) return run;
  const now = opts.now ?? Date.now();
  const { results } = await env.DB.prepare(
    `UPDATE alert_outbox SET next_at = ?1 + ?2 WHERE id IN
       (SELECT id FROM alert_outbox WHERE state = 'pending' AND next_at <= ?1 ORDER BY created_at, rowid LIMIT ?3)
     RETURNING rowid AS seq, id, body, attempts, created_at`,
  )
    .bind(now, CLAIM_MS, BATCH)
    .all<{ seq: number; id: string; body: string; attempts: number; created_at: number }>();
  const rows = results.sort((a, b) => a.created_at - b.created_at || a.seq - b.seq);
  for (const [i, row] of rows.entries()) {
    // Signed with the time it is sent (a receiver rejects old timestamps), whatever `now` the run is due at.
    const r = await sendAlert(settings, JSON.parse(row.body) as AlertEvent, opts.timeoutMs);
    const attempts = row.attempts + 1;
    const at = opts.now ?? Date.now();
    if (r.ok) {
      await env.DB.prepare("UPDATE alert_outbox SET state = 'delivered', attempts = ?2, last_status = ?3, last_error = NULL, delivered_at = ?4 WHERE id = ?1")
        .bind(row.id, attempts, r.status, at).run();
      run.delivered++;
      continue;
    }
    const giveUp = at - row.created_at >= MAX_AGE_MS;
    const next = at + retryDelay(attempts);
    console.error(`alert ${row.id}: delivery ${attempts} failed: ${r.error}${giveUp ? "; given up" : ""}`);
    await env.DB.batch([
      env.DB.prepare("UPDATE alert_outbox SET state = ?2, attempts = ?3, last_status = ?4, last_error = ?5, next_at = ?6 WHERE id = ?1")
        .bind(row.id, giveUp ? "failed" : "pending", attempts, r.status, r.error, next),
      // The rest of this run's rows go back, due no earlier than this one.
      ...rows.slice(i + 1).map((o) => env.DB.prepare("UPDATE alert_outbox SET next_at = ?2 WHERE id = ?1 AND state = 'pending'").bind(o.id, next)),
    ]);
    if (giveUp) run.failed++;
    else run.retrying++;
    run.retrying += rows.length - i - 1;
    break;
  }
  return run;
}

/**
 * Writes the events and tries to deliver them now (the cron retries what fails); `written` runs once they are in
 * D1. Never throws.
 */
export async function raise(env: Env, drafts: readonly AlertDraft[], written?: () => void): Promise<void> {
  try {
    const fresh = await enqueue(env.DB, drafts);
    written?.();
    if (fresh) await deliverDue(env);
  } catch (e) {
    console.error(`alerts: ${String(e)}`);
  }
}

/** The most recent deliveries, newest first (GET /admin/alerts). */
export async function recentAlerts(db: D1Database, limit: number): Promise<Record<string, unknown>[]> {
  const { results } = await db
    .prepare("SELECT id, type, body, state, attempts, created_at, next_at, last_status, last_error, delivered_at FROM alert_outbox ORDER BY created_at DESC, rowid DESC LIMIT ?")
    .bind(limit)
    .all<{ body: string; created_at: number; next_at: number; delivered_at: number | null; state: string } & Record<string, unknown>>();
  return results.map(({ body, created_at, next_at, delivered_at, ...r }) => ({
    ...r,
    event: JSON.parse(body),
    created_at: new Date(created_at).toISOString(),
    next_attempt_at: r.state === "pending" ? new Date(next_at).toISOString() : null,
    delivered_at: delivered_at == null ? null : new Date(delivered_at).toISOString(),
  }));
}
