/** Nothing lost silently: failed D1 writes are retried, then kept by the UsageBuffer DO and written by its alarm. */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import { pendingRows } from "../../src/usage/buffer";
import type { CallRecord } from "../../src/usage/record";
import { admin, createKey, genaiCall, textRequest, usageRow } from "../helpers/worker";

const stub = () => pendingRows(env);

/** A D1 whose writes fail `failures` times (every time by default) and then go to the real database. */
function flakyDb(failures = Infinity) {
  let tries = 0;
  const db = {
    prepare: (sql: string) => {
      const real = env.DB.prepare(sql);
      return {
        bind: (...args: unknown[]) => ({
          run: () => (++tries <= failures ? Promise.reject(new Error("D1_ERROR: simulated outage")) : real.bind(...args).run()),
        }),
      };
    },
  } as unknown as D1Database;
  return { db, tries: () => tries };
}

/** The buffer's own DB binding, to make its alarm's batch() fail or count its calls. */
const bufferDb = () => runInDurableObject(stub(), (instance) => (instance as unknown as { env: Env }).env.DB);

const record = (i: number, batchTag = crypto.randomUUID()): CallRecord => ({
  request_id: `buffered-${batchTag}-${i}`, ts: 1_600_000_000_000 + i, key_id: "key_buffered", team_id: null,
  requested_model: "mock/echo", provider: "mock", model: "echo", action: "generateContent", stream: false, status: 200,
  outcome: "ok", error: null, attempts: [{ target: "mock/echo", status: 200, reason: "ok", latency_ms: 1 }], fallback_index: 0,
  tokens: { input: 1, output: 2, cached: 0, thinking: 0 }, cost_usd: 0.000005, latency_ms: 3, ttfb_ms: 3,
});

beforeEach(async () => {
  // The buffer is one object for the whole run: drain what earlier tests left.
  await runDurableObjectAlarm(stub());
  expect(await stub().count()).toBe(0);
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("usage rows D1 would not take", () => {
  it("are retried, then buffered durably and written by the alarm; the request is unaffected", async () => {
    const { key } = await createKey();
    const body = textRequest("same answer either way");
    const normal = await genaiCall("mock/echo", "generateContent", body, key);
    const expected = await normal.res.text();
    await normal.settled();

    const flaky = flakyDb();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { res, settled } = await genaiCall("mock/echo", "generateContent", body, key, { env: { DB: flaky.db } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(expected);
    await settled();

    const id = res.headers.get("x-edgeway-request-id");
    expect(flaky.tries()).toBe(3); // one write and two retries
    expect(await usageRow(id)).toBeNull();
    expect(await stub().count()).toBe(1);
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 1 });
    const logged = errors.mock.calls.map((c) => c.join(" ")).join("\n");
    expect(logged).toContain(`usage row ${id} not written to D1 after 3 tries (D1_ERROR: simulated outage)`);
    expect(logged).not.toContain(key);

    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await usageRow(id)).toMatchObject({ request_id: id, provider: "mock", status: 200, outcome: "ok" });
    expect(await stub().count()).toBe(0);
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 0 });
  });

  it("a write that succeeds on a retry lands at once and is not buffered", async () => {
    const { key } = await createKey();
    const flaky = flakyDb(1);
    const { res, settled } = await genaiCall("mock/echo", "generateContent", textRequest("x"), key, { env: { DB: flaky.db } });
    expect(res.status).toBe(200);
    await settled();
    expect(flaky.tries()).toBe(2);
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ outcome: "ok" });
    expect(await stub().count()).toBe(0);
  });

  it("stay pending while D1 keeps failing in the alarm, which reschedules itself, then land", async () => {
    const rows = [record(1), record(2)];
    await stub().add(rows);
    await stub().add([rows[0]!]); // already pending: not kept twice
    expect(await stub().count()).toBe(2);

    const db = await bufferDb();
    // D1 down: the batch fails, and so does every single-row write tried after it.
    const down = () => Promise.reject(new Error("D1_ERROR: still down"));
    const batch = vi.spyOn(db, "batch").mockImplementation(down);
    const prepare = vi.spyOn(db, "prepare").mockImplementation(() => ({ bind: () => ({ run: down }) }) as unknown as D1PreparedStatement);
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await stub().count()).toBe(2);
    expect(await stub().rejectedCount()).toBe(0);
    const next = await runInDurableObject(stub(), (_, state) => state.storage.getAlarm());
    expect(next).toBeGreaterThan(Date.now());
    batch.mockRestore();
    prepare.mockRestore();

    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(await stub().count()).toBe(0);
    for (const r of rows) expect(await usageRow(r.request_id)).toMatchObject({ key_id: "key_buffered", input_tokens: 1, output_tokens: 2 });
  });

  it("a row D1 refuses on its own is set aside (kept, counted) so the rows behind it land", async () => {
    const tag = crypto.randomUUID();
    const good = [record(1, tag), record(3, tag)];
    const poison = { ...record(2, tag), outcome: "bogus" } as unknown as CallRecord; // fails the outcome CHECK
    await stub().add([good[0]!, poison, good[1]!]);
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    for (const r of good) expect(await usageRow(r.request_id)).toMatchObject({ outcome: "ok" });
    expect(await usageRow(poison.request_id)).toBeNull();
    expect(await stub().count()).toBe(0);
    expect(await stub().rejectedCount()).toBe(1);
    expect(await (await admin("/usage")).json()).toMatchObject({ pending_rows: 0, rejected_rows: 1 });
    expect(errors.mock.calls.map((c) => c.join(" ")).join("\n")).toContain(`usage row ${poison.request_id} refused by D1`);
    // A replay of a row already written is absorbed: still one row.
    await stub().add([good[0]!]);
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE request_id = ?").bind(good[0]!.request_id).first<number>("n");
    expect(n).toBe(1);
  });

  it("many pending rows are written with D1 batch(), 100 rows a batch", async () => {
    const tag = crypto.randomUUID();
    const rows = Array.from({ length: 250 }, (_, i) => record(i, tag));
    await stub().add(rows);
    const db = await bufferDb();
    const batch = vi.spyOn(db, "batch");
    expect(await runDurableObjectAlarm(stub())).toBe(true);
    expect(batch.mock.calls.map((c) => c[0].length)).toEqual([100, 100, 50]);
    expect(await stub().count()).toBe(0);
    const n = await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE request_id LIKE ?").bind(`buffered-${tag}-%`).first<number>("n");
    expect(n).toBe(250);
  });
});
