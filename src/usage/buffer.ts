/**
 * UsageBuffer: where usage rows wait between the call and D1. Each isolate hands its rows (and refusal counts) to
 * one of USAGE_SHARDS SQLite-backed Durable Objects; a shard keeps them durably and its alarm writes them to D1
 * with batch(), then settles them with their Governors. Sharding spreads the hand-offs; batching makes D1 writes
 * per second independent of calls per second.
 *
 * A row's life in a shard: in the `inbox` (a hand-off is kept as it came, one SQLite row for all its rows: storing a
 * call's row costs one statement per hand-off, not one per row) → in a formed batch (the same rows on every retry,
 * so the batch id means one thing) → stored in D1 (the rows whose settlement is still due are kept with the batch)
 * → settled and deleted. A row D1 refuses on its own is moved to `rejected` (the dead letters: kept, logged,
 * counted) so it never holds up the rows behind it.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { settleRecords } from "./settle";
import { putVerified, readObject, SPILL_PREFIX } from "./archive";
import { writeRows } from "./rollups";
import { describeError } from "../lib/describe-error";
import type { CallRecord } from "./row";
import { minuteOf, refusalUpsert, type RefusalCount } from "./refusals";
import { shardName } from "./shards";

export { USAGE_SHARDS } from "./shards";

/** Rows per D1 batch() (one transaction). */
export const BATCH_ROWS = 100;
/** How long a shard collects rows before writing them: the most a row waits for D1 while D1 is healthy. */
const FLUSH_DELAY_MS = 1_000;
/** Refusal counts are written less often: a flood of them costs at most one D1 write per counter this often. */
const REFUSAL_FLUSH_MS = 10_000;
const ROWS_PER_ALARM = 1_000;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 5 * 60_000;
/** A counter is kept this long after its minute, so a late hand-off still adds to the shard's running total. */
const REFUSAL_RETAIN_MS = 10 * 60_000;
/**
 * D1 refusing writes this long, or this many rows waiting, and a shard moves its waiting rows to the archive bucket
 * (USAGE_ARCHIVE, `usage/spill/`) rather than keep them all in its own storage; they come back, batch by batch under
 * the same ids, once D1 takes writes again, and are settled then.
 */
export const SPILL_AFTER_MS = 10 * 60_000;
const SPILL_ROWS = 20_000;
/** Batches per spill object (one R2 write, read back, for up to 1,000 rows). */
const SPILL_BATCHES = 10;
/** Rows moved to R2 per run at most. */
const SPILL_ROWS_PER_RUN = 10_000;

const ids = new WeakMap<object, DurableObjectId[]>();

/** Shard `i`'s stub; its id is derived once per isolate (the namespace binding lives as long as the isolate). */
export function usageShard(ns: DurableObjectNamespace<UsageBuffer>, i: number): DurableObjectStub<UsageBuffer> {
  let all = ids.get(ns);
  if (!all) ids.set(ns, (all = []));
  return ns.get((all[i] ??= ns.idFromName(shardName(i))));
}

export interface ShardCounts {
  /** Rows not yet in D1. */
  pending: number;
  /** Rows D1 refused on their own (dead letters). */
  rejected: number;
  /** Rows in D1 whose settlement with their Governors (those that meter them) has not landed yet. */
  unsettled: number;
  /** Rows moved to the archive bucket while D1 refused them, to be written (and settled) once it takes writes. */
  spilled: number;
  /** Since when (ms) D1 has refused this shard's writes; null while they go in. */
  failing_since: number | null;
}

/**
 * Rows as one hand-off carries them: the JSON text of a CallRecord[] and its length. The isolate serialises its rows
 * once; the shard stores that text as it is (no structured clone of every row across the RPC, no second
 * serialisation here). A plain array is taken too (tests, and isolates of an earlier version during a deploy).
 */
export type HandOff = CallRecord[] | RowsText;
export interface RowsText {
  n: number;
  json: string;
}

/** The rows of a hand-off as the shard's `add` takes them. */
export const rowsText = (rows: CallRecord[]): RowsText => ({ n: rows.length, json: JSON.stringify(rows) });

/** A row a shard holds, as `heldFor` reports it. */
export interface HeldRow {
  request_id: string;
  ts: number;
  usd: number;
  settles: boolean;
}

interface Batch {
  id: number;
  rows: CallRecord[];
  /** `rows` as the JSON text the batch is stored (and written to D1) as. */
  json: string;
}

declare module "../env" {
  interface Env {
    /** Where usage rows and refusal counts wait until a shard's alarm writes them to D1. */
    USAGE_BUFFER: DurableObjectNamespace<UsageBuffer>;
  }
}

export class UsageBuffer extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly name: string;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.name = ctx.id.name ?? ctx.id.toString();
    this.sql.exec(`CREATE TABLE IF NOT EXISTS inbox (seq INTEGER PRIMARY KEY, n INTEGER NOT NULL, rows TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, stored INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS rejected (request_id TEXT PRIMARY KEY, record TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS refusals (key_id TEXT NOT NULL, minute INTEGER NOT NULL, status INTEGER NOT NULL,
        reason TEXT NOT NULL, team_id TEXT, count INTEGER NOT NULL, sent INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (key_id, minute, status, reason));
      CREATE TABLE IF NOT EXISTS spilled (first INTEGER PRIMARY KEY, key TEXT NOT NULL, n INTEGER NOT NULL);`);
    this.migrate();
  }

  /**
   * Shards from before kept one `pending` row per call (the single buffer this grew from, without batches; then with
   * a `batch` column): batches already formed keep their ids and rows, the rest go to the inbox in their order.
   */
  private migrate(): void {
    const cols = (t: string) => this.sql.exec<{ name: string }>(`SELECT name FROM pragma_table_info('${t}')`).toArray().map((c) => c.name);
    if (!cols("batches").includes("rows")) {
      this.sql.exec("ALTER TABLE batches ADD COLUMN n INTEGER NOT NULL DEFAULT 0");
      this.sql.exec("ALTER TABLE batches ADD COLUMN rows TEXT NOT NULL DEFAULT '[]'");
    }
    const pending = cols("pending");
    if (!pending.length) return;
    const batched = pending.includes("batch");
    const rowsOf = (where: string, ...args: number[]) =>
      this.sql.exec<{ record: string }>(`SELECT record FROM pending WHERE ${where} ORDER BY seq`, ...args).toArray().map((r) => JSON.parse(r.record) as CallRecord);
    if (batched) {
      for (const { id } of this.sql.exec<{ id: number }>("SELECT id FROM batches").toArray()) {
        const rows = rowsOf("batch = ?", id);
        this.sql.exec("UPDATE batches SET n = ?, rows = ? WHERE id = ?", rows.length, JSON.stringify(rows), id);
      }
    }
    const loose = rowsOf(batched ? "batch IS NULL" : "1");
    if (loose.length) this.sql.exec("INSERT INTO inbox (n, rows) VALUES (?, ?)", loose.length, JSON.stringify(loose));
    this.sql.exec("DROP TABLE pending");
  }

  /**
   * Keeps rows and adds refusal counts, durably, and makes sure the alarm will write them. Resolves once they are
   * stored: from then on nothing is lost. A row handed off twice is written once (D1 keys rows by request_id, and a
   * batch never carries a row twice). Rows come as the isolate serialised them (`RowsText`), stored as they are.
   */
  async add(rows: HandOff, refusals: RefusalCount[] = []): Promise<void> {
    const { n, json } = Array.isArray(rows) ? rowsText(rows) : rows;
    if (n) this.sql.exec("INSERT INTO inbox (n, rows) VALUES (?, ?)", n, json);
    for (const c of refusals) {
      this.sql.exec(
        `INSERT INTO refusals (key_id, minute, status, reason, team_id, count) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (key_id, minute, status, reason) DO UPDATE SET count = count + excluded.count, team_id = excluded.team_id`,
        c.key_id, c.minute, c.status, c.reason, c.team_id, c.count,
      );
    }
    const due = Date.now() + (n ? FLUSH_DELAY_MS : REFUSAL_FLUSH_MS);
    this.alarmAt ??= await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || this.alarmAt > due) await this.schedule(due);
  }

  /** When the alarm is set for, as this instance set it (undefined: not known yet, e.g. after a restart). */
  private alarmAt: number | null | undefined;

  private async schedule(at: number): Promise<void> {
    await this.ctx.storage.setAlarm(at);
    this.alarmAt = at;
  }

  counts(): ShardCounts {
    const n = (sql: string) => this.sql.exec<{ n: number }>(sql).one().n;
    return {
      pending: n("SELECT coalesce(sum(n), 0) AS n FROM inbox") + n("SELECT coalesce(sum(n), 0) AS n FROM batches WHERE stored = 0"),
      rejected: n("SELECT count(*) AS n FROM rejected"),
      unsettled: n("SELECT coalesce(sum(n), 0) AS n FROM batches WHERE stored = 1"),
      spilled: n("SELECT coalesce(sum(n), 0) AS n FROM spilled"),
      failing_since: this.state("failing_since") || null,
    };
  }

  /**
   * The rows this shard holds (not yet in D1, or in D1 with their settlement due) of one key or team: each one's
   * request id, ts and cost, and whether it will settle with that subject's Governor (it carries a settle ref for
   * it). A budget first set counts from these and D1 each row exactly once (src/governance/governor.ts).
   */
  heldFor(subject: "key" | "team", id: string): HeldRow[] {
    return this.sql
      .exec<{ request_id: string; ts: number; usd: number; settles: number }>(
        `SELECT json_extract(r.value, '$.request_id') AS request_id, json_extract(r.value, '$.ts') AS ts,
           coalesce(json_extract(r.value, '$.cost_usd'), 0) AS usd, json_type(r.value, '$.settle.${subject}') IS NOT NULL AS settles
         FROM (SELECT rows FROM inbox UNION ALL SELECT rows FROM batches) AS b, json_each(b.rows) AS r
         WHERE json_extract(r.value, '$.${subject}_id') = ?`,
        id,
      )
      .toArray()
      .map((r) => ({ request_id: r.request_id, ts: r.ts, usd: r.usd, settles: r.settles === 1 }));
  }

  /** Writes what is due now rather than at the next alarm (tests, and the e2e harness). */
  async flush(): Promise<ShardCounts> {
    await this.alarm();
    return this.counts();
  }

  override alarm(): Promise<void> {
    // The alarm that fired is spent; reschedule() sets the next one if there is more to do.
    this.alarmAt = null;
    return this.exclusive(() => this.work());
  }

  /**
   * One run at a time: a flush() arriving while the alarm awaits D1 would otherwise store and settle the same
   * batch twice. A waiter waits on a promise of its own (resolved by the run in progress), never on another's.
   */
  private busy = false;
  private waiters: (() => void)[] = [];
  private async exclusive(run: () => Promise<void>): Promise<void> {
    while (this.busy) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.busy = true;
    try {
      await run();
    } finally {
      this.busy = false;
      for (const resolve of this.waiters.splice(0)) resolve();
    }
  }

  private async work(): Promise<void> {
    // Settlements still due go first (their rows are the oldest); one that fails leaves the rest for later.
    let trouble = await this.settleStored();
    let settling = !trouble;
    for (let done = 0; done < ROWS_PER_ALARM; ) {
      // Rows spilled while D1 refused them come back (as the batches they were) once nothing newer waits.
      const batch = this.nextBatch() ?? (await this.unspill());
      if (!batch) break;
      const failed = await this.store(batch);
      if (failed) {
        trouble = failed;
        if (!this.state("failing_since")) this.setState("failing_since", Date.now());
        trouble = (await this.spillIfDue()) ?? trouble;
        break;
      }
      this.setState("failing_since", 0);
      done += batch.rows.length;
      // Rows keep reaching D1 while Governors cannot be reached; their settlement waits for the next run.
      if (settling && (trouble = await this.settle(batch.id))) settling = false;
    }
    trouble = (await this.flushRefusals()) ?? trouble;
    await this.reschedule(trouble);
  }

  private async reschedule(trouble: unknown): Promise<void> {
    if (trouble) {
      const failures = this.state("failures") + 1;
      this.setState("failures", failures);
      const delay = Math.min(FIRST_RETRY_MS * 2 ** failures, MAX_RETRY_MS);
      const c = this.counts();
      console.error(
        `usage buffer ${this.name}: ${describeError(trouble)}; ${c.pending} rows pending, ${c.unsettled} unsettled, next try in ${delay} ms`,
      );
      await this.schedule(Date.now() + delay);
      return;
    }
    this.setState("failures", 0);
    const more = (sql: string, ...args: number[]) => this.sql.exec(sql, ...args).toArray().length > 0;
    const inbox = this.sql.exec<{ n: number }>("SELECT coalesce(sum(n), 0) AS n FROM inbox").one().n;
    // A full batch waiting (more rows than one run writes, or a burst during this run) goes at once.
    if (inbox >= BATCH_ROWS) await this.schedule(Date.now());
    else if (inbox || more("SELECT 1 FROM batches LIMIT 1") || more("SELECT 1 FROM spilled LIMIT 1")) await this.schedule(Date.now() + FLUSH_DELAY_MS);
    else if (more("SELECT 1 FROM refusals WHERE count > sent LIMIT 1")) await this.schedule(Date.now() + REFUSAL_FLUSH_MS);
  }

  /**
   * The oldest batch formed but not yet in D1 (retried with exactly its rows; after batch `after`, when given), else
   * a new one from the inbox.
   */
  private nextBatch(after = 0): Batch | undefined {
    const formed = this.sql
      .exec<{ id: number; rows: string }>("SELECT id, rows FROM batches WHERE stored = 0 AND id > ? ORDER BY id LIMIT 1", after)
      .toArray()[0];
    if (formed) return { id: formed.id, rows: JSON.parse(formed.rows), json: formed.rows };
    // The oldest hand-offs, up to BATCH_ROWS distinct rows; what does not fit of the last one stays in the inbox.
    const seen = new Set<string>();
    const rows: CallRecord[] = [];
    for (const e of this.sql.exec<{ seq: number; rows: string }>("SELECT seq, rows FROM inbox ORDER BY seq LIMIT ?", BATCH_ROWS).toArray()) {
      const all = JSON.parse(e.rows) as CallRecord[];
      let taken = 0;
      for (const r of all) {
        if (rows.length === BATCH_ROWS) break;
        taken++;
        if (seen.has(r.request_id)) continue;
        seen.add(r.request_id);
        rows.push(r);
      }
      if (taken < all.length) {
        const rest = all.slice(taken);
        this.sql.exec("UPDATE inbox SET n = ?, rows = ? WHERE seq = ?", rest.length, JSON.stringify(rest), e.seq);
        break;
      }
      this.sql.exec("DELETE FROM inbox WHERE seq = ?", e.seq);
    }
    if (!rows.length) return undefined;
    // Batch numbers are never reused (a counter, not max(id) + 1): a batch id names one set of rows forever.
    const id = this.state("batches") + 1;
    this.setState("batches", id);
    const json = JSON.stringify(rows);
    this.sql.exec("INSERT INTO batches (id, n, rows) VALUES (?, ?, ?)", id, rows.length, json);
    return { id, rows, json };
  }

  /**
   * D1 has refused writes for SPILL_AFTER_MS, or SPILL_ROWS rows wait: the waiting batches (formed first, then the
   * inbox, formed into batches) go to R2, SPILL_BATCHES to an object, each object written and read back before its
   * batches leave this storage. Their ids are kept with them: a batch whose write D1 committed unbeknown to us is
   * recognised when it comes back. Returns the error when the bucket did not take them (they stay here).
   */
  private async spillIfDue(): Promise<unknown> {
    const bucket = this.env.USAGE_ARCHIVE;
    const since = this.state("failing_since");
    if (!bucket || (Date.now() - since < SPILL_AFTER_MS && this.counts().pending < SPILL_ROWS)) return undefined;
    for (let moved = 0; moved < SPILL_ROWS_PER_RUN; ) {
      const batches: Batch[] = [];
      for (let n = 0; n < SPILL_BATCHES; n++) {
        const b = this.nextBatch(batches.length ? batches[batches.length - 1]!.id : 0);
        if (!b) break;
        batches.push(b);
      }
      if (!batches.length) break;
      const key = `${SPILL_PREFIX}${encodeURIComponent(this.name)}/${String(batches[0]!.id).padStart(12, "0")}.ndjson.gz`;
      const n = batches.reduce((t, b) => t + b.rows.length, 0);
      try {
        await putVerified(bucket, key, batches.map((b) => ({ id: b.id, rows: b.rows })), { shard: this.name });
      } catch (e) {
        return new Error(`usage rows not spilled to the archive (${describeError(e)})`);
      }
      this.sql.exec("INSERT OR REPLACE INTO spilled (first, key, n) VALUES (?, ?, ?)", batches[0]!.id, key, n);
      for (const b of batches) this.sql.exec("DELETE FROM batches WHERE id = ?", b.id);
      moved += n;
      console.error(`usage buffer ${this.name}: D1 refusing writes since ${new Date(since).toISOString()}; ${n} rows moved to ${key}`);
    }
    return undefined;
  }

  /** The oldest spilled object's batches back into this storage (the first returned; the rest follow in turn). */
  private async unspill(): Promise<Batch | undefined> {
    const bucket = this.env.USAGE_ARCHIVE;
    const s = this.sql.exec<{ first: number; key: string }>("SELECT first, key FROM spilled ORDER BY first LIMIT 1").toArray()[0];
    if (!s || !bucket) return undefined;
    const batches = await readObject<{ id: number; rows: CallRecord[] }>(bucket, s.key);
    for (const b of batches) {
      this.sql.exec("INSERT OR IGNORE INTO batches (id, n, rows) VALUES (?, ?, ?)", b.id, b.rows.length, JSON.stringify(b.rows));
    }
    this.sql.exec("DELETE FROM spilled WHERE first = ?", s.first);
    // The rows are back here (durably) before the object goes; a delete that fails leaves an orphan, never a loss.
    await bucket.delete(s.key).catch((e) => console.error(`usage buffer ${this.name}: spill object ${s.key} not deleted (${describeError(e)})`));
    return this.nextBatch();
  }

  private rows(batch: number): CallRecord[] {
    const r = this.sql.exec<{ rows: string }>("SELECT rows FROM batches WHERE id = ?", batch).toArray()[0];
    return r ? (JSON.parse(r.rows) as CallRecord[]) : [];
  }

  private batchId(batch: number): string {
    return `${this.name}:${batch}`;
  }

  /**
   * Writes a batch to D1 (one statement, with its rollups: src/usage/rollups.ts) and marks it stored; returns the error when D1 itself is failing. Rows
   * D1 took from another batch (a row handed off twice) are dropped here: that batch settles them.
   */
  private async store(batch: Batch): Promise<unknown> {
    const db = this.env.DB;
    const batchId = this.batchId(batch.id);
    let ours: Set<CallRecord>;
    try {
      const { ids: stored } = await writeRows(db, batch.json, batchId);
      ours = new Set(batch.rows.filter((r) => stored.has(r.request_id)));
    } catch (e) {
      // One row D1 will never take fails its whole batch: find it row by row. If no row goes in, D1 is failing.
      const one = await this.oneByOne(batch.rows, batchId);
      if (!one) return e;
      ours = one;
    }
    // What is kept is what must still be settled: this batch's rows that a Governor meters.
    const due = batch.rows.filter((r) => ours.has(r) && r.settle);
    if (due.length) this.sql.exec("UPDATE batches SET stored = 1, n = ?, rows = ? WHERE id = ?", due.length, JSON.stringify(due), batch.id);
    else this.sql.exec("DELETE FROM batches WHERE id = ?", batch.id);
    return undefined;
  }

  /**
   * Writes rows one at a time. When some go in, the ones D1 still refuses are the rows' own fault: they move to
   * `rejected` (the dead letters) so the rows behind them are not held up. Returns the rows this batch stored, or
   * undefined when none went in (D1 is failing: try the whole batch again later).
   */
  private async oneByOne(rows: CallRecord[], batchId: string): Promise<Set<CallRecord> | undefined> {
    const refused: { record: CallRecord; error: string }[] = [];
    const ours = new Set<CallRecord>();
    let written = 0;
    for (const r of rows) {
      try {
        if ((await writeRows(this.env.DB, JSON.stringify([r]), batchId)).ids.has(r.request_id)) ours.add(r);
        written++;
      } catch (e) {
        refused.push({ record: r, error: describeError(e) });
        // The first rows all refused: D1 itself is failing, no use trying the rest now.
        if (!written && refused.length === 3) return undefined;
      }
    }
    if (!written) return undefined;
    for (const r of refused) {
      console.error(`usage row ${r.record.request_id} refused by D1 (${r.error}) while other rows went in; kept aside as rejected`);
      this.reject([r.record], r.error);
    }
    return ours;
  }

  /** Sets rows aside as dead letters: kept with the reason, counted, never written. */
  private reject(records: CallRecord[], error: string): void {
    for (const r of records) {
      this.sql.exec(
        "INSERT OR REPLACE INTO rejected (request_id, record, error, at) VALUES (?, ?, ?, ?)",
        r.request_id, JSON.stringify(r), error, Date.now(),
      );
    }
  }

  /** Batches in D1 whose settlement is still due, oldest first; stops at the first that fails. */
  private async settleStored(): Promise<unknown> {
    const stored = this.sql.exec<{ id: number }>("SELECT id FROM batches WHERE stored = 1 ORDER BY id").toArray();
    for (const { id } of stored) {
      const failed = await this.settle(id);
      if (failed) return failed;
    }
    return undefined;
  }

  /**
   * Tells the Governors of a stored batch's calls, under the batch's id (the same rows and id on every retry, so
   * a retry after an unknown outcome is recognised), then forgets the batch. Returns the error when it failed.
   */
  private async settle(batch: number): Promise<unknown> {
    const rows = this.rows(batch);
    try {
      if (rows.length) await settleRecords(this.env, this.batchId(batch), rows);
    } catch (e) {
      return new Error(`settlement of batch ${this.batchId(batch)} failed (${describeError(e)})`);
    }
    this.sql.exec("DELETE FROM batches WHERE id = ?", batch);
    return undefined;
  }

  /** Writes every counter that grew since its last write (absolute totals, one D1 batch), then drops old ones. */
  private async flushRefusals(): Promise<unknown> {
    const due = this.sql
      .exec<RefusalCount>("SELECT key_id, team_id, minute, status, reason, count FROM refusals WHERE count > sent LIMIT 500")
      .toArray();
    if (due.length) {
      try {
        await this.env.DB.batch(due.map((c) => refusalUpsert(this.env.DB, this.name, c)));
      } catch (e) {
        return new Error(`refusal counts not written (${describeError(e)})`);
      }
      // Counts added while the write was in flight stay due (count > sent).
      for (const c of due) {
        this.sql.exec(
          "UPDATE refusals SET sent = max(sent, ?) WHERE key_id = ? AND minute = ? AND status = ? AND reason = ?",
          c.count, c.key_id, c.minute, c.status, c.reason,
        );
      }
    }
    this.sql.exec("DELETE FROM refusals WHERE count = sent AND minute < ?", minuteOf(Date.now() - REFUSAL_RETAIN_MS));
    return undefined;
  }

  private state(name: string): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM state WHERE name = ?", name).toArray()[0]?.value ?? 0;
  }

  private setState(name: string, n: number): void {
    this.sql.exec("INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", name, n);
  }
}
