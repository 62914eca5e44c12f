/**
 * Third-party Gemini clients put a model id that contains `/` straight into the path, without `models/`
 * (`POST /genai/v1beta/openai/gpt-4o-mini:generateContent`). The real clients, pointed at the gateway by base URL
 * with only the model string changed, against loopback OpenAI and Anthropic upstreams. What each client sent is
 * seen on its way out (the clients call the global `fetch`), and each call's usage row is found by its request id.
 */
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { GoogleGenerativeAI } from "@google/generative-ai";
import { ChatGoogleGenerativeAI } from "@langchain/google-genai";
import { generateText, streamText } from "ai";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Gateway, MockUpstream } from "./harness";
import { gatewayWithProviders } from "./mock-providers";

let openai: MockUpstream;
let anthropic: MockUpstream;
let gw: Gateway;
let stack: Awaited<ReturnType<typeof gatewayWithProviders>>;
let key: string;

const MODELS = [
  { model: "openai/gpt-4o-mini", served: "gpt-4o-mini", upstream: () => openai, path: "/v1/chat/completions" },
  { model: "anthropic/claude-sonnet-4-5", served: "claude-sonnet-4-5", upstream: () => anthropic, path: "/v1/messages" },
];

/** Requests the clients sent to the gateway during the current test: method, path (with query), request id. */
let sent: { method: string; path: string; requestId: string | null }[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  stack = await gatewayWithProviders();
  ({ openai, anthropic, gw } = stack);
  ({ key } = await gw.createKey({ name: "spellings" }));
});

beforeEach(() => {
  sent = [];
  globalThis.fetch = async (input, init) => {
    const req = new Request(input, init);
    const res = await realFetch(req);
    if (req.url.startsWith(gw.url)) {
      const u = new URL(req.url);
      sent.push({ method: req.method, path: u.pathname + u.search, requestId: res.headers.get("x-edgeway-request-id") });
    }
    return res;
  };
});

afterEach(() => {
  globalThis.fetch = realFetch;
});

afterAll(async () => {
  await stack?.close();
});

/** The clients sent exactly these (method, path) pairs; each call left a usage row naming the model that served. */
async function expectSent(paths: string[], model: string, served: string) {
  expect(sent.map((s) => `${s.method} ${s.path}`)).toEqual(paths.map((p) => `POST ${p}`));
  for (const s of sent) {
    const row = await gw.usageRow(s.requestId!);
    expect(row).toMatchObject({ requested_model: model, provider: model.split("/")[0], model: served, status: 200, outcome: "ok" });
    expect(row.stream).toBe(s.path.includes(":streamGenerateContent") ? 1 : 0);
  }
}

describe.each(MODELS)("$model", ({ model, served, upstream, path }) => {
  const at = (action: string) => `/genai/v1beta/${model}:${action}`;

  it("@ai-sdk/google (Vercel AI SDK): generateText and streamText", async () => {
    const google = createGoogleGenerativeAI({ apiKey: key, baseURL: `${gw.url}/genai/v1beta` });
    const before = upstream().requests.length;
    const r = await generateText({ model: google(model), prompt: "hello there" });
    expect(r.text).toContain("You said: hello there");
    expect(r.usage.inputTokens).toBeGreaterThan(0);

    let streamed = "";
    for await (const t of streamText({ model: google(model), prompt: "stream please" }).textStream) streamed += t;
    expect(streamed).toContain("You said: stream please");
    expect(upstream().requests.slice(before).map((s) => s.url)).toEqual([path, path]);
    expect(JSON.parse(upstream().requests.at(-1)!.body).stream).toBe(true);
    await expectSent([at("generateContent"), `${at("streamGenerateContent")}?alt=sse`], model, served);
  });

  it("@google/generative-ai (the legacy SDK): generateContent and generateContentStream", async () => {
    const legacy = new GoogleGenerativeAI(key).getGenerativeModel({ model }, { baseUrl: `${gw.url}/genai` });
    const r = await legacy.generateContent("legacy hello");
    expect(r.response.text()).toContain("You said: legacy hello");
    const s = await legacy.generateContentStream("legacy stream");
    let streamed = "";
    for await (const c of s.stream) streamed += c.text();
    expect(streamed).toContain("You said: legacy stream");
    await expectSent([at("generateContent"), `${at("streamGenerateContent")}?alt=sse`], model, served);
  });

  it("LangChain's ChatGoogleGenerativeAI: invoke and stream", async () => {
    const chat = new ChatGoogleGenerativeAI({ model, apiKey: key, baseUrl: `${gw.url}/genai`, maxRetries: 0 });
    const r = await chat.invoke("langchain hello");
    expect(String(r.content)).toContain("You said: langchain hello");
    let streamed = "";
    for await (const c of await chat.stream("langchain stream")) streamed += String(c.content);
    expect(streamed).toContain("You said: langchain stream");
    await expectSent([at("generateContent"), `${at("streamGenerateContent")}?alt=sse`], model, served);
  });
});

describe("the path spelling", () => {
  const post = (path: string, body: unknown = { contents: [{ role: "user", parts: [{ text: "raw" }] }] }) =>
    realFetch(`${gw.url}${path}`, { method: "POST", headers: { "x-goog-api-key": key, "content-type": "application/json" }, body: JSON.stringify(body) });

  it("/{provider}/{model}, models/{provider}/{model} and %2F all reach the same model", async () => {
    for (const p of ["openai/gpt-4o-mini", "models/openai/gpt-4o-mini", "models/openai%2Fgpt-4o-mini"]) {
      const r = await post(`/genai/v1beta/${p}:generateContent`);
      expect(r.status, p).toBe(200);
      expect(r.headers.get("x-edgeway-provider"), p).toBe("openai");
      expect(r.headers.get("x-edgeway-model"), p).toBe("gpt-4o-mini");
    }
  });

  it("a name that is no configured provider is not a model path (404), and resource collections keep their meaning", async () => {
    const r = await post("/genai/v1beta/nosuchprovider/gpt-4o-mini:generateContent");
    expect(r.status).toBe(404);
    expect(((await r.json()) as any).error).toMatchObject({ code: 404, status: "NOT_FOUND" });
    // `files` here is the Files API (the key's own files: none), never a model.
    const files = await realFetch(`${gw.url}/genai/v1beta/files`, { headers: { "x-goog-api-key": key } });
    expect(files.status).toBe(200);
    expect(await files.json()).toEqual({ files: [] });
  });

  it("an encoded slash anywhere but between provider and model is refused, so no `..` hides inside a model name", async () => {
    for (const p of ["openai/gpt-4o-mini%2F..%2Fx", "models/openai%2Fgpt-4o-mini%2F..", "openai/%2E%2E%2Fgpt-4o-mini"]) {
      const r = await post(`/genai/v1beta/${p}:generateContent`);
      expect(r.status, p).toBe(400);
      expect(((await r.json()) as any).error.message, p).toMatch(/encoded slash/);
    }
    expect(openai.requests.some((s) => s.body.includes('"model":"gpt-4o-mini/'))).toBe(false);
  });
});
