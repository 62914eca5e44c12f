/**
 * The batch writer: every call's row is handed off to a UsageBuffer shard after the response, written to D1 in
 * batches by the shard's alarm, then settled with its Governors under a stable batch id. D1 failing, duplicates,
 * poison rows, lost outcomes, unreachable Governors and unreachable shards: nothing is lost or counted twice.
 */
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { waits } from "../../src/lib/sleep";
import { SPILL_AFTER_MS, USAGE_SHARDS, usageShard, type HandOff, type ShardCounts } from "../../src/usage/buffer";
import { insertRowsStatement, insertStatement } from "../../src/usage/insert";
import { handOffRow, handOffsSettled } from "../../src/usage/sink";
import type { CallRecord } from "../../src/usage/row";
import { counters } from "../helpers/governance";
import { admin, createKey, flushUsage, genaiCall, genaiRequest, textRequest, usageRow } from "../helpers/worker";

const shard = (i: number) => usageShard(env.USAGE_BUFFER, i);

async function totals(): Promise<Pick<ShardCounts, "pending" | "rejected" | "unsettled" | "spilled">> {
  const all: ShardCounts[] = await Promise.all(Array.from({ length: USAGE_SHARDS }, async (_, i) => ({ ...(await shard(i).counts()) })));
  return all.reduce(
    (t, c) => ({ pending: t.pending + c.pending, rejected: t.rejected + c.rejected, unsettled: t.unsettled + c.unsettled, spilled: t.spilled + c.spilled }),
    { pending: 0, rejected: 0, unsettled: 0, spilled: 0 },
  );
}

const record = (i: number, tag: string, over: Partial<CallRecord> = {}): CallRecord => ({
  request_id: `buffered-${tag}-${i}`, ts: 1_600_000_000_000 + i, key_id: "key_buffered", team_id: null,
  requested_model: "mock/echo", provider: "mock", model: "echo", action: "generateContent", stream: false, status: 200,
  outcome: "ok", error: null, attempts: [{ target: "mock/echo", status: 200, reason: "ok", latency_ms: 1 }], fallback_index: 0,
  tokens: { input: 1, output: 2, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0.000005, latency_ms: 3, ttfb_ms: 3,
  ...over,
});

const rowsLike = (tag: string) =>
  env.DB.prepare("SELECT count(*) AS n FROM usage WHERE request_id LIKE ?").bind(`buffered-${tag}-%`).first<number>("n");

/** D1 down for the buffer: batch() and every write fail (restore before reading D1 in the test). */
function d1Down() {
  const down = () => Promise.reject(new Error("D1_ERROR: simulated outage"));
  const prepare = env.DB.prepare.bind(env.DB);
  vi.spyOn(env.DB, "batch").mockImplementation(down);
  vi.spyOn(env.DB, "prepare").mockImplementation((sql) => {
    const s = prepare(sql);
    return { bind: (...a: unknown[]) => Object.assign(s.bind(...a), { run: down, all: down }) } as unknown as D1PreparedStatement;
  });
}

/**
 * Watches the buffer's batch writes (one D1 batch: the rollups and the one INSERT carrying a batch's rows as JSON):
 * `sizes` lists the rows of each write; `before(run)` may replace the next write (run() performs it).
 */
function watchBatchWrites() {
  const sizes: number[] = [];
  let before: ((run: () => Promise<D1Result[]>) => Promise<D1Result[]>) | undefined;
  const prepare = env.DB.prepare.bind(env.DB);
  const batch = env.DB.batch.bind(env.DB);
  const rowsInsert = new WeakSet<object>();
  const spies = [
    vi.spyOn(env.DB, "prepare").mockImplementation((sql) => {
      const s = prepare(sql);
      if (!sql.startsWith("INSERT INTO usage (") || !sql.includes("json_each")) return s;
      return {
        bind: (...a: unknown[]) => {
          const bound = s.bind(...a);
          sizes.push((JSON.parse(a[0] as string) as unknown[]).length);
          rowsInsert.add(bound);
          return bound;
        },
      } as unknown as D1PreparedStatement;
    }),
    vi.spyOn(env.DB, "batch").mockImplementation(<T,>(statements: D1PreparedStatement[]) => {
      const run = () => batch<T>(statements);
      if (!statements.some((st) => rowsInsert.has(st))) return run();
      const once = before;
      before = undefined;
      return (once ? once(run as () => Promise<D1Result[]>) : run()) as Promise<D1Result<T>[]>;
    }),
  ];
  return { sizes, restore: () => spies.forEach((s) => s.mockRestore()), next: (f: typeof before) => (before = f) };
}

/** Counts the rows of every add() RPC to a shard. */
function watchHandOffs() {
  const get = env.USAGE_BUFFER.get.bind(env.USAGE_BUFFER);
  const rows: number[] = [];
  vi.spyOn(env.USAGE_BUFFER, "get").mockImplementation((oid) => {
    const stub = get(oid);
    return new Proxy(stub, {
      get: (t, p) => (p === "add" ? (h: HandOff, ...rest: []) => (rows.push(Array.isArray(h) ? h.length : h.n), t.add(h, ...rest)) : Reflect.get(t, p)),
    });
  });
  return rows;
}
/** A key whose Governor meters spend (a budget), and a row of it that must settle `usd` there. */
async function meteredRow(tag: string, usd: number) {
  const { id } = await createKey({ budget: { max_usd: 100 } });
  return { id, row: record(0, tag, { key_id: id, cost_usd: usd, settle: { key: "" } }) };
}

beforeEach(async () => {
  // Shards outlive tests: start from nothing pending.
  await flushUsage();
  expect(await totals()).toMatchObject({ pending: 0, unsettled: 0 });
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("the usage hand-off", () => {
  it("a call's row waits in a shard after the response (counted as pending_rows) and reaches D1 when it flushes", async () => {
    const { key } = await createKey();
    const ctx = createExecutionContext();
    const res = await worker.fetch(genaiRequest("mock/echo", "generateContent", textRequest("hi"), key), env, ctx);
    expect(res.status).toBe(200);
    await waitOnExecutionContext(ctx);
    const id = res.headers.get("x-edgeway-request-id");
    expect(await usageRow(id)).toBeNull();
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 1, unsettled_rows: 0 });

    await flushUsage();
    expect(await usageRow(id)).toMatchObject({ request_id: id, outcome: "ok", batch_id: expect.stringMatching(/^usage(:\d)?:\d+$/) });
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 0 });
  });

  it("a burst of calls: hand-offs coalesce, and rows reach D1 in batches of 50 to 100, from the isolate or a shard", async () => {
    const { key, id } = await createKey();
    // Counts the hand-offs (add() RPCs) the calls make.
    const handOffs = watchHandOffs();
    const writes = watchBatchWrites();
    const calls = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const ctx = createExecutionContext();
        const res = await worker.fetch(genaiRequest("mock/echo", "generateContent", textRequest("burst"), key), env, ctx);
        await res.text();
        await waitOnExecutionContext(ctx);
        return res.status;
      }),
    );
    expect(calls.every((s) => s === 200)).toBe(true);
    await flushUsage();
    writes.restore();
    const { sizes } = writes;
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(200);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(50);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    // Every row went once: in a round the isolate wrote itself, or in a hand-off to a shard (fewer than one a call).
    const direct = await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE key_id = ? AND batch_id LIKE 'direct:%'").bind(id).first<number>("n");
    expect(handOffs.reduce((a, b) => a + b, 0) + direct!).toBe(200);
    expect(handOffs.length).toBeLessThan(200);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE key_id = ?").bind(id).first<number>("n")).toBe(200);
  });

  it("no shard reachable: the row goes straight to D1 (and is settled), the call unaffected", async () => {
    const { key, id } = await createKey({ budget: { max_usd: 100 } });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const waited = vi.spyOn(waits, "sleep").mockResolvedValue();
    const broken = {
      idFromName: (n: string) => env.USAGE_BUFFER.idFromName(n),
      get: () => ({ add: () => Promise.reject(new Error("Durable Object is overloaded")) }),
    } as unknown as typeof env.USAGE_BUFFER;
    const { res, settled } = await genaiCall("mock/echo", "generateContent", textRequest("hi"), key, { env: { USAGE_BUFFER: broken } });
    expect(res.status).toBe(200);
    await settled();
    const rid = res.headers.get("x-edgeway-request-id")!;
    const row = await usageRow(rid);
    expect(row).toMatchObject({ outcome: "ok", batch_id: `direct:${rid}` });
    expect(waited).toHaveBeenCalledTimes(2); // this isolate's shard, then another
    expect((await counters("key", id)).spent_usd).toBeCloseTo(row!.cost_usd as number, 12);
    expect(errors.mock.calls.join("\n")).toContain("did not take a hand-off (Durable Object is overloaded)");
  });
});

describe("a full round written by the isolate itself", () => {
  /** `n` rows handed off in one tick, so they make one round: what a busy isolate gathers in GATHER_MS. */
  async function handOff(rows: CallRecord[]) {
    const ctx = createExecutionContext();
    for (const r of rows) handOffRow(env, ctx.waitUntil.bind(ctx), r);
    await handOffsSettled(env);
    await waitOnExecutionContext(ctx);
  }
  const batchIds = async (tag: string) =>
    (await env.DB.prepare("SELECT batch_id FROM usage WHERE request_id LIKE ?").bind(`buffered-${tag}-%`).all<{ batch_id: string }>()).results.map((r) => r.batch_id);

  it("goes to D1 in statements of at most 100 rows with no shard in between; rows to settle still go through a shard, settled once", async () => {
    const tag = crypto.randomUUID();
    const { id, row } = await meteredRow(`${tag}-m`, 0.75);
    const plain = Array.from({ length: 150 }, (_, i) => record(i, tag));
    const handOffs = watchHandOffs();
    const writes = watchBatchWrites();
    await handOff([...plain.slice(0, 70), row, ...plain.slice(70)]);
    // Stored before any shard flushed: the isolate wrote them, in two statements, each under its own batch id.
    expect(writes.sizes).toEqual([100, 50]);
    const ids = await batchIds(tag);
    expect(ids).toHaveLength(150);
    expect(ids.every((b) => /^direct:[0-9a-f-]{36}$/.test(b))).toBe(true);
    expect(new Set(ids).size).toBe(2);
    // The metered row alone went to a shard, which stores and settles it.
    expect(handOffs).toEqual([1]);
    expect(await rowsLike(`${tag}-m`)).toBe(0);
    await flushUsage();
    expect(await rowsLike(`${tag}-m`)).toBe(1);
    expect((await counters("key", id)).spent_usd).toBe(0.75);
    writes.restore();
  });

  it("a round under 50 rows goes to a shard, to be batched with other isolates' rows", async () => {
    const tag = crypto.randomUUID();
    const handOffs = watchHandOffs();
    await handOff(Array.from({ length: 49 }, (_, i) => record(i, tag)));
    expect(handOffs).toEqual([49]);
    expect(await rowsLike(tag)).toBe(0);
    await flushUsage();
    expect(await rowsLike(tag)).toBe(49);
  });

  it("D1 refusing the isolate's write: the round goes to a shard and lands once D1 is back", async () => {
    const tag = crypto.randomUUID();
    const handOffs = watchHandOffs();
    d1Down();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await handOff(Array.from({ length: 60 }, (_, i) => record(i, tag)));
    expect(handOffs).toEqual([60]);
    expect(errors.mock.calls.join("\n")).toContain("usage batch of 60 rows not written to D1 (D1_ERROR: simulated outage); handing it to a usage buffer");
    vi.restoreAllMocks();
    expect(await rowsLike(tag)).toBe(0);
    expect(await totals()).toMatchObject({ pending: 60 });
    await flushUsage();
    expect(await rowsLike(tag)).toBe(60);
    expect(await totals()).toMatchObject({ pending: 0, rejected: 0 });
  });

  it("D1 refusing the second of two statements: only that statement's rows go to a shard", async () => {
    const tag = crypto.randomUUID();
    const handOffs = watchHandOffs();
    const writes = watchBatchWrites();
    writes.next(async (run) => {
      const r = await run();
      writes.next(() => Promise.reject(new Error("D1_ERROR: overloaded")));
      return r;
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    await handOff(Array.from({ length: 150 }, (_, i) => record(i, tag)));
    expect(handOffs).toEqual([50]);
    // The first statement's rows are in D1, written by the isolate; the shard's 50 may already have followed.
    expect((await batchIds(tag)).filter((b) => b.startsWith("direct:"))).toHaveLength(100);
    await flushUsage();
    writes.restore();
    const ids = await batchIds(tag);
    expect(ids).toHaveLength(150);
    expect(ids.filter((b) => b.startsWith("direct:"))).toHaveLength(100);
    expect(ids.filter((b) => /^usage(:\d)?:\d+$/.test(b))).toHaveLength(50);
  });

  it("a write D1 stored but whose answer was lost: the shard's copy finds the rows stored, one row each", async () => {
    const tag = crypto.randomUUID();
    const handOffs = watchHandOffs();
    const writes = watchBatchWrites();
    writes.next(async (run) => {
      await run(); // committed...
      throw new Error("D1_ERROR: network connection lost"); // ...but the isolate never hears so
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const before = (await totals()).rejected;
    await handOff(Array.from({ length: 60 }, (_, i) => record(i, tag)));
    expect(handOffs).toEqual([60]);
    await flushUsage();
    writes.restore();
    const ids = await batchIds(tag);
    expect(ids).toHaveLength(60);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^direct:/);
    expect(await totals()).toMatchObject({ pending: 0, rejected: before });
  });
});

describe("the batch writer", () => {
  it("D1 failing: rows stay pending while the alarm backs off, then land once D1 is back", async () => {
    const tag = crypto.randomUUID();
    await shard(1).add([record(1, tag), record(2, tag), record(3, tag)]);
    d1Down();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await shard(1).flush()).toMatchObject({ pending: 3, rejected: 0 });
    expect(await shard(1).flush()).toMatchObject({ pending: 3, rejected: 0 });
    const next = await runInDurableObject(shard(1), (_, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now() + 1_000); // backing off: 2 s after the first failure, 4 s after the second
    expect(errors.mock.calls.join("\n")).toContain("D1_ERROR: simulated outage");
    vi.restoreAllMocks();

    expect(await rowsLike(tag)).toBe(0);
    expect(await shard(1).flush()).toMatchObject({ pending: 0 });
    expect(await rowsLike(tag)).toBe(3);
  });

  it("D1 refusing writes for long: the rows move to R2, calls go on, and once D1 is back they are written, counted and settled once", async () => {
    const tag = crypto.randomUUID();
    const { id, row } = await meteredRow(tag, 0.375);
    const plain = Array.from({ length: 230 }, (_, i) => record(i + 1, tag));
    await shard(7).add([row, ...plain.slice(0, 120)]);
    await shard(7).add(plain.slice(120));
    d1Down();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await shard(7).flush()).toMatchObject({ pending: 231, spilled: 0, failing_since: expect.any(Number) });
    // Refusing for longer than SPILL_AFTER_MS: the next run moves what waits to the archive bucket.
    await runInDurableObject(shard(7), (_, state) => {
      state.storage.sql.exec("UPDATE state SET value = ? WHERE name = 'failing_since'", Date.now() - SPILL_AFTER_MS - 1);
    });
    expect(await shard(7).flush()).toMatchObject({ pending: 0, spilled: 231 });
    expect(errors.mock.calls.join("\n")).toMatch(/231 rows moved to usage\/spill\/usage%3A7\/\d{12}\.ndjson\.gz/);
    const objects = await env.USAGE_ARCHIVE!.list({ prefix: "usage/spill/usage%3A7/" });
    expect(objects.objects).toHaveLength(1);
    // The operator sees it: /admin/usage answers 503 while D1 does not answer, saying what the shards hold...
    const down = await admin("/usage");
    expect(down.status).toBe(503);
    expect(((await down.json()) as { error: { message: string } }).error.message).toMatch(/0 rows pending and 231 spilled to the archive bucket, D1 refusing writes since 20\d\d-/);
    vi.restoreAllMocks();
    // ...and, D1 readable again before the shard's next run, the same in its figures. Nothing is settled yet
    // (settlement follows the rows into D1).
    const usage = (await (await admin("/usage")).json()) as Record<string, unknown>;
    expect(usage).toMatchObject({ spilled_rows: 231, d1_failing_since: expect.any(String) });
    expect((await counters("key", id)).spent_usd).toBe(0);

    // D1 back: the batches return under their ids, go in, and settle; the object is gone.
    await flushUsage();
    expect(await rowsLike(tag)).toBe(231);
    expect(await shard(7).counts()).toMatchObject({ pending: 0, spilled: 0, unsettled: 0, failing_since: null });
    expect((await counters("key", id)).spent_usd).toBe(0.375);
    expect((await env.USAGE_ARCHIVE!.list({ prefix: "usage/spill/usage%3A7/" })).objects).toHaveLength(0);
    const counted = await env.DB.prepare("SELECT sum(calls) AS n FROM usage_hour WHERE key_id IN ('key_buffered', ?) AND bucket >= ? AND bucket < ?")
      .bind(id, 1_600_000_000_000 - 3_600_000, 1_600_000_000_000 + 3_600_000).first<number>("n");
    expect(counted).toBeGreaterThanOrEqual(231);
    const mine = (await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE request_id LIKE ? AND batch_id LIKE 'usage:7:%'").bind(`buffered-${tag}-%`).first<number>("n"))!;
    expect(mine).toBe(231);
  });

  it("the same row handed off twice (to one shard, or to two) is one row, settled once", async () => {
    const tag = crypto.randomUUID();
    const { id, row } = await meteredRow(tag, 0.25);
    await shard(1).add([row]);
    await shard(1).add([row]); // still pending there: kept once
    await shard(2).add([row]); // another shard: its batch finds the row stored by the first, and leaves it to it
    await flushUsage();
    expect(await rowsLike(tag)).toBe(1);
    expect((await counters("key", id)).spent_usd).toBe(0.25);

    // A late replay, after the first copy was written and settled: still one row, still settled once.
    await shard(3).add([row]);
    await flushUsage();
    expect(await rowsLike(tag)).toBe(1);
    expect((await counters("key", id)).spent_usd).toBe(0.25);
  });

  it("a batch D1 stored but whose answer was lost is retried under the same id, and its rows are still settled", async () => {
    const tag = crypto.randomUUID();
    const { id, row } = await meteredRow(tag, 0.5);
    await shard(1).add([row, record(1, tag)]);
    const writes = watchBatchWrites();
    writes.next(async (run) => {
      await run(); // committed...
      throw new Error("D1_ERROR: network connection lost"); // ...but the shard never hears so
    });
    await flushUsage();
    // The failed write is followed by single-row writes (one row each) under the same batch id, which find the rows theirs.
    expect(writes.sizes).toEqual([2, 1, 1]);
    expect(await rowsLike(tag)).toBe(2);
    expect((await counters("key", id)).spent_usd).toBe(0.5);
    const stored = await env.DB.prepare("SELECT DISTINCT batch_id FROM usage WHERE request_id LIKE ?").bind(`buffered-${tag}-%`).all();
    expect(stored.results).toEqual([{ batch_id: expect.stringMatching(/^usage:1:\d+$/) }]);
  });

  it("a settlement that fails is retried until it lands; rows reach D1 meanwhile", async () => {
    const tag = crypto.randomUUID();
    const { id, row } = await meteredRow(tag, 0.125);
    await shard(1).add([row]);
    const get = env.GOVERNOR.get.bind(env.GOVERNOR);
    const unreachable = vi.spyOn(env.GOVERNOR, "get").mockImplementation(() => {
      throw new Error("Governor unreachable");
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await shard(1).flush()).toMatchObject({ pending: 0, unsettled: 1 });
    expect(await rowsLike(tag)).toBe(1);
    expect(await (await admin("/usage")).json()).toMatchObject({ unsettled_rows: 1 });
    // Later rows are not held up by the settlement still due.
    await shard(1).add([record(1, tag)]);
    expect(await shard(1).flush()).toMatchObject({ pending: 0, unsettled: 1 });
    expect(await rowsLike(tag)).toBe(2);
    const batchOf = () => runInDurableObject(shard(1), (_, state) => state.storage.sql.exec("SELECT id FROM batches WHERE stored = 1").toArray());
    const due = await batchOf();

    unreachable.mockImplementation(get);
    expect((await counters("key", id)).spent_usd).toBe(0);
    expect(due).toHaveLength(1);
    expect(await shard(1).flush()).toMatchObject({ unsettled: 0 });
    expect((await counters("key", id)).spent_usd).toBe(0.125);
    expect(await batchOf()).toEqual([]);
    await shard(1).flush();
    expect((await counters("key", id)).spent_usd).toBe(0.125);
  });

  it("a row D1 refuses on its own is dead-lettered (kept, counted) and does not hold up the rows beside it", async () => {
    const tag = crypto.randomUUID();
    const good = [record(1, tag), record(3, tag)];
    const poison = { ...record(2, tag), outcome: "bogus" } as unknown as CallRecord; // fails the outcome CHECK
    const before = (await totals()).rejected;
    await shard(1).add([good[0]!, poison, good[1]!]);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await shard(1).flush()).toMatchObject({ pending: 0 });
    for (const r of good) expect(await usageRow(r.request_id)).toMatchObject({ outcome: "ok" });
    expect(await usageRow(poison.request_id)).toBeNull();
    expect((await totals()).rejected).toBe(before + 1);
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 0, rejected_rows: before + 1 });
    expect(errors.mock.calls.map((c) => c.join(" ")).join("\n")).toContain(`usage row ${poison.request_id} refused by D1`);
  });

  it("a batch's one statement stores each row column for column as the single-row INSERT does", async () => {
    const tag = crypto.randomUUID();
    const rich: Partial<CallRecord> = {
      team_id: null, stream: true, status: 502, outcome: "error", error: `upstream said "no" \\ ünïcødé ${"✓".repeat(3)}`,
      attempts: [
        { target: "openai/gpt-4o", status: 429, reason: "upstream 429", latency_ms: 12, credential: "a" },
        { target: "mock/echo", status: 502, reason: "network error", latency_ms: 7, skipped: true },
      ],
      fallback_index: null, tokens: { input: 10, output: 0, cached: 3, thinking: 4, tool_use: 0 }, cost_usd: 1.5e-7, ttfb_ms: null, requests: 7,
      session: { close_code: 4003, closed_by: "gateway", modality_tokens: { input: { AUDIO: 5 }, output: { TEXT: 2 } } },
    };
    const viaBatch = record(1, tag, rich);
    const single = record(2, tag, rich);
    await shard(1).add([viaBatch]);
    await shard(1).flush();
    await env.DB.batch([insertStatement(env.DB, single, "usage:1:single")]);
    const [a, b] = [await usageRow(viaBatch.request_id), await usageRow(single.request_id)];
    expect(a).not.toBeNull();
    const strip = (r: Record<string, unknown> | null) => ({ ...r, request_id: undefined, batch_id: undefined, ts: undefined });
    expect(strip(a)).toEqual(strip(b));
    expect(a).toMatchObject({ stream: 1, attempts: 2, requests: 7, close_code: 4003, team_id: null, fallback_index: null });
  });

  it("the one-statement insert returns the rows that are its batch's: all of them again on a retry, none of another batch's", async () => {
    const tag = crypto.randomUUID();
    const rows = [record(1, tag), record(2, tag)];
    const ids = async (batchId: string, rs = rows) =>
      (await insertRowsStatement(env.DB, JSON.stringify(rs), batchId).all<{ request_id: string }>()).results.map((r) => r.request_id).sort();
    const all = rows.map((r) => r.request_id).sort();
    expect(await ids("usage:1:77")).toEqual(all);
    expect(await ids("usage:1:77")).toEqual(all); // a retry of the same batch: still its own
    expect(await ids("usage:2:5")).toEqual([]); // the same rows in another batch: not its own, left alone
    expect(await ids("usage:2:5", [...rows, record(3, tag)])).toEqual([record(3, tag).request_id]);
    expect(await rowsLike(tag)).toBe(3);
  });

  it("a backlog is written 100 rows a D1 batch, oldest first, and drains in one flush", async () => {
    const tag = crypto.randomUUID();
    await shard(1).add(Array.from({ length: 250 }, (_, i) => record(i, tag)));
    const writes = watchBatchWrites();
    expect(await shard(1).flush()).toMatchObject({ pending: 0 });
    expect(writes.sizes).toEqual([100, 100, 50]);
    writes.restore();
    expect(await rowsLike(tag)).toBe(250);
  });
});

describe("a shard from before (one SQLite row per call)", () => {
  it("keeps its formed batches (same ids, same rows) and its loose rows, and writes them all", async () => {
    const tag = crypto.randomUUID();
    const old = [record(1, tag), record(2, tag), record(3, tag)];
    await runInDurableObject(shard(5), async (instance, state) => {
      const sql = state.storage.sql;
      sql.exec("DROP TABLE IF EXISTS pending");
      sql.exec("CREATE TABLE pending (seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE, record TEXT NOT NULL, batch INTEGER)");
      sql.exec("INSERT INTO batches (id, stored) VALUES (900001, 0)");
      sql.exec("INSERT INTO pending (request_id, record, batch) VALUES (?, ?, 900001)", old[0]!.request_id, JSON.stringify(old[0]));
      for (const r of old.slice(1)) sql.exec("INSERT INTO pending (request_id, record) VALUES (?, ?)", r.request_id, JSON.stringify(r));
      (instance as unknown as { migrate(): void }).migrate();
      expect(sql.exec("SELECT count(*) AS n FROM pragma_table_info('pending')").one().n).toBe(0);
    });
    expect(await shard(5).counts()).toMatchObject({ pending: 3 });
    expect(await shard(5).flush()).toMatchObject({ pending: 0 });
    expect(await rowsLike(tag)).toBe(3);
    expect(await usageRow(old[0]!.request_id)).toMatchObject({ batch_id: "usage:5:900001" });
  });
});
