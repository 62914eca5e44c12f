/**
 * The response cache (src/cache; README, "Response cache") through the real gateway in workerd, with the Workers
 * Cache API as miniflare simulates it: policies, controls, streams replayed as SSE, accounting, and the hostile cases.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { admin, createKey, flushUsage, genaiCall, mockUpstream, ownResource, sseResponse, textRequest, usageRow } from "../helpers/worker";
import { forgetKnownBodies } from "../../src/pipeline/body";
import { REQUEST_SCHEMAS } from "../../src/gemini/schema";
import { clearMemoryTier, heldInMemory, memoryLimits, memoryTier, readEntry, writeEntry } from "../../src/cache/store";
import { EntryKey } from "../../src/cache/entry-key";

afterEach(() => vi.restoreAllMocks());

const MODEL = "gemini-2.0-flash";
const usage = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };
const answer = (text: string, finishReason = "STOP") => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason, index: 0 }],
  usageMetadata: usage,
});
const json = (v: unknown, status = 200) => new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json" } });
const frame = (v: unknown) => `data: ${JSON.stringify(v)}\r\n\r\n`;

/** A call, read to the end, its row flushed: status, headers, body text and row. */
async function call(key: string, body: unknown = textRequest("hi"), opts: { action?: string; headers?: Record<string, string>; model?: string } = {}) {
  const action = opts.action ?? "generateContent";
  const { res, settled } = await genaiCall(opts.model ?? MODEL, action, body, key, {
    headers: opts.headers, query: action === "streamGenerateContent" ? "?alt=sse" : "",
  });
  const text = await res.text();
  await settled();
  const row = await usageRow(res.headers.get("x-edgeway-request-id"));
  return { status: res.status, headers: res.headers, text, row, cache: res.headers.get("x-edgeway-cache") };
}

/** An upstream answering each generate call with a numbered answer; the calls it saw. */
function upstream(make: (n: number) => Response = (n) => json(answer(`answer ${n}`))) {
  let n = 0;
  return mockUpstream(() => make(++n));
}

const cached = (ttl = 60, scope?: "key" | "team") => ({ cache: { ttl, ...(scope ? { scope } : {}) } });

async function createTeam(fields: Record<string, unknown> = {}) {
  const r = await admin("/teams", { body: { name: "t", ...fields } });
  expect(r.status).toBe(201);
  return (await r.json()) as { id: string };
}

describe("response cache: policy", () => {
  it("is off unless set: no header, every call goes upstream, the row's cache is null", async () => {
    const { key } = await createKey();
    const calls = upstream();
    const a = await call(key);
    const b = await call(key);
    expect(calls).toHaveLength(2);
    expect(a.cache).toBeNull();
    expect(JSON.parse(b.text).candidates[0].content.parts[0].text).toBe("answer 2");
    expect(b.row).toMatchObject({ cache: null, saved_usd: 0 });
  });

  it("the admin API validates it", async () => {
    for (const bad of [{ ttl: -1 }, { ttl: 1.5 }, { ttl: 60, scope: "world" }, { scope: "key" }, { ttl: 10_000_000 }]) {
      const r = await admin("/keys", { body: { name: "x", cache: bad } });
      expect(r.status).toBe(400);
      await r.text();
    }
    const { id } = await createKey(cached(30, "team"));
    const got = await (await admin(`/keys/${id}`)).json();
    expect(got).toMatchObject({ cache: { ttl: 30, scope: "team" } });
  });

  it("a miss is stored, the same call then hits: no upstream call, the same answer, age and x-edgeway-cache", async () => {
    const { key } = await createKey(cached());
    const calls = upstream();
    const a = await call(key);
    expect(a.cache).toBe("miss");
    const b = await call(key);
    expect(b.status).toBe(200);
    expect(b.cache).toBe("hit");
    expect(Number(b.headers.get("age"))).toBeGreaterThanOrEqual(0);
    expect(b.headers.get("x-edgeway-attempts")).toBe("0");
    expect(calls).toHaveLength(1);
    expect(JSON.parse(b.text)).toEqual(JSON.parse(a.text));
  });

  it("a key's own policy wins over its team's; a team's applies to keys without one", async () => {
    const team = await createTeam(cached());
    const { key: withTeamPolicy } = await createKey({ team_id: team.id });
    const { key: optedOut } = await createKey({ team_id: team.id, cache: { ttl: 0 } });
    const calls = upstream();
    await call(withTeamPolicy);
    expect((await call(withTeamPolicy)).cache).toBe("hit");
    expect((await call(optedOut)).cache).toBeNull();
    expect((await call(optedOut)).cache).toBeNull();
    expect(calls).toHaveLength(3);
  });

  it("scope team: the team's keys share entries; scope key: they do not", async () => {
    const shared = await createTeam(cached(60, "team"));
    const { key: a } = await createKey({ team_id: shared.id });
    const { key: b } = await createKey({ team_id: shared.id });
    const calls = upstream();
    expect((await call(a)).cache).toBe("miss");
    expect((await call(b)).cache).toBe("hit");
    expect(calls).toHaveLength(1);

    const own = await createTeam(cached(60));
    const { key: c } = await createKey({ team_id: own.id });
    const { key: d } = await createKey({ team_id: own.id });
    await call(c);
    expect((await call(d)).cache).toBe("miss");
  });

  it("caches embeddings too; countTokens is bypassed", async () => {
    const { key } = await createKey(cached());
    const calls = mockUpstream((c) => (c.url.includes("countTokens") ? json({ totalTokens: 3 }) : json({ embedding: { values: [0.1, 0.2] } })));
    const body = { content: { parts: [{ text: "embed me" }] } };
    expect((await call(key, body, { action: "embedContent", model: "text-embedding-004" })).cache).toBe("miss");
    expect((await call(key, body, { action: "embedContent", model: "text-embedding-004" })).cache).toBe("hit");
    const ct = await call(key, textRequest("hi"), { action: "countTokens" });
    expect(ct.cache).toBe("bypass");
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: an upstream that lies", () => {
  it("an answer that is a JSON array, not an object, is a 502 and never stored: the next call goes upstream again", async () => {
    const { key } = await createKey(cached());
    const calls = mockUpstream(() => json([{ embedding: { values: [0.1, 0.2] } }]));
    const body = { content: { parts: [{ text: "embed me as a list" }] } };
    for (let i = 0; i < 2; i++) {
      const r = await call(key, body, { action: "embedContent", model: "text-embedding-004" });
      expect(r.status).toBe(502);
      expect(r.cache).toBe("miss");
    }
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: what is stored", () => {
  it("never an error, nor an answer that did not finish whole (SAFETY), nor a blocked prompt", async () => {
    const { key } = await createKey(cached());
    const answers = [
      json({ error: { code: 500, message: "boom", status: "INTERNAL" } }, 500),
      json(answer("unsafe", "SAFETY")),
      json({ promptFeedback: { blockReason: "SAFETY" } }),
    ];
    let i = 0;
    const calls = mockUpstream(() => answers[Math.min(i++, answers.length - 1)]!.clone());
    const first = await call(key);
    expect(first.status).toBe(500);
    // A miss that failed upstream still says so (the hooks' headers reach error answers).
    expect(first.cache).toBe("miss");
    expect((await call(key)).cache).toBe("miss");
    expect((await call(key)).cache).toBe("miss");
    expect((await call(key)).cache).toBe("miss");
    expect(calls).toHaveLength(4);
  });

  it("MAX_TOKENS is a whole answer (the same body asks for the same limit): stored", async () => {
    const { key } = await createKey(cached());
    upstream((n) => json(answer(`cut ${n}`, "MAX_TOKENS")));
    await call(key);
    expect((await call(key)).cache).toBe("hit");
  });

  it("a huge answer is not stored (above the entry limit), and is still served whole", async () => {
    const { key } = await createKey(cached());
    const big = "x".repeat(9 * 1024 * 1024);
    const calls = upstream(() => json(answer(big)));
    const a = await call(key);
    expect(a.status).toBe(200);
    expect(a.text.length).toBeGreaterThan(big.length);
    expect((await call(key)).cache).toBe("miss");
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: streams", () => {
  const events = [
    { candidates: [{ content: { role: "model", parts: [{ text: "one " }] }, index: 0 }] },
    { candidates: [{ content: { role: "model", parts: [{ text: "two" }] }, finishReason: "STOP", index: 0 }], usageMetadata: usage },
  ];

  it("a streamed answer is stored as it passes and replayed as the same SSE frames", async () => {
    const { key } = await createKey(cached());
    const calls = mockUpstream(() => sseResponse(events.map(frame)));
    const a = await call(key, textRequest("hi"), { action: "streamGenerateContent" });
    expect(a.cache).toBe("miss");
    const b = await call(key, textRequest("hi"), { action: "streamGenerateContent" });
    expect(b.cache).toBe("hit");
    expect(b.headers.get("content-type")).toBe("text/event-stream");
    expect(calls).toHaveLength(1);
    expect(b.text).toBe(events.map(frame).join(""));
    expect(b.text).toBe(a.text);
    expect(b.row).toMatchObject({ stream: 1, cache: "hit", input_tokens: 10, output_tokens: 5, cost_usd: 0 });
  });

  it("a cut stream is not stored", async () => {
    const { key } = await createKey(cached());
    const calls = mockUpstream(() => sseResponse([frame(events[0])], {}, "cut"));
    await call(key, textRequest("hi"), { action: "streamGenerateContent" });
    expect((await call(key, textRequest("hi"), { action: "streamGenerateContent" })).cache).toBe("miss");
    expect(calls).toHaveLength(2);
  });

  it("streamed and not streamed are separate entries: neither serves the other", async () => {
    const { key } = await createKey(cached());
    const calls = mockUpstream((c) => (c.url.includes(":stream") ? sseResponse(events.map(frame)) : json(answer("whole"))));
    await call(key, textRequest("hi"), { action: "streamGenerateContent" });
    const whole = await call(key);
    expect(whole.cache).toBe("miss");
    expect((await call(key)).cache).toBe("hit");
    expect((await call(key, textRequest("hi"), { action: "streamGenerateContent" })).cache).toBe("hit");
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: controls", () => {
  it("no-store neither reads nor writes (bypass); refresh skips the read and writes the fresh answer", async () => {
    const { key } = await createKey(cached());
    const calls = upstream();
    expect((await call(key, textRequest("hi"), { headers: { "x-edgeway-cache": "no-store" } })).cache).toBe("bypass");
    expect((await call(key)).cache).toBe("miss");
    const fresh = await call(key, textRequest("hi"), { headers: { "x-edgeway-cache": "refresh" } });
    expect(fresh.cache).toBe("miss");
    const hit = await call(key);
    expect(hit.cache).toBe("hit");
    expect(JSON.parse(hit.text).candidates[0].content.parts[0].text).toBe("answer 3");
    expect(calls).toHaveLength(3);
  });

  it("x-edgeway-cache-ttl lowers the TTL (an older entry is not served), never raises it or turns caching on", async () => {
    const { key } = await createKey(cached());
    upstream();
    await call(key);
    const t0 = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => t0 + 5_000);
    expect((await call(key, textRequest("hi"), { headers: { "x-edgeway-cache-ttl": "2" } })).cache).toBe("miss");
    vi.restoreAllMocks();
    const { key: off } = await createKey();
    upstream();
    expect((await call(off, textRequest("hi"), { headers: { "x-edgeway-cache-ttl": "600" } })).cache).toBeNull();
  });

  it("DELETE /admin/cache makes a key's entries unreachable at once, and a team's", async () => {
    const { key, id } = await createKey(cached());
    const calls = upstream();
    await call(key);
    expect((await call(key)).cache).toBe("hit");
    const r = await admin(`/cache?key_id=${id}`, { method: "DELETE" });
    expect(r.status).toBe(200);
    await r.text();
    expect((await call(key)).cache).toBe("miss");
    expect((await call(key)).cache).toBe("hit");
    expect(calls).toHaveLength(2);

    const team = await createTeam(cached(60, "team"));
    const { key: member } = await createKey({ team_id: team.id });
    await call(member);
    expect((await call(member)).cache).toBe("hit");
    const t = await admin(`/cache?team_id=${team.id}`, { method: "DELETE" });
    expect(t.status).toBe(200);
    await t.text();
    expect((await call(member)).cache).toBe("miss");
    const bad = await admin(`/cache`, { method: "DELETE" });
    expect(bad.status).toBe(400);
    await bad.text();
  });
});

describe("response cache: accounting", () => {
  it("a hit's row: cache hit, cost 0, saved_usd what the original cost, the original's tokens; /admin/usage counts hits and savings", async () => {
    const { key, id } = await createKey(cached());
    upstream();
    const miss = await call(key);
    expect(miss.row).toMatchObject({ cache: "miss", input_tokens: 10, output_tokens: 5 });
    const cost = miss.row!.cost_usd as number;
    expect(cost).toBeGreaterThan(0);
    const hit = await call(key);
    expect(hit.row).toMatchObject({ cache: "hit", cost_usd: 0, input_tokens: 10, output_tokens: 5, attempts: 0 });
    expect(hit.row!.saved_usd).toBeCloseTo(cost, 12);
    await flushUsage();
    const u = (await (await admin(`/usage?key_id=${id}`)).json()) as { totals: Record<string, number> };
    expect(u.totals.cache_hits).toBe(1);
    expect(u.totals.saved_usd).toBeCloseTo(cost, 9);
    expect(u.totals.requests).toBe(2);
  });

  it("a hit counts toward rpm, not toward tpm or the budget", async () => {
    // Each call reserves its worst case (its input estimate and 10 output tokens) against tpm; the miss used 15.
    const { key } = await createKey({ ...cached(), rate_limit: { rpm: 3, tpm: 40 } });
    const calls = upstream();
    const body = textRequest("hi", { generationConfig: { maxOutputTokens: 10 } });
    expect((await call(key, body)).status).toBe(200);
    // Were a hit's 15 tokens counted, the second hit would not fit in 40.
    expect((await call(key, body)).cache).toBe("hit");
    expect((await call(key, body)).cache).toBe("hit");
    expect((await call(key, body)).status).toBe(429); // the fourth request of the minute
    expect(calls).toHaveLength(1);
  });

  it("hits leave the isolate's tpm count alone: a new prompt after them is admitted", async () => {
    // The miss used 15 tokens; a new prompt reserves about as much. Were each hit's 15 counted, 15 × 3 + that > 50.
    const { key } = await createKey({ ...cached(), rate_limit: { rpm: 100, tpm: 50 } });
    const calls = upstream();
    const body = textRequest("hi", { generationConfig: { maxOutputTokens: 10 } });
    expect((await call(key, body)).status).toBe(200);
    expect((await call(key, body)).cache).toBe("hit");
    expect((await call(key, body)).cache).toBe("hit");
    const fresh = await call(key, textRequest("ho", { generationConfig: { maxOutputTokens: 10 } }));
    expect(fresh.status).toBe(200);
    expect(fresh.cache).toBe("miss");
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: budget", () => {
  it("a hit reserves no cost: a key whose budget could not pay for the call is still served from the cache", async () => {
    const { key, id } = await createKey(cached());
    const calls = upstream();
    const miss = await call(key);
    // A budget just above what was spent, below the call's worst case (its input estimate and default output cap).
    const spent = miss.row!.cost_usd as number;
    const r = await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: spent * 1.5 } } });
    expect(r.status).toBe(200);
    await r.text();
    const hit = await call(key);
    expect(hit.status).toBe(200);
    expect(hit.cache).toBe("hit");
    const fresh = await call(key, textRequest("something else"));
    expect(fresh.status).toBe(402);
    expect(calls).toHaveLength(1);
  });
});

describe("response cache: hostile", () => {
  it("another key replaying the same body misses", async () => {
    const { key: a } = await createKey(cached());
    const { key: b } = await createKey(cached());
    const calls = upstream();
    await call(a);
    expect((await call(b)).cache).toBe("miss");
    expect(calls).toHaveLength(2);
  });

  it("a team-scoped entry misses once the key moved to another team", async () => {
    const one = await createTeam(cached(60, "team"));
    const two = await createTeam(cached(60, "team"));
    const { key, id } = await createKey({ team_id: one.id });
    upstream();
    await call(key);
    expect((await call(key)).cache).toBe("hit");
    const r = await admin(`/keys/${id}`, { method: "PATCH", body: { team_id: two.id } });
    expect(r.status).toBe(200);
    await r.text();
    expect((await call(key)).cache).toBe("miss");
  });

  it("a model removed from the key's allow-list after the entry was written is refused, not served", async () => {
    const { key, id } = await createKey({ ...cached(), models: ["gemini/gemini-2.0-flash", "gemini/gemini-2.5-flash"] });
    upstream();
    await call(key);
    expect((await call(key)).cache).toBe("hit");
    const r = await admin(`/keys/${id}`, { method: "PATCH", body: { models: ["gemini/gemini-2.5-flash"] } });
    expect(r.status).toBe(200);
    await r.text();
    const refused = await call(key);
    expect(refused.status).toBe(403);
    expect(refused.cache).not.toBe("hit");
  });

  it("a revoked key is refused before the cache is read", async () => {
    const { key, id } = await createKey(cached());
    upstream();
    await call(key);
    const r = await admin(`/keys/${id}`, { method: "DELETE" });
    await r.text();
    const match = vi.spyOn(Cache.prototype, "match");
    const refused = await call(key);
    expect(refused.status).toBe(403);
    expect(refused.cache).toBeNull();
    expect(match).not.toHaveBeenCalled();
  });

  it("a body that differs only in key order or spacing hits", async () => {
    const { key } = await createKey(cached());
    const calls = upstream();
    await call(key, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":0,"topK":1}}`);
    const again = await call(key, `{ "generationConfig": { "topK": 1, "temperature": 0 },\n "contents": [ { "parts": [ { "text": "hi" } ], "role": "user" } ] }`);
    expect(again.cache).toBe("hit");
    expect(calls).toHaveLength(1);
    // Any field that can change the answer is a different entry.
    expect((await call(key, textRequest("hi", { generationConfig: { temperature: 1, topK: 1 } }))).cache).toBe("miss");
  });

  it("a different `fallbacks` is a different target chain: a miss", async () => {
    const { key } = await createKey(cached());
    upstream();
    await call(key, textRequest("hi"));
    expect((await call(key, textRequest("hi", { fallbacks: ["gemini/gemini-2.5-flash"] }))).cache).toBe("miss");
    expect((await call(key, textRequest("hi", { fallbacks: ["gemini/gemini-2.5-flash"] }))).cache).toBe("hit");
  });
});

describe("response cache: two tiers (the isolate's memory, then the Cache API)", () => {
  const limits = { ...memoryLimits };
  afterEach(() => Object.assign(memoryLimits, limits));

  it("a hit this isolate wrote is answered from memory, with no Cache API read; another isolate (memory empty) reads the Cache API and keeps the entry", async () => {
    const { key } = await createKey(cached());
    const calls = upstream();
    const a = await call(key);
    const match = vi.spyOn(Cache.prototype, "match");
    const b = await call(key);
    expect(b.cache).toBe("hit");
    expect(match).not.toHaveBeenCalled();
    expect(b.text).toBe(a.text);
    clearMemoryTier();
    const c = await call(key);
    expect(c.cache).toBe("hit");
    expect(match).toHaveBeenCalledTimes(1);
    expect(JSON.parse(c.text)).toEqual(JSON.parse(a.text));
    expect(memoryTier().entries).toBe(1);
    expect((await call(key)).cache).toBe("hit");
    expect(match).toHaveBeenCalledTimes(1);
    expect(calls).toHaveLength(1);
  });

  it("a stream's entry too: replayed from memory, and from the Cache API alone, as the same frames", async () => {
    const { key } = await createKey(cached());
    const events = [
      { candidates: [{ content: { role: "model", parts: [{ text: "one " }] }, index: 0 }] },
      { candidates: [{ content: { role: "model", parts: [{ text: "two" }] }, finishReason: "STOP", index: 0 }], usageMetadata: usage },
    ];
    mockUpstream(() => sseResponse(events.map(frame)));
    const a = await call(key, textRequest("stream me"), { action: "streamGenerateContent" });
    const b = await call(key, textRequest("stream me"), { action: "streamGenerateContent" });
    clearMemoryTier();
    const c = await call(key, textRequest("stream me"), { action: "streamGenerateContent" });
    expect([b.cache, c.cache]).toEqual(["hit", "hit"]);
    const frames = (t: string) => t.split("\r\n\r\n").filter(Boolean).map((f) => JSON.parse(f.slice("data: ".length)).candidates[0].content.parts[0].text);
    expect(frames(b.text)).toEqual(["one ", "two"]);
    expect(b.text).toBe(a.text);
    expect(c.text).toBe(a.text);
  });

  it("an entry larger than the memory tier takes lives in the Cache API only; the tier keeps to its budget, least recently used out first", async () => {
    memoryLimits.entryMax = 1_000;
    const { key } = await createKey(cached());
    upstream((n) => json(answer(`big answer ${n} ${"x".repeat(2_000)}`)));
    clearMemoryTier();
    await call(key, textRequest("big"));
    expect(memoryTier().entries).toBe(0);
    expect((await call(key, textRequest("big"))).cache).toBe("hit");
    expect(memoryTier().entries).toBe(0);

    Object.assign(memoryLimits, limits);
    upstream((n) => json(answer(`answer ${n}`)));
    await call(key, textRequest("p1"));
    const one = memoryTier().cost;
    memoryLimits.budget = one * 2;
    await call(key, textRequest("p2"));
    expect((await call(key, textRequest("p1"))).cache).toBe("hit"); // p1 now the most recently used
    await call(key, textRequest("p3")); // over budget: p2, the least recently used, goes
    expect(memoryTier().entries).toBe(2);
    expect(memoryTier().cost).toBeLessThanOrEqual(one * 2);
    const match = vi.spyOn(Cache.prototype, "match");
    expect((await call(key, textRequest("p1"))).cache).toBe("hit");
    expect((await call(key, textRequest("p3"))).cache).toBe("hit");
    expect(match).not.toHaveBeenCalled();
    expect((await call(key, textRequest("p2"))).cache).toBe("hit"); // from the Cache API
    expect(match).toHaveBeenCalledTimes(1);
  });

  it("under churn the tier stays within its budget and keeps the entries that are read (a CLOCK: a read marks, the hand evicts the unmarked)", async () => {
    clearMemoryTier();
    const target = [{ provider: "gemini", model: MODEL }];
    const keyOf = (i: number) => new EntryKey("key:churn:1", "generateContent", target, JSON.stringify({ contents: [{ parts: [{ text: `prompt ${i}` }] }] }));
    const entry = (i: number) => ({ kind: "answer" as const, text: JSON.stringify(answer(`answer ${i}`)), at: Date.now(), tokens: { input: 1, output: 1 } as never, cost_usd: 0 });
    await writeEntry(keyOf(0), 60, entry(0));
    const one = memoryTier().cost;
    memoryLimits.budget = one * 10;
    const match = vi.spyOn(Cache.prototype, "match");
    // 300 writes through a tier of 10, reading entries 0 and 1 after every write: they stay; the rest pass through.
    for (let i = 1; i <= 300; i++) {
      await writeEntry(keyOf(i), 60, entry(i));
      expect(memoryTier().cost).toBeLessThanOrEqual(memoryLimits.budget);
      // The entry just written is kept: the hand passes over it until it alone is over the budget.
      expect(heldInMemory(keyOf(i))).toBe(true);
      for (const hot of [0, 1]) expect((await readEntry(keyOf(hot), 60, Date.now()))?.text).toBe(entry(hot).text);
    }
    expect(match).not.toHaveBeenCalled();
    expect(memoryTier().entries).toBeGreaterThanOrEqual(9);
    // An old unread entry is gone from memory (read again, it comes from the Cache API).
    expect((await readEntry(keyOf(150), 60, Date.now()))?.text).toBe(entry(150).text);
    expect(match).toHaveBeenCalledTimes(1);
  });

  it("an entry just written is not the one evicted when the hand reaches it before the older ones", async () => {
    clearMemoryTier();
    const target = [{ provider: "gemini", model: MODEL }];
    const keyOf = (i: number) => new EntryKey("key:hand:1", "generateContent", target, JSON.stringify({ contents: [{ parts: [{ text: `prompt ${String(i).padStart(3, "0")}` }] }] }));
    const entry = (i: number, pad = "") => ({ kind: "answer" as const, text: JSON.stringify(answer(`answer ${String(i).padStart(3, "0")}${pad}`)), at: Date.now(), tokens: { input: 1, output: 1 } as never, cost_usd: 0 });
    await writeEntry(keyOf(0), 60, entry(0));
    const one = memoryTier().cost;
    memoryLimits.budget = one * 10;
    for (let i = 1; i <= 10; i++) await writeEntry(keyOf(i), 60, entry(i)); // 0 goes; the hand now stands at 1
    expect(heldInMemory(keyOf(0))).toBe(false);
    for (let i = 1; i <= 10; i++) await readEntry(keyOf(i), 60, Date.now()); // every entry after the hand is marked
    // An entry the size of about three: the hand clears 1..10, meets the new one at the Map's end, passes over it,
    // and evicts from the front.
    await writeEntry(keyOf(11), 60, entry(11, "x".repeat(Math.ceil(one * 2 / 3))));
    expect(heldInMemory(keyOf(11))).toBe(true);
    expect(memoryTier().cost).toBeLessThanOrEqual(memoryLimits.budget);
    expect(heldInMemory(keyOf(1))).toBe(false);
    expect(heldInMemory(keyOf(10))).toBe(true);
  });

  it("an entry lives its own TTL in both tiers, even once the policy allows longer", async () => {
    const { key, id } = await createKey(cached(5));
    const calls = upstream();
    await call(key);
    const r = await admin(`/keys/${id}`, { method: "PATCH", body: cached(3600) });
    expect(r.status).toBe(200);
    await r.text();
    const t0 = Date.now();
    vi.spyOn(Date, "now").mockImplementation(() => t0 + 6_000);
    expect((await call(key)).cache).toBe("miss");
    expect(calls).toHaveLength(2);
  });
});

describe("response cache: off for the gateway", () => {
  it("RESPONSE_CACHE=off: a key's policy is not consulted", async () => {
    const { key } = await createKey(cached());
    upstream();
    const { res, settled } = await genaiCall(MODEL, "generateContent", textRequest("hi"), key, { env: { RESPONSE_CACHE: "off" } as never });
    await res.text();
    await settled();
    expect(res.headers.get("x-edgeway-cache")).toBeNull();
    expect(env).toBeDefined();
  });
});

describe("response cache: a body answered from the cache is validated once", () => {
  const FILE = "https://generativelanguage.googleapis.com/v1beta/files/owned1";
  const withFile = (text: string) => ({ contents: [{ role: "user", parts: [{ text }, { fileData: { mimeType: "text/plain", fileUri: FILE } }] }] });

  it("from its second hit on, the same text skips the schema check and is served the same; a new text, another action or an invalid body is checked in full", async () => {
    forgetKnownBodies();
    const { key } = await createKey(cached());
    const calls = upstream();
    const check = vi.spyOn(REQUEST_SCHEMAS.generateContent, "safeParse");
    const a = await call(key, textRequest("known"));
    const b = await call(key, textRequest("known"));
    expect([a.cache, b.cache]).toEqual(["miss", "hit"]);
    expect(check).toHaveBeenCalledTimes(2);
    const c = await call(key, textRequest("known"));
    expect(c.cache).toBe("hit");
    expect(check).toHaveBeenCalledTimes(2);
    expect(c.text).toBe(a.text);
    expect(c.row).toMatchObject({ cache: "hit", status: 200 });
    // Another text is checked; so is the same text for another action.
    await call(key, textRequest("other"));
    expect(check).toHaveBeenCalledTimes(3);
    const counted = vi.spyOn(REQUEST_SCHEMAS.countTokens, "safeParse");
    mockUpstream(() => json({ totalTokens: 3 }));
    expect((await call(key, textRequest("known"), { action: "countTokens" })).status).toBe(200);
    expect(counted).toHaveBeenCalledTimes(1);
    // An invalid body is never known: refused every time.
    for (let i = 0; i < 3; i++) expect((await call(key, { contents: "not a list" })).status).toBe(400);
    expect(calls).toHaveLength(2);
  });

  it("a text whose parsed object differs from the schema's copy (a __proto__ key, even escaped) is never known", async () => {
    forgetKnownBodies();
    const { key } = await createKey(cached());
    upstream();
    const check = vi.spyOn(REQUEST_SCHEMAS.generateContent, "safeParse");
    // The key `__proto__`, its first character escaped: JSON.parse makes it an own field.
    const text = String.raw`{"contents":[{"role":"user","parts":[{"text":"proto"}]}],"\u005f_proto__":{"labels":{"a":"b"}}}`;
    expect(Object.keys(JSON.parse(text))).toContain("__proto__");
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await call(key, text));
    // Whatever it is answered, it is answered the same each time, and checked in full each time.
    expect(new Set(seen.map((r) => r.status)).size).toBe(1);
    expect(check).toHaveBeenCalledTimes(3);
  });

  it("a known text is only a verdict, never a pass: another key sending it is scoped, owned and admitted as any call (a file it does not own is refused)", async () => {
    forgetKnownBodies();
    const team = await createTeam(cached(60, "team"));
    const owner = await createKey({ team_id: team.id });
    const other = await createKey({ team_id: team.id });
    await ownResource(owner.id, "file", "files/owned1");
    const calls = upstream();
    const check = vi.spyOn(REQUEST_SCHEMAS.generateContent, "safeParse");
    expect((await call(owner.key, withFile("read it"))).cache).toBe("miss");
    expect((await call(owner.key, withFile("read it"))).cache).toBe("hit");
    expect((await call(owner.key, withFile("read it"))).cache).toBe("hit");
    expect(check).toHaveBeenCalledTimes(2); // the third call's text was known
    // The same text from a teammate: known (no schema check), but the file is the owner's and the call is refused,
    // before any upstream call or cache read; the team-scoped policy did not share the owner's entry either.
    const refused = await call(other.key, withFile("read it"));
    expect(check).toHaveBeenCalledTimes(2);
    expect([403, 404]).toContain(refused.status);
    expect(refused.cache).toBeNull();
    expect(calls).toHaveLength(1);
    // A key with no policy sending a known text is not served from anyone's cache: it goes upstream.
    const plain = await createKey();
    const fresh = await call(plain.key, textRequest("read it too"));
    expect(fresh.cache).toBeNull();
    expect(calls).toHaveLength(2);
  });
});
