/** Budgets in USD per key and per team, from the price table (mock/*: $1/M input, $2/M output). */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { periodEnd, periodStart } from "../../src/governance/policy";
import { priceLookup } from "../../src/usage/prices";
import { counters, createTeam, freezeClock } from "../helpers/governance";
import { admin, createKey, genai, genaiSettled, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

/** "hi" with an output cap of 11 tokens, what the mock answers: the call's worst case is what it costs. */
const hi = textRequest("hi", { generationConfig: { maxOutputTokens: 11 } });
/** One mock call on "hi": 1 input token at $1/M + 11 output tokens at $2/M; also its reservation. */
const CALL_USD = 23e-6;
const NEEDS = "; this call may cost up to $0.000023 (its input estimate and output cap at the model's prices)";
const settled = (key: string) => genaiSettled("mock/echo", "generateContent", hi, key);

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

describe("key budget", () => {
  it("refuses with 402 RESOURCE_EXHAUSTED once what is left cannot cover the call's worst case", async () => {
    freezeClock();
    const { key, id } = await createKey({ name: "spender", budget: { max_usd: 0.00005 } });
    expect((await settled(key)).status).toBe(200);
    expect((await settled(key)).status).toBe(200); // $0.000027 left: the second call's $0.000023 fits
    const r = await genai("mock/echo", "generateContent", hi, key);
    expect(r.status).toBe(402);
    const e = await errorOf(r);
    expect(e.status).toBe("RESOURCE_EXHAUSTED");
    expect(e.message).toBe(`budget: key "spender" spent $0.000046 of $0.00005 (lifetime budget)${NEEDS}`);
    // A lifetime budget never resets: no Retry-After (docs/governance.md).
    expect(r.headers.get("retry-after")).toBeNull();
    expect((await counters("key", id)).spent_usd).toBeCloseTo(2 * CALL_USD, 12);
  });

  it("without maxOutputTokens, reserves the model's whole output cap (and says so)", async () => {
    freezeClock();
    const { key } = await createKey({ name: "capless", budget: { max_usd: 0.01 } });
    // The mock's output cap is 8192 tokens at $2/M: $0.016385 with the input, more than the budget.
    const r = await genai("mock/echo", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(402);
    expect((await errorOf(r)).message).toBe(
      'budget: key "capless" spent $0 of $0.01 (lifetime budget); this call may cost up to $0.016385 (its input estimate and output cap at the model\'s prices)',
    );
    expect((await settled(key)).status).toBe(200); // with maxOutputTokens 11 it fits
  });

  it("counts the same cost_usd the usage log stores", async () => {
    freezeClock();
    const { key, id } = await createKey({ budget: { max_usd: 1 } });
    await settled(key);
    await genaiSettled("mock/echo", "streamGenerateContent", textRequest("a longer prompt to stream back"), key);
    const row = await env.DB.prepare("SELECT sum(cost_usd) AS usd, count(*) AS n FROM usage WHERE key_id = ?").bind(id).first<{ usd: number; n: number }>();
    expect(row!.n).toBe(2);
    expect((await counters("key", id)).spent_lifetime_usd).toBeCloseTo(row!.usd, 12);
    expect(row!.usd).toBeGreaterThan(CALL_USD);
  });

  it("resets at the start of the next period (UTC calendar)", async () => {
    const clock = freezeClock(Date.UTC(2026, 4, 4, 12, 30));
    const { key } = await createKey({ budget: { max_usd: CALL_USD * 1.5, period: "1h" } });
    expect((await settled(key)).status).toBe(200);
    const r = await genai("mock/echo", "generateContent", hi, key);
    expect(r.status).toBe(402);
    expect((await errorOf(r)).message).toContain("1h budget, resets 2026-05-04T13:00:00.000Z");
    // The 402 says when to try again: the period's end, 30 minutes from the frozen 12:30.
    expect(r.headers.get("retry-after")).toBe("1800");
    clock.advance(29 * 60_000 + 59_999); // 12:59:59.999
    expect((await genai("mock/echo", "generateContent", hi, key)).status).toBe(402);
    clock.advance(1);
    expect((await settled(key)).status).toBe(200);
  });

  it("a lifetime budget never resets", async () => {
    const clock = freezeClock();
    const { key } = await createKey({ budget: { max_usd: CALL_USD * 1.5 } });
    expect((await settled(key)).status).toBe(200);
    clock.advance(400 * 24 * 3_600_000);
    expect((await genai("mock/echo", "generateContent", hi, key)).status).toBe(402);
  });

  it("reserves each call's worst case, so a burst never overshoots", async () => {
    freezeClock();
    const { key, id } = await createKey({ budget: { max_usd: CALL_USD * 2.5 } });
    // Five calls at once while nothing is spent yet: only the two whose reservations fit are admitted.
    const burst = await Promise.all(Array.from({ length: 5 }, () => settled(key)));
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, 402, 402, 402]);
    expect((await counters("key", id)).spent_usd).toBeCloseTo(2 * CALL_USD, 12);
    expect((await genai("mock/echo", "generateContent", hi, key)).status).toBe(402);
  });
});

describe("team budget", () => {
  it("is shared by the team's keys, and the tighter of key and team wins", async () => {
    freezeClock();
    const team = await createTeam({ name: "research", budget: { max_usd: 0.00005, period: "1d" } });
    const a = await createKey({ team_id: team.id, budget: { max_usd: 1 } });
    const b = await createKey({ team_id: team.id });
    expect((await settled(a.key)).status).toBe(200);
    expect((await settled(b.key)).status).toBe(200);
    const r = await genai("mock/echo", "generateContent", hi, a.key);
    expect(r.status).toBe(402);
    expect((await errorOf(r)).message).toMatch(/^budget: team "research" spent \$0\.000046 of \$0\.00005 \(1d budget, resets /);
    expect((await counters("team", team.id)).spent_usd).toBeCloseTo(2 * CALL_USD, 12);
    expect((await counters("key", a.id)).spent_usd).toBeCloseTo(CALL_USD, 12);
  });
});

describe("budget periods", () => {
  const t = Date.UTC(2026, 4, 7, 15, 45, 12); // Thursday 2026-05-07
  it.each([
    ["1h", "2026-05-07T15:00:00.000Z", "2026-05-07T16:00:00.000Z"],
    ["1d", "2026-05-07T00:00:00.000Z", "2026-05-08T00:00:00.000Z"],
    ["1w", "2026-05-04T00:00:00.000Z", "2026-05-11T00:00:00.000Z"],
    ["1mo", "2026-05-01T00:00:00.000Z", "2026-06-01T00:00:00.000Z"],
  ] as const)("%s runs from %s to %s", (period, start, end) => {
    expect(new Date(periodStart(period, t)).toISOString()).toBe(start);
    expect(new Date(periodEnd(period, t)!).toISOString()).toBe(end);
  });
  it("a week starts on Monday even on a Sunday", () => {
    expect(new Date(periodStart("1w", Date.UTC(2026, 4, 10, 23))).toISOString()).toBe("2026-05-04T00:00:00.000Z");
  });
  it("lifetime has no period", () => {
    expect(periodStart(null, t)).toBe(0);
    expect(periodEnd(undefined, t)).toBeUndefined();
  });
});

describe("prices", () => {
  it("an unknown model costs nothing and says so once per model", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const price = priceLookup({});
    expect(price("acme", "mystery-1")).toBeUndefined();
    expect(price("acme", "mystery-1")).toBeUndefined();
    expect(price("mock", "echo")).toEqual({ input: 1, output: 2, cached_input: 0.5 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toContain('"acme/mystery-1"');
  });
});

describe("subjects without a budget or tokens/min limit", () => {
  it("are not settled per call; a budget set later starts from the spend in the usage log", async () => {
    freezeClock();
    const { key, id } = await createKey({ name: "late-budget" });
    expect((await settled(key)).status).toBe(200);
    expect((await settled(key)).status).toBe(200);
    // No Governor round trip after these calls: nothing counts spend yet...
    expect((await counters("key", id)).spent_lifetime_usd).toBe(0);
    // ...but the budget set now counts the 2 calls the usage log holds, so it is already spent.
    const p = await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 0.00004 } } });
    expect(p.status).toBe(200);
    expect((await counters("key", id)).spent_lifetime_usd).toBeCloseTo(2 * CALL_USD, 12);
    const r = await genai("mock/echo", "generateContent", hi, key);
    expect(r.status).toBe(402);
    // Nothing left at all: refused before the body is read, so without the call's own cost.
    expect((await errorOf(r)).message).toBe('budget: key "late-budget" spent $0.000046 of $0.00004 (lifetime budget)');
  });

  it("a team budget set later counts what the team's keys spent", async () => {
    freezeClock();
    const team = await createTeam({ name: "late-team" });
    const a = await createKey({ team_id: team.id });
    const b = await createKey({ team_id: team.id });
    expect((await settled(a.key)).status).toBe(200);
    expect((await settled(b.key)).status).toBe(200);
    expect((await counters("team", team.id)).spent_lifetime_usd).toBe(0);
    expect((await admin(`/teams/${team.id}`, { method: "PATCH", body: { budget: { max_usd: 0.00004, period: "1d" } } })).status).toBe(200);
    expect((await counters("team", team.id)).spent_usd).toBeCloseTo(2 * CALL_USD, 12);
    expect((await genai("mock/echo", "generateContent", hi, a.key)).status).toBe(402);
  });
});
