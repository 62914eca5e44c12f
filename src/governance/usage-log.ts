/**
 * What a Governor reads from the usage log (D1): a subject's spend by hour, when a budget is first set. It reads the
 * hourly rollups (migrations/0008_usage_scale.sql), which hold every row ever stored, not the rows themselves, which
 * compaction moves to the archive (README, "Usage log"); `foldFrom` is a whole hour, so the hours are exact. One object
 * so tests can make D1 unreadable for a Governor (`vi.spyOn(usageLog, "spendByHour")`), as they move its clock.
 */
import { HOUR_MS } from "./policy";

const SPEND_BY = (col: string) =>
  `SELECT CASE WHEN bucket < ?1 THEN 0 ELSE bucket / ${HOUR_MS} END AS hour, sum(cost_usd) AS usd
   FROM usage_hour WHERE ${col} = ?2 AND cost_usd > 0 GROUP BY 1`;
const BY_KEY = SPEND_BY("key_id");
const BY_TEAM = SPEND_BY("team_id");

export const usageLog = {
  /** Hour buckets of spend since `foldFrom`, everything older in bucket 0. */
  async spendByHour(db: D1Database, subject: "key" | "team", id: string, foldFrom: number): Promise<{ hour: number; usd: number }[]> {
    const { results } = await db.prepare(subject === "key" ? BY_KEY : BY_TEAM).bind(foldFrom, id).all<{ hour: number; usd: number }>();
    return results;
  },
};
