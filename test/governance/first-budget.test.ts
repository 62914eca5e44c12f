/**
 * A budget first set on a key (or team) already in use counts what it already spent exactly once: the rows in D1,
 * the rows the usage buffer still holds, and the calls in flight when it is set — never zero times, never twice.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { handOffsSettled } from "../../src/usage/sink";
import { counters, createTeam } from "../helpers/governance";
import { admin, createKey, flushUsage, genaiCall, genaiRequest, mockUpstream, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

/** gemini-2.5-flash*: $0.30 in, $2.50 out per 1M. The upstream answers 1 prompt token and 4,800 output tokens. */
const CALL_USD = (1 * 0.3 + 4800 * 2.5) / 1e6; // $0.0120003
/** "hi" (1 token as estimated) capped at 4,800 output tokens: each call reserves exactly what it costs. */
const body = textRequest("hi", { generationConfig: { maxOutputTokens: 4800 } });
const answer = () =>
  Response.json({
    candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 4800, totalTokenCount: 4801 },
  });

/** Spend of a key or team as the usage log holds it (flushed first). */
async function loggedUsd(col: "key_id" | "team_id", id: string): Promise<number> {
  await flushUsage();
  const r = await env.DB.prepare(`SELECT total(cost_usd) AS usd, count(*) AS n FROM usage WHERE ${col} = ?`).bind(id).first<{ usd: number }>();
  return r!.usd;
}

/** A call whose row is handed off to a buffer shard but not yet written to D1 (the shard's alarm is ~1 s away). */
async function callLeavingRowInBuffer(key: string): Promise<number> {
  const { res } = await genaiCall("gemini-2.5-flash", "generateContent", body, key);
  expect(res.status).toBe(200);
  await res.text();
  return res.status;
}

/** Calls (each settled) until one is refused; returns how many were served and the refusal. */
async function callUntilRefused(key: string) {
  for (let served = 0; served < 30; served++) {
    const { res, settled } = await genaiCall("gemini-2.5-flash", "generateContent", body, key);
    const text = await res.text();
    await settled();
    if (res.status !== 200) return { served, status: res.status, text };
  }
  throw new Error("never refused");
}

describe("a budget first set on a key in use", () => {
  for (const tpm of [undefined, 1_000_000]) {
    it(`counts the five calls still in the usage buffer exactly once: $0.1 after five $0.012 calls allows three more, not eight${tpm ? " (with tokens/min set)" : ""}`, async () => {
      mockUpstream(answer);
      const { key, id } = await createKey(tpm ? { rate_limit: { tpm } } : {});
      for (let i = 0; i < 5; i++) await callLeavingRowInBuffer(key);
      await handOffsSettled(env);

      const p = await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 0.1 } } });
      expect(p.status).toBe(200);
      const after = await counters("key", id);
      expect(after.spent_usd + after.held.usd).toBeGreaterThanOrEqual(5 * CALL_USD - 1e-12);

      const end = await callUntilRefused(key);
      expect(end.status).toBe(402);
      // $0.1 − 5 × $0.0120003 leaves $0.0399985: three more calls of $0.0120003 fit, a fourth does not.
      expect(end.served).toBe(3);
      const logged = await loggedUsd("key_id", id);
      expect(logged).toBeCloseTo(8 * CALL_USD, 12);
      expect(logged).toBeLessThanOrEqual(0.1);
      // The Governor counts what the usage log holds: once, not twice.
      const c = await counters("key", id);
      expect(c.spent_usd).toBeCloseTo(logged, 12);
      expect(c.spent_usd + c.held.usd).toBeLessThanOrEqual(0.1 + 1e-12);
    });
  }

  it("a call in flight when the budget is set is counted when it ends", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let n = 0;
    mockUpstream(async () => {
      if (++n === 5) await gate;
      return answer();
    });
    const { key, id } = await createKey();
    for (let i = 0; i < 4; i++) await callLeavingRowInBuffer(key);
    // The fifth call waits upstream while the budget is set.
    const ctx = createExecutionContext();
    const inFlight = worker.fetch(genaiRequest("gemini-2.5-flash", "generateContent", body, key), env, ctx);
    await vi.waitFor(() => expect(n).toBe(5));
    expect((await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 0.1 } } })).status).toBe(200);
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    await res.text();
    await waitOnExecutionContext(ctx);

    const end = await callUntilRefused(key);
    expect(end.status).toBe(402);
    expect(end.served).toBe(3);
    const logged = await loggedUsd("key_id", id);
    expect(logged).toBeCloseTo(8 * CALL_USD, 12);
    expect((await counters("key", id)).spent_usd).toBeCloseTo(logged, 12);
  });

  it("a team budget first set counts its keys' calls still in the usage buffer exactly once", async () => {
    mockUpstream(answer);
    const team = await createTeam();
    const a = await createKey({ team_id: team.id });
    const b = await createKey({ team_id: team.id, rate_limit: { tpm: 1_000_000 } });
    for (let i = 0; i < 3; i++) await callLeavingRowInBuffer(a.key);
    for (let i = 0; i < 2; i++) await callLeavingRowInBuffer(b.key);
    await handOffsSettled(env);
    expect((await admin(`/teams/${team.id}`, { method: "PATCH", body: { budget: { max_usd: 0.1 } } })).status).toBe(200);

    const end = await callUntilRefused(a.key);
    expect(end.status).toBe(402);
    expect(end.served).toBe(3);
    const logged = await loggedUsd("team_id", team.id);
    expect(logged).toBeCloseTo(8 * CALL_USD, 12);
    expect((await counters("team", team.id)).spent_usd).toBeCloseTo(logged, 12);
  });
});
