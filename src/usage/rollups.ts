/**
 * Usage rollups (migrations/0008_usage_scale.sql): per UTC minute and per hour, by key, team, provider, model, status
 * and outcome, the counts, tokens by kind, cost, upstream attempts by outcome and fixed-bucket latency and TTFB
 * histograms of the usage rows.
 * `/admin/usage` (src/usage/queries.ts) reads them, and so can metrics: they are the durable counters, not memory.
 *
 * They are written in the same D1 batch (one transaction) as the rows, by every writer (`writeRows`): two upserts,
 * one row written per group of the batch, that count only the rows the batch newly stores. They run before the
 * INSERT and count a row only if no row with its request_id is in D1 yet, so a batch replayed (committed, but its
 * answer lost), a row handed off twice, or a batch retried under its id never counts twice; and only rows at or
 * after the compaction point, as the INSERT's trigger does (an archived row replayed is not stored again).
 */
import { insertRowsStatement } from "./insert";

/** Upper bounds (ms) of the latency histogram buckets; a last bucket takes the rest. */
export const LATENCY_BOUNDS = [100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000] as const;
/** Upper bounds (ms) of the time-to-first-byte histogram buckets; a last bucket takes the rest. */
export const TTFB_BOUNDS = [50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;

/** A histogram's columns, in bucket order: `<name>_le_<bound>` then `<name>_le_inf`. */
const histColumns = (name: string, bounds: readonly number[]) => [...bounds.map((b) => `${name}_le_${b}`), `${name}_le_inf`];
export const LATENCY_COLUMNS = histColumns("latency", LATENCY_BOUNDS);
export const TTFB_COLUMNS = histColumns("ttfb", TTFB_BOUNDS);

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/**
 * Span rollups (migrations/0019_usage_spans.sql): level k holds epoch-aligned blocks of 4^k days. Base 4 keeps a
 * range's cover small (at most 3 blocks of a level at each end) with few levels; four levels reach 256 days, so a
 * year is one 256-day block and a handful of smaller ones, and a fifth (1,024 days) would pay off only past 3 years.
 */
export const SPAN_LEVELS = [1, 2, 3, 4] as const;
export const spanMs = (level: number) => 4 ** level * DAY_MS;

/** The additive columns of a rollup row (everything but the group). */
const FIGURE_COLUMNS = [
  "calls", "requests", "errors", "aborted", "input_tokens", "output_tokens", "cached_tokens", "thinking_tokens",
  "tool_use_tokens", "cost_usd", "unpriced_calls", "cache_hits", "saved_usd", "guardrail_actions", "latency_ms_sum", "ttfb_ms_sum", "ttfb_count", ...LATENCY_COLUMNS, ...TTFB_COLUMNS,
  "attempts_ok", "attempts_failed",
] as const;

/** The counting expression of one histogram bucket over column `v` (NULL counts in no bucket). */
function bucketSums(v: string, bounds: readonly number[]): string[] {
  return [...bounds, Infinity].map((b, i) => {
    const lo = i ? `${v} > ${bounds[i - 1]}` : "1";
    return b === Infinity ? `total(${v} > ${bounds[bounds.length - 1]})` : `total(${lo} AND ${v} <= ${b})`;
  });
}

const GROUP = ["key_id", "team_id", "provider", "model", "status", "outcome"];
// The JSON rows of a batch, as the INSERT reads them (src/usage/insert.ts), new ones only: no stored row with the
// same request_id, and not before the compaction point. A row twice in one batch counts once (GROUP BY request_id:
// one of its copies, which are the same row).
const x = (p: string) => `json_extract(r.value, '$.${p}')`;
// Upstream attempts of the row that made an upstream call (not `skipped`), by whether it served (`reason` `ok`).
const attempts = (reason: string) =>
  `(SELECT count(*) FROM json_each(r.value, '$.attempts') AS a WHERE json_extract(a.value, '$.skipped') IS NULL AND json_extract(a.value, '$.reason') ${reason})`;
const NEW_ROWS = `SELECT ${x("ts")} AS ts, ${x("key_id")} AS key_id, coalesce(${x("team_id")}, '') AS team_id,
    coalesce(${x("provider")}, '') AS provider, coalesce(${x("model")}, '') AS model, ${x("status")} AS status,
    ${x("outcome")} AS outcome, coalesce(${x("requests")}, 1) AS requests, ${x("tokens.input")} AS input_tokens,
    ${x("tokens.output")} AS output_tokens, ${x("tokens.cached")} AS cached_tokens, ${x("tokens.thinking")} AS thinking_tokens,
    coalesce(${x("tokens.tool_use")}, 0) AS tool_use_tokens, ${x("cost_usd")} AS cost_usd, ${x("unpriced")} AS unpriced,
    ${x("cache")} AS cache, coalesce(${x("saved_usd")}, 0) AS saved_usd,
    (SELECT count(*) FROM json_each(r.value, '$.guardrails') g WHERE json_extract(g.value, '$.entities') <> '{}') AS guardrail_actions, ${x("latency_ms")} AS latency_ms,
    ${x("ttfb_ms")} AS ttfb_ms, ${attempts("= 'ok'")} AS attempts_ok, ${attempts("!= 'ok'")} AS attempts_failed
  FROM json_each(?1) AS r
  WHERE NOT EXISTS (SELECT 1 FROM usage u WHERE u.request_id = ${x("request_id")})
    AND ${x("ts")} >= (SELECT num FROM usage_state WHERE name = 'compacted_before')
  GROUP BY ${x("request_id")}`;

const SUMS = [
  "count(*)", "sum(requests)", "total(outcome = 'error')", "total(outcome = 'aborted')", "total(input_tokens)",
  "total(output_tokens)", "total(cached_tokens)", "total(thinking_tokens)", "total(tool_use_tokens)", "total(cost_usd)",
  "total(unpriced IS NOT NULL)", "total(cache = 'hit')", "total(saved_usd)", "total(guardrail_actions)", "total(latency_ms)", "total(ttfb_ms)", "count(ttfb_ms)", ...bucketSums("latency_ms", LATENCY_BOUNDS), ...bucketSums("ttfb_ms", TTFB_BOUNDS),
  "total(attempts_ok)", "total(attempts_failed)",
];

function upsert(table: "usage_minute" | "usage_hour" | "usage_day", width: number, where = "true"): string {
  return `INSERT INTO ${table} (bucket, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.join(", ")})
  SELECT ts - ts % ${width}, ${GROUP.join(", ")}, ${SUMS.join(", ")}
  FROM (${NEW_ROWS}) WHERE ${where} GROUP BY 1, ${GROUP.map((_, i) => i + 2).join(", ")}
  ON CONFLICT (bucket, ${GROUP.join(", ")}) DO UPDATE SET ${FIGURE_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`;
}
const MINUTE_UPSERT = upsert("usage_minute", MINUTE_MS);
const HOUR_UPSERT = upsert("usage_hour", HOUR_MS);
// Days already folded into usage_day (src/usage/compact.ts) take a late row directly; otherwise this writes nothing.
const DAY_UPSERT = upsert("usage_day", DAY_MS, "ts < (SELECT num FROM usage_state WHERE name = 'days_through')");
// The same for the span rollups: a late row is added to its block at every level already folded past it (one row per
// group and level); a row of a block not yet folded reaches it through the fold. Normally writes nothing.
const SPAN_UPSERT = `INSERT INTO usage_span (level, bucket, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.join(", ")})
  SELECT l.level, ts - ts % l.width, ${GROUP.join(", ")}, ${SUMS.join(", ")}
  FROM (${NEW_ROWS}) AS n, (${SPAN_LEVELS.map((k) => `SELECT ${k} AS level, ${spanMs(k)} AS width, (SELECT num FROM usage_state WHERE name = 'spans_through_${k}') AS through`).join(" UNION ALL ")}) AS l
  WHERE n.ts < l.through
  GROUP BY 1, 2, ${GROUP.map((_, i) => i + 3).join(", ")}
  ON CONFLICT (level, bucket, ${GROUP.join(", ")}) DO UPDATE SET ${FIGURE_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`;

/**
 * The statements that store a batch's rows (`json`, a CallRecord[] as JSON) under `batchId`: the rollups (minute,
 * hour, and day and span blocks already folded), then the INSERT. Run them in one `db.batch()`; the last result names this batch's rows (`storedIds`).
 */
export function rowsStatements(db: D1Database, json: string, batchId: string): D1PreparedStatement[] {
  return [
    db.prepare(MINUTE_UPSERT).bind(json), db.prepare(HOUR_UPSERT).bind(json), db.prepare(DAY_UPSERT).bind(json), db.prepare(SPAN_UPSERT).bind(json),
    insertRowsStatement(db, json, batchId),
  ];
}

/** Stores rows and their rollups in one transaction; returns the request ids that are this batch's. */
export async function writeRows(db: D1Database, json: string, batchId: string): Promise<{ ids: Set<string>; rowsWritten: number }> {
  const results = await db.batch<{ request_id: string }>(rowsStatements(db, json, batchId));
  return {
    ids: new Set(results[results.length - 1]!.results.map((r) => r.request_id)),
    rowsWritten: results.reduce((n, r) => n + (r.meta?.rows_written ?? 0), 0),
  };
}

/**
 * One whole UTC day (?1) of the hourly rollups summed into usage_day, if `days_through` is that day (compaction runs
 * it with the statement that moves the mark on, so a day is folded once).
 */
export const FOLD_DAY = `INSERT INTO usage_day (bucket, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.join(", ")})
  SELECT ?1, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.map((c) => `sum(${c})`).join(", ")}
  FROM usage_hour WHERE bucket >= ?1 AND bucket < ?1 + ${DAY_MS} AND (SELECT num FROM usage_state WHERE name = 'days_through') = ?1
  GROUP BY ${GROUP.join(", ")}
  ON CONFLICT (bucket, ${GROUP.join(", ")}) DO UPDATE SET ${FIGURE_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`;

/** The mark of span level k (a block start; the level holds every whole block before it) and of the level below. */
const spanMark = (k: number) => `(SELECT num FROM usage_state WHERE name = 'spans_through_${k}')`;
const belowMark = (k: number) => (k === 1 ? "(SELECT num FROM usage_state WHERE name = 'days_through')" : spanMark(k - 1));
// Block ?1 of level k is due when the mark is at it and the level below holds all of it.
const spanDue = (k: number) => `${spanMark(k)} = ?1 AND ?1 + ${spanMs(k)} <= ${belowMark(k)}`;
const belowRows = (k: number, cols: string) =>
  k === 1 ? `SELECT ${cols} FROM usage_day WHERE` : `SELECT ${cols} FROM usage_span WHERE level = ${k - 1} AND`;

/**
 * The statements of span level k's compaction (src/usage/compact.ts), each bound to a block start ?1 but `skip`:
 * - `fold`: the block summed into usage_span from its four blocks of the level below (level 1: its four days),
 *   only if it is due; run with `mark`, which moves the mark past it under the same test, in one transaction, so a
 *   block is added once however many compactions run;
 * - `skip`: moves the mark over blocks the level below has no row in, up to the first that has one (or to what the
 *   level below holds), so a level starts at the first data rather than at the epoch and idle months cost nothing.
 *   Those blocks are empty and whole (below the level below's mark): a row later in one is a late row, added to
 *   this level by its batch (SPAN_UPSERT), as it would be had they been folded.
 */
export function spanStatements(k: number): { fold: string; mark: string; skip: string } {
  const w = spanMs(k);
  const next = `coalesce((${belowRows(k, "min(bucket)")} bucket >= usage_state.num), ${belowMark(k)})`;
  return {
    fold: `INSERT INTO usage_span (level, bucket, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.join(", ")})
  SELECT ${k}, ?1, ${GROUP.join(", ")}, ${FIGURE_COLUMNS.map((c) => `sum(${c})`).join(", ")}
  FROM (${belowRows(k, `${GROUP.join(", ")}, ${FIGURE_COLUMNS.join(", ")}`)} bucket >= ?1 AND bucket < ?1 + ${w})
  WHERE ${spanDue(k)}
  GROUP BY ${GROUP.join(", ")}
  ON CONFLICT (level, bucket, ${GROUP.join(", ")}) DO UPDATE SET ${FIGURE_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`,
    mark: `UPDATE usage_state SET num = ?1 + ${w} WHERE name = 'spans_through_${k}' AND ${spanDue(k)}`,
    skip: `UPDATE usage_state SET num = max(num, min(${next}, ${belowMark(k)}) - min(${next}, ${belowMark(k)}) % ${w})
  WHERE name = 'spans_through_${k}'`,
  };
}
