/**
 * What a governor enforces for its subject (a key or a team), and the calendar of budget periods. Written to the
 * subject's Durable Object by the admin API on every change, so limits and revocation apply on the next request.
 */
import type { Budget, KeyRecord, RateLimit } from "../auth/key-record";
import type { TeamRecord } from "./team-record";

export interface Policy {
  subject: "key" | "team";
  /** The key's or team's id: where the usage log is read when a budget is first set. */
  id: string;
  /** For messages (`rate limit: key "ci-bot" ...`). */
  name: string;
  rate_limit: RateLimit | null;
  budget: Budget | null;
  /** Keys only: the status the admin API last wrote, checked on every admission (KV reads may be stale). */
  active?: boolean;
  revoked_at?: string | null;
  expires_at?: string | null;
  rotations?: number;
}

export const keyPolicy = (k: KeyRecord): Policy => ({
  subject: "key",
  id: k.id,
  name: k.name,
  rate_limit: k.rate_limit ?? null,
  budget: k.budget ?? null,
  active: k.active,
  revoked_at: k.revoked_at ?? null,
  expires_at: k.expires_at ?? null,
  rotations: k.rotations ?? 0,
});

export const teamPolicy = (t: TeamRecord): Policy => ({
  subject: "team",
  id: t.id,
  name: t.name,
  rate_limit: t.rate_limit ?? null,
  budget: t.budget ?? null,
});

export const WINDOW_MS = 60_000;
export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Start of the budget period holding `now` (UTC calendar: hour, day, ISO week from Monday, month); 0 = lifetime. */
export function periodStart(period: Budget["period"], now: number): number {
  const d = new Date(now);
  switch (period) {
    case "1h":
      return now - (now % HOUR_MS);
    case "1d":
      return now - (now % DAY_MS);
    case "1w":
      return now - (now % DAY_MS) - ((d.getUTCDay() + 6) % 7) * DAY_MS;
    case "1mo":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    default:
      return 0;
  }
}

/** When the period holding `now` ends; undefined for a lifetime budget. */
export function periodEnd(period: Budget["period"], now: number): number | undefined {
  const d = new Date(now);
  switch (period) {
    case "1h":
      return periodStart("1h", now) + HOUR_MS;
    case "1d":
      return periodStart("1d", now) + DAY_MS;
    case "1w":
      return periodStart("1w", now) + 7 * DAY_MS;
    case "1mo":
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    default:
      return undefined;
  }
}

export const hourOf = (ts: number) => Math.floor(ts / HOUR_MS);

/** Whether a subject counts tokens or spend, and so needs each finished call settled into its Governor. */
export const meters = (p: Policy) => !!(p.budget || p.rate_limit?.tpm);
