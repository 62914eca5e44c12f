/**
 * What a Governor reads of the usage log when a budget is first set: a subject's spend by hour, and the rows the
 * usage buffer's shards still hold for it. Spend comes from the hourly rollups (migrations/0008_usage_scale.sql), which
 * hold every row ever stored, not from the rows themselves, which compaction moves to the archive (docs/usage-log.md, "Usage
 * log"); `foldFrom` is a whole hour, so the hours are exact. One object so tests can make D1 unreadable for a Governor
 * (`vi.spyOn(usageLog, "spendByHour")`), as they move its clock.
 */
import type { Env } from "../env";
import { USAGE_SHARDS, usageShard, type HeldRow } from "../usage/buffer";
import { HOUR_MS } from "./policy";

// Rows named in ?3 (a JSON array of request ids: those the shards still hold) are counted from the shards instead.
const SPEND_BY = (col: string) =>
  `SELECT hour, sum(usd) AS usd FROM (
     SELECT CASE WHEN bucket < ?1 THEN 0 ELSE bucket / ${HOUR_MS} END AS hour, cost_usd AS usd
     FROM usage_hour WHERE ${col} = ?2 AND cost_usd > 0
     UNION ALL
     -- Days whose hours compaction pruned (older than the Governor folds per hour: src/usage/compact.ts) are in usage_day.
     SELECT CASE WHEN bucket < ?1 THEN 0 ELSE bucket / ${HOUR_MS} END, cost_usd
     FROM usage_day WHERE ${col} = ?2 AND cost_usd > 0 AND bucket < (SELECT num FROM usage_state WHERE name = 'hours_before')
     UNION ALL
     -- A row is in a rollup exactly when it is in D1 (both are written in one batch): a held one already stored is
     -- taken out again, to be counted from the shards.
     SELECT CASE WHEN ts < ?1 THEN 0 ELSE ts / ${HOUR_MS} END, -cost_usd
     FROM usage WHERE request_id IN (SELECT value FROM json_each(?3)) AND ${col} = ?2 AND cost_usd > 0
   ) GROUP BY 1`;
const BY_KEY = SPEND_BY("key_id");
const BY_TEAM = SPEND_BY("team_id");

export const usageLog = {
  /** Hour buckets of spend since `foldFrom`, everything older in bucket 0; rows named in `except` left out. */
  async spendByHour(
    db: D1Database, subject: "key" | "team", id: string, foldFrom: number, except: readonly string[] = [],
  ): Promise<{ hour: number; usd: number }[]> {
    const { results } = await db.prepare(subject === "key" ? BY_KEY : BY_TEAM).bind(foldFrom, id, JSON.stringify(except)).all<{ hour: number; usd: number }>();
    return results;
  },

  /** The subject's rows every shard still holds, one per request id; rejects when a shard cannot be asked. */
  async heldRows(env: Pick<Env, "USAGE_BUFFER">, subject: "key" | "team", id: string): Promise<Map<string, HeldRow>> {
    const all = await Promise.all(Array.from({ length: USAGE_SHARDS }, (_, i) => usageShard(env.USAGE_BUFFER, i).heldFor(subject, id)));
    const rows = new Map<string, HeldRow>();
    // A row handed off twice may sit in two shards: it is one row (copies are identical).
    for (const list of all) for (const r of list) rows.set(r.request_id, r);
    return rows;
  },
};
