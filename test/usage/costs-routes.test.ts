/**
 * Costs through the gateway: a call's row prices every dimension its upstream reported (Gemini's wire format),
 * Imagen per image, Veo per second, a context cache's storage on create and on a later expiry, and a dimension no
 * price covers is flagged (row `unpriced`, `/admin/usage` `unpriced_calls`) and refused under a budget. Expected
 * figures are worked out from the shipped prices (docs/prices.md, "Prices and costs"), the arithmetic beside each.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { observeBatch, type BatchMeta, type BatchOperation } from "../../src/resources/batches";
import { getConfig } from "../../src/config";
import { ResourceStore, type ResourceRow } from "../../src/resources/store";
import { sweepResources } from "../../src/resources/sweep";
import { Upstream } from "../../src/resources/upstream";
import { concatBytes, converseEvent } from "../helpers/eventstream";
import { counters, createTeam, freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, flushUsage, genaiCall, mockUpstream, readSse, textRequest, usageRow } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const M = 1e6;
const json = (body: unknown) => new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });

/** One call through the Worker; its row once it is in D1. */
async function call(model: string, action: string, body: unknown, key: string, vars?: Partial<Cloudflare.Env>) {
  const { res, settled } = await genaiCall(model, action, body, key, vars ? { env: vars } : {});
  const text = await res.text();
  await settled();
  return { status: res.status, text, row: await usageRow(res.headers.get("x-edgeway-request-id")) };
}

/** A resource call (`/genai/v1beta/{path}`) through the Worker; its row once it is in D1. */
async function resource(method: string, path: string, body: unknown, key: string) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${BASE}/genai/v1beta/${path}`, { method, headers: { "content-type": "application/json", "x-goog-api-key": key }, body: JSON.stringify(body) }),
    env,
    ctx,
  );
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  await flushUsage();
  return { status: res.status, text, row: await usageRow(res.headers.get("x-edgeway-request-id")) };
}

describe("generateContent rows", () => {
  it("a tool-use prompt counts once: in the row's input, in its cost, and in the tokens the key's Governor counts", async () => {
    const { key, id } = await createKey({ name: "tool-use", rate_limit: { tpm: 1_000_000 } });
    const usageMetadata = { promptTokenCount: 1000, toolUsePromptTokenCount: 300, candidatesTokenCount: 100, totalTokenCount: 1400 };
    mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }], usageMetadata }));
    const { status, row } = await call("gemini/gemini-2.5-flash", "generateContent", textRequest("hi", { generationConfig: { maxOutputTokens: 100 } }), key);
    expect(status).toBe(200);
    expect(row).toMatchObject({ input_tokens: 1300, tool_use_tokens: 300, output_tokens: 100 });
    // (1000 + 300) × 0.30 + 100 × 2.50 = 390 + 250 = 640
    expect(row!.cost_usd).toBe(640 / M);
    // input (tool use included) + output: 1400, as Gemini's totalTokenCount; not 1700.
    expect((await counters("key", id)).tokens).toBe(1400);
  });

  it("a tool-use prompt counts once against tokens/min: a second call fits what the first left", async () => {
    freezeClock();
    // 1400 used; the next call reserves "hi" (1) + 100 output: 1501 fits 1550 (counted twice, 1801 would not).
    const { key } = await createKey({ name: "tool-use-tpm", rate_limit: { tpm: 1550 } });
    const usageMetadata = { promptTokenCount: 1000, toolUsePromptTokenCount: 300, candidatesTokenCount: 100, totalTokenCount: 1400 };
    mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }], usageMetadata }));
    const body = textRequest("hi", { generationConfig: { maxOutputTokens: 100 } });
    expect((await call("gemini/gemini-2.5-flash", "generateContent", body, key)).status).toBe(200);
    const second = await call("gemini/gemini-2.5-flash", "generateContent", body, key);
    expect(second.status, second.text).toBe(200);
  });

  it("above 200k prompt tokens the tier prices the whole call; thinking, cached and tool-use tokens shown apart", async () => {
    const { key } = await createKey({ name: "tier" });
    const usageMetadata = {
      promptTokenCount: 250_000, cachedContentTokenCount: 100_000, candidatesTokenCount: 1000, thoughtsTokenCount: 4000,
      toolUsePromptTokenCount: 2000, totalTokenCount: 257_000,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 250_000 }], cacheTokensDetails: [{ modality: "TEXT", tokenCount: 100_000 }],
    };
    mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }], usageMetadata }));
    const { status, row } = await call("gemini/gemini-2.5-pro", "generateContent", textRequest("hi"), key);
    expect(status).toBe(200);
    // gemini-2.5-pro above 200k: $2.50 in, $0.25 cached, $15 out (thinking too).
    // 150,000 × 2.50 + 100,000 × 0.25 + 2000 × 2.50 (tool use) + (1000 + 4000) × 15
    // = 375,000 + 25,000 + 5000 + 75,000 = 480,000
    // input_tokens includes the tool-use prompt (priced once, above); the tier is the prompt's own 250,000.
    expect(row).toMatchObject({ input_tokens: 252_000, tool_use_tokens: 2000, cached_tokens: 100_000, thinking_tokens: 4000, output_tokens: 5000, unpriced: null });
    expect(row!.cost_usd).toBe(0.48);
  });

  it("a modality no price knows is flagged on the row and counted by /admin/usage, priced at the dearest input price", async () => {
    const { key, id } = await createKey({ name: "hologram" });
    mockUpstream(() =>
      json({
        candidates: [{ content: { role: "model", parts: [{ text: "ok" }] } }],
        usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 10, promptTokensDetails: [{ modality: "HOLOGRAM", tokenCount: 1000 }] },
      }),
    );
    const { row } = await call("gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), key);
    expect(row!.unpriced).toBe("input:HOLOGRAM");
    // 1000 × 1.00 (audio, the dearest input price) + 10 × 2.50 = 1000 + 25
    expect(row!.cost_usd).toBe(1025 / M);
    const usage = (await (await admin(`/usage?key_id=${id}`)).json()) as { totals: { unpriced_calls: number; requests: number } };
    expect(usage.totals).toMatchObject({ requests: 1, unpriced_calls: 1 });
    const logs = (await (await admin(`/logs?key_id=${id}`)).json()) as { logs: { unpriced?: string }[] };
    expect(logs.logs[0]!.unpriced).toBe("input:HOLOGRAM");
  });

  it("admission reserves at the tier a prompt could reach: a budget that covers the base price but not the tier refuses before the upstream", async () => {
    const calls = mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] } }], usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1 } }));
    // 240,000 characters: estimated 60,000 tokens, which may count up to 240,000 (above gemini-2.5-pro's 200k tier).
    const body = textRequest("a".repeat(240_000), { generationConfig: { maxOutputTokens: 1000 } });
    // At the tier: 60,000 × 2.50 + 1000 × 15 = 150,000 + 15,000 = $0.165; at the base price it would be
    // 60,000 × 1.25 + 1000 × 10 = $0.085, which $0.10 covers.
    const tight = await createKey({ name: "tier-budget", budget: { max_usd: 0.1 } });
    const refused = await call("gemini/gemini-2.5-pro", "generateContent", body, tight.key);
    expect(refused.status).toBe(402);
    expect(calls).toHaveLength(0);
    const enough = await createKey({ name: "tier-budget-ok", budget: { max_usd: 0.17 } });
    expect((await call("gemini/gemini-2.5-pro", "generateContent", body, enough.key)).status).toBe(200);
    expect(calls).toHaveLength(1);
  });

  it("mock/* costs what docs/prices.md says: $1 per 1M input, $2 per 1M output", async () => {
    const { key } = await createKey({ name: "mock" });
    const { row } = await call("mock/echo", "generateContent", textRequest("hi", { generationConfig: { maxOutputTokens: 11 } }), key);
    // 1 input token × 1 + 11 output × 2 = 23
    expect(row).toMatchObject({ input_tokens: 1, output_tokens: 11 });
    expect(row!.cost_usd).toBe(23 / M);
  });
});

describe("Bedrock: cache reads and writes from Converse's usage, each at its own price", () => {
  // Bedrock is priced by PRICES (the shipped catalogue covers Gemini, OpenAI and Anthropic's own API); here at
  // Anthropic's published claude-sonnet-4-5 prices: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write, $6 1-hour.
  const MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";
  const vars = {
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", BEDROCK_REGION: "eu-west-1",
    PRICES: JSON.stringify({ "bedrock/eu.anthropic.claude-sonnet-4-5*": { input: 3, output: 15, cached_input: 0.3, cache_write: 3.75, cache_write_1h: 6 } }),
  };
  // Converse's TokenUsage: inputTokens leaves out cache reads and writes; cacheDetails splits the writes by TTL.
  const usage = {
    inputTokens: 100, outputTokens: 200, totalTokens: 8300, cacheReadInputTokens: 5000, cacheWriteInputTokens: 3000,
    cacheDetails: [{ ttl: "1h", inputTokens: 1000 }, { ttl: "5m", inputTokens: 2000 }],
  };
  // 100 × 3 + 2000 × 3.75 + 1000 × 6 + 5000 × 0.30 + 200 × 15 = 300 + 7500 + 6000 + 1500 + 3000 = 18,300
  const expected = 18_300 / M;

  it("Converse: the row's prompt counts reads and writes once; writes at cache_write and cache_write_1h", async () => {
    const { key } = await createKey({ name: "bedrock-cache" });
    mockUpstream(() => json({ output: { message: { role: "assistant", content: [{ text: "ok" }] } }, stopReason: "end_turn", usage, metrics: { latencyMs: 80 } }));
    const { status, text, row } = await call(`bedrock/${MODEL}`, "generateContent", textRequest("hi"), key, vars);
    expect(status, text).toBe(200);
    // The caller sees Gemini's fields only: no trace of the writes' split.
    expect(JSON.parse(text).usageMetadata).toEqual({ promptTokenCount: 8100, candidatesTokenCount: 200, cachedContentTokenCount: 5000, totalTokenCount: 8300 });
    expect(row).toMatchObject({ provider: "bedrock", input_tokens: 8100, cached_tokens: 5000, output_tokens: 200, unpriced: null });
    expect(row!.cost_usd).toBe(expected);
  });

  it("ConverseStream: the same usage in the stream's metadata event prices the row the same", async () => {
    const { key } = await createKey({ name: "bedrock-cache-stream" });
    const bytes = concatBytes([
      converseEvent("messageStart", { role: "assistant" }),
      converseEvent("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "ok" } }),
      converseEvent("contentBlockStop", { contentBlockIndex: 0 }),
      converseEvent("messageStop", { stopReason: "end_turn" }),
      converseEvent("metadata", { usage, metrics: { latencyMs: 42 } }),
    ]);
    mockUpstream(() => new Response(bytes, { headers: { "content-type": "application/vnd.amazon.eventstream" } }));
    const { res, settled } = await genaiCall(`bedrock/${MODEL}`, "streamGenerateContent", textRequest("hi"), key, { env: vars, query: "?alt=sse" });
    const chunks = (await readSse(res)) as { usageMetadata?: Record<string, unknown> }[];
    await settled();
    expect(chunks.at(-1)!.usageMetadata).toEqual({ promptTokenCount: 8100, candidatesTokenCount: 200, cachedContentTokenCount: 5000, totalTokenCount: 8300 });
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ provider: "bedrock", input_tokens: 8100, cached_tokens: 5000, output_tokens: 200 });
    expect(row!.cost_usd).toBe(expected);
  });

  it("writes without cacheDetails are 5-minute writes; without a write price, 1.25x input", async () => {
    const { key } = await createKey({ name: "bedrock-cache-default" });
    mockUpstream(() => json({ output: { message: { role: "assistant", content: [{ text: "ok" }] } }, stopReason: "end_turn", usage: { inputTokens: 10, outputTokens: 10, totalTokens: 1020, cacheWriteInputTokens: 1000 } }));
    const own = { ...vars, PRICES: JSON.stringify({ "bedrock/eu.anthropic.claude-sonnet-4-5*": { input: 2, output: 8 } }) };
    const { row } = await call(`bedrock/${MODEL}`, "generateContent", textRequest("hi"), key, own);
    // 10 × 2 + 1000 × 2 × 1.25 + 10 × 8 = 20 + 2500 + 80 = 2600
    expect(row!.cost_usd).toBe(2600 / M);
  });
});

describe("per image and per second", () => {
  it("Imagen: each prediction at per_image (imagen-4.0-generate-001: $0.04)", async () => {
    const { key } = await createKey({ name: "imagen" });
    mockUpstream(() => json({ predictions: [1, 2, 3].map(() => ({ bytesBase64Encoded: "AAAA", mimeType: "image/png" })) }));
    const { status, row } = await call("gemini/imagen-4.0-generate-001", "predict", { instances: [{ prompt: "a cat" }], parameters: { sampleCount: 3 } }, key);
    expect(status).toBe(200);
    // 3 × 0.04
    expect(row!.cost_usd).toBe(0.12);
    expect(row!.unpriced).toBeNull();
  });

});

describe("Veo: held as asked at creation, charged on the operation's end for the videos it made", () => {
  const MODEL = "veo-3.0-fast-generate-001";
  const GCS = "https://generativelanguage.googleapis.com/v1beta/files";
  /** Gemini's operation when done: its videos in response.generateVideoResponse.generatedSamples. */
  const finished = (name: string, videos: number, filtered = 0) => ({
    name, done: true,
    response: {
      "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
      generateVideoResponse: {
        ...(videos ? { generatedSamples: Array.from({ length: videos }, (_, i) => ({ video: { uri: `${GCS}/v${i}${name.slice(-8)}:download?alt=media` } })) } : {}),
        ...(filtered ? { raiMediaFilteredCount: filtered, raiMediaFilteredReasons: ["The video was filtered by a safety policy."] } : {}),
      },
    },
  });
  const failed = (name: string) => ({ name, done: true, error: { code: 13, message: "Video generation failed due to an internal error." } });

  /** A Veo upstream: a create names a new operation; a poll answers `state(name)` (running until it is set). */
  function veo() {
    const up = { name: "", state: undefined as ((name: string) => unknown) | undefined };
    const calls = mockUpstream((c) => {
      if (c.url.endsWith(":predictLongRunning")) {
        up.name = `models/${MODEL}/operations/${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
        return json({ name: up.name });
      }
      if (c.url.includes("/operations/")) return up.state ? json(up.state(up.name)) : json({ name: up.name });
      return new Response("unexpected", { status: 500 });
    });
    return { up, calls, id: () => up.name.slice(up.name.lastIndexOf("/") + 1) };
  }
  const create = (key: string, durationSeconds: number, sampleCount: number) =>
    resource("POST", `models/${MODEL}:predictLongRunning`, { instances: [{ prompt: "waves" }], parameters: { durationSeconds, sampleCount } }, key);

  it("2 × 6 s asked, 1 made (one filtered): held $1.80, charged $0.90 once to its creator, however many polls and by whom", async () => {
    freezeClock();
    const team = await createTeam({ name: "veo-team", budget: { max_usd: 100 } });
    const a = await createKey({ name: "veo-a", team_id: team.id, resource_scope: "team", budget: { max_usd: 10 } });
    const b = await createKey({ name: "veo-b", team_id: team.id, resource_scope: "team", budget: { max_usd: 10 } });
    const { up, id } = veo();
    const made = await create(a.key, 6, 2);
    expect(made.status, made.text).toBe(200);
    // The create charges nothing itself: 6 s × 2 videos × $0.15 = $1.80 is held by the key and its team.
    expect(made.row).toMatchObject({ action: "operations.create", cost_usd: 0 });
    expect((await counters("key", a.id)).held.usd).toBe(1.8);
    expect((await counters("team", team.id)).held.usd).toBe(1.8);

    // Still running: nothing charged, the hold stays.
    expect((await resource("GET", `operations/${id()}`, undefined, b.key)).status).toBe(200);
    expect(await usageRow(`operation:${up.name}`)).toBeNull();

    up.state = (name) => finished(name, 1, 1);
    // Three polls see it end at once, the team-mate's first, by both routes; the row is the creator's, written once.
    // 6 s × 1 video × $0.15 = $0.90
    const seen = await Promise.all([b.key, a.key, b.key].map((k, i) => resource("GET", i === 1 ? `models/${MODEL}/operations/${id()}` : `operations/${id()}`, undefined, k)));
    expect(seen.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(seen[0]!.text).response.generateVideoResponse.raiMediaFilteredCount).toBe(1);
    // And once more later.
    expect((await resource("GET", `operations/${id()}`, undefined, a.key)).status).toBe(200);
    const row = await usageRow(`operation:${up.name}`);
    expect(row).toMatchObject({ key_id: a.id, team_id: team.id, action: "predictLongRunning", outcome: "ok", cost_usd: 0.9, requests: 0, unpriced: null });
    const { results } = await env.DB.prepare("SELECT cost_usd FROM usage WHERE key_id IN (?, ?) AND cost_usd > 0").bind(a.id, b.id).all();
    expect(results).toEqual([{ cost_usd: 0.9 }]);
    expect(await counters("key", a.id)).toMatchObject({ spent_usd: 0.9, held: { usd: 0 } });
    expect(await counters("team", team.id)).toMatchObject({ spent_usd: 0.9, held: { usd: 0 } });
    expect(await counters("key", b.id)).toMatchObject({ spent_usd: 0, held: { usd: 0 } });
  });

  it("an operation that ends with an error is charged nothing, and what it held is free again", async () => {
    freezeClock();
    // $1: one 6 s video ($0.90) fits, a second while the first is held does not.
    const { key, id: keyId } = await createKey({ name: "veo-failed", budget: { max_usd: 1 } });
    const { up, calls, id } = veo();
    expect((await create(key, 6, 1)).status).toBe(200);
    const refused = await create(key, 6, 1);
    expect(refused.status).toBe(402);
    expect(refused.text).toMatch(/budget/);
    expect(calls.filter((c) => c.url.endsWith(":predictLongRunning"))).toHaveLength(1);

    up.state = failed;
    const seen = await resource("GET", `operations/${id()}`, undefined, key);
    expect(JSON.parse(seen.text).error.code).toBe(13);
    expect(await usageRow(`operation:${up.name}`)).toMatchObject({ outcome: "error", cost_usd: 0, error: "Video generation failed due to an internal error." });
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 0, held: { usd: 0 } });
    // The failed video cost nothing: the next one fits the whole budget again.
    up.state = undefined;
    expect((await create(key, 6, 1)).status).toBe(200);
  });

  it("asking more than the budget left is refused before the upstream hears of it; an answer of an unknown shape is charged as asked", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "veo-budget", budget: { max_usd: 2 } });
    const { up, calls, id } = veo();
    // 8 s (Veo's default) × 2 × $0.15 = $2.40 > $2
    expect((await resource("POST", `models/${MODEL}:predictLongRunning`, { instances: [{ prompt: "x" }], parameters: { sampleCount: 2 } }, key)).status).toBe(402);
    expect(calls).toHaveLength(0);
    expect((await create(key, 4, 2)).status).toBe(200);
    // Done, no error, no generateVideoResponse: what it made cannot be read, so 4 s × 2 × $0.15 = $1.20.
    up.state = (name) => ({ name, done: true, response: { "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.SomethingNew" } });
    await resource("GET", `operations/${id()}`, undefined, key);
    expect((await usageRow(`operation:${up.name}`))!.cost_usd).toBe(1.2);
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 1.2, held: { usd: 0 } });
  });

  it("a create the upstream refuses holds nothing afterwards", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "veo-refused", budget: { max_usd: 5 } });
    mockUpstream(() => Response.json({ error: { code: 400, message: "durationSeconds must be between 5 and 8", status: "INVALID_ARGUMENT" } }, { status: 400 }));
    // 30 s × $0.15 = $4.50 held while the create is in flight, let go when it is refused.
    const r = await create(key, 30, 1);
    expect(r.status).toBe(400);
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 0, held: { usd: 0 } });
  });

  it("an operation nobody polls is charged by the scheduled sweep, once", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "veo-sweep", budget: { max_usd: 5 } });
    const { up } = veo();
    expect((await create(key, 8, 2)).status).toBe(200);
    up.state = (name) => finished(name, 2);
    for (let run = 0; run < 2; run++) {
      const pending: Promise<unknown>[] = [];
      await sweepResources(env, (p) => pending.push(p));
      await Promise.all(pending);
      await flushUsage();
    }
    // 8 s × 2 videos × $0.15 = $2.40
    expect(await usageRow(`operation:${up.name}`)).toMatchObject({ key_id: keyId, outcome: "ok", cost_usd: 2.4 });
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 2.4, held: { usd: 0 } });
  });

  it("a budget set while the operation runs counts its charge, once", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "veo-later-budget" });
    const { up, id } = veo();
    expect((await create(key, 4, 1)).status).toBe(200);
    expect((await admin(`/keys/${keyId}`, { method: "PATCH", body: { budget: { max_usd: 5 } } })).status).toBe(200);
    up.state = (name) => finished(name, 1);
    await resource("GET", `operations/${id()}`, undefined, key);
    // 4 s × $0.15
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 0.6, held: { usd: 0 } });
  });

  it("an operation gone upstream before it was seen finished is charged as asked, once", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "veo-gone", budget: { max_usd: 5 } });
    const { up, id } = veo();
    expect((await create(key, 5, 1)).status).toBe(200);
    // Gemini no longer has it: a 404 on the poll.
    mockUpstream((c) => (c.url.includes("/operations/") ? Response.json({ error: { code: 404, message: "Operation not found", status: "NOT_FOUND" } }, { status: 404 }) : new Response("no", { status: 500 })));
    expect((await resource("GET", `operations/${id()}`, undefined, key)).status).toBe(404);
    expect((await resource("GET", `operations/${id()}`, undefined, key)).status).toBe(404);
    // 5 s × 1 × $0.15
    expect(await usageRow(`operation:${up.name}`)).toMatchObject({ outcome: "error", cost_usd: 0.75 });
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 0.75, held: { usd: 0 } });
  });
});

describe("context-cache storage", () => {
  it("is charged on create for the cache's life, and on a later expiry for the hours added, once", async () => {
    const { key } = await createKey({ name: "cache" });
    const t0 = Date.UTC(2026, 5, 1, 12);
    vi.spyOn(Date, "now").mockImplementation(() => t0);
    const name = `cachedContents/c${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    let expire = new Date(t0 + 2 * 3_600_000).toISOString();
    mockUpstream(() => json({ name, model: "models/gemini-2.5-flash", expireTime: expire, usageMetadata: { totalTokenCount: 100_000 } }));
    const created = await resource("POST", "cachedContents", { model: "gemini/gemini-2.5-flash", contents: [{ role: "user", parts: [{ text: "long document" }] }], ttl: "7200s" }, key);
    expect(created.status).toBe(200);
    // 100,000 tokens at the cached price $0.03 = 3000; storage 100,000 × 2 h × $1.00 = 200,000; 203,000
    expect(created.row!.cost_usd).toBe(0.203);

    // Three hours more: 100,000 × 3 h × $1.00 = 300,000
    expire = new Date(t0 + 5 * 3_600_000).toISOString();
    const id = name.slice("cachedContents/".length);
    const longer = await resource("PATCH", `cachedContents/${id}`, { ttl: "18000s" }, key);
    expect(longer.status).toBe(200);
    expect(longer.row!.cost_usd).toBe(0.3);
    // The same expiry again adds nothing; an earlier one refunds nothing.
    expect((await resource("PATCH", `cachedContents/${id}`, { ttl: "18000s" }, key)).row!.cost_usd).toBe(0);
    expire = new Date(t0 + 3_600_000).toISOString();
    expect((await resource("PATCH", `cachedContents/${id}`, { ttl: "3600s" }, key)).row!.cost_usd).toBe(0);
  });

  it("a PATCH that would add more storage than the budget has left is refused (402) before the upstream hears of it", async () => {
    const { key } = await createKey({ name: "cache-budget", budget: { max_usd: 1 } });
    const t0 = Date.UTC(2026, 5, 2, 12);
    vi.spyOn(Date, "now").mockImplementation(() => t0);
    const name = `cachedContents/c${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    const calls = mockUpstream(() => json({ name, expireTime: new Date(t0 + 3_600_000).toISOString(), usageMetadata: { totalTokenCount: 100_000 } }));
    const made = await resource("POST", "cachedContents", { model: "gemini/gemini-2.5-flash", contents: [{ role: "user", parts: [{ text: "doc" }] }], ttl: "3600s" }, key);
    expect(made.status).toBe(200);
    // 100,000 × 0.03 + 100,000 × 1 h × 1.00 = 3000 + 100,000
    expect(made.row!.cost_usd).toBe(0.103);
    // 100 hours more would be 100,000 × 100 × 1.00 = $10: more than the $0.897 left.
    const refused = await resource("PATCH", `cachedContents/${name.slice("cachedContents/".length)}`, { ttl: "360000s" }, key);
    expect(refused.status).toBe(402);
    expect(refused.text).toMatch(/budget/);
    expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(0);
  });
});

describe("a batch at the batch price, each response at its own tier", () => {
  it("halves the sum of each response's cost (one above 200k, one below)", async () => {
    const keyId = `key-${crypto.randomUUID()}`;
    const name = `batches/${crypto.randomUUID().replaceAll("-", "")}`;
    const meta: BatchMeta = { hold: `batch:${name}`, requests: 2, input_tokens: 0, action: "batchGenerateContent", version: "v1beta" };
    await new ResourceStore(env.DB).create({ key_id: keyId, team_id: null, shared: 0 }, { name, kind: "batch", model: "gemini/gemini-2.5-pro", state: "BATCH_STATE_RUNNING", meta: JSON.stringify(meta) });
    const row = (await env.DB.prepare("SELECT * FROM resources WHERE name = ?").bind(name).first<ResourceRow>())!;
    const responses = [
      { promptTokenCount: 300_000, candidatesTokenCount: 1000 },
      { promptTokenCount: 1000, candidatesTokenCount: 1000 },
    ].map((usageMetadata) => ({ response: { usageMetadata } }));
    const op: BatchOperation = { name, done: true, metadata: { state: "BATCH_STATE_SUCCEEDED", batchStats: { requestCount: "2" }, output: { inlinedResponses: { inlinedResponses: responses } } } };
    const pending: Promise<unknown>[] = [];
    await observeBatch(env, new Upstream(getConfig(env)), row, op, (p) => pending.push(p));
    await Promise.all(pending);
    await flushUsage();
    const r = await usageRow(`batch:${name}`);
    // (300,000 × 2.50 + 1000 × 15) + (1000 × 1.25 + 1000 × 10) = 765,000 + 11,250 = 776,250; half: 388,125
    // (priced as one call of 301,000 tokens it would be 301,000 × 2.50 + 2000 × 15 = 782,500: not what Gemini bills)
    expect(r!.cost_usd).toBe(0.388125);
  });
});

describe("a batch through the gateway", () => {
  it("a budget set on the key while its batch runs counts the batch's row once", async () => {
    freezeClock();
    const { key, id: keyId } = await createKey({ name: "batch-later-budget" });
    const name = `batches/${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
    let done = false;
    const responses = [{ response: { usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 1000 } } }];
    mockUpstream((c) =>
      c.url.endsWith(":batchGenerateContent")
        ? json({ name, metadata: { state: "BATCH_STATE_PENDING" } })
        : json(done
          ? { name, done: true, metadata: { state: "BATCH_STATE_SUCCEEDED", batchStats: { requestCount: "1" }, output: { inlinedResponses: { inlinedResponses: responses } } } }
          : { name, metadata: { state: "BATCH_STATE_RUNNING" } }),
    );
    const body = { batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ role: "user", parts: [{ text: "hi" }] }] } }] } } } };
    expect((await resource("POST", "models/gemini-2.5-flash:batchGenerateContent", body, key)).status).toBe(200);
    expect((await admin(`/keys/${keyId}`, { method: "PATCH", body: { budget: { max_usd: 5 } } })).status).toBe(200);
    done = true;
    expect((await resource("GET", name, undefined, key)).status).toBe(200);
    // Half of 1000 × 0.30 + 1000 × 2.50 = half of 2800 = 1400
    expect((await usageRow(`batch:${name}`))!.cost_usd).toBe(1400 / M);
    expect(await counters("key", keyId)).toMatchObject({ spent_usd: 1400 / M, held: { usd: 0 } });
  });
});

describe("under a budget, what cannot be priced is refused like an unpriced model", () => {
  it("an image model priced without per_image: 403 naming the dimension and PRICES; no upstream call", async () => {
    const { key } = await createKey({ name: "budget-imagen", budget: { max_usd: 10 } });
    const calls = mockUpstream(() => json({ predictions: [{}] }));
    const vars = { PRICES: JSON.stringify({ "gemini/imagen-9*": { input: 0, output: 0 } }) };
    const r = await call("gemini/imagen-9-generate-001", "predict", { instances: [{ prompt: "x" }] }, key, vars);
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/has no price for per_image.*PRICES/);
    expect(calls).toHaveLength(0);
  });

  it("a video model priced without per_second: 403 under a budget, nothing held or sent; without one, its end's row is flagged", async () => {
    freezeClock();
    const vars = { PRICES: JSON.stringify({ "gemini/veo-9*": { input: 0, output: 0 } }) };
    const name = `models/veo-9.0-generate-001/operations/o${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    let done = false;
    const calls = mockUpstream(() => json(done ? { name, done: true, response: { generateVideoResponse: { generatedSamples: [{ video: { uri: "https://generativelanguage.googleapis.com/v1beta/files/v9:download?alt=media" } }] } } } : { name }));
    const body = { instances: [{ prompt: "x" }], parameters: { durationSeconds: 4 } };
    const budgeted = await createKey({ name: "budget-veo", budget: { max_usd: 10 } });
    const refused = await call("gemini/veo-9.0-generate-001", "predictLongRunning", body, budgeted.key, vars);
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/has no price for per_second.*PRICES/);
    expect(calls).toHaveLength(0);
    expect((await counters("key", budgeted.id)).held.usd).toBe(0);

    const free = await createKey({ name: "no-budget-veo" });
    expect((await call("gemini/veo-9.0-generate-001", "predictLongRunning", body, free.key, vars)).status).toBe(200);
    done = true;
    const ctx = createExecutionContext();
    const polled = await worker.fetch(new Request(`${BASE}/genai/v1beta/${name}`, { headers: { "x-goog-api-key": free.key } }), { ...env, ...vars }, ctx);
    expect(polled.status).toBe(200);
    await waitOnExecutionContext(ctx);
    await flushUsage();
    expect(await usageRow(`operation:${name}`)).toMatchObject({ cost_usd: 0, unpriced: "per_second" });
  });

  it("a cache on a model without a storage price: 403; without a budget it is created and its row flagged", async () => {
    const name = `cachedContents/c${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
    mockUpstream(() => json({ name, expireTime: new Date(Date.now() + 3_600_000).toISOString(), usageMetadata: { totalTokenCount: 1000 } }));
    const body = { model: "gemini/gemini-3.5-flash", contents: [{ role: "user", parts: [{ text: "doc" }] }] };
    const budgeted = await createKey({ name: "budget-cache", budget: { max_usd: 10 } });
    const refused = await resource("POST", "cachedContents", body, budgeted.key);
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/no price for cache_storage_per_hour/);
    const free = await createKey({ name: "no-budget-cache" });
    const made = await resource("POST", "cachedContents", body, free.key);
    expect(made.status).toBe(200);
    expect(made.row!.unpriced).toBe("cache_storage_per_hour");
  });

  it("PRICES with the new fields is validated: a tier without `above` is a clear error and the shipped prices apply", async () => {
    const { key } = await createKey({ name: "bad-prices" });
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] } }], usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 0 } }));
    const vars = { PRICES: JSON.stringify({ "gemini/gemini-2.5-flash": { input: 5, output: 5, tiers: [{ input: 1 }] } }) };
    const { row } = await call("gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), key, vars);
    expect(log.mock.calls.flat().join(" ")).toMatch(/PRICES is invalid.*tiers/);
    // The shipped $0.30: 1000 × 0.30
    expect(row!.cost_usd).toBe(300 / M);
  });

  it("PRICES tiers apply: above its threshold, its prices price the whole call", async () => {
    const { key } = await createKey({ name: "own-tier" });
    mockUpstream(() => json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] } }], usageMetadata: { promptTokenCount: 2000, candidatesTokenCount: 100 } }));
    const vars = { PRICES: JSON.stringify({ "openai-compat/x": { input: 1, output: 1 }, "gemini/gemini-2.5-flash": { input: 1, output: 2, tiers: [{ above: 1000, input: 3, output: 4 }] } }) };
    const { row } = await call("gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), key, vars);
    // 2000 > 1000: 2000 × 3 + 100 × 4 = 6400
    expect(row!.cost_usd).toBe(6400 / M);
  });
});
