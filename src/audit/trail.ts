/**
 * The audit trail (D1 table `audit`, migrations/0009_audit.sql): one row per admin write — who, what, which
 * record, and the fields that changed with their values before and after. Never a secret or a hash: records hold
 * none (a key's secret is shown once and stored as a hash elsewhere), and the fields named in HIDDEN are left out.
 */
import type { Env } from "../env";
import type { Actor } from "../routes/admin/access";
import { describeError } from "../lib/describe-error";

export const ACTIONS = [
  "key.create", "key.update", "key.revoke", "key.rotate",
  "team.create", "team.update", "team.delete",
  "token.create", "token.delete",
  "cache.clear",
] as const;
export type AuditAction = (typeof ACTIONS)[number];

/** Bookkeeping every write changes, and anything secret: not part of "what changed". */
const HIDDEN = new Set(["updated_at", "revision", "key", "hash", "secret", "token"]);

export type Changes = Record<string, { before: unknown; after: unknown }>;

/** The fields whose values differ between `before` and `after` (either may be null: created, deleted). */
export function changesOf(before: object | null | undefined, after: object | null | undefined): Changes {
  const b = (before ?? {}) as Record<string, unknown>;
  const a = (after ?? {}) as Record<string, unknown>;
  const out: Changes = {};
  for (const f of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (HIDDEN.has(f)) continue;
    const vb = b[f] ?? null;
    const va = a[f] ?? null;
    if (JSON.stringify(vb) !== JSON.stringify(va)) out[f] = { before: vb, after: va };
  }
  return out;
}

/**
 * Writes the row, awaited by the admin write that made it: the write has happened, so a D1 failure does not undo
 * it or fail its answer; the failure is logged (without the row's values).
 */
export async function audit(env: Env, actor: Actor, action: AuditAction, target: string, changes: Changes, now = Date.now()): Promise<void> {
  try {
    await env.DB.prepare("INSERT INTO audit (at, actor_id, actor_name, actor_role, action, target, changes) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(now, actor.id, actor.name, actor.role, action, target, JSON.stringify(changes))
      .run();
  } catch (e) {
    console.error(`audit: the row for ${action} ${target} by ${actor.id} was not written: ${describeError(e)}`);
  }
}

const DAY_MS = 86_400_000;
const DEFAULT_RETENTION_DAYS = 365;

/** Days rows are kept: AUDIT_RETENTION_DAYS as a whole number (0: for good), else the default. */
export function retentionDays(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return DEFAULT_RETENTION_DAYS;
  const n = Number(raw);
  if (Number.isInteger(n) && n >= 0) return n;
  console.error(`AUDIT_RETENTION_DAYS="${raw.slice(0, 40)}" is not a whole number of days; keeping ${DEFAULT_RETENTION_DAYS}`);
  return DEFAULT_RETENTION_DAYS;
}

/** The cron's pruning: rows older than the retention are deleted (none when it is 0). */
export async function pruneAudit(env: Env, now = Date.now()): Promise<number> {
  const days = retentionDays(env.AUDIT_RETENTION_DAYS);
  if (days === 0) return 0;
  try {
    const r = await env.DB.prepare("DELETE FROM audit WHERE at < ?").bind(now - days * DAY_MS).run();
    return r.meta.changes ?? 0;
  } catch (e) {
    console.error(`audit: pruning failed: ${describeError(e)}`);
    return 0;
  }
}

export interface AuditRow {
  id: number;
  at: number;
  actor_id: string;
  actor_name: string;
  actor_role: string;
  action: string;
  target: string;
  changes: string;
}
