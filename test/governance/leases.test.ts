/**
 * Leases, exact: several isolates (simulated by separate leases, each with its own id) against one Governor. What
 * all live leases hold never exceeds what is left; bursts at the boundary; a lease that lapses; revocation while a
 * lease is held; and the round trips a call makes.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LEASE_MS } from "../../src/governance/ledger";
import { hold, release } from "../../src/governance/hold";
import { leaseStats, LocalLease } from "../../src/governance/lease";
import { settleRecords } from "../../src/usage/settle";
import type { Amounts } from "../../src/governance/protocol";
import { freezeClock } from "../helpers/governance";
import { admin, createKey, genai, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const noWait = () => {};
const slot: Amounts = { requests: 1, tokens: 0, usd: 0 };
const dollars = (usd: number): Amounts => ({ requests: 0, tokens: 0, usd });

/** One call's admission in one isolate: local if it fits, else one renewal, then the answer. */
async function admit(l: LocalLease, need: Amounts): Promise<boolean> {
  if (l.take(need)) return true;
  if (l.refusalFor(need)) return false;
  await l.renew(env, need, true, noWait);
  return l.take(need);
}

const snapshot = (id: string) => env.GOVERNOR.get(env.GOVERNOR.idFromName(`key:${id}`)).snapshot();

describe("several isolates against one key", () => {
  it("a burst from four isolates gets exactly rpm slots, and what they hold never passes the limit", async () => {
    freezeClock();
    const { id } = await createKey({ rate_limit: { rpm: 25 } });
    const isolates = Array.from({ length: 4 }, () => new LocalLease("key", id));
    let admitted = 0;
    // Round after round, every isolate asks for one more slot, all at once.
    for (let round = 0; round < 15; round++) {
      const r = await Promise.all(isolates.map((l) => admit(l, slot)));
      admitted += r.filter(Boolean).length;
      const s = await snapshot(id);
      expect(s.requests + s.held.requests).toBeLessThanOrEqual(25);
    }
    expect(admitted).toBe(25);
  });

  it("reservations of dollars from three isolates never pass the budget", async () => {
    freezeClock();
    const { id } = await createKey({ budget: { max_usd: 1 } });
    const isolates = Array.from({ length: 3 }, () => new LocalLease("key", id));
    const results = await Promise.all(isolates.flatMap((l) => [admit(l, dollars(0.3)), admit(l, dollars(0.3))]));
    expect(results.filter(Boolean)).toHaveLength(3); // 3 × $0.30 fit in $1, a fourth does not
    const s = await snapshot(id);
    expect(s.spent_usd + s.held.usd).toBeLessThanOrEqual(1 + 1e-9);
  });

  it("a call that ends gives back the rest of its reservation to its isolate's lease", async () => {
    freezeClock();
    const { id } = await createKey({ budget: { max_usd: 1 } });
    const a = new LocalLease("key", id);
    expect(await admit(a, dollars(0.6))).toBe(true);
    expect(await admit(a, dollars(0.6))).toBe(false); // $0.40 left while the first is in flight
    a.finish(dollars(0.6), { tokens: 0, usd: 0.1 }, true); // it cost $0.10
    expect(await admit(a, dollars(0.6))).toBe(true); // $0.90 left now
  });
});

describe("a lease that lapses", () => {
  it("slots an isolate never reported count as used at its lease's end; the rest of the window frees as usual", async () => {
    const clock = freezeClock();
    const { id } = await createKey({ rate_limit: { rpm: 10 } });
    const dead = new LocalLease("key", id);
    expect(await admit(dead, slot)).toBe(true);
    const held = (await snapshot(id)).held.requests; // what the dead isolate's lease holds
    expect(held).toBeGreaterThanOrEqual(1);
    // The isolate is gone. Another one gets only what is left beside that lease, however hard it tries.
    const live = new LocalLease("key", id);
    let got = 0;
    for (let i = 0; i < 20; i++) if (await admit(live, slot)) got++;
    expect(got).toBe(10 - held);
    // Past the lease and its reporting grace, the dead lease's slots are counted as used at its end...
    clock.advance(2 * LEASE_MS + 1);
    const s = await snapshot(id);
    expect(s.held.requests).toBe(0);
    expect(s.requests).toBe(10);
    // ...and once the window passes them, every slot is free again.
    clock.advance(60_000);
    got = 0;
    for (let i = 0; i < 20; i++) if (await admit(live, slot)) got++;
    expect(got).toBe(10);
  });
});

describe("revocation while a lease is held", () => {
  it("another isolate sees it at its next renewal: within LEASE_MS", async () => {
    const clock = freezeClock();
    const { id } = await createKey({ name: "far" });
    const elsewhere = new LocalLease("key", id);
    await elsewhere.renew(env, { requests: 0, tokens: 0, usd: 0 }, true, noWait);
    expect(elsewhere.grant?.record?.revoked_at ?? null).toBeNull();
    await admin(`/keys/${id}`, { method: "DELETE" });
    // This isolate's lease is still fresh: until it is renewed it does not know.
    expect(elsewhere.fresh()).toBe(true);
    clock.advance(LEASE_MS);
    expect(elsewhere.fresh()).toBe(false);
    await elsewhere.renew(env, { requests: 0, tokens: 0, usd: 0 }, true, noWait);
    expect(elsewhere.grant?.record?.revoked_at).toBeTruthy();
  });

  it("in the isolate that served the admin write it applies at once", async () => {
    const { key, id } = await createKey();
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
    await admin(`/keys/${id}`, { method: "DELETE" });
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(403);
  });
});

describe("round trips a call waits for", () => {
  it("a key and team without limits: none, not even the first call's", async () => {
    const team = await (await admin("/teams", { body: { name: "free" } })).json() as { id: string };
    const { key } = await createKey({ team_id: team.id });
    const before = leaseStats.blocking;
    for (let i = 0; i < 5; i++) expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
    expect(leaseStats.blocking - before).toBe(0);
  });

  it("a key with rpm: the first call waits for its lease; the next ones while it lasts do not", async () => {
    freezeClock();
    const { key } = await createKey({ rate_limit: { rpm: 6000 } });
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
    const before = leaseStats.blocking;
    for (let i = 0; i < 20; i++) expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
    // One lease's slice covers many calls; the isolate renews ahead of need.
    expect(leaseStats.blocking - before).toBeLessThanOrEqual(2);
  });
});

describe("holds: reservations for work that outlives its request", () => {
  it("a batch's worst case is held until released; what was settled under it stays counted", async () => {
    const clock = freezeClock();
    const team = await (await admin("/teams", { body: { name: "holders", budget: { max_usd: 5 } } })).json() as { id: string };
    const key = await createKey({ budget: { max_usd: 1 }, team_id: team.id });
    const record = (await (await admin(`/keys/${key.id}`)).json()) as import("../../src/keys/key-record").KeyRecord;
    const held = await hold(env, record, "batch-1", { tokens: 0, usd: 0.8 }, 3_600_000);
    expect(held.refs).toEqual({ key: "batch-1", team: "batch-1" });
    const other = new LocalLease("key", key.id);
    expect(await admit(other, dollars(0.3))).toBe(false); // $0.20 left beside the hold
    // A second hold that does not fit is refused, and holds nothing.
    await expect(hold(env, record, "batch-2", { tokens: 0, usd: 0.5 }, 3_600_000)).rejects.toMatchObject({ code: 402 });
    // The batch ends having spent $0.50, settled under its hold, then released.
    await settleRecords(env, "batch-1-usage", [{
      request_id: "batch-1", ts: Date.now(), key_id: key.id, team_id: team.id, requested_model: "mock/echo", provider: "mock", model: "echo",
      action: "batchGenerateContent", stream: false, status: 200, outcome: "ok", error: null, attempts: [], fallback_index: 0,
      tokens: { input: 1, output: 1, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0.5, latency_ms: 1, ttfb_ms: null, settle: held.refs,
    }]);
    await release(env, record, "batch-1");
    const s = await snapshot(key.id);
    expect(s.spent_usd).toBeCloseTo(0.5, 10);
    expect(s.held.usd).toBeLessThanOrEqual(0.2 + 1e-9); // only what the other lease took of the rest
    clock.advance(1_000); // past the refusal this isolate serves from its lease for a second
    expect(await admit(other, dollars(0.3))).toBe(true); // $0.50 left now
  });
});

describe("/admin/stats", () => {
  it("counts this isolate's governed calls and its round trips to Governors", async () => {
    const read = async () => ((await (await admin("/stats")).json()) as { isolate: { calls: number; governor_requests: number; governor_blocking: number } }).isolate;
    const before = await read();
    const { key } = await createKey({ rate_limit: { rpm: 100 } });
    for (let i = 0; i < 3; i++) await genai("mock/echo", "generateContent", textRequest("hi"), key);
    const after = await read();
    expect(after.calls - before.calls).toBe(3);
    expect(after.governor_requests).toBeGreaterThan(before.governor_requests);
    expect(after.governor_blocking - before.governor_blocking).toBeGreaterThanOrEqual(1);
  });
});
