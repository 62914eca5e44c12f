/**
 * The official @google/genai SDK, unchanged but for the model string, against the gateway in front of loopback
 * OpenAI and Anthropic upstreams that speak their real wire formats (JSON and SSE).
 */
import { GoogleGenAI, Type, type Content } from "@google/genai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Gateway, MockUpstream } from "./harness";
import { gatewayWithProviders } from "./mock-providers";

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const WEATHER_TOOL = {
  functionDeclarations: [{
    name: "get_weather",
    description: "Current weather for a city",
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] },
  }],
};

let openai: MockUpstream;
let anthropic: MockUpstream;
let gw: Gateway;
let stack: Awaited<ReturnType<typeof gatewayWithProviders>>;
let ai: GoogleGenAI;

beforeAll(async () => {
  stack = await gatewayWithProviders();
  ({ openai, anthropic, gw } = stack);
  const { key } = await gw.createKey({ name: "providers-e2e" });
  ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
});

afterAll(async () => {
  await stack?.close();
});

const PROVIDERS = [
  { model: "openai/gpt-4o-mini", upstream: () => openai, path: "/v1/chat/completions", keyHeader: "authorization", key: "Bearer upstream-secret-openai" },
  { model: "anthropic/claude-sonnet-4-5", upstream: () => anthropic, path: "/v1/messages", keyHeader: "x-api-key", key: "upstream-secret-anthropic" },
] as const;

describe.each(PROVIDERS)("@google/genai → gateway → $model", (p) => {
  it("text", async () => {
    const r = await ai.models.generateContent({ model: p.model, contents: "Hello there" });
    expect(r.text).toBe("You said: Hello there [turns: 1]");
    expect(r.candidates?.[0]?.finishReason).toBe("STOP");
    expect(r.usageMetadata?.totalTokenCount).toBeGreaterThan(0);
    const seen = p.upstream().requests.at(-1)!;
    expect(seen.url).toBe(p.path);
    expect(seen.headers[p.keyHeader]).toBe(p.key);
  });

  it("multi-turn with a system prompt", async () => {
    const r = await ai.models.generateContent({
      model: p.model,
      contents: [
        { role: "user", parts: [{ text: "My name is Ada." }] },
        { role: "model", parts: [{ text: "Hi Ada." }] },
        { role: "user", parts: [{ text: "What is my name?" }] },
      ],
      config: { systemInstruction: "Be terse." },
    });
    expect(r.text).toMatch(/^You said: What is my name\? \[system: Be terse\.\] \[turns: \d\]$/);
    const body = JSON.parse(p.upstream().requests.at(-1)!.body);
    const roles = body.messages.map((m: any) => m.role);
    expect(roles.filter((x: string) => x !== "system")).toEqual(["user", "assistant", "user"]);
  });

  it("image input", async () => {
    const r = await ai.models.generateContent({
      model: p.model,
      contents: [{ role: "user", parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: PNG } }] }],
    });
    expect(r.text).toBe("You said: What is this? (+1 image) [turns: 1]");
    expect(p.upstream().requests.at(-1)!.body).toContain(PNG);
  });

  it("function calling round trip", async () => {
    const contents: Content[] = [{ role: "user", parts: [{ text: "Weather in Paris?" }] }];
    const first = await ai.models.generateContent({ model: p.model, contents, config: { tools: [WEATHER_TOOL] } });
    const call = first.functionCalls?.[0];
    expect(call).toMatchObject({ name: "get_weather", args: { city: "Paris" } });
    expect(call?.id).toBeTruthy();
    contents.push(first.candidates![0]!.content!, {
      role: "user",
      parts: [{ functionResponse: { id: call!.id, name: call!.name!, response: { temp_c: 21 } } }],
    });
    const second = await ai.models.generateContent({ model: p.model, contents, config: { tools: [WEATHER_TOOL] } });
    expect(second.text).toBe("It is 21°C.");
    // The upstream saw its own call id paired with the result.
    expect(p.upstream().requests.at(-1)!.body).toContain(call!.id!);
  });

  it("JSON schema output", async () => {
    const r = await ai.models.generateContent({
      model: p.model,
      contents: "Where is the Eiffel tower?",
      config: {
        responseMimeType: "application/json",
        responseSchema: { type: Type.OBJECT, properties: { city: { type: Type.STRING }, country: { type: Type.STRING } }, required: ["city"] },
      },
    });
    expect(JSON.parse(r.text!)).toEqual({ city: "Paris", country: "France" });
  });

  it("streaming", async () => {
    const texts: string[] = [];
    let last: any;
    for await (const chunk of await ai.models.generateContentStream({ model: p.model, contents: "Stream this please" })) {
      if (chunk.text) texts.push(chunk.text);
      last = chunk;
    }
    expect(texts.length).toBeGreaterThan(3);
    expect(texts.join("")).toBe("You said: Stream this please [turns: 1]");
    expect(last.candidates[0].finishReason).toBe("STOP");
    expect(last.usageMetadata.totalTokenCount).toBeGreaterThan(0);
  });

  it("streaming a function call", async () => {
    const calls: unknown[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: p.model, contents: "Weather?", config: { tools: [WEATHER_TOOL] } })) {
      calls.push(...(chunk.functionCalls ?? []));
    }
    expect(calls).toEqual([expect.objectContaining({ name: "get_weather", args: { city: "Paris" } })]);
  });
});

describe("@google/genai → gateway → other actions", () => {
  it("countTokens: OpenAI estimates locally, Anthropic asks count_tokens", async () => {
    const o = await ai.models.countTokens({ model: "openai/gpt-4o-mini", contents: "twelve chars" });
    expect(o.totalTokens).toBe(3);
    const a = await ai.models.countTokens({ model: "anthropic/claude-sonnet-4-5", contents: "hi" });
    expect(a.totalTokens).toBe(5);
    expect(anthropic.requests.at(-1)?.url).toBe("/v1/messages/count_tokens");
  });
});
