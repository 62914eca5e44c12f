/** The native Gemini provider: pass-through of everything the gateway does not own, key in a header, errors kept. */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createKey, genai, mockUpstream, ownResource, textRequest } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  const k = await createKey({ name: "gemini-native" });
  key = k.key;
  // The cache the pass-through test names is the key's own (another key's, or an unknown one, is a 404).
  await ownResource(k.id, "cachedContent", "cachedContents/abc");
});
afterEach(() => vi.restoreAllMocks());

describe("native Gemini provider", () => {
  it("forwards the body unchanged except the gateway's own fields, with the provider key in x-goog-api-key", async () => {
    const calls = mockUpstream(() =>
      Response.json({
        candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP", groundingMetadata: { x: 1 } }],
        usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
        someFutureField: { nested: [1, 2] },
      }),
    );
    const body = {
      contents: [{ role: "user", parts: [{ text: "hi", futurePartField: true }] }],
      systemInstruction: { parts: [{ text: "be brief" }] },
      generationConfig: { temperature: 0.5, responseModalities: ["TEXT"], mediaResolution: "MEDIA_RESOLUTION_LOW" },
      safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }],
      tools: [{ googleSearch: {} }],
      cachedContent: "cachedContents/abc",
      labels: { team: "a" },
      brandNewField: { any: "thing" },
      fallbacks: ["mock/echo"],
      model: "ignored",
    };
    const r = await genai("gemini-2.5-flash", "generateContent", body, key);
    expect(r.status).toBe(200);
    const out = (await r.json()) as Record<string, any>;
    expect(out.someFutureField).toEqual({ nested: [1, 2] });
    expect(out.candidates[0].groundingMetadata).toEqual({ x: 1 });

    const call = calls[0]!;
    expect(call.url).toBe("https://gemini.upstream.test/v1beta/models/gemini-2.5-flash:generateContent");
    expect(call.headers.get("x-goog-api-key")).toBe("test-gemini-key");
    expect(call.url).not.toContain("key=");
    const { fallbacks: _f, model: _m, ...expected } = body;
    expect(JSON.parse(call.body)).toEqual(expected);
  });

  it("sends the upstream's own answer text on, byte for byte (Gemini's formatting, key order, exact numbers)", async () => {
    const text = `{\n  "candidates": [\n    {\n      "content": { "parts": [{ "text": "héllo" }], "role": "model" },\n      "finishReason": "STOP",\n      "avgLogprobs": -0.10000000000000001\n    }\n  ],\n  "usageMetadata": { "totalTokenCount": 3, "promptTokenCount": 1, "candidatesTokenCount": 2 },\n  "modelVersion": "gemini-2.5-flash"\n}\n`;
    mockUpstream(() => new Response(text, { headers: { "content-type": "application/json; charset=UTF-8" } }));
    const r = await genai("gemini-2.5-flash", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe(text);
  });

  it("keeps the upstream's status and Gemini error body, without leaking the provider key", async () => {
    mockUpstream(() =>
      Response.json(
        { error: { code: 400, message: "API key test-gemini-key is bad? no: Invalid argument: temperature", status: "INVALID_ARGUMENT" } },
        { status: 400 },
      ),
    );
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: { code: number; status: string; message: string } };
    expect(body.error.code).toBe(400);
    expect(body.error.status).toBe("INVALID_ARGUMENT");
    expect(body.error.message).toMatch(/^gemini: .*temperature/);
    expect(body.error.message).not.toContain("test-gemini-key");
  });

  it("wraps a non-JSON upstream error in a Gemini error body", async () => {
    mockUpstream(() => new Response("<html>Bad Gateway</html>", { status: 502 }));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(r.status).toBe(502);
    expect(await r.json()).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } });
  });

  it("countTokens, embedContent and batchEmbedContents reach the right Gemini endpoints", async () => {
    const calls = mockUpstream((c) => {
      if (c.url.endsWith(":countTokens")) return Response.json({ totalTokens: 3 });
      if (c.url.endsWith(":embedContent")) return Response.json({ embedding: { values: [1, 2] } });
      return Response.json({ embeddings: [{ values: [1] }, { values: [2] }] });
    });
    const count = await genai("gemini-2.0-flash", "countTokens", { contents: [{ parts: [{ text: "abc" }] }] }, key);
    expect(await count.json()).toEqual({ totalTokens: 3 });
    const one = await genai("text-embedding-004", "embedContent", { content: { parts: [{ text: "a" }] }, outputDimensionality: 2 }, key);
    expect(await one.json()).toEqual({ embedding: { values: [1, 2] } });
    expect(JSON.parse(calls[1]!.body)).toEqual({ content: { parts: [{ text: "a" }] }, outputDimensionality: 2 });
    const batch = await genai(
      "text-embedding-004",
      "batchEmbedContents",
      { requests: [{ model: "models/whatever", content: { parts: [{ text: "a" }] } }, { content: { parts: [{ text: "b" }] } }] },
      key,
    );
    expect(await batch.json()).toEqual({ embeddings: [{ values: [1] }, { values: [2] }] });
    expect(JSON.parse(calls[2]!.body).requests.map((r: { model: string }) => r.model)).toEqual([
      "models/text-embedding-004",
      "models/text-embedding-004",
    ]);
  });

  it("a 2xx answer that is not JSON is a 502 malformed answer", async () => {
    mockUpstream(() => new Response("not json", { status: 200 }));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(r.status).toBe(502);
    expect(((await r.json()) as any).error.message).toMatch(/malformed upstream answer/);
  });
});
