/**
 * Compaction (docs/usage-log.md): keeps D1's usage table to a window of USAGE_RETENTION_DAYS. Run by the cron
 * (src/index.ts) and by `POST /admin/usage/compact`, in bounded chunks, each its own small D1 writes, so calls
 * writing rows meanwhile are never held up for long.
 *
 * 1. The compaction point `compacted_before` rises to the start of the hour USAGE_RETENTION_DAYS ago. From then D1
 *    takes no row older (a trigger; migrations/0008_usage_scale.sql), so the rows below it are a set that only
 *    shrinks, and /admin/usage reads whole hours of the rollups there.
 * 2. The oldest rows below it, up to CHUNK_ROWS and within one hour, are written to R2 as one object named by its
 *    first row (src/usage/archive.ts) and read back; only then, in one D1 batch, are they deleted and the archive
 *    position (the last row moved) advanced. A crash in between moves the same chunk again to the same object.
 * 3. Minute rollups before the compaction point are dropped (the hourly ones hold the same sums), and refusal
 *    counters there are folded into one row per key, hour, status and reason.
 * 4. Whole blocks of 4, 16, 64 and 256 days whose days are in usage_day are summed into usage_span (`foldSpans`).
 * 5. Hourly rollups of whole days already in usage_day, below the compaction point and older than the hourly window
 *    (USAGE_RETENTION_DAYS, at least HOURLY_MIN_DAYS), are dropped a day at a time (`pruneHours`).
 */
import type { Env } from "../env";
import { archiveKey, putVerified } from "./archive";
import { USAGE_SHARDS, usageShard } from "./buffer";
import { rowToRecord, type UsageRow } from "./queries";
import { DAY_MS, FOLD_DAY, HOUR_MS, SPAN_LEVELS, spanMs, spanStatements } from "./rollups";

/** Rows per archive object (one D1 read and one D1 batch deleting them; ~80 KB gzip at 2,000 rows). */
const CHUNK_ROWS = 2_000;
/** Chunks per run: a cron run moves up to 120,000 rows, enough for 200 calls/s every 10 minutes. */
const MAX_CHUNKS = 60;
/** Hours of minute rollups and refusal counters folded or dropped per run. */
const MAX_HOURS = 48;
/** Days of hourly rollups folded into daily ones per run. */
const MAX_DAYS = 60;
/** Blocks folded per span level per run (each one D1 batch; a year is ~91 blocks of level 1). */
const MAX_BLOCKS = 60;
export const DEFAULT_RETENTION_DAYS = 7;
/**
 * Days of hourly rollups kept at least, whatever USAGE_RETENTION_DAYS says: a Governor starting a budget reads spend
 * per hour for its last 32 days (src/governance/ledger.ts, FOLD_AFTER_HOURS), older spend as one sum.
 */
export const HOURLY_MIN_DAYS = 35;

/** USAGE_RETENTION_DAYS (a positive number of days; fractions allowed), or the default. */
export function retentionDays(env: Pick<Env, "USAGE_RETENTION_DAYS">): number {
  const n = Number(env.USAGE_RETENTION_DAYS);
  return env.USAGE_RETENTION_DAYS !== undefined && env.USAGE_RETENTION_DAYS !== "" && Number.isFinite(n) && n > 0 ? n : DEFAULT_RETENTION_DAYS;
}

/**
 * Whether a buffer shard holds rows D1 has not taken for a while (spilled to R2, or D1 failing): those rows may be
 * older than the window by the time they are written, and D1 takes no row before the compaction point (they would be
 * lost, uncounted), so the point waits for them. An object so tests can make a shard look stuck.
 */
export const usageBacklog = {
  async held(env: Partial<Pick<Env, "USAGE_BUFFER">>): Promise<boolean> {
    const ns = env.USAGE_BUFFER;
    if (!ns) return false;
    // A shard that cannot be asked may hold such rows too: the point waits (rows below it still move).
    const all = await Promise.all(Array.from({ length: USAGE_SHARDS }, (_, i) => usageShard(ns, i).counts())).catch(() => null);
    return !all || all.some((c) => c.spilled > 0 || c.failing_since !== null);
  },
};

export interface ArchiveState {
  /** Rows before this (ms, a whole hour) are not in D1, or are on their way to the archive. */
  compacted_before: number;
  /** The last row moved to the archive, in (ts, request_id) order; everything at or before it is there, not in D1. */
  archived: { ts: number; request_id: string } | null;
}

export async function archiveState(db: D1Database): Promise<ArchiveState> {
  const { results } = await db.prepare("SELECT name, num, text FROM usage_state WHERE name IN ('compacted_before', 'archived')").all<{ name: string; num: number; text: string | null }>();
  const get = (n: string) => results.find((r) => r.name === n);
  const a = get("archived");
  return {
    compacted_before: get("compacted_before")?.num ?? 0,
    archived: a && a.num > 0 ? { ts: a.num, request_id: a.text ?? "" } : null,
  };
}

export interface CompactResult {
  compacted_before: string | null;
  archived_rows: number;
  archive_objects: number;
  archive_bytes: number;
  minute_rollups_dropped: number;
  refusal_rows_folded: number;
  /** Whole days of hourly rollups summed into usage_day this run. */
  days_folded: number;
  /** Whole blocks of days (4, 16, 64, 256) summed into usage_span this run. */
  spans_folded: number;
  /** Hourly rollup rows dropped this run (their days are in usage_day). */
  hour_rollups_dropped: number;
  /** Whether everything due was done (false: the next run continues). */
  done: boolean;
  /** Why the compaction point did not rise this run. */
  held?: string;
  /** Why nothing was moved, when nothing could be. */
  skipped?: string;
}

export interface CompactOptions {
  now?: number;
  maxChunks?: number;
  chunkRows?: number;
}

export async function compactUsage(
  env: Pick<Env, "DB" | "USAGE_ARCHIVE" | "USAGE_RETENTION_DAYS"> & Partial<Pick<Env, "USAGE_BUFFER">>, opts: CompactOptions = {},
): Promise<CompactResult> {
  const db = env.DB;
  const result: CompactResult = {
    compacted_before: null, archived_rows: 0, archive_objects: 0, archive_bytes: 0, minute_rollups_dropped: 0, refusal_rows_folded: 0, days_folded: 0,
    spans_folded: 0, hour_rollups_dropped: 0, done: false,
  };
  const now = opts.now ?? Date.now();
  const daysFolded = await foldDays(db, now, result);
  const daysDone = (await foldSpans(db, result)) && daysFolded;
  const bucket = env.USAGE_ARCHIVE;
  if (!bucket) return { ...result, done: daysDone, skipped: "no USAGE_ARCHIVE binding: rows stay in D1" };
  const cutoff = Math.floor((now - retentionDays(env) * DAY_MS) / HOUR_MS) * HOUR_MS;
  // Raised, never lowered (a run with an older clock or a longer window leaves it); held while the buffer holds
  // rows D1 refused, which may be older than the window when they come back (rows below the point still move).
  if (await usageBacklog.held(env)) result.held = "the usage buffer holds rows D1 refused: the compaction point waits for them";
  else await db.prepare("UPDATE usage_state SET num = max(num, ?) WHERE name = 'compacted_before'").bind(cutoff).run();
  const { compacted_before: before } = await archiveState(db);
  result.compacted_before = new Date(before).toISOString();

  let rowsDone = false;
  for (let chunk = 0; chunk < (opts.maxChunks ?? MAX_CHUNKS); chunk++) {
    // The oldest row, then the rows of its hour from there: the oldest rows, always, so a chunk retried is the same.
    const first = await db.prepare("SELECT ts FROM usage WHERE ts < ? ORDER BY ts, request_id LIMIT 1").bind(before).first<{ ts: number }>();
    if (!first) {
      rowsDone = true;
      break;
    }
    const hour = first.ts - (first.ts % HOUR_MS);
    const { results } = await db
      .prepare("SELECT * FROM usage WHERE ts < ? ORDER BY ts, request_id LIMIT ?")
      .bind(Math.min(hour + HOUR_MS, before), opts.chunkRows ?? CHUNK_ROWS)
      .all<UsageRow & { batch_id: string | null }>();
    const head = results[0]!;
    const last = results[results.length - 1]!;
    const key = await archiveKey(hour, head);
    const bytes = await putVerified(
      bucket, key, results.map((r) => ({ ...rowToRecord(r), batch_id: r.batch_id })),
      { first_ts: String(head.ts), last_ts: String(last.ts) },
    );
    result.archive_bytes += bytes;
    // Written and read back: now, and only now, out of D1, with the archive position, in one transaction.
    await db.batch([
      db.prepare("DELETE FROM usage WHERE ts >= ? AND ts < ? AND (ts, request_id) <= (?, ?)").bind(head.ts, before, last.ts, last.request_id),
      db
        .prepare("UPDATE usage_state SET num = ?1, text = ?2 WHERE name = 'archived' AND (num < ?1 OR (num = ?1 AND coalesce(text, '') < ?2))")
        .bind(last.ts, last.request_id),
      db
        .prepare(
          `INSERT INTO usage_archive (hour, key, first_ts, last_ts, rows, bytes) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (first_ts, key) DO UPDATE SET last_ts = excluded.last_ts, rows = excluded.rows, bytes = excluded.bytes`,
        )
        .bind(hour, key, head.ts, last.ts, results.length, bytes),
    ]);
    result.archived_rows += results.length;
    result.archive_objects++;
  }

  // Minute rollups and refusal counters before the compaction point, an hour at a time.
  const minuteEnd = before;
  let foldsDone = false;
  for (let h = 0; h < MAX_HOURS; h++) {
    const oldest = await db
      .prepare("SELECT (SELECT min(bucket) FROM usage_minute WHERE bucket < ?1) AS m, (SELECT min(ts) FROM refusals WHERE ts < ?1 AND shard != '*hour') AS r")
      .bind(minuteEnd)
      .first<{ m: number | null; r: number | null }>();
    if (oldest?.m == null && oldest?.r == null) {
      foldsDone = true;
      break;
    }
    const statements: D1PreparedStatement[] = [];
    if (oldest.m != null) {
      const end = Math.min(oldest.m - (oldest.m % HOUR_MS) + HOUR_MS, minuteEnd);
      statements.push(db.prepare("DELETE FROM usage_minute WHERE bucket < ?").bind(end));
    }
    if (oldest.r != null) {
      const start = oldest.r - (oldest.r % HOUR_MS);
      const end = Math.min(start + HOUR_MS, minuteEnd);
      // One counter per key, hour, status and reason (shard `*hour`), added to in the same transaction that drops
      // the per-minute, per-shard ones it sums: exact however often it runs.
      statements.push(
        db
          .prepare(
            `INSERT INTO refusals (ts, key_id, team_id, status, reason, shard, count)
             SELECT ?1, key_id, max(team_id), status, reason, '*hour', sum(count) FROM refusals
             WHERE ts >= ?1 AND ts < ?2 AND shard != '*hour' GROUP BY key_id, status, reason
             ON CONFLICT (key_id, ts, status, reason, shard) DO UPDATE SET count = count + excluded.count`,
          )
          .bind(start, end),
        db.prepare("DELETE FROM refusals WHERE ts >= ? AND ts < ? AND shard != '*hour'").bind(start, end),
      );
    }
    const out = await db.batch(statements);
    if (oldest.m != null) result.minute_rollups_dropped += out[0]!.meta.changes ?? 0;
    if (oldest.r != null) result.refusal_rows_folded += out[out.length - 1]!.meta.changes ?? 0;
  }
  const hoursDone = await pruneHours(db, Math.min(before, now - Math.max(retentionDays(env), HOURLY_MIN_DAYS) * DAY_MS), result);
  result.done = rowsDone && foldsDone && daysDone && hoursDone;
  return result;
}

/**
 * The hourly rollups of whole days before `limit` that usage_day already holds, dropped oldest day first. Only
 * below the compaction point (`limit` is at most it): no row is stored there any more, so no hour there changes.
 * `hours_before` is raised first, in the same transaction as the first delete, so /admin/usage reads those days
 * from usage_day before their hours go (src/usage/queries.ts). Returns whether every due day is dropped.
 */
export async function pruneHours(db: D1Database, limit: number, result: Pick<CompactResult, "hour_rollups_dropped">): Promise<boolean> {
  for (let n = 0; ; n++) {
    const s = await db
      .prepare(
        `SELECT min(?1 - ?1 % ${DAY_MS}, (SELECT num FROM usage_state WHERE name = 'days_through')) AS mark,
           (SELECT min(bucket) FROM usage_hour) AS oldest`,
      )
      .bind(limit)
      .first<{ mark: number; oldest: number | null }>();
    if (!s || s.oldest == null || s.oldest >= s.mark) return true;
    if (n === MAX_DAYS) return false;
    const end = Math.min(s.oldest - (s.oldest % DAY_MS) + DAY_MS, s.mark);
    const [, del] = await db.batch([
      db.prepare("UPDATE usage_state SET num = max(num, ?) WHERE name = 'hours_before'").bind(end),
      db.prepare("DELETE FROM usage_hour WHERE bucket < ?").bind(end),
    ]);
    result.hour_rollups_dropped += del!.meta.changes ?? 0;
  }
}

/**
 * Whole UTC days before today, oldest first, summed from the hourly rollups into usage_day, each with the
 * `days_through` mark in one transaction (and only if the mark is where this run read it, so two runs never add a
 * day twice). A row of a folded day arriving later is added to usage_day by its own batch (src/usage/rollups.ts).
 * Returns whether every due day is folded.
 */
export async function foldDays(db: D1Database, now: number, result: Pick<CompactResult, "days_folded"> = { days_folded: 0 }): Promise<boolean> {
  const today = now - (now % DAY_MS);
  let through = (await db.prepare("SELECT num FROM usage_state WHERE name = 'days_through'").first<number>("num")) ?? 0;
  if (!through) {
    const first = await db.prepare("SELECT min(bucket) AS b FROM usage_hour").first<number | null>("b");
    if (first == null) return true;
    await db.prepare("UPDATE usage_state SET num = ? WHERE name = 'days_through' AND num = 0").bind(first - (first % DAY_MS)).run();
    through = (await db.prepare("SELECT num FROM usage_state WHERE name = 'days_through'").first<number>("num"))!;
  }
  for (let n = 0; through < today; n++) {
    if (n === MAX_DAYS) return false;
    const [, moved] = await db.batch([
      db.prepare(FOLD_DAY).bind(through),
      db.prepare("UPDATE usage_state SET num = ?1 + ?2 WHERE name = 'days_through' AND num = ?1").bind(through, DAY_MS),
    ]);
    if (!moved!.meta.changes) return false; // another run folded it
    result.days_folded++;
    through += DAY_MS;
  }
  return true;
}

/**
 * Whole epoch-aligned blocks of each span level (4^k days), oldest first, summed into usage_span from the level below
 * once it holds all of the block (level 1: once usage_day holds its four days), each with its level's
 * `spans_through_<k>` mark in one transaction and only if the mark is where it was read (so two runs never add a block
 * twice). Blocks the level below has no row in are stepped over. A row of a folded block arriving later is added to
 * every folded level by its own batch (src/usage/rollups.ts). Returns whether every due block is folded.
 */
export async function foldSpans(db: D1Database, result: Pick<CompactResult, "spans_folded"> = { spans_folded: 0 }): Promise<boolean> {
  for (const k of SPAN_LEVELS) {
    const st = spanStatements(k);
    const fold = db.prepare(st.fold);
    const mark = db.prepare(st.mark);
    for (let n = 0; ; n++) {
      const [, marks] = await db.batch<{ at: number; below: number }>([
        db.prepare(st.skip),
        db.prepare(
          `SELECT (SELECT num FROM usage_state WHERE name = ?1) AS at, (SELECT num FROM usage_state WHERE name = ?2) AS below`,
        ).bind(`spans_through_${k}`, k === 1 ? "days_through" : `spans_through_${k - 1}`),
      ]);
      const { at, below } = marks!.results[0]!;
      if (at + spanMs(k) > below) break;
      if (n === MAX_BLOCKS) return false;
      const [, moved] = await db.batch([fold.bind(at), mark.bind(at)]);
      if (!moved!.meta.changes) return false; // another run folded it
      result.spans_folded++;
    }
  }
  return true;
}
