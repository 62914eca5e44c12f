/**
 * `fileData.fileUri` is fetched by whoever serves the call: the gateway refuses, for every provider and before any
 * translation or upstream call, URIs that point at internal addresses or use another scheme than https: (and gs:).
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { fileUriProblem } from "../../src/gemini/file-uri";
import { createKey, genai, genaiSettled, mockUpstream, ownResource, usageRow } from "../helpers/worker";

const REFUSED = [
  // schemes
  "http://example.com/cat.png",
  "HTTP://example.com/cat.png",
  "ftp://example.com/cat.png",
  "file:///etc/passwd",
  "data:image/png;base64,AAAA",
  "javascript:alert(1)",
  "gopher://example.com/",
  "not a url",
  "",
  // cloud metadata and loopback, in every spelling
  "https://169.254.169.254/latest/meta-data/",
  "https://127.0.0.1/x.png",
  "https://127.1/x.png",
  "https://2130706433/x.png",
  "https://0x7f000001/x.png",
  "https://0x7f.0.0.1/x.png",
  "https://0177.0.0.1/x.png",
  "https://127.0.0.1./x.png",
  "https://%31%32%37.0.0.1/x.png",
  "https://１２７.０.０.１/x.png",
  "https://0.0.0.0/x.png",
  "https://0/x.png",
  // private, CGNAT, multicast, broadcast
  "https://10.1.2.3/x.png",
  "https://172.16.0.1/x.png",
  "https://172.31.255.255/x.png",
  "https://192.168.1.1/x.png",
  "https://100.64.0.1/x.png",
  "https://100.127.255.254/x.png",
  "https://198.18.0.1/x.png",
  "https://224.0.0.1/x.png",
  "https://255.255.255.255/x.png",
  // localhost
  "https://localhost/x.png",
  "https://LOCALHOST./x.png",
  "https://api.localhost/x.png",
  "https://a.b.localhost../x.png",
  // IPv6
  "https://[::1]/x.png",
  "https://[::]/x.png",
  "https://[0:0:0:0:0:0:0:1]/x.png",
  "https://[::ffff:127.0.0.1]/x.png",
  "https://[::ffff:169.254.169.254]/x.png",
  "https://[::ffff:a9fe:a9fe]/x.png",
  "https://[::ffff:10.0.0.1]/x.png",
  "https://[::127.0.0.1]/x.png",
  "https://[64:ff9b::127.0.0.1]/x.png",
  "https://[64:ff9b:1::1]/x.png",
  "https://[2002:7f00:1::]/x.png",
  "https://[fe80::1]/x.png",
  "https://[febf::1]/x.png",
  "https://[fc00::1]/x.png",
  "https://[fd12:3456::1]/x.png",
  "https://[ff02::1]/x.png",
  "https://[100::1]/x.png",
  // parser differentials and credentials
  "https://example.com\\@127.0.0.1/x.png",
  "https://user:pass@example.com/x.png",
  "https://127.0.0.1@example.com/x.png",
  "https://example.com/x.png\n",
  " https://example.com/x.png",
  "gs:///no-bucket",
];

const ACCEPTED = [
  "https://example.com/cat.png",
  "HTTPS://EXAMPLE.COM/cat.png",
  "https://generativelanguage.googleapis.com/v1beta/files/abc-123",
  "gs://my-bucket/images/cat.png",
  "https://8.8.8.8/x.png",
  "https://172.32.0.1/x.png",
  "https://100.128.0.1/x.png",
  "https://[2606:4700::1111]/x.png",
  "https://[::ffff:8.8.8.8]/x.png",
  "https://[2002:808:808::]/x.png",
  "https://www.youtube.com/watch?v=abc@def",
  "https://example.com:8443/a/b?c=d#e",
  "https://localhost.example.com/x.png",
];

describe("fileUriProblem", () => {
  it.each(REFUSED)("refuses %j", (uri) => {
    expect(fileUriProblem(uri)).toEqual(expect.any(String));
  });
  it.each(ACCEPTED)("accepts %j", (uri) => {
    expect(fileUriProblem(uri)).toBeUndefined();
  });
});

let key: string;
beforeAll(async () => {
  const k = await createKey({ name: "file-uri" });
  key = k.key;
  // A Gemini Files API URI passes the filter, then ownership: this one is the key's own.
  await ownResource(k.id, "file", "files/abc");
});
afterEach(() => vi.restoreAllMocks());

const part = (fileUri: string) => ({ fileData: { mimeType: "image/png", fileUri } });
const gen = (p: unknown) => ({ contents: [{ role: "user", parts: [{ text: "look" }, p] }] });

/** Every place a fileData part can sit, per action. */
const PLACES: [string, string, (p: unknown) => unknown][] = [
  ["generateContent", "contents", gen],
  ["streamGenerateContent", "contents", gen],
  ["generateContent", "systemInstruction", (p) => ({ ...gen({ text: "x" }), systemInstruction: { parts: [p] } })],
  ["generateContent", "a functionResponse's parts", (p) => ({
    contents: [
      { role: "model", parts: [{ functionCall: { name: "f", args: {} } }] },
      { role: "user", parts: [{ functionResponse: { name: "f", response: {}, parts: [p] } }] },
    ],
  })],
  ["generateContent", "snake_case file_data", (p) => gen({ file_data: { mime_type: "image/png", file_uri: (p as any).fileData.fileUri } })],
  ["countTokens", "generateContentRequest", (p) => ({ generateContentRequest: gen(p) })],
  ["embedContent", "content", (p) => ({ content: { parts: [p] } })],
  ["batchEmbedContents", "requests", (p) => ({ requests: [{ content: { parts: [{ text: "ok" }] } }, { content: { parts: [p] } }] })],
];

const MODELS = ["gemini-2.0-flash", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "mock/echo"];

describe("through the gateway: 400 before any upstream call, for every provider", () => {
  it.each(MODELS.flatMap((m) => PLACES.map(([a, where, body]) => [m, a, where, body] as const)))(
    "%s %s (%s)",
    async (model, action, _where, body) => {
      const calls = mockUpstream(() => Response.json({}));
      const r = await genaiSettled(model, action, body(part("http://169.254.169.254/latest/meta-data/")), key, action.startsWith("stream") ? { query: "?alt=sse" } : {});
      expect(r.status).toBe(400);
      const e = ((await r.json()) as { error: { code: number; status: string; message: string } }).error;
      expect(e).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
      expect(e.message).toMatch(/fileUri/);
      expect(calls).toEqual([]);
      expect(await usageRow(r.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 400 });
    },
  );

  it("a fallback never sees a refused URI either", async () => {
    const calls = mockUpstream(() => Response.json({}));
    const r = await genai("gemini-2.0-flash", "generateContent", { ...gen(part("https://[::ffff:127.0.0.1]/x.png")), fallbacks: ["openai/gpt-4o-mini"] }, key);
    expect(r.status).toBe(400);
    expect(calls).toEqual([]);
  });

  it("accepted URIs go upstream unchanged (Gemini Files API, gs://, public https)", async () => {
    const calls = mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
    for (const uri of ["https://generativelanguage.googleapis.com/v1beta/files/abc", "gs://bucket/cat.png", "https://example.com/cat.png"]) {
      const r = await genai("gemini-2.0-flash", "generateContent", gen(part(uri)), key);
      expect(r.status).toBe(200);
      expect(JSON.parse(calls.at(-1)!.body).contents[0].parts[1].fileData.fileUri).toBe(uri);
    }
  });

  it("a part carrying both spellings is checked under both: a good fileUri does not cover a bad file_uri", async () => {
    const calls = mockUpstream(() => Response.json({}));
    const both = { fileData: { mimeType: "image/png", fileUri: "https://example.com/cat.png", file_uri: "http://169.254.169.254/latest/meta-data/" } };
    const r = await genai("gemini-2.0-flash", "generateContent", gen(both), key);
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.message).toMatch(/169\.254\.169\.254.* is refused/);
    expect(calls).toEqual([]);
  });

  it("a fileData part nested 90 levels deep in an unknown field is still found", async () => {
    let deep: unknown = part("https://127.0.0.1/x.png");
    for (let i = 0; i < 45; i++) deep = { nest: [deep] };
    const calls = mockUpstream(() => Response.json({}));
    const r = await genai("gemini-2.0-flash", "generateContent", { ...gen({ text: "x" }), extension: deep }, key);
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.message).toMatch(/fileUri/);
    expect(calls).toEqual([]);
  });
});
