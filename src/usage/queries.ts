/**
 * The two reads of the usage log: aggregates over a time range, and rows newest first with keyset paging.
 * Key, team and time use the indexes (migrations/0002_usage_indexes.sql); model, provider, outcome and status
 * narrow the rows those select.
 */
import * as z from "zod/mini";
import { roundUsd } from "./prices";
import type { CallRecord, ClosedBy, Outcome } from "./row";
import { DAY_MS, HOUR_MS, LATENCY_BOUNDS, LATENCY_COLUMNS, MINUTE_MS, SPAN_LEVELS, spanMs, TTFB_BOUNDS, TTFB_COLUMNS } from "./rollups";

const GROUPS = ["key", "team", "model", "provider", "hour", "day"] as const;
export type Group = (typeof GROUPS)[number];

const ISO_RE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** An ISO date (`2026-01-31`, UTC), an ISO date-time, or ms since the epoch; undefined for anything else. */
export function parseInstant(s: string): number | undefined {
  const t = /^\d{1,15}$/.test(s) ? Number(s) : ISO_RE.test(s) ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

const Instant = z.pipe(
  z.string(),
  z.transform((s: string, ctx) => {
    const t = parseInstant(s);
    if (t !== undefined) return t;
    ctx.issues.push({ code: "custom", input: s, message: "expected an ISO date (2026-01-31), date-time (2026-01-31T12:00:00Z) or ms since epoch" });
    return z.NEVER;
  }),
);
const Id = z.string().check(z.minLength(1), z.maxLength(200));
const Status = z.pipe(
  z.string().check(z.regex(/^[1-5]\d\d$/, "expected an HTTP status (100-599)")),
  z.transform((s: string) => Number(s)),
);

/** The filters both reads take. `model` is what served, as `provider/model` (the value `group_by=model` shows). */
const FILTERS = {
  key_id: z.optional(Id),
  team_id: z.optional(Id),
  model: z.optional(Id.check(z.regex(/^[^/]+\/./, "expected provider/model"))),
  provider: z.optional(Id),
  outcome: z.optional(z.enum(["ok", "error", "aborted"])),
  status: z.optional(Status),
  from: z.optional(Instant),
  to: z.optional(Instant),
};
const fromBeforeTo = z.refine<{ from?: number; to?: number }>((q) => q.from === undefined || q.to === undefined || q.from < q.to, {
  message: "must be after from",
  path: ["to"],
});

export const UsageQuery = z.strictObject({ ...FILTERS, group_by: z.optional(z.enum(GROUPS)) }).check(fromBeforeTo);
export type UsageQuery = z.infer<typeof UsageQuery>;

export const LogsQuery = z
  .strictObject({ ...FILTERS, request_id: z.optional(Id), limit: z.optional(z.string()), cursor: z.optional(z.string()) })
  .check(fromBeforeTo);
export type LogsFilters = Omit<z.infer<typeof LogsQuery>, "limit" | "cursor">;

export interface Totals {
  requests: number;
  errors: number;
  aborted: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  thinking_tokens: number;
  tool_use_tokens: number;
  cost_usd: number;
  /** Rows with a dimension no price covered (their `unpriced` column): their cost is short by that much. */
  unpriced_calls: number;
  /** Rows answered from the response cache, and what their originals cost (README, "Response cache"). */
  cache_hits: number;
  saved_usd: number;
  /** Guardrail policy actions (each policy at each stage of a call counts one: usage rows' `guardrails` entries). */
  guardrail_actions: number;
}
const FIGURES = [
  "requests", "errors", "aborted", "input_tokens", "output_tokens", "cached_tokens", "thinking_tokens", "tool_use_tokens", "cost_usd",
  "unpriced_calls", "cache_hits", "saved_usd", "guardrail_actions",
] as const;

// What each grouping selects, and the name it gets in the answer. `hour` and `day` are UTC hour and day numbers, formatted in JS
// (cheaper than strftime on every row). The unary `+` keeps SQLite from walking the (key|team, ts) index just to
// group: a scan with a temp b-tree is ~3x faster at 1M rows (bench/usage-queries.mjs); filters still use it.
const GROUP_SQL: Record<Group, { expr: string; field: string }> = {
  key: { expr: "+key_id", field: "key_id" },
  team: { expr: "+team_id", field: "team_id" },
  model: { expr: "provider || '/' || model", field: "model" },
  provider: { expr: "provider", field: "provider" },
  hour: { expr: `ts / ${HOUR_MS}`, field: "hour" },
  day: { expr: `ts / ${DAY_MS}`, field: "day" },
};
// The same over the rollups, whose team, provider and model are '' where a row has NULL.
const ROLLUP_GROUP_SQL: Record<Group, string> = {
  // `+`: not the (key_id, bucket) index's order. Grouping by the bare column, SQLite walks that whole index to skip a
  // sort whenever the bucket range is open at one end (all time: 2.8 s over 860,000 hourly rows, against 25 ms from
  // the range and a sort of its groups).
  key: "+key_id",
  team: "nullif(team_id, '')",
  model: "CASE WHEN provider = '' OR model = '' THEN NULL ELSE provider || '/' || model END",
  provider: "nullif(provider, '')",
  hour: `bucket / ${HOUR_MS}`,
  day: `bucket / ${DAY_MS}`,
};

// A batch's one row stands for all of its requests (`requests`, 1 for every other row).
const SUMS = `coalesce(sum(requests), 0) AS requests, total(outcome = 'error') AS errors, total(outcome = 'aborted') AS aborted,
  total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens, total(cached_tokens) AS cached_tokens,
  total(thinking_tokens) AS thinking_tokens, total(tool_use_tokens) AS tool_use_tokens, total(cost_usd) AS cost_usd,
  total(unpriced IS NOT NULL) AS unpriced_calls, total(cache = 'hit') AS cache_hits, total(saved_usd) AS saved_usd,
  total((SELECT count(*) FROM json_each(guardrails) g WHERE json_extract(g.value, '$.entities') <> '{}')) AS guardrail_actions`;
const ROLLUP_SUMS = FIGURES.map((f) => `total(${f}) AS ${f}`).join(", ");

function filters(q: LogsFilters, time = "ts") {
  const cond: string[] = [];
  const args: (string | number)[] = [];
  if (q.request_id !== undefined) cond.push("request_id = ?"), args.push(q.request_id);
  if (q.key_id !== undefined) cond.push("key_id = ?"), args.push(q.key_id);
  if (q.team_id !== undefined) cond.push("team_id = ?"), args.push(q.team_id);
  if (q.model !== undefined) {
    const slash = q.model.indexOf("/");
    cond.push("provider = ? AND model = ?"), args.push(q.model.slice(0, slash), q.model.slice(slash + 1));
  }
  if (q.provider !== undefined) cond.push("provider = ?"), args.push(q.provider);
  if (q.outcome !== undefined) cond.push("outcome = ?"), args.push(q.outcome);
  if (q.status !== undefined) cond.push("status = ?"), args.push(q.status);
  if (q.from !== undefined) cond.push(`${time} >= ?`), args.push(q.from);
  if (q.to !== undefined) cond.push(`${time} < ?`), args.push(q.to);
  return { cond, args };
}

const whereSql = (cond: string[]) => (cond.length ? `WHERE ${cond.join(" AND ")}` : "");

/** The aggregate of the usage rows themselves (a range's edges younger than a minute, and bench/usage-queries.mjs). */
export function usageSql(q: UsageQuery, ordered = true): { sql: string; args: (string | number)[] } {
  const { cond, args } = filters(q);
  if (!q.group_by) return { sql: `SELECT ${SUMS} FROM usage ${whereSql(cond)}`, args };
  const g = GROUP_SQL[q.group_by];
  const order = !ordered ? "" : timeGroup(q.group_by) ? " ORDER BY grp" : " ORDER BY cost_usd DESC, requests DESC, grp";
  return { sql: `SELECT ${g.expr} AS grp, ${SUMS} FROM usage ${whereSql(cond)} GROUP BY grp${order}`, args };
}

/** A segment's filters over its rollup table, by whole buckets in [from, to) (and its level, for usage_span). */
function rollupFilters(p: Segment, q: UsageQuery) {
  const { cond, args } = filters({ ...q, from: p.from, to: p.to }, "bucket");
  if (p.level !== undefined) cond.unshift("level = ?"), args.unshift(p.level);
  return { cond, args };
}

/** The same aggregate over a rollup segment (`usage_minute`, `usage_hour`, `usage_day` or a level of `usage_span`). */
export function rollupSql(p: Segment, q: UsageQuery): { sql: string; args: (string | number)[] } {
  const { cond, args } = rollupFilters(p, q);
  const grp = q.group_by ? `${ROLLUP_GROUP_SQL[q.group_by]} AS grp, ` : "";
  return { sql: `SELECT ${grp}${ROLLUP_SUMS} FROM ${p.source} ${whereSql(cond)}${q.group_by ? " GROUP BY grp" : ""}`, args };
}

export type Segment = { source: "usage" | "usage_minute" | "usage_hour" | "usage_day" | "usage_span"; level?: number; from?: number; to?: number };

const floorTo = (t: number, unit: number) => (Number.isFinite(t) ? t - (((t % unit) + unit) % unit) : t);
const ceilTo = (t: number, unit: number) => (Number.isFinite(t) ? floorTo(t + unit - 1, unit) : t);

/**
 * How a range is answered: whole days before `daysThrough` from the daily rollups, whole hours from the hourly ones,
 * the whole minutes around them from the minute rollups, and the edges shorter than a minute from the rows
 * themselves. Before `compactedBefore` (a whole hour: the rows and minute rollups there are gone) the range is
 * widened to whole hours, and before `hoursBefore` (a whole day: the hourly rollups there are pruned) to whole days.
 * Within the whole days, the biggest whole span blocks that fit (`spansThrough[k - 1]`: span level k holds every
 * whole block before it; empty when grouping by day or hour, which need day buckets) replace their days.
 */
export function segments(
  from: number | undefined, to: number | undefined, compactedBefore: number, daysThrough = 0, byHour = false, hoursBefore = 0,
  spansThrough: readonly number[] = [],
): Segment[] {
  let a = from ?? -Infinity;
  let b = to ?? Infinity;
  if (a < compactedBefore) a = floorTo(a, HOUR_MS);
  if (b < compactedBefore) b = ceilTo(b, HOUR_MS);
  // Before `hoursBefore` (a whole day, at most daysThrough) the hourly rollups are pruned: whole days only.
  if (a < hoursBefore) a = floorTo(a, DAY_MS);
  if (b < hoursBefore) b = ceilTo(b, DAY_MS);
  const seg = (source: Segment["source"], f: number, t: number): Segment => ({
    source, ...(Number.isFinite(f) ? { from: f } : {}), ...(Number.isFinite(t) ? { to: t } : {}),
  });
  if (a >= b) return [];
  const m1 = ceilTo(a, MINUTE_MS);
  const m2 = floorTo(b, MINUTE_MS);
  if (m1 >= m2) return [seg("usage", a, b)];
  const out: Segment[] = [];
  if (a < m1) out.push(seg("usage", a, m1));
  if (m2 < b) out.push(seg("usage", m2, b));
  const h1 = ceilTo(m1, HOUR_MS);
  const h2 = floorTo(m2, HOUR_MS);
  if (h1 >= h2) out.push(seg("usage_minute", m1, m2));
  else {
    if (m1 < h1) out.push(seg("usage_minute", m1, h1));
    const d1 = ceilTo(h1, DAY_MS);
    // Grouped by hour, a day's row cannot be split: the hours stay hourly where they are kept, and a pruned day is
    // one group at its first hour.
    const d2 = Math.min(floorTo(h2, DAY_MS), daysThrough, byHour ? hoursBefore : Infinity);
    if (daysThrough > 0 && (!byHour || hoursBefore > 0) && d1 < d2) {
      if (h1 < d1) out.push(seg("usage_hour", h1, d1));
      // Level k's whole blocks below its mark, then the ends around them from the levels below, down to days.
      const cover = (f: number, t: number, k: number): void => {
        if (f >= t) return;
        const through = spansThrough[k - 1] ?? 0;
        const [c1, c2] = k > 0 && through > 0 ? [ceilTo(f, spanMs(k)), floorTo(Math.min(t, through), spanMs(k))] : [0, 0];
        if (c1 >= c2) return k > 0 ? cover(f, t, k - 1) : void out.push(seg("usage_day", f, t));
        cover(f, c1, k - 1);
        out.push({ ...seg("usage_span", c1, c2), level: k });
        cover(c2, t, k - 1);
      };
      cover(d1, d2, SPAN_LEVELS.length);
      if (d2 < h2) out.push(seg("usage_hour", d2, h2));
    } else out.push(seg("usage_hour", h1, h2));
    if (h2 < m2) out.push(seg("usage_minute", h2, m2));
  }
  return out;
}

type SumRow = Totals & { grp?: string | number | null };

function totalsOf(r: Totals): Totals {
  const t = { ...r };
  t.cost_usd = roundUsd(r.cost_usd);
  t.saved_usd = roundUsd(r.saved_usd);
  return Object.fromEntries(FIGURES.map((f) => [f, t[f]])) as unknown as Totals;
}

/**
 * Where compaction stands (migrations/0008_usage_scale.sql): rows before `compactedBefore` are no longer in D1, and
 * usage_day holds every whole day before `daysThrough`.
 */
async function rollupState(db: D1Database) {
  const { results } = await db
    .prepare("SELECT name, num FROM usage_state WHERE name IN ('compacted_before', 'days_through', 'hours_before') OR name LIKE 'spans_through_%'")
    .all<{ name: string; num: number }>();
  const get = (n: string) => results.find((r) => r.name === n)?.num ?? 0;
  return {
    compactedBefore: get("compacted_before"), daysThrough: get("days_through"), hoursBefore: get("hours_before"),
    spansThrough: SPAN_LEVELS.map((k) => get(`spans_through_${k}`)),
  };
}

/** The segments of a query: span blocks unless grouped by day or hour (which need day buckets). */
async function querySegments(db: D1Database, q: UsageQuery): Promise<Segment[]> {
  const s = await rollupState(db);
  const spans = q.group_by === "day" || q.group_by === "hour" ? [] : s.spansThrough;
  return segments(q.from, q.to, s.compactedBefore, s.daysThrough, q.group_by === "hour", s.hoursBefore, spans);
}

/**
 * /admin/usage: aggregates over any range from the rollups (src/usage/rollups.ts), which hold every row ever stored,
 * so a year costs about what an hour does; the usage rows are read only for edges shorter than a minute.
 */
export async function queryUsage(db: D1Database, q: UsageQuery) {
  const parts = await querySegments(db, q);
  // One statement summing every segment's groups: one answer of a row per group, not one per group and segment.
  const grp = q.group_by ? "grp, " : "";
  // D1 binds at most 100 parameters a statement: each distinct value is bound once (?N), so the filters, shared by
  // every segment, and the segments' edges, shared by neighbours, stay ~30 however many segments a range has.
  const args: (string | number)[] = [];
  const sqls = parts.map((p) => {
    const part = p.source === "usage" ? usageSql({ ...q, from: p.from, to: p.to }, false) : rollupSql(p, q);
    let i = 0;
    return part.sql.replace(/\?/g, () => {
      const v = part.args[i++]!;
      const at = args.findIndex((a) => a === v);
      return `?${at < 0 ? args.push(v) : at + 1}`;
    });
  });
  // D1 limits the terms of one compound SELECT: the segments are joined two by two.
  let from = sqls;
  while (from.length > 2) from = from.flatMap((x, i) => (i % 2 ? [] : [i + 1 < from.length ? `SELECT * FROM (${x} UNION ALL ${from[i + 1]})` : x]));
  const results = from.length
    ? (await db.prepare(`SELECT ${grp}${ROLLUP_SUMS} FROM (${from.join(" UNION ALL ")})${grp ? " GROUP BY grp" : ""}`).bind(...args).all<SumRow>()).results
    : [];
  const merged = new Map<string | number | null, Totals>();
  for (const r of results) {
    const k = q.group_by ? (r.grp ?? null) : "";
    const t = merged.get(k) ?? emptyTotals();
    for (const f of FIGURES) t[f] += r[f] ?? 0;
    merged.set(k, t);
  }
  if (!q.group_by) return { totals: totalsOf(merged.get("") ?? emptyTotals()) };
  const g = q.group_by;
  const rows = [...merged];
  rows.sort(([ka, a], [kb, b]) => (timeGroup(g) ? 0 : b.cost_usd - a.cost_usd || b.requests - a.requests) || compareGroups(ka, kb));
  const field = GROUP_SQL[g].field;
  const groups = rows.map(([k, t]) => ({ [field]: groupLabel(g, k), ...totalsOf(t) }));
  const totals = rows.reduce<Totals>((t, [, r]) => {
    for (const f of FIGURES) t[f] += r[f];
    return t;
  }, emptyTotals());
  return { totals: totalsOf(totals), groups };
}

/** Counts per histogram bucket (src/usage/rollups.ts's bounds, then the rest), latency and time to first byte. */
export interface Histograms {
  latency: number[];
  ttfb: number[];
}

/** One bucket's count over the usage rows themselves, as the rollups count it (NULL counts in no bucket). */
const rowBuckets = (v: string, bounds: readonly number[]) =>
  [...bounds, Infinity].map((b, i) => (b === Infinity ? `total(${v} > ${bounds[bounds.length - 1]})` : `total(${i ? `${v} > ${bounds[i - 1]} AND ` : ""}${v} <= ${b})`));

/**
 * The latency and TTFB histograms of a range (GET /admin/usage/latency), by group or in all, from the same segments
 * /admin/usage reads: the rollups' histogram columns, and the rows themselves for edges shorter than a minute.
 */
export async function queryLatency(db: D1Database, q: UsageQuery): Promise<{ all: Histograms; groups: { grp: string | number | null; h: Histograms }[] }> {
  const parts = await querySegments(db, q);
  const cols = [...LATENCY_COLUMNS, ...TTFB_COLUMNS];
  const rowExprs = [...rowBuckets("latency_ms", LATENCY_BOUNDS), ...rowBuckets("ttfb_ms", TTFB_BOUNDS)];
  const statements = parts.map((p) => {
    const rows = p.source === "usage";
    const { cond, args } = rows ? filters({ ...q, from: p.from, to: p.to }) : rollupFilters(p, q);
    const grp = q.group_by ? `${rows ? GROUP_SQL[q.group_by].expr : ROLLUP_GROUP_SQL[q.group_by]} AS grp, ` : "";
    const sums = cols.map((c, i) => `${rows ? rowExprs[i] : `total(${c})`} AS ${c}`).join(", ");
    return db.prepare(`SELECT ${grp}${sums} FROM ${p.source} ${whereSql(cond)}${q.group_by ? " GROUP BY grp" : ""}`).bind(...args);
  });
  const results = statements.length ? await db.batch<Record<string, number> & { grp?: string | number | null }>(statements) : [];
  const empty = (): Histograms => ({ latency: LATENCY_COLUMNS.map(() => 0), ttfb: TTFB_COLUMNS.map(() => 0) });
  const all = empty();
  const merged = new Map<string | number | null, Histograms>();
  for (const r of results.flatMap((x) => x.results)) {
    const k = q.group_by ? (r.grp ?? null) : "";
    const h = merged.get(k) ?? empty();
    LATENCY_COLUMNS.forEach((c, i) => ((h.latency[i]! += r[c] ?? 0), (all.latency[i]! += r[c] ?? 0)));
    TTFB_COLUMNS.forEach((c, i) => ((h.ttfb[i]! += r[c] ?? 0), (all.ttfb[i]! += r[c] ?? 0)));
    merged.set(k, h);
  }
  const groups = q.group_by ? [...merged].sort(([a], [b]) => compareGroups(a, b)).map(([grp, h]) => ({ grp, h })) : [];
  return { all, groups };
}

/** SQLite's order of group values: NULL first, numbers before text. */
function compareGroups(a: string | number | null, b: string | number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "number") return -1;
  if (typeof b === "number") return 1;
  return a < b ? -1 : 1;
}

export const emptyTotals = (): Totals => ({
  requests: 0, errors: 0, aborted: 0, input_tokens: 0, output_tokens: 0, cached_tokens: 0, thinking_tokens: 0, tool_use_tokens: 0, cost_usd: 0,
  unpriced_calls: 0, cache_hits: 0, saved_usd: 0, guardrail_actions: 0,
});

/** A group's value as the answer shows it, and the field it goes in. */
export function groupLabel(group: Group, grp: string | number | null | undefined): string | number | null {
  if (group === "day") return new Date(Number(grp) * DAY_MS).toISOString().slice(0, 10);
  if (group === "hour") return new Date(Number(grp) * HOUR_MS).toISOString();
  return grp ?? null;
}
/** Groupings over time, answered oldest first (the others: highest cost first). */
export const timeGroup = (group: Group | undefined) => group === "day" || group === "hour";
export const groupField = (group: Group) => GROUP_SQL[group].field;

/** The opaque cursor is the (ts, request_id) of the last row served; the next page starts strictly below it. */
export function encodeCursor(ts: number, requestId: string): string {
  return btoa(`${ts}|${requestId}`).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): { ts: number; requestId: string } | undefined {
  let s: string;
  try {
    s = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
  const m = /^(\d{1,15})\|(.{1,200})$/s.exec(s);
  return m ? { ts: Number(m[1]), requestId: m[2]! } : undefined;
}

export function logsSql(q: LogsFilters, after: { ts: number; requestId: string } | undefined, limit: number) {
  const { cond, args } = filters(q);
  if (after) cond.push("(ts, request_id) < (?, ?)"), args.push(after.ts, after.requestId);
  args.push(limit);
  return { sql: `SELECT * FROM usage ${whereSql(cond)} ORDER BY ts DESC, request_id DESC LIMIT ?`, args };
}

export interface UsageRow {
  request_id: string; ts: number; key_id: string; team_id: string | null; requested_model: string;
  provider: string | null; model: string | null; action: string; stream: number; status: number; outcome: Outcome;
  error: string | null; attempts: number; fallback_index: number | null; attempts_json: string;
  input_tokens: number; output_tokens: number; cached_tokens: number; thinking_tokens: number; tool_use_tokens: number; cost_usd: number;
  unpriced: string | null;
  cache?: "hit" | "miss" | "bypass" | null; saved_usd?: number;
  guardrails?: string | null;
  latency_ms: number; ttfb_ms: number | null; requests?: number;
  close_code: number | null; closed_by: ClosedBy | null; modality_tokens: string | null;
}

/** A D1 row back in the shape buildRecord made it. */
export function rowToRecord(r: UsageRow): CallRecord {
  return {
    request_id: r.request_id, ts: r.ts, key_id: r.key_id, team_id: r.team_id, requested_model: r.requested_model,
    provider: r.provider, model: r.model, action: r.action, stream: r.stream === 1, status: r.status, outcome: r.outcome,
    error: r.error, attempts: JSON.parse(r.attempts_json), fallback_index: r.fallback_index,
    tokens: { input: r.input_tokens, output: r.output_tokens, cached: r.cached_tokens, thinking: r.thinking_tokens, tool_use: r.tool_use_tokens },
    ...(r.unpriced ? { unpriced: r.unpriced } : {}),
    ...(r.cache ? { cache: r.cache, saved_usd: r.saved_usd ?? 0 } : {}),
    ...(r.guardrails ? { guardrails: JSON.parse(r.guardrails) } : {}),
    cost_usd: r.cost_usd, latency_ms: r.latency_ms, ttfb_ms: r.ttfb_ms,
    ...(r.requests !== undefined && r.requests !== 1 ? { requests: r.requests } : {}),
    ...(r.closed_by !== null
      ? { session: { close_code: r.close_code!, closed_by: r.closed_by, modality_tokens: JSON.parse(r.modality_tokens ?? "{}") } }
      : {}),
  };
}

export async function queryLogs(
  db: D1Database,
  q: LogsFilters,
  after: { ts: number; requestId: string } | undefined,
  limit: number,
): Promise<{ logs: CallRecord[]; next_cursor?: string }> {
  // One extra row says whether there is a next page without a count query.
  const { sql, args } = logsSql(q, after, limit + 1);
  const { results } = await db.prepare(sql).bind(...args).all<UsageRow>();
  const page = results.slice(0, limit);
  const last = page[page.length - 1];
  return {
    logs: page.map(rowToRecord),
    ...(results.length > limit && last ? { next_cursor: encodeCursor(last.ts, last.request_id) } : {}),
  };
}
