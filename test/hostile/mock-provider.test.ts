/**
 * The built-in `mock` provider costs nothing, so it must not be a way to make the gateway do unbounded work: it is
 * served only when `MOCK_PROVIDER` is `on`, and it caps its outputs (images, embedding sizes, reply length) as a
 * real provider does, with a 400 for out-of-range values.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { MOCK_LIMITS } from "../../src/providers/mock/answer";
import { BASE, createKey, flushUsage, genai, genaiSettled, readSse, textRequest, usageRow } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "mock-hostile" })).key;
});

/** The Worker with MOCK_PROVIDER as given (undefined: as wrangler.toml leaves it). */
async function withMock(value: string | undefined, req: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const e = { ...env, MOCK_PROVIDER: value } as typeof env;
  if (value === undefined) delete (e as Record<string, unknown>).MOCK_PROVIDER;
  const res = await worker.fetch(req, e, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  await flushUsage();
  return new Response(text, { status: res.status, headers: res.headers });
}

const post = (model: string, action: string, body: unknown) =>
  new Request(`${BASE}/genai/v1beta/models/${model}:${action}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: JSON.stringify(body),
  });

describe("MOCK_PROVIDER", () => {
  it.each([undefined, "", "off", "true", "ON", "1"])("%j: mock/echo is an unknown provider, and not listed", async (value) => {
    const r = await withMock(value, post("mock/echo", "generateContent", textRequest("hi")));
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT", message: expect.stringMatching(/unknown provider "mock"/) } });
    expect(await usageRow(r.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 400, outcome: "error" });
    const list = await withMock(value, new Request(`${BASE}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } }));
    expect(((await list.json()) as { models: { name: string }[] }).models.map((m) => m.name)).not.toContain("models/mock/echo");
  });

  it("`on`: mock/echo answers", async () => {
    const r = await withMock("on", post("mock/echo", "generateContent", textRequest("hi")));
    expect(r.status).toBe(200);
  });

  it("an OpenAI-compatible host cannot take the name `mock`, even while the mock is off", async () => {
    const r = await withMock(undefined, post("mock/echo", "generateContent", textRequest("hi")));
    expect(r.status).toBe(400);
    const e = { ...env, MOCK_PROVIDER: "off", OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([{ name: "mock", base_url: "https://mock.upstream.test" }]) };
    const ctx = createExecutionContext();
    const res = await worker.fetch(post("mock/echo", "generateContent", textRequest("hi")), e as typeof env, ctx);
    await waitOnExecutionContext(ctx);
    await flushUsage();
    expect(res.status).toBe(400);
  });
});

const bad = async (r: Response, pattern: RegExp) => {
  expect(r.status).toBe(400);
  const body = (await r.json()) as { error: { code: number; status: string; message: string } };
  expect(body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
  expect(body.error.message).toMatch(pattern);
};

describe("mock outputs are capped like a real provider's (the workers project turns the mock on)", () => {
  it.each([0, -1, MOCK_LIMITS.sampleCount + 1, 1e6])("predict sampleCount %d: 400", async (n) => {
    await bad(await genai("mock/echo", "predict", { instances: [{ prompt: "x" }], parameters: { sampleCount: n } }, key), /sampleCount/);
  });

  it("predict sampleCount at the limit", async () => {
    const r = await genai("mock/echo", "predict", { instances: [{ prompt: "x" }], parameters: { sampleCount: MOCK_LIMITS.sampleCount } }, key);
    expect(((await r.json()) as { predictions: unknown[] }).predictions).toHaveLength(MOCK_LIMITS.sampleCount);
  });

  it.each([0, -5, MOCK_LIMITS.dimensions + 1, 1e7])("embedContent outputDimensionality %d: 400", async (d) => {
    await bad(await genai("mock/echo", "embedContent", { content: { parts: [{ text: "a" }] }, outputDimensionality: d }, key), /outputDimensionality/);
  });

  it("batchEmbedContents: outputDimensionality checked per request, and the batch size is capped", async () => {
    const req = (d?: number) => ({ content: { parts: [{ text: "a" }] }, ...(d ? { outputDimensionality: d } : {}) });
    await bad(await genai("mock/echo", "batchEmbedContents", { requests: [req(), req(1e7)] }, key), /outputDimensionality/);
    const many = Array.from({ length: MOCK_LIMITS.batchRequests + 1 }, () => req());
    await bad(await genai("mock/echo", "batchEmbedContents", { requests: many }, key), /requests/);
  });

  it("the largest embedding is a unit vector of the asked size", async () => {
    const r = await genai("mock/echo", "embedContent", { content: { parts: [{ text: "a" }] }, outputDimensionality: MOCK_LIMITS.dimensions }, key);
    const v = ((await r.json()) as { embedding: { values: number[] } }).embedding.values;
    expect(v).toHaveLength(MOCK_LIMITS.dimensions);
    expect(Math.sqrt(v.reduce((a, x) => a + x * x, 0))).toBeCloseTo(1, 3);
  });

  it.each([0, -1, MOCK_LIMITS.outputTokens + 1])("maxOutputTokens %d: 400", async (n) => {
    await bad(await genai("mock/echo", "generateContent", textRequest("hi", { generationConfig: { maxOutputTokens: n } }), key), /maxOutputTokens/);
  });

  it("a huge prompt gets a reply of at most the output token limit, cut with MAX_TOKENS", async () => {
    const big = "word ".repeat(200_000);
    const r = await genaiSettled("mock/echo", "generateContent", textRequest(big), key);
    const body = (await r.json()) as any;
    const text = body.candidates[0].content.parts[0].text as string;
    expect(text.length).toBeLessThanOrEqual(MOCK_LIMITS.outputTokens * 4);
    expect(body.candidates[0].finishReason).toBe("MAX_TOKENS");
    expect(body.usageMetadata.candidatesTokenCount).toBeLessThanOrEqual(MOCK_LIMITS.outputTokens);
  });

  it("maxOutputTokens cuts the reply", async () => {
    const r = await genai("mock/echo", "generateContent", textRequest("one two three four five six seven", { generationConfig: { maxOutputTokens: 3 } }), key);
    const body = (await r.json()) as any;
    expect(body.candidates[0].content.parts[0].text.length).toBeLessThanOrEqual(12);
    expect(body.candidates[0].finishReason).toBe("MAX_TOKENS");
  });

  it("a huge prompt streamed: a bounded number of events, the last one MAX_TOKENS", async () => {
    const r = await genaiSettled("mock/echo", "streamGenerateContent", textRequest("w ".repeat(500_000)), key, { query: "?alt=sse" });
    const events = (await readSse(r)) as any[];
    const text = events.map((e) => e.candidates[0].content.parts[0].text).join("");
    expect(text.length).toBeLessThanOrEqual(MOCK_LIMITS.outputTokens * 4);
    expect(events.length).toBeLessThanOrEqual(MOCK_LIMITS.streamChunks);
    expect(events.at(-1).candidates[0].finishReason).toBe("MAX_TOKENS");
  });
});
