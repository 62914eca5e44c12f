/** /admin/usage (aggregates, plus the rows still waiting in the buffer) and /admin/logs (rows, newest first). */
import { Hono } from "hono";
import type { Env } from "../../env";
import { badRequest } from "../../gemini/errors";
import { pendingRows } from "../../usage/buffer";
import { describeError } from "../../usage/log";
import { decodeCursor, LogsQuery, queryLogs, queryUsage, UsageQuery } from "../../usage/queries";
import { pageLimit, parseQuery } from "./json";

export const usageApp = new Hono<{ Bindings: Env }>();

usageApp.get("/", async (c) => {
  const q = parseQuery(c, UsageQuery);
  const [result, buffered] = await Promise.all([queryUsage(c.env.DB, q), bufferCounts(c.env)]);
  return c.json({
    from: q.from === undefined ? null : new Date(q.from).toISOString(),
    to: q.to === undefined ? null : new Date(q.to).toISOString(),
    group_by: q.group_by ?? null,
    ...result,
    ...buffered,
  });
});

/**
 * Rows kept by the buffer and not in D1 (so not in these figures): still to be written, and refused by D1 on their
 * own; null if the buffer cannot be asked.
 */
async function bufferCounts(env: Env): Promise<{ pending_rows: number | null; rejected_rows: number | null }> {
  try {
    const buffer = pendingRows(env);
    const [pending_rows, rejected_rows] = await Promise.all([buffer.count(), buffer.rejectedCount()]);
    return { pending_rows, rejected_rows };
  } catch (e) {
    console.error(`usage buffer count failed: ${describeError(e)}`);
    return { pending_rows: null, rejected_rows: null };
  }
}

export const logsApp = new Hono<{ Bindings: Env }>();

logsApp.get("/", async (c) => {
  const q = parseQuery(c, LogsQuery);
  const after = q.cursor ? decodeCursor(q.cursor) : undefined;
  if (q.cursor && !after) throw badRequest("cursor is not valid: pass next_cursor from the previous page unchanged");
  return c.json(await queryLogs(c.env.DB, q, after, pageLimit(q.limit)));
});
