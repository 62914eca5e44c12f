/**
 * One canonical name per model: `.`/`..`/empty segments, control characters and a second encoded slash are
 * refused, so an allow-list, a price and a route always see the same string. And the path spellings clients send.
 */
import { SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BASE, createKey, genaiSettled, mockUpstream, textRequest, usageRow } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

let flashOnly: string;
beforeAll(async () => {
  flashOnly = (await createKey({ name: "flash-only", models: ["gemini-2.5-flash*"] })).key;
});

const post = (path: string, key: string, body: unknown = textRequest("hi")) =>
  SELF.fetch(`${BASE}${path}`, { method: "POST", headers: { "x-goog-api-key": key, "content-type": "application/json" }, body: JSON.stringify(body) });

describe("a model string that could mean two models is refused", () => {
  it.each([
    "gemini%2Fgemini-2.5-flash%2F..%2Fgemini-2.5-pro",
    "gemini/gemini-2.5-flash%2F..%2Fgemini-2.5-pro",
    "gemini%2Fgemini-2.5-flash%2F%2E%2E%2Fgemini-2.5-pro",
    "gemini-2.5-flash%2F..%2Fgemini-2.5-pro",
    "gemini/gemini-2.5-flash//x",
    "gemini/gemini-2.5-flash%00",
    "gemini/gemini-2.5-flash%0A",
    "gemini/gemini-2.5-flash%252F..",
    "openrouter%2Fanthropic%2Fclaude",
  ])("%s: 400, nothing sent upstream", async (model) => {
    const calls = mockUpstream(() => Response.json({}));
    const r = await post(`/genai/v1beta/models/${model}:generateContent`, flashOnly);
    expect(r.status).toBe(400);
    const e = ((await r.json()) as { error: { status: string; message: string } }).error;
    expect(e.status).toBe("INVALID_ARGUMENT");
    expect(e.message).not.toMatch(/[\u0000-\u001f]/);
    expect(calls).toHaveLength(0);
  });

  it("a literal ../ in the URL is resolved before routing: the allow-list judges what it resolved to", async () => {
    const calls = mockUpstream(() => Response.json({}));
    const r = await post("/genai/v1beta/models/gemini/gemini-2.5-flash/../gemini-2.5-pro:generateContent", flashOnly);
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: { message: string } }).error.message).toContain('"gemini/gemini-2.5-pro" is not allowed');
    expect(calls).toHaveLength(0);
  });

  it("the same strings as fallbacks are refused too", async () => {
    const calls = mockUpstream(() => Response.json({}, { status: 503 }));
    for (const f of ["gemini/gemini-2.5-flash/../gemini-2.5-pro", "gemini%2Fgemini-2.5-flash%2F..%2Fgemini-2.5-pro"]) {
      const r = await post("/genai/v1beta/models/gemini-2.5-flash:generateContent", flashOnly, textRequest("hi", { fallbacks: [f] }));
      expect(r.status).toBe(400);
    }
    expect(calls).toHaveLength(0);
  });

  it("the canonical name is what the allow-list, the upstream and the usage row see", async () => {
    const calls = mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
    const r = await genaiSettled("models%2Fgemini-2.5-flash", "generateContent", textRequest("hi"), flashOnly);
    expect(r.status).toBe(200);
    expect(new URL(calls[0]!.url).pathname).toBe("/v1beta/models/gemini-2.5-flash:generateContent");
    expect(await usageRow(r.headers.get("x-edgeway-request-id"))).toMatchObject({ requested_model: "gemini/gemini-2.5-flash", model: "gemini-2.5-flash" });
    expect((await post("/genai/v1beta/models/gemini-2.5-pro:generateContent", flashOnly)).status).toBe(403);
  });
});

describe("model paths as clients send them", () => {
  it.each([
    ["/genai/v1beta/mock/echo:generateContent", "mock", "echo"],
    ["/genai/v1/mock/echo:generateContent", "mock", "echo"],
    ["/genai/v1beta/models/mock/echo:generateContent", "mock", "echo"],
    ["/genai/v1beta/models/mock%2Fecho:generateContent", "mock", "echo"],
  ])("%s serves %s/%s", async (path, provider, model) => {
    const { key } = await createKey();
    const r = await post(path, key);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe(provider);
    expect(r.headers.get("x-edgeway-model")).toBe(model);
  });

  it("/genai/{v}/{provider}/{model}:{action} for configured providers only; resource names keep their meaning", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => Response.json({ choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] }));
    const r = await post("/genai/v1beta/openai/gpt-4o-mini:generateContent", key);
    expect(r.status).toBe(200);
    expect(new URL(calls[0]!.url).pathname).toBe("/v1/chat/completions");
    expect((await post("/genai/v1beta/nosuchprovider/x:generateContent", key)).status).toBe(404);
    // A literal slash in a model id after the provider is a model id with a slash (OpenRouter-style), not a second provider.
    expect((await post("/genai/v1beta/groq/meta/llama-3:generateContent", key)).status).not.toBe(404);
    // No encoded slash after /{provider}/.
    expect((await post("/genai/v1beta/mock/echo%2F..%2Fx:generateContent", key)).status).toBe(400);
  });

  it("GET /genai/{v}/{provider}/{model} reads one model", async () => {
    const { key } = await createKey();
    const r = await SELF.fetch(`${BASE}/genai/v1beta/mock/echo`, { headers: { "x-goog-api-key": key } });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { name: string }).name).toBe("models/mock/echo");
  });
});
