/**
 * Large bodies over real sockets: many calls at once with bodies at the default MAX_BODY_BYTES, native and
 * translated, against loopback upstreams that keep every call in flight together. Each call is answered (200, or a
 * clear 413 for a body over the cap) and leaves its usage row; nothing is a 5xx. The upstream body of a large call is
 * streamed with an exact Content-Length (not chunked), byte for byte what the caller sent (native).
 */
import { request, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_MAX_BODY } from "../../src/config";
import { mockUpstream, startGateway, type Gateway, type MockUpstream, type SeenRequest } from "./harness";

const GEMINI_OK = JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 } });
const OPENAI_OK = JSON.stringify({ id: "c", model: "gpt-4o-mini", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 } });

let gemini: MockUpstream;
let openai: MockUpstream;
let gw: Gateway;
let key: string;
/** Released once every call of a batch has reached its upstream: until then each upstream answer waits. */
let expected = 0;
let release!: () => void;
let arrived = new Promise<void>((r) => (release = r));
const seen: { url: string; contentLength?: string; transferEncoding?: string; bytes: number }[] = [];

function answerWhenAllArrived(body: string) {
  return async (req: SeenRequest, res: ServerResponse) => {
    seen.push({ url: req.url, contentLength: req.headers["content-length"], transferEncoding: req.headers["transfer-encoding"], bytes: Buffer.byteLength(req.body) });
    if (seen.length >= expected) release();
    await arrived;
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  };
}

beforeAll(async () => {
  gemini = await mockUpstream(answerWhenAllArrived(GEMINI_OK));
  openai = await mockUpstream(answerWhenAllArrived(OPENAI_OK));
  gw = await startGateway({ GEMINI_API_KEY: "e2e-gemini-key", GEMINI_BASE_URL: gemini.url, OPENAI_API_KEY: "e2e-openai-key", OPENAI_BASE_URL: openai.url });
  key = (await gw.createKey({ name: "large-bodies" })).key;
});
afterAll(async () => {
  await gw?.stop();
  await gemini?.close();
  await openai?.close();
});

/** A generateContent body of exactly `bytes` bytes: a question and an inline image. */
function body(bytes: number): string {
  const head = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "what is this?" }, { inlineData: { mimeType: "image/png", data: "" } }] }] });
  return head.replace('"data":""', `"data":"${"A".repeat(bytes - head.length)}"`);
}

const post = (model: string, b: string) =>
  fetch(`${gw.url}/genai/v1beta/models/${model}:generateContent`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: b,
  });

/**
 * A body over the cap, declared by its Content-Length and never sent: the answer must come from the headers alone.
 * (Sent, its bytes would still be arriving when the gateway answers 413 and closes the connection, and the client
 * could see the reset before the answer.) Its own connection, never pooled.
 */
const postDeclared = (model: string, bytes: number) =>
  new Promise<Response>((resolve, reject) => {
    const u = new URL(`${gw.url}/genai/v1beta/models/${model}:generateContent`);
    const headers = { "content-type": "application/json", "x-goog-api-key": key, "content-length": String(bytes) };
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        req.destroy();
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: res.headers as Record<string, string> }));
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });

describe("concurrent large bodies", () => {
  it("12 at the cap (native and translated) and 4 over it: 200s and 413s, every call with its usage row", async () => {
    const atCap = body(DEFAULT_MAX_BODY);
    const calls = [
      ...Array.from({ length: 6 }, () => ["gemini-2.0-flash", atCap, 200] as const),
      ...Array.from({ length: 6 }, () => ["openai/gpt-4o-mini", atCap, 200] as const),
      ...Array.from({ length: 4 }, (_, i) => [i % 2 ? "openai/gpt-4o-mini" : "gemini-2.0-flash", undefined, 413] as const),
    ];
    seen.length = 0;
    expected = 12;
    arrived = new Promise<void>((r) => (release = r));
    const answers = await Promise.all(calls.map(async ([model, b, want]) => {
      const r = b === undefined ? await postDeclared(model, DEFAULT_MAX_BODY + 1) : await post(model, b);
      return { want, status: r.status, id: r.headers.get("x-edgeway-request-id"), body: (await r.json()) as Record<string, any> };
    }));
    for (const a of answers) {
      expect(a.status).toBe(a.want);
      if (a.want === 413) expect(a.body.error).toMatchObject({ code: 413, status: "INVALID_ARGUMENT" });
      else expect(a.body.candidates[0].content.parts[0].text).toBe("ok");
      expect(await gw.usageRow(a.id)).toMatchObject({ status: a.want, outcome: a.want === 200 ? "ok" : "error" });
    }
    // Every upstream body went with its exact length, not chunked; the native ones byte for byte as sent.
    expect(seen).toHaveLength(12);
    for (const s of seen) {
      expect(s.transferEncoding).toBeUndefined();
      expect(Number(s.contentLength)).toBe(s.bytes);
    }
    expect(seen.filter((s) => s.url.includes(":generateContent")).every((s) => s.bytes === DEFAULT_MAX_BODY)).toBe(true);
  });
});
