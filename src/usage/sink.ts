/**
 * The isolate's side of the usage log: one durable hand-off per call, after the response (in waitUntil), never
 * awaited by a caller. Rows and refusal counts go to this isolate's UsageBuffer shard (src/usage/buffer.ts), which
 * batches them into D1; a round of at least DIRECT_ROWS rows that need no settlement is itself a D1 batch and is
 * written to D1 directly (see `deliver`).
 *
 * Hand-offs coalesce: the call that finds none in flight leads, sending what is waiting and then, round after
 * round, what arrived meanwhile; the others only add to the outbox. Each round runs in the leader's own request
 * (its waitUntil, after its response has gone), so no call waits on a promise of another's. A round first gathers
 * for GATHER_MS unless a full batch is already waiting: under load a hand-off then carries every call of those
 * milliseconds (one RPC and one stored entry for many rows), and at low load a row goes alone, GATHER_MS later. The
 * rows are serialised once, here, and the shard stores that text. A leader stops after MAX_ROUNDS so no request
 * lives on for long; the next arrival leads.
 */
import type { Env } from "../env";
import { waits } from "../lib/sleep";
import { settleRecords } from "./settle";
import { BATCH_ROWS, rowsText, USAGE_SHARDS, usageShard, type RowsText } from "./buffer";
import { rowsStatements, writeRows } from "./rollups";
import { describeError } from "../lib/describe-error";
import type { CallRecord } from "./row";
import { refusalKey, type RefusalCount } from "./refusals";

type SinkEnv = Pick<Env, "USAGE_BUFFER">;

const MAX_ROUNDS = 16;
/**
 * How long a round gathers rows before it is sent (after the leader's response: no caller waits on it). Each
 * hand-off is an RPC and a write the shard commits: at 3,600 calls/s and 4 ms there were 40 per 1,000 calls, at
 * 20 ms there are 10 (about 100 rows each). The price: a row waits that long in this isolate's memory before it is
 * durable, its request still open (waitUntil).
 */
const GATHER_MS = 20;
/** Rows that make a round worth sending without gathering: one full D1 batch. */
const GATHER_ROWS = 100;
/** A round with this many rows that need no settlement writes them to D1 itself (the least D1 batch). */
const DIRECT_ROWS = 50;
/** Rows per RPC; a bigger round is sent in several. */
const MAX_ROWS = 500;
/** Wait before handing off to another shard after one failed. */
const RETRY_MS = 50;

interface Outbox {
  rows: CallRecord[];
  refusals: Map<string, RefusalCount>;
  leading: boolean;
  /** The rounds in flight, for tests that must know every hand-off has landed (`handOffsSettled`). */
  inFlight: Set<Promise<void>>;
}

/**
 * This isolate's hand-offs, for /admin/stats: to a usage buffer (round trips to an object), and straight to D1 (one
 * statement of up to BATCH_ROWS rows each).
 */
export const sinkStats = { handoffs: 0, direct: 0 };

// Per isolate (keyed by the buffer binding, which the runtime keeps for the isolate's life).
const outboxes = new WeakMap<object, Outbox>();
let shard: number | undefined;

function outboxOf(env: SinkEnv): Outbox {
  let box = outboxes.get(env.USAGE_BUFFER);
  if (!box) outboxes.set(env.USAGE_BUFFER, (box = { rows: [], refusals: new Map(), leading: false, inFlight: new Set() }));
  return box;
}

/** Hands a call's usage row off to be stored. */
export function handOffRow(env: Env, waitUntil: (p: Promise<unknown>) => void, row: CallRecord): void {
  const box = outboxOf(env);
  box.rows.push(row);
  lead(env, waitUntil, box);
}

/** Counts one refusal; equal counters in the outbox merge, so a flood hands off a few numbers, not N rows. */
export function countRefusal(env: Env, waitUntil: (p: Promise<unknown>) => void, c: Omit<RefusalCount, "count">): void {
  const box = outboxOf(env);
  const k = refusalKey(c);
  const have = box.refusals.get(k);
  if (have) have.count++;
  else box.refusals.set(k, { ...c, count: 1 });
  lead(env, waitUntil, box);
}

/** Resolves once every hand-off this isolate has in flight has landed (tests; nothing waits on it in production). */
export async function handOffsSettled(env: SinkEnv): Promise<void> {
  const box = outboxOf(env);
  while (box.inFlight.size) await Promise.allSettled([...box.inFlight]);
}

function lead(env: Env, waitUntil: (p: Promise<unknown>) => void, box: Outbox): void {
  if (box.leading) return;
  box.leading = true;
  const p = rounds(env, box).finally(() => box.inFlight.delete(p));
  box.inFlight.add(p);
  waitUntil(p);
}

async function rounds(env: Env, box: Outbox): Promise<void> {
  for (let round = 1; ; round++) {
    if (box.rows.length < GATHER_ROWS) await new Promise((r) => setTimeout(r, GATHER_MS));
    if (!box.rows.length && !box.refusals.size) {
      box.leading = false;
      return;
    }
    // Everything waiting: what a round leaves behind would wait for the isolate's next call.
    const rows = box.rows.splice(0);
    const refusals = [...box.refusals.values()];
    box.refusals.clear();
    // The last round: whatever arrives while it is in flight makes its caller the next leader.
    const last = round === MAX_ROUNDS;
    if (last) box.leading = false;
    // deliver() never rejects; were it to, the leader must still let go, or this isolate would hand off nothing more.
    await deliver(env, rows, refusals).catch((e) => console.error(`usage hand-off of ${rows.length} rows lost: ${describeError(e)}`));
    if (last) return;
  }
}

/**
 * A round that is a full D1 batch by itself goes straight to D1 (one statement per BATCH_ROWS rows): the shard's
 * hand-off, its stored copy and its second write would only move it to the same place. Rows a Governor must
 * settle (a key or team with tpm or a budget) always go through a shard, which settles each exactly once after D1
 * stored it. Whatever D1 does not take goes to a shard as any other round does; a copy D1 did store after all is
 * recognised there by its request_id. The rest: one RPC carries at most MAX_ROWS rows, serialised once here; the
 * refusal counts go with the first.
 */
async function deliver(env: Env, all: CallRecord[], refusals: RefusalCount[]): Promise<void> {
  let rows = all;
  if (all.length >= DIRECT_ROWS) {
    const plain = all.filter((r) => !r.settle);
    if (plain.length >= DIRECT_ROWS) {
      const left = await writeBatches(env, plain);
      rows = plain.length === all.length ? left : [...all.filter((r) => r.settle), ...left];
    }
  }
  if (!rows.length && !refusals.length) return;
  for (let i = 0; i === 0 || i < rows.length; i += MAX_ROWS) {
    const part = rows.length <= MAX_ROWS ? rows : rows.slice(i, i + MAX_ROWS);
    await deliverOne(env, part, rowsText(part), i ? [] : refusals);
  }
}

/**
 * To this isolate's shard, then to another after a short wait; rows no shard would take are written to D1 directly
 * as a last resort. Never rejects: what cannot be kept anywhere is logged as lost.
 */
async function deliverOne(env: Env, rows: CallRecord[], text: RowsText, refusals: RefusalCount[]): Promise<void> {
  shard ??= Math.floor(Math.random() * USAGE_SHARDS);
  let error: unknown;
  for (const i of [shard, (shard + 1) % USAGE_SHARDS]) {
    try {
      sinkStats.handoffs++;
      await usageShard(env.USAGE_BUFFER, i).add(text, refusals);
      return;
    } catch (e) {
      error = e;
      console.error(`usage buffer ${i} did not take a hand-off (${describeError(e)})`);
      await waits.sleep(RETRY_MS);
    }
  }
  if (refusals.length) {
    console.error(`${refusals.reduce((n, c) => n + c.count, 0)} refusal counts lost: no usage buffer reachable (${describeError(error)})`);
  }
  if (rows.length) await writeDirect(env, rows);
}

/** `rows` into D1 in statements of BATCH_ROWS; returns those D1 did not take (from the first statement it refused). */
async function writeBatches(env: Env, rows: CallRecord[]): Promise<CallRecord[]> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const part = rows.length <= BATCH_ROWS ? rows : rows.slice(i, i + BATCH_ROWS);
    try {
      sinkStats.direct++;
      await writeRows(env.DB, rowsText(part).json, `direct:${crypto.randomUUID()}`);
    } catch (e) {
      const left = rows.slice(i);
      console.error(`usage batch of ${left.length} rows not written to D1 (${describeError(e)}); handing it to a usage buffer`);
      return left;
    }
  }
  return [];
}

/**
 * The last resort when no buffer object can be reached: the rows straight into D1 (one batch) and settled one by
 * one, each under its own batch id. A settlement that fails here is logged; the row is in D1 for a Governor that
 * derives its spend from the usage log.
 */
async function writeDirect(env: Env, rows: CallRecord[]): Promise<void> {
  const id = (r: CallRecord) => `direct:${r.request_id}`;
  let results: D1Result[];
  try {
    // Each row under its own batch id, with its rollups (the INSERT last of each row's statements), one transaction.
    results = await env.DB.batch(rows.flatMap((r) => rowsStatements(env.DB, JSON.stringify([r]), id(r))));
  } catch (e) {
    for (const r of rows) console.error(`usage row ${r.request_id} lost: no usage buffer reachable and D1 refused it (${describeError(e)})`);
    return;
  }
  await Promise.all(
    rows.map((r, i) =>
      r.settle && (results[(i + 1) * (results.length / rows.length) - 1]!.results as { request_id: string }[]).length > 0
        ? settleRecords(env, id(r), [r]).catch((e) => console.error(`settlement of usage row ${r.request_id} failed: ${describeError(e)}`))
        : undefined,
    ),
  );
}
