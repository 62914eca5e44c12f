/**
 * Refusals: calls of an identified key answered 401/402/403/429 before any upstream call (revoked, inactive,
 * expired, rotated secret, model not allowed, budget, rate limit). They are counted per key, per minute, per status
 * and reason, not logged one row each, so a flood of them costs O(1) storage (migrations/0004_refusals.sql).
 */
import { emptyTotals, groupField, groupLabel, timeGroup, type Group, type Totals, type UsageQuery } from "./queries";

export const REFUSAL_CODES: ReadonlySet<number> = new Set([401, 402, 403, 429]);

/** One counter: `count` refusals of `key_id` in the minute starting at `minute` (ms), for `status` and `reason`. */
export type RefusalCount = {
  key_id: string;
  team_id: string | null;
  minute: number;
  status: number;
  reason: string;
  count: number;
};

const MINUTE_MS = 60_000;
export const minuteOf = (ms: number) => ms - (ms % MINUTE_MS);

/** The counter a refusal adds to, keyed so equal ones merge. */
export const refusalKey = (c: Omit<RefusalCount, "count" | "team_id">) => `${c.key_id}\n${c.minute}\n${c.status}\n${c.reason}`;

// The short reason of each refusal the gateway gives (src/auth, src/governance); the first match wins.
const REASONS: [status: number, pattern: RegExp, reason: string][] = [
  [401, /rotated/, "rotated"],
  [401, /ephemeral token/, "ephemeral token"],
  [403, /resumption handle/, "resumption handle"],
  [403, /team .* was deleted/, "team deleted"],
  [403, /revoked/, "revoked"],
  [403, /inactive/, "inactive"],
  [403, /expired/, "expired"],
  [403, /not allowed/, "model not allowed"],
  [403, /has no price/, "unpriced model"],
  [402, /budget/, "budget"],
  [429, /tokens\/min/, "tokens/min"],
  [429, /requests\/min/, "requests/min"],
];
const FALLBACK_REASON: Record<number, string> = { 401: "unauthenticated", 402: "payment required", 403: "forbidden", 429: "rate limit" };

/** A bounded, low-cardinality reason for a refusal's message: never the message itself (it names keys and sums). */
export function refusalReason(status: number, message: string): string {
  for (const [s, re, reason] of REASONS) if (s === status && re.test(message)) return reason;
  return FALLBACK_REASON[status] ?? String(status);
}

/**
 * A shard's running total for one counter. The write is absolute and only ever raises the stored figure, so a
 * replayed or late write cannot count twice or go backwards.
 */
export function refusalUpsert(db: D1Database, shard: string, c: RefusalCount): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO refusals (ts, key_id, team_id, status, reason, shard, count) VALUES (?,?,?,?,?,?,?)
       ON CONFLICT (key_id, ts, status, reason, shard) DO UPDATE SET count = max(count, excluded.count), team_id = excluded.team_id`,
    )
    .bind(c.minute, c.key_id, c.team_id, c.status, c.reason, shard, c.count);
}

// ---------------------------------------------------------------------------------------------------------------
// What /admin/usage reports of them.

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
// A refusal has a key, a team and a time, but no model or provider served it: those groupings put it under null.
const GROUP_EXPR: Record<Group, string> = {
  key: "key_id", team: "team_id", model: "NULL", provider: "NULL", hour: `ts / ${HOUR_MS}`, day: `ts / ${DAY_MS}`,
};
const NO_REFUSALS: RefusalFigures = { total: 0, byReason: [], byGroup: new Map() };

export interface RefusalFigures {
  total: number;
  /** By status and reason, most first. */
  byReason: { status: number; reason: string; refused: number }[];
  /** By the query's grouping (same group values as the usage rows' groups); empty without one. */
  byGroup: Map<string | number | null, number>;
}

/**
 * Refusals in the query's range, filtered like the usage rows (by the minute a refusal fell in). None match a
 * filter on what served (model, provider) or on a row's outcome: a refusal has neither.
 */
export async function queryRefusals(db: D1Database, q: UsageQuery): Promise<RefusalFigures> {
  if (q.model !== undefined || q.provider !== undefined || q.outcome !== undefined) return NO_REFUSALS;
  const cond: string[] = [];
  const args: (string | number)[] = [];
  if (q.key_id !== undefined) cond.push("key_id = ?"), args.push(q.key_id);
  if (q.team_id !== undefined) cond.push("team_id = ?"), args.push(q.team_id);
  if (q.status !== undefined) cond.push("status = ?"), args.push(q.status);
  if (q.from !== undefined) cond.push("ts >= ?"), args.push(minuteOf(q.from));
  if (q.to !== undefined) cond.push("ts < ?"), args.push(q.to);
  const where = cond.length ? `WHERE ${cond.join(" AND ")}` : "";
  const statements = [
    db.prepare(`SELECT status, reason, sum(count) AS refused FROM refusals ${where} GROUP BY status, reason ORDER BY refused DESC, status, reason`).bind(...args),
  ];
  if (q.group_by) {
    statements.push(db.prepare(`SELECT ${GROUP_EXPR[q.group_by]} AS grp, sum(count) AS refused FROM refusals ${where} GROUP BY grp`).bind(...args));
  }
  const [reasons, groups] = await db.batch<{ status: number; reason: string; refused: number; grp: string | number | null }>(statements);
  const byReason = reasons!.results.map((r) => ({ status: r.status, reason: r.reason, refused: r.refused }));
  return {
    total: byReason.reduce((n, r) => n + r.refused, 0),
    byReason,
    byGroup: new Map((groups?.results ?? []).map((r) => [r.grp, r.refused])),
  };
}

type Figures = Totals & { refused: number };

/**
 * The usage rows' aggregates with the refusals added: `refused` in the totals and in every group (a group with
 * refusals only is added), and the breakdown by status and reason.
 */
export function withRefusals(
  result: { totals: Totals; groups?: Record<string, unknown>[] },
  f: RefusalFigures,
  group: Group | undefined,
): { totals: Figures; groups?: Record<string, unknown>[]; refusals: RefusalFigures["byReason"] } {
  const out = { totals: { ...result.totals, refused: f.total }, refusals: f.byReason };
  if (!group || !result.groups) return out;
  const field = groupField(group);
  const refused = new Map([...f.byGroup].map(([grp, n]) => [groupLabel(group, grp), n]));
  const groups: Record<string, unknown>[] = result.groups.map((g) => {
    const label = g[field] as string | number | null;
    const n = refused.get(label) ?? 0;
    refused.delete(label);
    return { ...g, refused: n };
  });
  for (const [label, n] of refused) groups.push({ [field]: label, ...emptyTotals(), refused: n });
  if (timeGroup(group)) groups.sort((a, b) => String(a[field]).localeCompare(String(b[field])));
  return { ...out, groups };
}
