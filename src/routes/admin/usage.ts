/**
 * /admin/usage (aggregates and refusal counts from the rollups, plus what the buffer still holds and where the
 * archive stands), POST /admin/usage/compact (compaction now), and /admin/logs (rows, newest first, D1 then archive).
 */
import { Hono } from "hono";
import type { Env } from "../../env";
import { badRequest, GatewayError } from "../../gemini/errors";
import { USAGE_SHARDS, usageShard } from "../../usage/buffer";
import { describeError } from "../../lib/describe-error";
import { archiveState, compactUsage, retentionDays } from "../../usage/compact";
import { queryAllLogs } from "../../usage/logs";
import { decodeCursor, groupField, groupLabel, LogsQuery, queryLatency, queryUsage, UsageQuery } from "../../usage/queries";
import { LATENCY_BOUNDS, TTFB_BOUNDS } from "../../usage/rollups";
import { queryRefusals, withRefusals } from "../../usage/refusals";
import { pageLimit, parseQuery } from "./json";

export const usageApp = new Hono<{ Bindings: Env }>();

usageApp.get("/", async (c) => {
  const q = parseQuery(c, UsageQuery);
  const buffering = bufferCounts(c.env);
  let result, refused, archive;
  try {
    [result, refused, archive] = await Promise.all([queryUsage(c.env.DB, q), queryRefusals(c.env.DB, q), archiveFigures(c.env)]);
  } catch (e) {
    // D1 not answering: say so, with what the shards hold meanwhile (their rows wait, or wait in the archive).
    const b = await buffering;
    console.error(`/admin/usage: D1 unreadable: ${describeError(e)}`);
    throw new GatewayError(
      503,
      `the usage log (D1) is not answering; the buffer holds ${b.pending_rows ?? "?"} rows pending and ${b.spilled_rows ?? "?"} spilled ` +
        `to the archive bucket${b.d1_failing_since ? `, D1 refusing writes since ${b.d1_failing_since}` : ""}; nothing is lost, try again later`,
    );
  }
  const buffered = await buffering;
  return c.json({
    from: q.from === undefined ? null : new Date(q.from).toISOString(),
    to: q.to === undefined ? null : new Date(q.to).toISOString(),
    group_by: q.group_by ?? null,
    ...withRefusals(result, refused, q.group_by),
    ...buffered,
    archive,
  });
});

/**
 * GET /admin/usage/latency: latency and time to first byte, p50 and p95, over the range and per group (the same
 * filters and groupings as /admin/usage), estimated from the rollups' histograms: within a bucket by linear
 * interpolation, so a figure is as fine as its bucket (docs/routes.md lists the bounds).
 */
usageApp.get("/latency", async (c) => {
  const q = parseQuery(c, UsageQuery);
  const { all, groups } = await queryLatency(c.env.DB, q);
  const figures = (h: { latency: number[]; ttfb: number[] }) => ({ latency: quantiles(h.latency, LATENCY_BOUNDS), ttfb: quantiles(h.ttfb, TTFB_BOUNDS) });
  return c.json({
    from: q.from === undefined ? null : new Date(q.from).toISOString(),
    to: q.to === undefined ? null : new Date(q.to).toISOString(),
    group_by: q.group_by ?? null,
    ...figures(all),
    ...(q.group_by ? { groups: groups.map((g) => ({ [groupField(q.group_by!)]: groupLabel(q.group_by!, g.grp), ...figures(g.h) })) } : {}),
  });
});

/** p50 and p95 (ms) of a histogram; null with no calls. Past the last bound a figure is that bound (a floor). */
function quantiles(counts: number[], bounds: readonly number[]) {
  const n = counts.reduce((a, b) => a + b, 0);
  const at = (q: number) => {
    if (!n) return null;
    const rank = q * n;
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      const k = counts[i]!;
      if (k && seen + k >= rank) {
        const lo = i ? bounds[i - 1]! : 0;
        const hi = bounds[i] ?? lo;
        return Math.round(lo + ((hi - lo) * (rank - seen)) / k);
      }
      seen += k;
    }
    return bounds[bounds.length - 1]!;
  };
  return { count: n, p50_ms: at(0.5), p95_ms: at(0.95) };
}

/** Compaction now, as the cron does it: one run of bounded chunks; `done: false` says another run has more to do. */
usageApp.post("/compact", async (c) => c.json(await compactUsage(c.env)));

/** Where the archive stands: rows before `compacted_before` have left D1 (or are leaving), up to `archived_through`. */
async function archiveFigures(env: Env) {
  const s = await archiveState(env.DB);
  return {
    bound: env.USAGE_ARCHIVE !== undefined,
    retention_days: retentionDays(env),
    compacted_before: s.compacted_before ? new Date(s.compacted_before).toISOString() : null,
    archived_through: s.archived ? new Date(s.archived.ts).toISOString() : null,
  };
}

/**
 * What the buffer shards hold and D1 does not show yet (so not in these figures): rows still to be written, rows
 * refused by D1 on their own, rows written but not yet settled with their Governors, and rows moved to the archive
 * bucket while D1 refused writes (`spilled_rows`; written and settled once it takes them); `d1_failing_since`: since
 * when a shard's D1 writes fail (the earliest), null while they go in. Null figures if a shard cannot be asked.
 */
async function bufferCounts(env: Env): Promise<{
  pending_rows: number | null; rejected_rows: number | null; unsettled_rows: number | null; spilled_rows: number | null; d1_failing_since: string | null;
}> {
  try {
    const all = await Promise.all(Array.from({ length: USAGE_SHARDS }, (_, i) => usageShard(env.USAGE_BUFFER, i).counts()));
    const sum = (k: "pending" | "rejected" | "unsettled" | "spilled") => all.reduce((n, s) => n + (s[k] ?? 0), 0);
    const since = all.map((s) => s.failing_since).filter((t): t is number => !!t);
    return {
      pending_rows: sum("pending"), rejected_rows: sum("rejected"), unsettled_rows: sum("unsettled"), spilled_rows: sum("spilled"),
      d1_failing_since: since.length ? new Date(Math.min(...since)).toISOString() : null,
    };
  } catch (e) {
    console.error(`usage buffer count failed: ${describeError(e)}`);
    return { pending_rows: null, rejected_rows: null, unsettled_rows: null, spilled_rows: null, d1_failing_since: null };
  }
}

export const logsApp = new Hono<{ Bindings: Env }>();

logsApp.get("/", async (c) => {
  const q = parseQuery(c, LogsQuery);
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  if (q.cursor && !after) throw badRequest("cursor is not valid: pass next_cursor from the previous page unchanged");
  return c.json(await queryAllLogs(c.env, q, after, pageLimit(q.limit)));
});
