/**
 * Governor: the Durable Object that holds one subject's counters (`key:<id>` or `team:<id>`) in its SQLite storage.
 * A Durable Object runs one method at a time and every method here is synchronous SQL (no await), so each
 * admission reads and writes the counters atomically: with 10 requests left, exactly 10 of any burst pass.
 *
 * - requests/min: a sliding log of admitted requests (one row each, rowid = ticket), pruned past 60 s.
 * - tokens/min: a sliding log of settled token counts; known only when a call ends, so a burst admitted while the
 *   window still had room may overshoot it by the calls in flight.
 * - budget: USD per UTC hour bucket; any period (hour/day/week/month/lifetime) is a sum of buckets, so changing
 *   the period keeps the history. Buckets older than 32 days fold into bucket 0 (the lifetime remainder).
 */
import { DurableObject } from "cloudflare:workers";
import { keyUnusableReason } from "../auth/key-record";
import type { Env } from "../env";
import { clock } from "./clock";
import { GatewayError } from "../gemini/errors";
import { HOUR_MS, hourOf, meters, periodEnd, periodStart, WINDOW_MS, type Policy } from "./policy";

export type Decision =
  /** `meter`: the subject counts tokens or spend, so the finished call must be settled here. */
  | { ok: true; ticket?: number; meter?: boolean }
  | { ok: false; code: 401 | 402 | 403 | 429; message: string; retryAfter?: number };

export interface AdmitInput {
  /** The caller's (possibly stale) view, used only when the admin API never wrote a policy here. */
  fallback?: Policy;
  /** Keys only: the rotation count of the record the caller authenticated with. */
  rotations?: number;
}

export interface Settlement {
  tokens: number;
  usd: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS policy (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS tokens (ts INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_ts ON tokens (ts);
CREATE TABLE IF NOT EXISTS spend (hour INTEGER PRIMARY KEY, usd REAL NOT NULL);
`;
const FOLD_AFTER_HOURS = 32 * 24;
const spendBy = (col: string) =>
  `SELECT CASE WHEN ts < ?1 THEN 0 ELSE ts / ${HOUR_MS} END AS hour, sum(cost_usd) AS usd
   FROM usage WHERE ${col} = ?2 AND cost_usd > 0 GROUP BY 1`;
const SPEND_BY_KEY = spendBy("key_id");
const SPEND_BY_TEAM = spendBy("team_id");

export class Governor extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** The stored policy, read once per instance; undefined until read, null when none was written. */
  private policy: Policy | null | undefined;
  /** The hour whose old spend buckets were last folded: folding is needed once an hour, not once a call. */
  private foldedHour = -1;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  /**
   * Admin API: the subject's limits and status; null forgets the subject (team deleted). Calls are settled here
   * only while the subject meters (a budget or a tokens/min limit), so a budget set where none was starts from
   * what the usage log says the subject already spent.
   */
  async configure(p: Policy | null): Promise<void> {
    // The D1 read below would let other calls in between this read of the stored policy and the write; an
    // admission may wait, but another admin write must not interleave and be overwritten.
    await this.ctx.blockConcurrencyWhile(() => this.apply(p));
  }

  private async apply(p: Policy | null): Promise<void> {
    const seed = p?.budget && !this.stored()?.budget ? await this.spendFromUsageLog(p) : undefined;
    if (p) {
      this.sql.exec("INSERT OR REPLACE INTO policy (id, json) VALUES (1, ?)", JSON.stringify(p));
      // The token log is only kept while a tokens/min limit needs it.
      if (!p.rate_limit?.tpm) this.sql.exec("DELETE FROM tokens");
      if (seed) {
        this.sql.exec("DELETE FROM spend");
        for (const b of seed) this.sql.exec("INSERT INTO spend (hour, usd) VALUES (?, ?)", b.hour, b.usd);
      }
    } else {
      for (const t of ["policy", "requests", "tokens", "spend"]) this.sql.exec(`DELETE FROM ${t}`);
    }
    this.policy = p;
  }

  /** Hour buckets of the subject's spend from D1 (older than FOLD_AFTER_HOURS folded into bucket 0). */
  private async spendFromUsageLog(p: Policy): Promise<{ hour: number; usd: number }[]> {
    const fold = (hourOf(clock.now()) - FOLD_AFTER_HOURS) * HOUR_MS;
    try {
      const { results } = await this.env.DB.prepare(p.subject === "key" ? SPEND_BY_KEY : SPEND_BY_TEAM).bind(fold, p.id).all<{ hour: number; usd: number }>();
      return results;
    } catch (e) {
      console.error(`budget for ${p.subject} ${p.id}: usage log unreadable (${String(e)})`);
      throw new GatewayError(503, "could not read the usage log to start the budget from what was already spent; try again");
    }
  }

  admit(input: AdmitInput = {}): Decision {
    const now = clock.now();
    const p = this.stored() ?? input.fallback;
    if (!p) return { ok: true };
    const meter = meters(p);
    const who = `${p.subject} "${p.name}"`;

    if (p.subject === "key") {
      if (input.rotations !== undefined && input.rotations !== (p.rotations ?? 0)) {
        return { ok: false, code: 401, message: "API key not valid (it was rotated)" };
      }
      const why = keyUnusableReason({ active: p.active ?? true, revoked_at: p.revoked_at, expires_at: p.expires_at }, now);
      if (why) return { ok: false, code: 403, message: why };
    }

    if (p.budget) {
      const spent = this.spentSince(periodStart(p.budget.period, now));
      if (spent >= p.budget.max_usd) {
        const end = periodEnd(p.budget.period, now);
        const when = end ? `${p.budget.period} budget, resets ${new Date(end).toISOString()}` : "lifetime budget";
        return { ok: false, code: 402, message: `budget: ${who} spent $${usd(spent)} of $${usd(p.budget.max_usd)} (${when})` };
      }
    }

    const rl = p.rate_limit;
    if (rl?.tpm) {
      this.sql.exec("DELETE FROM tokens WHERE ts <= ?", now - WINDOW_MS);
      let used = this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM tokens").one().n;
      if (used >= rl.tpm) {
        const total = used;
        // Only a refusal needs the entries themselves, to say when the window frees.
        const rows = this.sql.exec<{ ts: number; n: number }>("SELECT ts, n FROM tokens ORDER BY ts").toArray();
        // The window frees once enough of the oldest entries expire to bring the sum under the limit.
        let frees = now + WINDOW_MS;
        for (const r of rows) {
          used -= r.n;
          if (used < rl.tpm) {
            frees = r.ts + WINDOW_MS;
            break;
          }
        }
        return refuse429(`rate limit: ${who} ${rl.tpm} tokens/min reached (${total} used)`, frees - now);
      }
    }

    if (rl?.rpm) {
      this.sql.exec("DELETE FROM requests WHERE ts <= ?", now - WINDOW_MS);
      const count = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM requests").one().n;
      if (count >= rl.rpm) {
        // The (count - rpm + 1)th oldest request has to leave the window before one more fits.
        const oldest = this.sql
          .exec<{ ts: number }>("SELECT ts FROM requests ORDER BY ts LIMIT 1 OFFSET ?", count - rl.rpm)
          .one().ts;
        return refuse429(`rate limit: ${who} ${rl.rpm} requests/min`, oldest + WINDOW_MS - now);
      }
      this.sql.exec("INSERT INTO requests (ts) VALUES (?)", now);
      const ticket = this.sql.exec<{ id: number }>("SELECT last_insert_rowid() AS id").one().id;
      return { ok: true, ticket, meter };
    }
    return { ok: true, meter };
  }

  /** Gives back a request slot taken by `admit` when the other subject (key or team) refused the call. */
  release(ticket: number): void {
    this.sql.exec("DELETE FROM requests WHERE rowid = ?", ticket);
  }

  /** A finished call's tokens and cost (the same figures as its usage row). */
  settle(s: Settlement): void {
    const now = clock.now();
    const p = this.stored();
    // Tokens feed only a tokens/min window; without one, logging them would grow the table for nothing.
    if (s.tokens > 0 && p?.rate_limit?.tpm) {
      this.sql.exec("INSERT INTO tokens (ts, n) VALUES (?, ?)", now, s.tokens);
    }
    if (s.usd > 0 && p?.budget) {
      const hour = hourOf(now);
      this.sql.exec(
        "INSERT INTO spend (hour, usd) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET usd = usd + excluded.usd",
        hour,
        s.usd,
      );
      if (hour !== this.foldedHour) this.fold(hour);
    }
  }

  /** Folds hour buckets older than FOLD_AFTER_HOURS into bucket 0 (the lifetime remainder). */
  private fold(hour: number): void {
    this.sql.exec(
      `INSERT INTO spend (hour, usd) SELECT 0, sum(usd) FROM spend WHERE hour > 0 AND hour < ?1 HAVING count(*) > 0
       ON CONFLICT (hour) DO UPDATE SET usd = usd + excluded.usd`,
      hour - FOLD_AFTER_HOURS,
    );
    this.sql.exec("DELETE FROM spend WHERE hour > 0 AND hour < ?", hour - FOLD_AFTER_HOURS);
    this.foldedHour = hour;
  }

  /** Current counters, for the admin API and tests. */
  snapshot(): { requests: number; tokens: number; spent_usd: number; spent_lifetime_usd: number } {
    const now = clock.now();
    const p = this.stored();
    const requests = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM requests WHERE ts > ?", now - WINDOW_MS).one().n;
    const tokens = this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM tokens WHERE ts > ?", now - WINDOW_MS).one().n;
    return {
      requests,
      tokens,
      spent_usd: this.spentSince(periodStart(p?.budget?.period, now)),
      spent_lifetime_usd: this.spentSince(0),
    };
  }

  private stored(): Policy | null {
    if (this.policy === undefined) {
      const row = this.sql.exec<{ json: string }>("SELECT json FROM policy WHERE id = 1").toArray()[0];
      this.policy = row ? (JSON.parse(row.json) as Policy) : null;
    }
    return this.policy;
  }

  /** USD spent from `start` (a period start, hour-aligned; 0 = lifetime, which includes the folded bucket 0). */
  private spentSince(start: number): number {
    return this.sql.exec<{ usd: number }>("SELECT coalesce(sum(usd), 0) AS usd FROM spend WHERE hour >= ?", hourOf(start)).one().usd;
  }
}

/** Dollars to the micro-dollar, without trailing zeros ($0.000046, $25). */
const usd = (n: number) => n.toFixed(6).replace(/\.?0+$/, "");

function refuse429(message: string, waitMs: number): Decision {
  const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
  return { ok: false, code: 429, message: `${message}; retry after ${retryAfter} s`, retryAfter };
}
