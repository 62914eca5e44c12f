/** Requests/min and tokens/min per key and per team, through the real pipeline, Governor DO and KV. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { counters, createTeam, freezeClock } from "../helpers/governance";
import { admin, createKey, genai, genaiSettled, mockUpstream, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const hi = textRequest("hi");
const call = (key: string, body: unknown = hi) => genai("mock/echo", "generateContent", body, key);

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

describe("requests per minute", () => {
  it("admits exactly rpm requests, then answers 429 with Retry-After until the oldest leaves the window", async () => {
    const clock = freezeClock();
    const { key } = await createKey({ name: "ci-bot", rate_limit: { rpm: 3 } });
    for (let i = 0; i < 3; i++) {
      expect((await call(key)).status).toBe(200);
      clock.advance(10_000);
    }
    // Requests at t, t+10s, t+20s; now t+30s: the first frees at t+60s.
    const r = await call(key);
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("30");
    expect(await errorOf(r)).toEqual({
      code: 429,
      status: "RESOURCE_EXHAUSTED",
      message: 'rate limit: key "ci-bot" 3 requests/min; retry after 30 s',
    });

    clock.advance(29_999); // 1 ms before the window frees
    const edge = await call(key);
    expect(edge.status).toBe(429);
    expect(edge.headers.get("retry-after")).toBe("1");

    clock.advance(1);
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(429); // the t+10s request is still in the window
  });

  it("lets exactly N of 50 concurrent requests through when N are left", async () => {
    freezeClock();
    const { key, id } = await createKey({ rate_limit: { rpm: 12 } });
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(200);

    const statuses = await Promise.all(Array.from({ length: 50 }, () => call(key).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40);
    expect((await counters("key", id)).requests).toBe(12);
  });

  it("holds a team limit across the team's keys under concurrency, giving back the refused keys' slots", async () => {
    freezeClock();
    const team = await createTeam({ name: "ml", rate_limit: { rpm: 10 } });
    const keys = await Promise.all(Array.from({ length: 5 }, () => createKey({ team_id: team.id, rate_limit: { rpm: 100 } })));
    const statuses = await Promise.all(
      keys.flatMap((k) => Array.from({ length: 10 }, () => call(k.key).then((r) => r.status))),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect((await counters("team", team.id)).requests).toBe(10);
    // Each key counts only its admitted requests: the team's refusals released the key slots they took.
    const perKey = await Promise.all(keys.map((k) => counters("key", k.id)));
    expect(perKey.reduce((s, c) => s + c.requests, 0)).toBe(10);
  });

  it("applies the team limit when it is tighter than the key's", async () => {
    freezeClock();
    const team = await createTeam({ name: "ml", rate_limit: { rpm: 2 } });
    const { key } = await createKey({ name: "a", team_id: team.id, rate_limit: { rpm: 5 } });
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(200);
    const r = await call(key);
    expect(r.status).toBe(429);
    expect((await errorOf(r)).message).toMatch(/^rate limit: team "ml" 2 requests\/min/);
  });

  it("applies the key limit when it is tighter than the team's", async () => {
    freezeClock();
    const team = await createTeam({ name: "ml", rate_limit: { rpm: 5 } });
    const { key } = await createKey({ name: "a", team_id: team.id, rate_limit: { rpm: 2 } });
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(200);
    const r = await call(key);
    expect(r.status).toBe(429);
    expect((await errorOf(r)).message).toMatch(/^rate limit: key "a" 2 requests\/min/);
    expect((await counters("team", team.id)).requests).toBe(2); // the key's refusal gave the team slot back
  });

  it("a key refused by its team keeps its own slot free (released), so raising the team limit lets it through", async () => {
    freezeClock();
    const team = await createTeam({ rate_limit: { rpm: 1 } });
    const a = await createKey({ team_id: team.id, rate_limit: { rpm: 2 } });
    const b = await createKey({ team_id: team.id });
    expect((await call(a.key)).status).toBe(200);
    expect((await call(b.key)).status).toBe(429); // team full
    expect((await call(a.key)).status).toBe(429); // team full; a's second slot was taken, then released
    expect((await admin(`/teams/${team.id}`, { method: "PATCH", body: { rate_limit: { rpm: 10 } } })).status).toBe(200);
    expect((await call(a.key)).status).toBe(200); // a's limit of 2 not used up by the refused call
    expect((await call(a.key)).status).toBe(429);
  });

  it("takes effect at once when an admin changes the limit", async () => {
    freezeClock();
    const { key, id } = await createKey({ rate_limit: { rpm: 1 } });
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(429);
    await admin(`/keys/${id}`, { method: "PATCH", body: { rate_limit: { rpm: 3 } } });
    expect((await call(key)).status).toBe(200);
  });
});

describe("a refusal and fallbacks", () => {
  it("answers a key's 429 at once instead of trying the fallbacks (the limit is the key's, not the target's)", async () => {
    freezeClock();
    const upstream = mockUpstream(() => Response.json({}));
    const { key } = await createKey({ rate_limit: { rpm: 1 } });
    expect((await call(key)).status).toBe(200);
    const r = await genai("gemini-2.0-flash", "generateContent", { ...hi, fallbacks: ["mock/echo"] }, key);
    expect(r.status).toBe(429);
    // x-edgeway-attempts counts upstream attempts: a refusal makes none.
    expect(r.headers.get("x-edgeway-attempts")).toBe("0");
    expect(upstream).toHaveLength(0);
  });

  it("still falls back on an upstream 429, and the call takes one request slot, not one per attempt", async () => {
    freezeClock();
    mockUpstream(() => Response.json({ error: { code: 429, message: "quota", status: "RESOURCE_EXHAUSTED" } }, { status: 429 }));
    const { key, id } = await createKey({ rate_limit: { rpm: 5 } });
    const r = await genai("gemini-2.0-flash", "generateContent", { ...hi, fallbacks: ["mock/echo"] }, key);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-model")).toBe("echo");
    expect(r.headers.get("x-edgeway-attempts")).toBe("2");
    expect((await counters("key", id)).requests).toBe(1);
  });
});

describe("tokens per minute", () => {
  /** "hi" capped at the 11 tokens the mock answers: 1 + 11 = 12 tokens reserved, and used. */
  const capped = textRequest("hi", { generationConfig: { maxOutputTokens: 11 } });

  it("reserves each call's input estimate + output cap, counts what the provider reports, and refuses what cannot fit", async () => {
    const clock = freezeClock();
    const { key, id } = await createKey({ name: "tok", rate_limit: { tpm: 30 } });
    const first = await genaiSettled("mock/echo", "generateContent", capped, key);
    const usage = ((await first.json()) as { usageMetadata: { totalTokenCount: number } }).usageMetadata;
    expect(usage.totalTokenCount).toBe(12); // the mock: 1 prompt token, 11 reply tokens
    expect((await counters("key", id)).tokens).toBe(12);

    clock.advance(10_000);
    expect((await genaiSettled("mock/echo", "generateContent", capped, key)).status).toBe(200); // 12 + 12 <= 30
    clock.advance(10_000);
    // 24 used: another 12 would pass 30, so it is refused until the first 12 leave the window at t+60s.
    const r = await call(key, capped);
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("40");
    expect((await errorOf(r)).message).toBe('rate limit: key "tok" 30 tokens/min reached (24 used); retry after 40 s');
    clock.advance(40_000);
    expect((await call(key, capped)).status).toBe(200);
  });

  it("without maxOutputTokens a call reserves the model's output cap", async () => {
    freezeClock();
    const { key } = await createKey({ rate_limit: { tpm: 1000 } });
    // The mock's cap is 8192 tokens: such a call can never fit 1000 tokens/min.
    expect((await call(key)).status).toBe(429);
    expect((await call(key, capped)).status).toBe(200);
  });

  it("counts a streamed call's tokens when its stream ends", async () => {
    freezeClock();
    const team = await createTeam({ rate_limit: { tpm: 12 } });
    const { key, id } = await createKey({ team_id: team.id });
    const r = await genaiSettled("mock/echo", "streamGenerateContent", capped, key, { query: "?alt=sse" });
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('"totalTokenCount":12');
    // Only a subject with a tokens/min limit keeps a token log: the team here, not the key.
    expect((await counters("key", id)).tokens).toBe(0);
    expect((await counters("team", team.id)).tokens).toBe(12);
    const refused = await call(key, capped);
    expect(refused.status).toBe(429);
    expect((await errorOf(refused)).message).toMatch(/^rate limit: team "team" 12 tokens\/min/);
  });
});

describe("what takes a request slot", () => {
  it("a call the gateway answers 400 before going upstream (action the provider lacks) takes none", async () => {
    freezeClock();
    const { key, id } = await createKey({ name: "slots", rate_limit: { rpm: 1 } });
    const embed = { content: { parts: [{ text: "x" }] } };
    const r = await genai("anthropic/claude-haiku-4-5", "embedContent", embed, key);
    expect(r.status).toBe(400);
    expect((await counters("key", id)).requests).toBe(0);
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(429);
  });
});
