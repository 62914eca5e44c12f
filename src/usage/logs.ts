/**
 * /admin/logs across D1 and the archive: newest first, one keyset cursor (ts, request_id) for both. D1 holds every
 * row after the archive position and the archive every row at or before it (src/usage/compact.ts), so a page is D1's
 * rows below the cursor, then, when those run out, the archive's, hour folder by hour folder, newest first.
 */
import type { Env } from "../env";
import { readObject } from "./archive";
import { archiveState } from "./compact";
import { encodeCursor, queryLogs, type LogsFilters } from "./queries";
import type { CallRecord } from "./row";
import { HOUR_MS } from "./rollups";

/** Archive objects a page reads at most. */
const MAX_OBJECTS_PER_PAGE = 24;
/** Sorts after any request id (they are ASCII): a cursor (t, MAX_ID) continues with the rows before `t + 1`. */
const MAX_ID = "\u00ff";

type Key = { ts: number; requestId: string };
const below = (r: { ts: number; request_id: string }, k: Key) => r.ts < k.ts || (r.ts === k.ts && r.request_id < k.requestId);

function matches(r: CallRecord, q: LogsFilters): boolean {
  if (q.request_id !== undefined && r.request_id !== q.request_id) return false;
  if (q.key_id !== undefined && r.key_id !== q.key_id) return false;
  if (q.team_id !== undefined && r.team_id !== q.team_id) return false;
  if (q.model !== undefined && `${r.provider}/${r.model}` !== q.model) return false;
  if (q.provider !== undefined && r.provider !== q.provider) return false;
  if (q.outcome !== undefined && r.outcome !== q.outcome) return false;
  if (q.status !== undefined && r.status !== q.status) return false;
  if (q.from !== undefined && r.ts < q.from) return false;
  if (q.to !== undefined && r.ts >= q.to) return false;
  return true;
}

export async function queryAllLogs(
  env: Pick<Env, "DB" | "USAGE_ARCHIVE">,
  q: LogsFilters,
  after: Key | undefined,
  limit: number,
): Promise<{ logs: CallRecord[]; next_cursor?: string }> {
  const [hot, state] = await Promise.all([queryLogs(env.DB, q, after, limit), env.USAGE_ARCHIVE ? archiveState(env.DB) : undefined]);
  if (hot.next_cursor || !env.USAGE_ARCHIVE || !state?.archived) return hot;
  // D1 has no more rows below the cursor: the archive's, at or before its position.
  const bucket = env.USAGE_ARCHIVE;
  let bound: Key = { ts: state.archived.ts, requestId: `${state.archived.request_id}\u0000` };
  if (after && below({ ts: after.ts, request_id: after.requestId }, bound)) bound = after;
  if (q.to !== undefined && q.to <= bound.ts) bound = { ts: q.to - 1, requestId: MAX_ID };
  const want = limit - hot.logs.length;
  const found: CallRecord[] = [];
  // The archive's objects from the bound down, newest first (its index in D1: no listing of the bucket). Objects
  // hold disjoint runs of rows, so once one is read every row still to find is in the ones after it.
  const { results: objects } = await env.DB
    .prepare("SELECT key FROM usage_archive WHERE first_ts <= ? AND last_ts >= ? ORDER BY first_ts DESC, key DESC LIMIT ?")
    .bind(bound.ts, q.from ?? 0, MAX_OBJECTS_PER_PAGE + 1)
    .all<{ key: string }>();
  for (const [i, { key }] of objects.entries()) {
    if (i === MAX_OBJECTS_PER_PAGE) {
      // Read enough objects for one page: what was found (fewer rows than asked for), and where to go on from.
      return { logs: [...hot.logs, ...newestFirst(found).map(stripBatch)], next_cursor: encodeCursor(bound.ts, bound.requestId) };
    }
    const rows = await readObject(bucket, key);
    for (const r of rows) if (below(r, bound) && matches(r, q)) found.push(r);
    if (found.length > want) break;
    // Everything below this object's first row is in the objects after it.
    const first = rows.reduce<CallRecord | undefined>((m, r) => (!m || below(r, { ts: m.ts, requestId: m.request_id }) ? r : m), undefined);
    if (first) bound = { ts: first.ts, requestId: first.request_id };
  }
  const page = [...hot.logs, ...newestFirst(found).slice(0, want)];
  const last = page[page.length - 1];
  return { logs: page.map(stripBatch), ...(found.length > want && last ? { next_cursor: encodeCursor(last.ts, last.request_id) } : {}) };
}

/** An archived row as /admin/logs shows rows from D1 (the archive also keeps each row's batch_id). */
function stripBatch(r: CallRecord): CallRecord {
  if (!("batch_id" in r)) return r;
  const { batch_id: _, ...rest } = r as CallRecord & { batch_id?: unknown };
  return rest;
}

const newestFirst = (rows: CallRecord[]) =>
  rows.sort((a, b) => b.ts - a.ts || (a.request_id < b.request_id ? 1 : a.request_id > b.request_id ? -1 : 0));


