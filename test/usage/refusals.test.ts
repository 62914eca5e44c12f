/**
 * Refusals cost O(1) storage: a key refused N times (revoked, rate limit, budget, ...) leaves counters per key,
 * minute, status and reason — not N usage rows — and /admin/usage still reports them.
 */
import { createExecutionContext, env, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { USAGE_SHARDS, usageShard } from "../../src/usage/buffer";
import { refusalReason } from "../../src/usage/refusals";
import { createTeam } from "../helpers/governance";
import { admin, createKey, flushUsage, genaiCall, genaiRequest, genaiSettled, mockUpstream, textRequest } from "../helpers/worker";

// Counters are per minute: every test runs inside one (Date frozen, so no minute ends during a test).
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["Date"], now: Date.now() });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const hi = textRequest("hi");

/** `n` calls at once, each through the Worker with its own execution context; their statuses. */
async function burst(n: number, key: string, model = "mock/echo"): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const ctx = createExecutionContext();
      const res = await worker.fetch(genaiRequest(model, "generateContent", hi, key), env, ctx);
      await res.text();
      await waitOnExecutionContext(ctx);
      return res.status;
    }),
  );
}

const rowsOf = async (table: "usage" | "refusals", keyId: string) =>
  (await env.DB.prepare(`SELECT * FROM ${table} WHERE key_id = ?`).bind(keyId).all<Record<string, unknown>>()).results;

describe("refusals", () => {
  it("N refusals of a key are O(1) rows, counted exactly, and reported by /admin/usage", async () => {
    const team = await createTeam();
    const { key, id } = await createKey({ team_id: team.id, rate_limit: { rpm: 1 } });
    expect((await genaiSettled("mock/echo", "generateContent", hi, key)).status).toBe(200);
    const batch = vi.spyOn(env.DB, "batch");
    const refused = await burst(40, key);
    expect(refused.every((s) => s === 429)).toBe(true);
    await admin(`/keys/${id}`, { method: "DELETE" });
    expect((await burst(25, key)).every((s) => s === 403)).toBe(true);
    await flushUsage();

    // One usage row (the call that went through); one counter per reason, written in one D1 batch.
    expect(await rowsOf("usage", id)).toHaveLength(1);
    const counters = await rowsOf("refusals", id);
    expect(counters.map((r) => [r.status, r.reason, r.count, r.team_id]).sort()).toEqual([
      [403, "revoked", 25, team.id],
      [429, "requests/min", 40, team.id],
    ]);
    expect(batch.mock.calls.filter((c) => c[0].length === 2)).toHaveLength(1);
    batch.mockRestore();

    const usage = await (await admin(`/usage?key_id=${id}`)).json<any>();
    expect(usage.totals).toMatchObject({ requests: 1, errors: 0, refused: 65 });
    expect(usage.refusals).toEqual([
      { status: 429, reason: "requests/min", refused: 40 },
      { status: 403, reason: "revoked", refused: 25 },
    ]);
    const byKey = await (await admin(`/usage?team_id=${team.id}&group_by=key`)).json<any>();
    expect(byKey.groups).toEqual([expect.objectContaining({ key_id: id, requests: 1, refused: 65 })]);
    const today = new Date().toISOString().slice(0, 10);
    const byDay = await (await admin(`/usage?key_id=${id}&group_by=day`)).json<any>();
    expect(byDay.groups).toEqual([expect.objectContaining({ day: today, requests: 1, refused: 65 })]);
    // Nothing served a refusal: under a model grouping it is in the null group.
    const byModel = await (await admin(`/usage?key_id=${id}&group_by=model`)).json<any>();
    expect(byModel.groups).toEqual([
      expect.objectContaining({ model: "mock/echo", requests: 1, refused: 0 }),
      expect.objectContaining({ model: null, requests: 0, refused: 65 }),
    ]);
    // By hour as by day. A status filter picks the refusals of that status; a filter on what served, or on a
    // row's outcome, leaves refusals out (a refusal served nothing and is not a row).
    const thisHour = new Date(Date.now() - (Date.now() % 3_600_000)).toISOString();
    const byHour = await (await admin(`/usage?key_id=${id}&group_by=hour`)).json<any>();
    expect(byHour.groups).toEqual([expect.objectContaining({ hour: thisHour, requests: 1, refused: 65 })]);
    const only429 = await (await admin(`/usage?key_id=${id}&status=429`)).json<any>();
    expect(only429).toMatchObject({ totals: { requests: 0, refused: 40 }, refusals: [{ status: 429, reason: "requests/min", refused: 40 }] });
    expect((await (await admin(`/usage?key_id=${id}&model=mock/echo`)).json<any>()).totals).toMatchObject({ requests: 1, refused: 0 });
    expect(await (await admin(`/usage?key_id=${id}&outcome=ok&group_by=key`)).json<any>()).toMatchObject({
      totals: { requests: 1, refused: 0 },
      refusals: [],
      groups: [expect.objectContaining({ key_id: id, refused: 0 })],
    });
    // A range that ends before the refusals' minute sees none of them.
    const before = await (await admin(`/usage?key_id=${id}&to=${Date.now() - 120_000}`)).json<any>();
    expect(before.totals).toMatchObject({ requests: 0, refused: 0 });
  });

  it("a key with only refusals still shows up in a grouping", async () => {
    const team = await createTeam();
    const { key, id } = await createKey({ team_id: team.id, active: false });
    expect((await burst(3, key)).every((s) => s === 403)).toBe(true);
    await flushUsage();
    const body = await (await admin(`/usage?team_id=${team.id}&group_by=key`)).json<any>();
    expect(body.groups).toEqual([expect.objectContaining({ key_id: id, requests: 0, cost_usd: 0, refused: 3 })]);
    expect(body.totals.refused).toBe(3);
  });

  it("each refusal has its short reason; the message itself is never stored", async () => {
    const cases: [Record<string, unknown>, string, number, string][] = [
      [{ active: false }, "mock/echo", 403, "inactive"],
      [{ expires_at: "2020-01-01T00:00:00Z" }, "mock/echo", 403, "expired"],
      [{ models: ["gemini/*"] }, "mock/echo", 403, "model not allowed"],
      // Its worst case (input estimate + output cap at the model's prices) does not fit the budget.
      [{ budget: { max_usd: 0.00001 } }, "mock/echo", 402, "budget"],
      [{ budget: { max_usd: 1 } }, "gemini/gemini-unpriced-9", 403, "unpriced model"],
    ];
    for (const [fields, model, status, reason] of cases) {
      const { key, id } = await createKey(fields);
      const { res, settled } = await genaiCall(model, "generateContent", hi, key);
      expect(res.status).toBe(status);
      await settled();
      expect((await rowsOf("refusals", id)).map((r) => [r.status, r.reason, r.count])).toEqual([[status, reason, 1]]);
      expect((await rowsOf("usage", id)).filter((r) => r.status === status)).toEqual([]);
    }
    expect(refusalReason(401, "API key not valid (it was rotated)")).toBe("rotated");
    expect(refusalReason(429, 'rate limit: key "k" 100 tokens/min reached (120 used); retry after 3 s')).toBe("tokens/min");
    expect(refusalReason(403, "something new")).toBe("forbidden");
  });

  it("the same statuses from an upstream are the provider's answer and stay usage rows", async () => {
    const { key, id } = await createKey();
    mockUpstream(() => Response.json({ error: { code: 429, message: "quota", status: "RESOURCE_EXHAUSTED" } }, { status: 429 }));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", hi, key);
    expect(res.status).toBe(429);
    await settled();
    expect(await rowsOf("usage", id)).toEqual([expect.objectContaining({ status: 429, attempts: 1 })]);
    expect(await rowsOf("refusals", id)).toEqual([]);
  });

  it("an unknown key is neither a row nor a refusal (there is no key to attribute it to)", async () => {
    const n = async () => (await env.DB.prepare("SELECT (SELECT count(*) FROM usage) + (SELECT coalesce(sum(count), 0) FROM refusals) AS n").first<number>("n"))!;
    const before = await n();
    expect((await burst(5, `sk-bf-${"0".repeat(40)}`)).every((s) => s === 401)).toBe(true);
    await flushUsage();
    expect(await n()).toBe(before);
  });

  it("a counter write replayed after its outcome was lost does not count twice", async () => {
    const { key, id } = await createKey({ active: false });
    await burst(7, key);
    await flushUsage();
    expect((await rowsOf("refusals", id)).map((r) => r.count)).toEqual([7]);
    // Every shard forgets that it wrote its counters, as if the D1 answer never came back, and writes them again.
    for (let i = 0; i < USAGE_SHARDS; i++) {
      await runInDurableObject(usageShard(env.USAGE_BUFFER, i), (_, state) => state.storage.sql.exec("UPDATE refusals SET sent = 0"));
    }
    await flushUsage();
    expect((await rowsOf("refusals", id)).map((r) => r.count)).toEqual([7]);
    // More refusals of the same minute raise the same counter.
    await burst(3, key);
    await flushUsage();
    expect((await rowsOf("refusals", id)).map((r) => r.count)).toEqual([10]);
  });
});
