/**
 * /admin/usage (aggregates and refusal counts from the rollups, plus what the buffer still holds and where the
 * archive stands), POST /admin/usage/compact (compaction now), and /admin/logs (rows, newest first, D1 then archive).
 */
import { Hono } from "hono";
import type { Env } from "../../env";
import { badRequest } from "../../gemini/errors";
import { USAGE_SHARDS, usageShard, type ShardCounts } from "../../usage/buffer";
import { describeError } from "../../usage/log";
import { archiveState, compactUsage, retentionDays } from "../../usage/compact";
import { queryAllLogs } from "../../usage/logs";
import { decodeCursor, LogsQuery, queryUsage, UsageQuery } from "../../usage/queries";
import { queryRefusals, withRefusals } from "../../usage/refusals";
import { pageLimit, parseQuery } from "./json";

export const usageApp = new Hono<{ Bindings: Env }>();

usageApp.get("/", async (c) => {
  const q = parseQuery(c, UsageQuery);
  const [result, refused, buffered, archive] = await Promise.all([
    queryUsage(c.env.DB, q), queryRefusals(c.env.DB, q), bufferCounts(c.env), archiveFigures(c.env),
  ]);
  return c.json({
    from: q.from === undefined ? null : new Date(q.from).toISOString(),
    to: q.to === undefined ? null : new Date(q.to).toISOString(),
    group_by: q.group_by ?? null,
    ...withRefusals(result, refused, q.group_by),
    ...buffered,
    archive,
  });
});

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
 * refused by D1 on their own, and rows written but not yet settled with their Governors; null if a shard cannot be
 * asked. (Rows waiting in the opt-in usage queue are not counted: a Worker cannot read a queue's backlog.)
 */
async function bufferCounts(env: Env): Promise<{ pending_rows: number | null; rejected_rows: number | null; unsettled_rows: number | null }> {
  try {
    const all = await Promise.all(Array.from({ length: USAGE_SHARDS }, (_, i) => usageShard(env.USAGE_BUFFER, i).counts()));
    const sum = (k: keyof ShardCounts) => all.reduce((n, s) => n + s[k], 0);
    return { pending_rows: sum("pending"), rejected_rows: sum("rejected"), unsettled_rows: sum("unsettled") };
  } catch (e) {
    console.error(`usage buffer count failed: ${describeError(e)}`);
    return { pending_rows: null, rejected_rows: null, unsettled_rows: null };
  }
}

export const logsApp = new Hono<{ Bindings: Env }>();

logsApp.get("/", async (c) => {
  const q = parseQuery(c, LogsQuery);
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  if (q.cursor && !after) throw badRequest("cursor is not valid: pass next_cursor from the previous page unchanged");
  return c.json(await queryAllLogs(c.env, q, after, pageLimit(q.limit)));
});
