/**
 * A subject's counters in its Governor's SQLite, and the lease arithmetic over them. Every method is synchronous
 * SQL (no await), so each decision reads and writes atomically: with N left, exactly N can be granted, whatever
 * the number of isolates asking.
 *
 * - requests/min: a sliding log of used request slots (ts, n), pruned past 60 s. A slot granted to a lease and not
 *   yet reported used is held by the lease (outstanding); reported slots enter the log when reported, and slots a
 *   lease never reported are counted as used at its expiry.
 * - tokens/min: a sliding log of settled tokens (ts, n). Tokens reserved or spent but not yet settled are held by
 *   the lease that granted them (its granted minus its settled).
 * - budget: settled USD per UTC hour bucket; any period (hour/day/week/month/lifetime) is a sum of buckets, so a
 *   change of period keeps the history. Buckets older than 32 days fold into bucket 0 (the lifetime remainder).
 *   Dollars reserved or spent but not yet settled are held by their lease.
 * So what is left for a subject is always: limit − settled − Σ outstanding of live leases, and no lease is granted
 * more than that.
 */
import { clock } from "./clock";
import { HOUR_MS, hourOf, periodEnd, periodStart, WINDOW_MS } from "./policy";
import type { Amounts, LeaseAsk, LeaseGrant, Limits, Refusal, SettleItem } from "./protocol";

/** How long a grant lasts before the isolate must renew it (the bound on how late a revocation can apply). */
export const LEASE_MS = 10_000;
/**
 * How long after its expiry a lease's unsettled tokens and dollars still count: rows of calls that ended under it
 * may still be on their way to the usage log. Isolates renew leases while their calls are in flight.
 */
const SETTLE_GRACE_MS = 5 * 60_000;
/**
 * How long after its expiry a lease may still report when its slots were used; only then are slots it never
 * reported counted as used at its expiry.
 */
const REPORT_GRACE_MS = LEASE_MS;
/** A lease takes at most this share of what is left beyond its need, so other isolates still find some. */
const SHARE = 4;
const FOLD_AFTER_HOURS = 32 * 24;
const KEEP_BATCHES_MS = 7 * 24 * HOUR_MS;
const KEEP_LEASES_MS = 24 * HOUR_MS;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS requests (ts INTEGER NOT NULL, n INTEGER NOT NULL DEFAULT 1);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS tokens (ts INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_ts ON tokens (ts);
CREATE TABLE IF NOT EXISTS spend (hour INTEGER PRIMARY KEY, usd REAL NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
  id TEXT PRIMARY KEY,
  req_granted INTEGER, req_used INTEGER NOT NULL DEFAULT 0,
  tok_granted INTEGER, tok_settled INTEGER NOT NULL DEFAULT 0,
  usd_granted REAL, usd_settled REAL NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL, swept INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS leases_expiry ON leases (swept, expires_at);
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS batches_at ON batches (at);
`;

type LeaseRow = {
  id: string;
  req_granted: number | null;
  req_used: number;
  tok_granted: number | null;
  tok_settled: number;
  usd_granted: number | null;
  usd_settled: number;
  expires_at: number;
  swept: number;
};

export interface Counters {
  /** Request slots used in the last 60 s. */
  requests: number;
  /** Tokens settled in the last 60 s. */
  tokens: number;
  /** USD settled in the budget's current period, and over the subject's life. */
  spent_usd: number;
  spent_lifetime_usd: number;
  /** What live leases hold: slots not yet used, tokens and USD reserved or not yet settled. */
  held: Amounts;
}

export class Ledger {
  private sweptAt = -1;
  private foldedHour = -1;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
    // Objects from before leases keep one row per request; a count per row lets a lease report many at once.
    const cols = sql.exec<{ name: string }>("PRAGMA table_info(requests)").toArray();
    if (!cols.some((c) => c.name === "n")) sql.exec("ALTER TABLE requests ADD COLUMN n INTEGER NOT NULL DEFAULT 1");
  }

  /**
   * Renews (or opens) a lease: records what the isolate reports it used, then grants what it needs plus a slice of
   * what is left, never more than is left. What could not be granted comes back as `short`.
   */
  grant(ask: LeaseAsk, limits: Limits, who: string, hold?: { ttlMs: number }): Pick<LeaseGrant, "granted" | "expiresAt" | "short"> {
    const now = clock.now();
    this.sweep(now);
    const l = this.lease(ask.lease) ?? this.open(ask.lease, now);
    // A hold (a reservation for work outside any isolate, such as a batch job) is granted exactly its need.
    const slices = hold ? 0 : Math.max(2, Math.ceil((ask.rate * LEASE_MS) / 1000));
    const refusals: Refusal[] = [];

    // Request slots: used ones enter the window when they were used; the lease is then re-sized from what is left.
    const usedReq = Math.max(l.req_used, ask.used.requests);
    let unstamped = usedReq - l.req_used;
    for (const [ts, n] of ask.uses) {
      const k = Math.min(n, unstamped);
      if (k <= 0) break;
      this.sql.exec("INSERT INTO requests (ts, n) VALUES (?, ?)", Math.min(ts, now), k);
      unstamped -= k;
    }
    if (unstamped > 0) this.sql.exec("INSERT INTO requests (ts, n) VALUES (?, ?)", now, unstamped);
    let reqGranted: number | null = null;
    if (limits.rpm !== null) {
      const left = limits.rpm - this.windowRequests(now) - this.heldRequests(l.id, now);
      const give = fit(ask.need.requests, left, slices, 1, true);
      if (give.short) refusals.push(this.rpmRefusal(limits.rpm, who, ask.need.requests, l.id, now));
      reqGranted = usedReq + give.amount;
    }

    // Tokens and dollars: what this lease already holds for calls in flight or rows in transit stays held.
    let tokGranted: number | null = null;
    if (limits.tpm !== null) {
      const holding = Math.max(l.tok_settled, ask.used.tokens) - l.tok_settled + ask.reserved.tokens;
      const left = limits.tpm - this.windowTokens(now) - this.heldUnsettled("tok", l.id, now) - holding;
      const give = fit(ask.need.tokens, left, slices, ask.typical.tokens, true);
      if (give.short) refusals.push(this.tpmRefusal(limits.tpm, who, holding, ask.need.tokens, l.id, now));
      tokGranted = l.tok_settled + holding + give.amount;
    }
    let usdGranted: number | null = null;
    if (limits.budget !== null) {
      const holding = Math.max(l.usd_settled, ask.used.usd) - l.usd_settled + ask.reserved.usd;
      const spent = this.spentSince(periodStart(limits.budget.period, now));
      const others = this.heldUnsettled("usd", l.id, now);
      const left = limits.budget.max_usd - spent - others - holding;
      const give = fit(ask.need.usd, left, slices, ask.typical.usd, false);
      if (give.short) refusals.push(budgetRefusal(limits.budget, who, spent, others + holding, now));
      usdGranted = l.usd_settled + holding + give.amount;
    }

    const expiresAt = now + (hold?.ttlMs ?? LEASE_MS);
    this.sql.exec(
      `UPDATE leases SET req_granted = ?, req_used = ?, tok_granted = ?, usd_granted = ?, expires_at = ?, swept = 0
       WHERE id = ?`,
      reqGranted, usedReq, tokGranted, usdGranted, expiresAt, l.id,
    );
    const short = refusals.sort(severity)[0];
    return { granted: { requests: reqGranted, tokens: tokGranted, usd: usdGranted }, expiresAt, ...(short ? { short } : {}) };
  }

  /** A hold's work ended: from now it counts only what was settled under it. */
  release(id: string): void {
    this.sql.exec(
      `UPDATE leases SET tok_granted = CASE WHEN tok_granted IS NULL THEN NULL ELSE tok_settled END,
       usd_granted = CASE WHEN usd_granted IS NULL THEN NULL ELSE usd_settled END, req_granted = req_used WHERE id = ?`,
      id,
    );
  }

  /**
   * Finished calls' tokens and cost, once per batch (a replayed batch changes nothing). They count by the subject's
   * limits now: under a budget every settled dollar counts, whatever the lease knew when the call ran, because a
   * budget first set counts only the rows that will not settle here (src/governance/governor.ts `seedBudget`).
   * Each lease's settled amounts grow either way: what it used and has not settled yet is what it holds.
   */
  settle(batchId: string, items: readonly SettleItem[], limits: Limits): { duplicate: boolean } {
    if (this.sql.exec("SELECT 1 FROM batches WHERE id = ?", batchId).toArray().length) return { duplicate: true };
    const now = clock.now();
    let usd = 0;
    for (const it of items) {
      const l = it.lease ? this.lease(it.lease) : undefined;
      const tok = limits.tpm !== null;
      const dollars = limits.budget !== null;
      if (tok && it.tokens > 0) this.sql.exec("INSERT INTO tokens (ts, n) VALUES (?, ?)", now, it.tokens);
      if (dollars && it.usd > 0) usd += it.usd;
      if (l) {
        this.sql.exec(
          "UPDATE leases SET tok_settled = tok_settled + ?, usd_settled = usd_settled + ? WHERE id = ?",
          it.tokens > 0 ? it.tokens : 0, it.usd > 0 ? it.usd : 0, l.id,
        );
      }
    }
    if (usd > 0) this.addSpend(usd, now);
    this.sql.exec("INSERT INTO batches (id, at) VALUES (?, ?)", batchId, now);
    return { duplicate: false };
  }

  /** USD settled in the budget period holding `now` (what budget alerts compare with their thresholds). */
  spentInPeriod(period: NonNullable<Limits["budget"]>["period"], now: number): number {
    return this.spentSince(periodStart(period, now));
  }

  /** Spend from the usage log when a budget is first set: hour buckets, the old ones folded into bucket 0. */
  seed(buckets: readonly { hour: number; usd: number }[]): void {
    this.sql.exec("DELETE FROM spend");
    for (const b of buckets) this.sql.exec("INSERT INTO spend (hour, usd) VALUES (?, ?)", b.hour, b.usd);
  }

  /** Drops the token log (kept only while a tokens/min limit needs it). */
  forgetTokens(): void {
    this.sql.exec("DELETE FROM tokens");
  }

  reset(): void {
    for (const t of ["requests", "tokens", "spend", "leases", "batches"]) this.sql.exec(`DELETE FROM ${t}`);
  }

  counters(limits: Limits): Counters {
    const now = clock.now();
    this.sweep(now);
    return {
      requests: this.windowRequests(now),
      tokens: this.windowTokens(now),
      spent_usd: this.spentSince(periodStart(limits.budget?.period, now)),
      spent_lifetime_usd: this.spentSince(0),
      held: { requests: this.heldRequests("", now), tokens: this.heldUnsettled("tok", "", now), usd: this.heldUnsettled("usd", "", now) },
    };
  }

  static foldFrom(now: number): number {
    return (hourOf(now) - FOLD_AFTER_HOURS) * HOUR_MS;
  }

  // ---- internals

  private lease(id: string): LeaseRow | undefined {
    return this.sql.exec<LeaseRow>("SELECT * FROM leases WHERE id = ?", id).toArray()[0];
  }

  private open(id: string, now: number): LeaseRow {
    this.sql.exec("INSERT INTO leases (id, expires_at) VALUES (?, ?)", id, now);
    return this.lease(id)!;
  }

  /**
   * Expired leases: slots they never reported count as used at their expiry (the latest they could have been
   * used), so the window never under-counts; old rows, windows and batch ids are pruned. At most once a second.
   */
  private sweep(now: number): void {
    if (now - this.sweptAt < 1000 && now >= this.sweptAt) return;
    this.sweptAt = now;
    const expired = this.sql
      .exec<LeaseRow>("SELECT * FROM leases WHERE swept = 0 AND expires_at <= ?", now - REPORT_GRACE_MS)
      .toArray();
    for (const l of expired) {
      const unreported = (l.req_granted ?? l.req_used) - l.req_used;
      if (unreported > 0) this.sql.exec("INSERT INTO requests (ts, n) VALUES (?, ?)", l.expires_at, unreported);
      this.sql.exec("UPDATE leases SET swept = 1, req_used = req_used + ? WHERE id = ?", Math.max(0, unreported), l.id);
    }
    this.sql.exec("DELETE FROM leases WHERE expires_at < ?", now - KEEP_LEASES_MS);
    this.sql.exec("DELETE FROM requests WHERE ts <= ?", now - WINDOW_MS);
    this.sql.exec("DELETE FROM tokens WHERE ts <= ?", now - WINDOW_MS);
    this.sql.exec("DELETE FROM batches WHERE at < ?", now - KEEP_BATCHES_MS);
  }

  private windowRequests(now: number): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM requests WHERE ts > ?", now - WINDOW_MS).one().n;
  }

  private windowTokens(now: number): number {
    return this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM tokens WHERE ts > ?", now - WINDOW_MS).one().n;
  }

  /** Slots other live leases were granted and have not reported used. */
  private heldRequests(except: string, now: number): number {
    return this.sql
      .exec<{ n: number }>(
        `SELECT coalesce(sum(max(req_granted - req_used, 0)), 0) AS n FROM leases
         WHERE id != ? AND req_granted IS NOT NULL AND swept = 0`,
        except,
      )
      .one().n;
  }

  /** Tokens (`tok`) or dollars (`usd`) other leases were granted and have not settled, within the settle grace. */
  private heldUnsettled(what: "tok" | "usd", except: string, now: number): number {
    return this.sql
      .exec<{ n: number }>(
        `SELECT coalesce(sum(max(${what}_granted - ${what}_settled, 0)), 0) AS n FROM leases
         WHERE id != ? AND ${what}_granted IS NOT NULL AND expires_at > ?`,
        except, now - SETTLE_GRACE_MS,
      )
      .one().n;
  }

  private addSpend(usd: number, now: number): void {
    const hour = hourOf(now);
    this.sql.exec(
      "INSERT INTO spend (hour, usd) VALUES (?, ?) ON CONFLICT (hour) DO UPDATE SET usd = usd + excluded.usd",
      hour, usd,
    );
    if (hour !== this.foldedHour) {
      this.sql.exec(
        `INSERT INTO spend (hour, usd) SELECT 0, sum(usd) FROM spend WHERE hour > 0 AND hour < ?1 HAVING count(*) > 0
         ON CONFLICT (hour) DO UPDATE SET usd = usd + excluded.usd`,
        hour - FOLD_AFTER_HOURS,
      );
      this.sql.exec("DELETE FROM spend WHERE hour > 0 AND hour < ?", hour - FOLD_AFTER_HOURS);
      this.foldedHour = hour;
    }
  }

  /** USD settled from `start` (a period start, hour-aligned; 0 = lifetime, which includes the folded bucket 0). */
  private spentSince(start: number): number {
    return this.sql.exec<{ usd: number }>("SELECT coalesce(sum(usd), 0) AS usd FROM spend WHERE hour >= ?", hourOf(start)).one().usd;
  }

  /** When enough of the window frees for `need` more slots (or the earliest other lease expiry, if they hold it). */
  private rpmRefusal(rpm: number, who: string, need: number, lease: string, now: number): Refusal {
    const entries = this.sql.exec<{ ts: number; n: number }>("SELECT ts, n FROM requests WHERE ts > ? ORDER BY ts", now - WINDOW_MS).toArray();
    const held = this.heldRequests(lease, now);
    let excess = entries.reduce((s, e) => s + e.n, 0) + held + Math.max(need, 1) - rpm;
    let frees = this.nextExpiry(now) ?? now + WINDOW_MS;
    for (const e of entries) {
      excess -= e.n;
      if (excess <= 0) {
        frees = e.ts + WINDOW_MS;
        break;
      }
    }
    return refuse429(`rate limit: ${who} ${rpm} requests/min`, frees);
  }

  private tpmRefusal(tpm: number, who: string, holding: number, need: number, lease: string, now: number): Refusal {
    const entries = this.sql.exec<{ ts: number; n: number }>("SELECT ts, n FROM tokens WHERE ts > ? ORDER BY ts", now - WINDOW_MS).toArray();
    const used = entries.reduce((s, e) => s + e.n, 0) + this.heldUnsettled("tok", lease, now) + holding;
    // The window frees once enough of the oldest entries expire for the need to fit.
    let left = used;
    let frees = now + WINDOW_MS;
    for (const e of entries) {
      left -= e.n;
      if (left + need <= tpm) {
        frees = e.ts + WINDOW_MS;
        break;
      }
    }
    return refuse429(`rate limit: ${who} ${tpm} tokens/min reached (${used} used)`, frees);
  }

  private nextExpiry(now: number): number | undefined {
    const r = this.sql
      .exec<{ t: number | null }>("SELECT min(expires_at) AS t FROM leases WHERE swept = 0 AND expires_at > ? AND req_granted > req_used", now)
      .one().t;
    return r ?? undefined;
  }
}

/**
 * How much of `need` fits in `left`, plus a slice for the calls to come (a share of what remains, sized by the
 * isolate's rate), or `short` when the need itself does not fit (then whatever does fit is given).
 */
function fit(need: number, left: number, slices: number, typical: number, whole: boolean): { amount: number; short: boolean } {
  if (need > left) return { amount: Math.max(0, left), short: true };
  const slice = Math.min((left - need) / SHARE, Math.max(need, typical) * slices);
  return { amount: need + (whole ? Math.floor(slice) : slice), short: false };
}

/** Status refusals first (401/403), then budget (402), then the rate limit that frees last. */
const RANK: Record<number, number> = { 401: 0, 403: 1, 503: 2, 402: 3, 429: 4 };
export function severity(a: Refusal, b: Refusal): number {
  return RANK[a.code]! - RANK[b.code]! || (b.retryAt ?? 0) - (a.retryAt ?? 0);
}

function refuse429(message: string, at: number): Refusal {
  return { ok: false, code: 429, message, retryAt: at };
}

function budgetRefusal(b: NonNullable<Limits["budget"]>, who: string, spent: number, held: number, now: number): Refusal {
  const end = periodEnd(b.period, now);
  const when = end ? `${b.period} budget, resets ${new Date(end).toISOString()}` : "lifetime budget";
  const inFlight = held > 0 ? `, $${usd(held)} held by calls in flight` : "";
  return {
    ok: false,
    code: 402,
    message: `budget: ${who} spent $${usd(spent)} of $${usd(b.max_usd)} (${when}${inFlight})`,
    ...(end ? { retryAt: end } : {}),
  };
}

/** Dollars to the micro-dollar, without trailing zeros ($0.000046, $25). */
export const usd = (n: number) => (n < 0 ? 0 : n).toFixed(6).replace(/\.?0+$/, "") || "0";
