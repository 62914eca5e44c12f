/** Routing, the model string, and every bad-input answer: each is a Gemini error body with the right status. */
import { SELF } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { BASE, createKey, genai, mockUpstream, textRequest } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "routes" })).key;
});
afterEach(() => vi.restoreAllMocks());

const geminiAnswer = () =>
  Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] });

async function expectError(r: Response, code: number, status: string, message?: RegExp) {
  expect(r.status).toBe(code);
  expect(r.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await r.json()) as { error: { code: number; status: string; message: string } };
  expect(body.error.code).toBe(code);
  expect(body.error.status).toBe(status);
  expect(typeof body.error.message).toBe("string");
  if (message) expect(body.error.message).toMatch(message);
  return body;
}

describe("model path", () => {
  it.each([
    ["gemini-2.0-flash", "gemini-2.0-flash"],
    ["models/gemini-2.0-flash", "gemini-2.0-flash"],
    ["gemini/gemini-2.0-flash", "gemini-2.0-flash"],
    ["gemini%2Fgemini-2.0-flash", "gemini-2.0-flash"],
    ["models%2Fgemini-2.0-flash", "gemini-2.0-flash"],
  ])("%s reaches Gemini as %s", async (model, upstreamModel) => {
    const calls = mockUpstream(geminiAnswer);
    const r = await genai(model, "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(200);
    expect(new URL(calls[0]!.url).pathname).toBe(`/v1beta/models/${upstreamModel}:generateContent`);
    expect(r.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(r.headers.get("x-edgeway-model")).toBe(upstreamModel);
  });

  it("serves v1 as well as v1beta, and keeps the version upstream", async () => {
    const calls = mockUpstream(geminiAnswer);
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("hi"), key, { version: "v1" });
    expect(r.status).toBe(200);
    expect(new URL(calls[0]!.url).pathname).toBe("/v1/models/gemini-2.0-flash:generateContent");
  });

  it("provider/model with a %2F slash routes to that provider", async () => {
    const r = await genai("mock%2Fecho", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(r.headers.get("x-edgeway-model")).toBe("echo");
  });

  it("answers every response with the gateway headers", async () => {
    const r = await genai("mock/echo", "generateContent", textRequest("hi"), key);
    expect(r.headers.get("x-edgeway-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get("x-edgeway-attempts")).toBe("1");
  });
});

describe("bad input", () => {
  it("unknown action: 400 INVALID_ARGUMENT naming the actions", async () => {
    await expectError(await genai("mock/echo", "generateStuff", textRequest("x"), key), 400, "INVALID_ARGUMENT", /unknown action "generateStuff"/);
  });

  it("unknown route: 404 NOT_FOUND", async () => {
    await expectError(await SELF.fetch(`${BASE}/genai/v1beta/tunedModels`), 404, "NOT_FOUND");
    await expectError(await SELF.fetch(`${BASE}/genai/v2/models`), 404, "NOT_FOUND");
    await expectError(await SELF.fetch(`${BASE}/nothing/here`), 404, "NOT_FOUND");
  });

  it("a model path without an action: 404", async () => {
    const r = await SELF.fetch(`${BASE}/genai/v1beta/models/mock/echo`, { method: "POST", headers: { "x-goog-api-key": key }, body: "{}" });
    await expectError(r, 404, "NOT_FOUND");
  });

  it("wrong method: 404, naming the method the path takes", async () => {
    const r = await SELF.fetch(`${BASE}/genai/v1beta/models/mock/echo:generateContent`, { headers: { "x-goog-api-key": key } });
    await expectError(r, 404, "NOT_FOUND", /no route for GET .*\(this path takes POST\)/);
  });

  // A browser preflight where CORS is off, or a client's PUT: the message names the path's method, not "GET".
  it.each([
    ["OPTIONS", "models/mock/echo:generateContent", "POST"],
    ["PUT", "models/mock/echo:streamGenerateContent", "POST"],
    ["DELETE", "models/gemini-2.0-flash:batchGenerateContent", "POST"],
    ["OPTIONS", "models/mock/echo", "GET"],
    ["PUT", "models", "GET"],
  ])("wrong method %s on %s: 404 saying it takes %s", async (method, path, takes) => {
    const r = await SELF.fetch(`${BASE}/genai/v1beta/${path}`, { method, headers: { "x-goog-api-key": key } });
    await expectError(r, 404, "NOT_FOUND", new RegExp(`no route for ${method} .*\\(this path takes ${takes}\\)`));
  });

  it.each(["bad model!", "Open AI/gpt", "openai/", "/gpt-4o", "models/"])("bad model string %j: 400", async (model) => {
    await expectError(await genai(encodeURIComponent(model), "generateContent", textRequest("x"), key), 400, "INVALID_ARGUMENT");
  });

  it("unknown provider: 400", async () => {
    await expectError(await genai("nosuch/model", "generateContent", textRequest("x"), key), 400, "INVALID_ARGUMENT", /unknown provider "nosuch"/);
  });

  it("malformed JSON: 400", async () => {
    await expectError(await genai("mock/echo", "generateContent", '{"contents": [', key), 400, "INVALID_ARGUMENT", /invalid JSON/);
  });

  it("a body that is not an object: 400", async () => {
    await expectError(await genai("mock/echo", "generateContent", "[1,2]", key), 400, "INVALID_ARGUMENT", /JSON object/);
  });

  it("empty body: 400", async () => {
    await expectError(await genai("mock/echo", "generateContent", "", key), 400, "INVALID_ARGUMENT", /body is required/);
  });

  it("wrong types name the field: 400", async () => {
    const r = await genai("mock/echo", "generateContent", { contents: [{ role: "user", parts: "hi" }] }, key);
    await expectError(r, 400, "INVALID_ARGUMENT", /contents\.0\.parts: expected array/);
    const r2 = await genai("mock/echo", "generateContent", { ...textRequest("x"), generationConfig: { temperature: "hot" } }, key);
    await expectError(r2, 400, "INVALID_ARGUMENT", /generationConfig\.temperature: expected number/);
    const r3 = await genai("mock/echo", "generateContent", { ...textRequest("x"), fallbacks: "mock/echo" }, key);
    await expectError(r3, 400, "INVALID_ARGUMENT", /fallbacks: expected array/);
  });

  it("empty contents: 400", async () => {
    await expectError(await genai("mock/echo", "generateContent", { contents: [] }, key), 400, "INVALID_ARGUMENT", /contents must not be empty/);
  });

  it("a bad fallback model string: 400", async () => {
    await expectError(await genai("mock/echo", "generateContent", textRequest("x", { fallbacks: ["bad model"] }), key), 400, "INVALID_ARGUMENT");
  });

  it("huge body: 413 before it is read whole", async () => {
    const big = JSON.stringify(textRequest("x".repeat(21 * 1024 * 1024)));
    await expectError(await genai("mock/echo", "generateContent", big, key), 413, "INVALID_ARGUMENT", /exceeds/);
  });

  it("huge body without a Content-Length (streamed): 413", async () => {
    const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent++ < 25) c.enqueue(chunk);
        else c.close();
      },
    });
    const r = await SELF.fetch(`${BASE}/genai/v1beta/models/mock/echo:generateContent`, {
      method: "POST",
      headers: { "x-goog-api-key": key },
      body,
      // @ts-expect-error workerd wants duplex for streamed request bodies
      duplex: "half",
    });
    await expectError(r, 413, "INVALID_ARGUMENT");
  });
});

describe("predict (Imagen-style) over HTTP", () => {
  it("mock answers predictions with an image", async () => {
    const r = await genai("mock/imagen", "predict", { instances: [{ prompt: "a cat" }], parameters: { sampleCount: 2 } }, key);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { predictions: { bytesBase64Encoded: string; mimeType: string }[] };
    expect(body.predictions).toHaveLength(2);
    expect(body.predictions[0]!.mimeType).toBe("image/png");
    expect(atob(body.predictions[0]!.bytesBase64Encoded).slice(1, 4)).toBe("PNG");
  });

  it("Gemini receives instances and parameters unchanged", async () => {
    const calls = mockUpstream(() => Response.json({ predictions: [{ bytesBase64Encoded: "AAAA", mimeType: "image/png" }] }));
    const req = { instances: [{ prompt: "a dog" }], parameters: { sampleCount: 1, personGeneration: "dont_allow" } };
    const r = await genai("imagen-4.0-generate-001", "predict", req, key);
    expect(r.status).toBe(200);
    expect(new URL(calls[0]!.url).pathname).toBe("/v1beta/models/imagen-4.0-generate-001:predict");
    expect(JSON.parse(calls[0]!.body)).toEqual(req);
  });

  it("predict without instances: 400", async () => {
    await expectError(await genai("mock/imagen", "predict", { parameters: {} }, key), 400, "INVALID_ARGUMENT", /instances/);
  });
});
