/**
 * UsageBuffer: a SQLite-backed Durable Object that keeps usage rows D1 would not take, and writes them later from
 * its alarm with D1 batch(), backing off while D1 keeps failing. One instance: it only sees traffic while D1
 * is failing, and one place makes the pending count exact.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { insertStatement } from "./insert";
import type { CallRecord } from "./record";
import { describeError } from "./log";

/** Rows per D1 batch() (one transaction) and per alarm run; more pending rows reschedule the alarm at once. */
export const BATCH_ROWS = 100;
const ROWS_PER_ALARM = 1_000;
const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 5 * 60_000;

export function pendingRows(env: Pick<Env, "USAGE_BUFFER">): DurableObjectStub<UsageBuffer> {
  return env.USAGE_BUFFER.get(env.USAGE_BUFFER.idFromName("usage"));
}

export class UsageBuffer extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pending (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, record TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS rejected (request_id TEXT PRIMARY KEY, record TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);`);
  }

  /** Keeps rows durably (a row already pending is not added twice) and makes sure the alarm will write them. */
  async add(records: CallRecord[]): Promise<void> {
    for (const r of records) {
      this.sql.exec("INSERT OR IGNORE INTO pending (request_id, record) VALUES (?, ?)", r.request_id, JSON.stringify(r));
    }
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + FIRST_DELAY_MS);
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending").one().n;
  }

  override async alarm(): Promise<void> {
    try {
      for (let done = 0; done < ROWS_PER_ALARM; ) {
        const rows = this.sql
          .exec<{ seq: number; record: string }>("SELECT seq, record FROM pending ORDER BY seq LIMIT ?", BATCH_ROWS)
          .toArray();
        if (!rows.length) break;
        try {
          await this.env.DB.batch(rows.map((r) => insertStatement(this.env.DB, JSON.parse(r.record) as CallRecord)));
          // Deleted only after D1 took them: a crash in between replays them, and the insert ignores duplicates.
          this.sql.exec("DELETE FROM pending WHERE seq <= ?", rows[rows.length - 1]!.seq);
        } catch (e) {
          // One row D1 will never take would fail its whole batch forever: find it row by row. If no row goes
          // in, D1 itself is failing: back off.
          if (!(await this.oneByOne(rows))) throw e;
        }
        done += rows.length;
      }
      this.setFailures(0);
      if (this.count() > 0) await this.ctx.storage.setAlarm(Date.now());
    } catch (e) {
      const failures = this.failures() + 1;
      this.setFailures(failures);
      const delay = Math.min(FIRST_DELAY_MS * 2 ** failures, MAX_DELAY_MS);
      console.error(`usage buffer: D1 write failed (${describeError(e)}); ${this.count()} rows pending, next try in ${delay} ms`);
      await this.ctx.storage.setAlarm(Date.now() + delay);
    }
  }

  /**
   * Writes rows one at a time. When some go in, the ones D1 still refuses are the rows' own fault: they move to
   * `rejected` (kept, logged, counted in /admin/usage) so the rows behind them are not held up. Returns how many went in.
   */
  private async oneByOne(rows: { seq: number; record: string }[]): Promise<number> {
    const refused: { seq: number; record: string; error: string }[] = [];
    let written = 0;
    for (const r of rows) {
      try {
        await insertStatement(this.env.DB, JSON.parse(r.record) as CallRecord).run();
        this.sql.exec("DELETE FROM pending WHERE seq = ?", r.seq);
        written++;
      } catch (e) {
        refused.push({ ...r, error: describeError(e) });
        // The first rows all refused: D1 itself is failing, no use trying the rest now.
        if (!written && refused.length === 3) return 0;
      }
    }
    if (!written) return 0;
    for (const r of refused) {
      const id = (JSON.parse(r.record) as CallRecord).request_id;
      console.error(`usage row ${id} refused by D1 (${r.error}) while other rows went in; kept aside as rejected`);
      this.sql.exec("INSERT OR REPLACE INTO rejected (request_id, record, error, at) VALUES (?, ?, ?, ?)", id, r.record, r.error, Date.now());
      this.sql.exec("DELETE FROM pending WHERE seq = ?", r.seq);
    }
    return written;
  }

  /** Rows D1 refused on their own (see oneByOne): never written, never dropped. */
  rejectedCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM rejected").one().n;
  }

  private failures(): number {
    return this.sql.exec<{ value: number }>("SELECT value FROM state WHERE name = 'failures'").toArray()[0]?.value ?? 0;
  }

  private setFailures(n: number): void {
    this.sql.exec("INSERT INTO state (name, value) VALUES ('failures', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value", n);
  }
}
