/**
 * The hostile-input regression suite: paths with encoded separators and `..`, oversized and deeply nested bodies,
 * bad headers and bad query strings. Whatever the input, the gateway answers without a 5xx, and every error is a
 * Gemini-style body `{"error":{"code","message","status"}}` whose code is the HTTP status. (Which 4xx a strange
 * model string gets is the router's to decide; this suite pins only that it is a 4xx.)
 */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { MAX_DEPTH } from "../../src/pipeline/body";
import { ADMIN, BASE, createKey, flushUsage, mockUpstream, textRequest, usageRow } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "hostile-inputs" })).key;
});
// Whatever a strange path resolves to, its upstream (if any) answers: what is under test is the gateway.
beforeEach(() => {
  mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
});
afterEach(() => vi.restoreAllMocks());

/** A test title for an input that may be 100k characters long. */
const short = (s: string) => (s.length > 90 ? `${s.slice(0, 70)}… (${s.length} characters)` : s);
const titled = (xs: string[]) => xs.map((x) => [short(x), x] as const);

/** No 5xx; an error is a Gemini error body with the HTTP status as its code. Returns the status. */
async function expectSafe(res: Response): Promise<number> {
  const text = await res.text();
  expect(res.status, text.slice(0, 300)).toBeLessThan(500);
  if (res.status >= 400) {
    const body = JSON.parse(text) as { error: { code: number; message: string; status: string } };
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.code).toBe(res.status);
    expect(typeof body.error.message).toBe("string");
    expect(body.error.status).toMatch(/^[A-Z_]+$/);
    // An echo of the input is bounded, however long the input was.
    expect(body.error.message.length).toBeLessThan(4000);
  }
  return res.status;
}

/** Sent through the Worker's own fetch with a test context, so the usage row (if any) is written before we look. */
async function send(req: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(req, env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  await flushUsage();
  return new Response(text, { status: res.status, headers: res.headers });
}

const post = (path: string, body: BodyInit | null = JSON.stringify(textRequest("hi")), headers: Record<string, string> = {}) =>
  new Request(`${BASE}${path}`, { method: "POST", headers: { "content-type": "application/json", "x-goog-api-key": key, ...headers }, body });

describe("paths", () => {
  const PATHS = [
    "/genai/v1beta/models/..%2F..%2Fadmin%2Fkeys:generateContent",
    "/genai/v1beta/models/mock%2F..%2F..%2Fadmin:generateContent",
    "/genai/v1beta/models/mock%2F..%2Fecho:generateContent",
    "/genai/v1beta/models/mock/../echo:generateContent",
    "/genai/v1beta/models/%2e%2e%2f%2e%2e%2fadmin:generateContent",
    "/genai/v1beta/models/mock%2F.%2Fecho:generateContent",
    "/genai/v1beta/models/mock%2F%2Fecho:generateContent",
    "/genai/v1beta/models/mock//echo:generateContent",
    "/genai/v1beta/models//mock/echo:generateContent",
    "/genai/v1beta/models/mock%2Fecho%2F:generateContent",
    "/genai/v1beta/models/mock%252Fecho:generateContent",
    "/genai/v1beta/models/mock%5Cecho:generateContent",
    "/genai/v1beta/models/mock\\echo:generateContent",
    "/genai/v1beta/models/mock%2Fecho%00:generateContent",
    "/genai/v1beta/models/mock%2Fec%0D%0Aho:generateContent",
    "/genai/v1beta/models/mock%2Fecho%3AgenerateContent",
    "/genai/v1beta/models/mock/echo:generateContent:generateContent",
    "/genai/v1beta/models/mock/echo:",
    "/genai/v1beta/models/:generateContent",
    "/genai/v1beta/models/%:generateContent",
    "/genai/v1beta/models/%E0%A4%A:generateContent",
    "/genai/v1beta/models/%C0%AF%C0%AE:generateContent",
    "/genai/v1beta/models/%FF%FE:generateContent",
    "/genai/v1beta/models/%F0%9F%98%80:generateContent",
    "/genai/v1beta/models/模型:generateContent",
    `/genai/v1beta/models/${"a".repeat(100_000)}:generateContent`,
    `/genai/v1beta/models/mock/${"%2F".repeat(10_000)}:generateContent`,
    `/genai/v1beta/models/${"x:".repeat(5_000)}generateContent`,
    "/genai/v1beta/models/mock/echo:__proto__",
    "/genai/v1beta/models/mock/echo:constructor",
    "/genai/v1beta/models/mock/echo:toString",
    "/genai/v1beta/..%2F..%2Fadmin/keys",
    "/genai/..%2Fadmin%2Fkeys",
    "/genai/%2e%2e/admin/keys",
    "/genai/v1beta%2Fmodels/mock/echo:generateContent",
    "/genai/v9/models/mock/echo:generateContent",
    "/genai/v1beta/models/",
    "/genai/v1beta/",
    "/genai/",
    "/genai",
    "/admin/..%2Fgenai/v1beta/models",
    "/admin/keys/..%2F..%2Fteams",
    "/admin/keys/%00",
    `/admin/keys/${"k".repeat(50_000)}`,
  ];

  it.each(titled(PATHS))("POST %s", async (_title, path) => {
    await expectSafe(await send(post(path)));
  });

  it.each(titled(PATHS))("GET %s", async (_title, path) => {
    await expectSafe(await send(new Request(`${BASE}${path}`, { headers: { "x-goog-api-key": key, ...ADMIN } })));
  });

  it.each(["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])("%s on an inference route", async (method) => {
    const res = await send(new Request(`${BASE}/genai/v1beta/models/mock/echo:generateContent`, { method, headers: { "x-goog-api-key": key } }));
    if (method === "HEAD") expect(res.status).toBeLessThan(500);
    else expect(await expectSafe(res)).toBeGreaterThanOrEqual(400);
  });

  it("a model string with `..` that is refused still leaves a usage row for the key", async () => {
    const res = await send(post("/genai/v1beta/models/mock%2F..%2F..%2Fadmin:generateContent"));
    const status = await expectSafe(res);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status });
  });
});

/** `depth` arrays nested in one another, built as text (JSON.stringify itself would overflow). */
const nestedArrays = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
const withExtra = (extra: string) => `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"extra":${extra}}`;

describe("bodies", () => {
  const GEN = "/genai/v1beta/models/mock/echo:generateContent";
  const BODIES: [string, BodyInit | null][] = [
    ["no body", null],
    ["empty", ""],
    ["whitespace", " \n\t "],
    ["null", "null"],
    ["a string", '"contents"'],
    ["a number", "1e999"],
    ["an array", "[]"],
    ["truncated", '{"contents":[{"parts":[{"text":"hi"'],
    ["trailing garbage", `${JSON.stringify(textRequest("hi"))} x`],
    ["a BOM", `\uFEFF${JSON.stringify(textRequest("hi"))}`],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0xc0, 0xaf, 0x7d])],
    ["UTF-16", new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00])],
    ["NUL bytes", '{"contents":[{"parts":[{"text":"a\u0000b"}]}]}\u0000'],
    ["100k nested arrays", nestedArrays(100_000)],
    ["100k nested arrays in a field", withExtra(nestedArrays(100_000))],
    ["100k nested objects in a field", withExtra(nestedObjects(100_000))],
    ["1M nested arrays, unclosed", "[".repeat(1_000_000)],
    ["deep contents", `{"contents":${nestedArrays(10_000, '{"parts":[]}')}}`],
    ["wrong types everywhere", '{"contents":{"parts":"x"},"generationConfig":[],"tools":1,"systemInstruction":5}'],
    ["__proto__ and constructor keys", '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}},"contents":[{"parts":[{"text":"hi","__proto__":{"x":1}}]}]}'],
    ["duplicate keys", '{"contents":[{"parts":[{"text":"a"}]}],"contents":[{"parts":[{"text":"b"}]}]}'],
    ["100k empty parts", JSON.stringify({ contents: [{ role: "user", parts: Array.from({ length: 100_000 }, () => ({ text: "" })) }] })],
    ["10k contents", JSON.stringify({ contents: Array.from({ length: 10_000 }, () => ({ role: "user", parts: [{ text: "x" }] })) })],
    ["a 5 MB text", JSON.stringify(textRequest("ab ".repeat(1_700_000)))],
    ["100k unicode escapes", JSON.stringify(textRequest("")).replace('"text":""', `"text":"${"\\ud83d\\ude00".repeat(100_000)}"`)],
    ["lone surrogates", JSON.stringify(textRequest("")).replace('"text":""', '"text":"\\ud800\\udc00\\udfff\\ud800"')],
    ["huge numbers", JSON.stringify(textRequest("hi", { generationConfig: { maxOutputTokens: 1e308, temperature: -1e308, topK: 1.5, candidateCount: 2 ** 53 } }))],
    ["1000 fallbacks", JSON.stringify(textRequest("hi", { fallbacks: Array.from({ length: 1000 }, (_, i) => `mock/m${i}`) }))],
    ["hostile fallbacks", JSON.stringify(textRequest("hi", { fallbacks: ["../../admin", "mock%2F..", "\u0000", "a".repeat(100_000), "mock/echo/../../x"] }))],
    ["fallbacks of the wrong type", JSON.stringify(textRequest("hi", { fallbacks: [{ a: 1 }, null] }))],
    ["a gateway `model` field", JSON.stringify(textRequest("hi", { model: "../../admin" }))],
    ["functionCall args deeply nested", withExtra("1").replace('"parts":[{"text":"hi"}]', `"parts":[{"functionCall":{"name":"f","args":{"a":${nestedArrays(5000)}}}}]`)],
  ];

  it.each(BODIES)("%s", async (_name, body) => {
    const res = await send(post(GEN, body));
    await expectSafe(res);
    // Attributed to the key (it was valid): the call leaves its row whatever the body was.
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).not.toBeNull();
  });

  it.each([
    ["countTokens", "/genai/v1beta/models/mock/echo:countTokens"],
    ["embedContent", "/genai/v1beta/models/mock/echo:embedContent"],
    ["batchEmbedContents", "/genai/v1beta/models/mock/echo:batchEmbedContents"],
    ["predict", "/genai/v1beta/models/mock/echo:predict"],
    ["streamGenerateContent", "/genai/v1beta/models/mock/echo:streamGenerateContent?alt=sse"],
    ["openai", "/genai/v1beta/models/openai/gpt-4o-mini:generateContent"],
    ["anthropic", "/genai/v1beta/models/anthropic/claude-haiku-4-5:generateContent"],
  ])("%s: nested 100k deep, and nested just past the limit", async (_name, path) => {
    const calls = mockUpstream(() => Response.json({}));
    expect(await expectSafe(await send(post(path, withExtra(nestedArrays(100_000)))))).toBe(400);
    expect(await expectSafe(await send(post(path, withExtra(nestedArrays(MAX_DEPTH)))))).toBe(400);
    expect(calls).toEqual([]);
  });

  it(`a body nested to the limit (${MAX_DEPTH} levels) is still served`, async () => {
    // The body object is level 1 and "extra"'s array level 2.
    const res = await send(post(GEN, withExtra(nestedArrays(MAX_DEPTH - 2))));
    expect(await expectSafe(res)).toBe(200);
  });

  it("a declared length over MAX_BODY_BYTES is a 413 before the body is read", async () => {
    const res = await send(post(GEN, "x".repeat(1000), {}));
    await expectSafe(res);
    const small = await worker.fetch(post(GEN, JSON.stringify(textRequest("hi".repeat(100)))), { ...env, MAX_BODY_BYTES: "64" }, createExecutionContext());
    expect(await expectSafe(small)).toBe(413);
  });
});

describe("headers", () => {
  const GEN = "/genai/v1beta/models/mock/echo:generateContent";
  const HEADERS: [string, Record<string, string> | [string, string][]][] = [
    ["no credential", { "x-goog-api-key": "" }],
    ["a 64 KB key", { "x-goog-api-key": `sk-bf-${"a".repeat(64 * 1024)}` }],
    ["a 64 KB bearer", { "x-goog-api-key": "", authorization: `Bearer ${"b".repeat(64 * 1024)}` }],
    ["Latin-1 in the key", { "x-goog-api-key": "sk-bf-é\u00ff\u00a0abcdefabcdefabcdefabcdefabcdefabcdef" }],
    ["control characters in the key", { "x-goog-api-key": "sk-bf-abc\u0001\u007fdefabcdefabcdefabcdefabcdefabcdef" }],
    ["a valid key and a bad bearer", { authorization: "Bearer sk-bf-notavalidkeynotavalidkeynotavalidkey" }],
    ["a valid key and a bad x-bf-vk", { "x-bf-vk": "garbage" }],
    ["Authorization without Bearer", { "x-goog-api-key": "", authorization: "Basic dXNlcjpwYXNz" }],
    ["an empty Bearer", { "x-goog-api-key": "", authorization: "Bearer " }],
    ["a huge x-edgeway-timeout-ms", { "x-edgeway-timeout-ms": "9".repeat(1000) }],
    ["a negative x-edgeway-timeout-ms", { "x-edgeway-timeout-ms": "-1" }],
    ["a fractional x-edgeway-timeout-ms", { "x-edgeway-timeout-ms": "1.5" }],
    ["a garbage x-edgeway-timeout-ms", { "x-edgeway-timeout-ms": "1e309" }],
    ["content-type text/plain", { "content-type": "text/plain" }],
    ["content-type with a UTF-16 charset", { "content-type": "application/json; charset=utf-16" }],
    ["a 32 KB unknown header", { "x-junk": "j".repeat(32 * 1024) }],
    ["a garbage Origin", { origin: "\u00ff://\u00fe" }],
  ];

  it.each(HEADERS)("%s", async (_name, headers) => {
    await expectSafe(await send(post(GEN, JSON.stringify(textRequest("hi")), headers as Record<string, string>)));
  });

  it("the same credential header twice (joined as `a, b`) is refused, not split", async () => {
    const h = new Headers({ "content-type": "application/json" });
    h.append("x-goog-api-key", key);
    h.append("x-goog-api-key", key);
    const res = await send(new Request(`${BASE}${GEN}`, { method: "POST", headers: h, body: JSON.stringify(textRequest("hi")) }));
    expect(await expectSafe(res)).toBe(401);
  });

  it("a valid key next to a different valid key: the contract's order decides, nothing is mixed", async () => {
    const other = (await createKey({ name: "other", models: ["nothing/*"] })).key;
    // x-bf-vk comes first: the other key, whose allow-list refuses the model.
    const res = await send(post(GEN, JSON.stringify(textRequest("hi")), { "x-bf-vk": other }));
    expect(await expectSafe(res)).toBe(403);
  });
});

describe("query strings", () => {
  const QUERIES = [
    "?alt=sse&alt=json",
    "?alt=xml",
    "?%ZZ=%ZZ",
    "?key=%00",
    "?key=sk-bf-%FF%FE",
    "?key[]=a&key[]=b",
    "?__proto__[polluted]=1&constructor[prototype][polluted]=1",
    `?${"a=1&".repeat(10_000)}`,
    `?q=${"%".repeat(50_000)}`,
    "?$.x=1&=&&&==",
  ];

  it.each(titled(QUERIES))("inference %s", async (_title, q) => {
    await expectSafe(await send(post(`/genai/v1beta/models/mock/echo:generateContent${q}`)));
    await expectSafe(await send(new Request(`${BASE}/genai/v1beta/models${q}`, { headers: { "x-goog-api-key": key } })));
  });

  it("?key= alone, with a bad key in it", async () => {
    const res = await send(new Request(`${BASE}/genai/v1beta/models?key=${"z".repeat(10_000)}`));
    expect(await expectSafe(res)).toBe(401);
  });

  const ADMIN_QUERIES = [
    "/admin/logs?limit=-1",
    "/admin/logs?limit=1e9",
    "/admin/logs?limit=abc",
    "/admin/logs?cursor=%ZZ",
    "/admin/logs?cursor=" + "A".repeat(10_000),
    "/admin/logs?key_id=&team_id=",
    "/admin/logs?unknown=1",
    "/admin/logs?limit=1&limit=2",
    "/admin/usage?from=9999999999999999999",
    "/admin/usage?from=2026-13-45",
    "/admin/usage?from=2026-01-02&to=2026-01-01",
    "/admin/usage?group_by=__proto__",
    "/admin/usage?group_by=key&group_by=team",
    `/admin/usage?key_id=${"k".repeat(10_000)}`,
    "/admin/keys?limit=-5&cursor=%00",
    "/admin/keys?cursor=not-a-cursor",
    `/admin/keys?cursor=${"c".repeat(5000)}`,
    "/admin/teams?cursor=%00%01",
  ];

  it.each([
    ["a 50k-character key id", `/admin/keys/${"k".repeat(50_000)}`],
    ["a 50k-character team id", `/admin/teams/${"t".repeat(50_000)}`],
    ["a key id with NUL and newlines", "/admin/keys/key_%00%0A%0D"],
  ])("admin PATCH and DELETE on %s", async (_title, path) => {
    for (const method of ["GET", "PATCH", "DELETE"]) {
      const status = await expectSafe(await SELF.fetch(`${BASE}${path}`, { method, headers: ADMIN, body: method === "PATCH" ? "{}" : undefined }));
      expect(status).toBe(404);
    }
  });

  it("creating a key for a 50k-character team id is a 400, not a storage failure", async () => {
    const r = await SELF.fetch(`${BASE}/admin/keys`, { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "x", team_id: "t".repeat(50_000) }) });
    expect(await expectSafe(r)).toBe(400);
  });

  it.each(titled(ADMIN_QUERIES))("admin %s", async (_title, path) => {
    await expectSafe(await SELF.fetch(`${BASE}${path}`, { headers: ADMIN }));
  });
});
