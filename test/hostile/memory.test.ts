/**
 * A large request must not be copied again and again: the upstream body of a large call is written out piece by
 * piece as the upstream reads it (byte for byte what JSON.stringify gives, with an exact Content-Length), a data: URL
 * around a large payload is never built, a chunked upload is decoded as it arrives and stops at the cap, and an
 * upstream's error body is read no further than its first 64 KiB. Memory figures are in bench/memory.mjs.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ERROR_BODY_BYTES } from "../../src/pipeline/execute";
import { readText } from "../../src/pipeline/body";
import { jsonBody, joined, JoinedString, STREAM_OVER } from "../../src/providers/json-body";
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import { BASE, createKey, flushUsage, genai, mockUpstream, textRequest, usageRow } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const big = (n: number, unit = "A") => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
const bytesOf = async (b: BodyInit) => new Uint8Array(await new Response(b).arrayBuffer());
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

describe("jsonBody", () => {
  it("a small body is JSON.stringify's string", () => {
    const v = { contents: [{ parts: [{ text: "hi" }] }] };
    expect(jsonBody(v)).toBe(JSON.stringify(v));
  });

  const cases: [string, unknown][] = [
    ["one large ASCII string", { contents: [{ parts: [{ inlineData: { mimeType: "image/png", data: big(STREAM_OVER * 2) } }] }] }],
    ["escapes and control characters across slice edges", { t: big(STREAM_OVER + 5, 'a"\\\n\t\u0001\u001f</') }],
    ["surrogate pairs across every slice edge", { t: big(STREAM_OVER + 3, "😀") }],
    ["BMP text, lone surrogates, U+2028", { t: big(STREAM_OVER, "é☃\u2028\ud800x\udc00") }],
    ["many medium strings, nested, arrays with holes and undefined", {
      a: Array.from({ length: 40 }, (_, i) => ({ s: big(40_000, String(i)), u: undefined, n: i / 3, b: i % 2 === 0, z: null, arr: [1, undefined, () => 1, "x"] })),
      empty: {}, emptyArr: [], neg: -0, exp: 1e21, nested: [[[{ k: "v" }]]],
    }],
    ["keys that need escaping", { ['k"\\\n' + "x".repeat(10)]: big(STREAM_OVER + 1), "ключ": 1 }],
    ["toJSON", { d: new Date(0), custom: { toJSON: () => ({ small: [1, "two"] }) }, big: big(STREAM_OVER + 1) }],
    ["a JoinedString (data: URL around a payload)", { url: new JoinedString(["data:image/png;base64,", big(STREAM_OVER + 7, "QUJD")]) }],
  ];

  // The Content-Length it is sent with is checked on a real socket (test/e2e/large-bodies.test.ts).
  it.each(cases)("%s: streamed, the same bytes as JSON.stringify", async (_name, value) => {
    const body = jsonBody(value);
    expect(body).toBeInstanceOf(ReadableStream);
    const want = new TextEncoder().encode(JSON.stringify(value));
    expect(sameBytes(await bytesOf(body), want)).toBe(true);
  });

  it("is sent in chunks of bounded size, never as one buffer", async () => {
    const reader = (jsonBody({ data: big(8 * STREAM_OVER) }) as ReadableStream<Uint8Array>).getReader();
    let largest = 0;
    let total = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      largest = Math.max(largest, r.value.byteLength);
      total += r.value.byteLength;
    }
    expect(total).toBeGreaterThan(8 * STREAM_OVER);
    expect(largest).toBeLessThanOrEqual(256 * 1024);
  });

  it("joined(): a plain string when small, a JoinedString when large", () => {
    expect(joined("data:x;base64,", "QUJD")).toBe("data:x;base64,QUJD");
    const j = joined("data:x;base64,", big(STREAM_OVER));
    expect(j).toBeInstanceOf(JoinedString);
    expect(JSON.stringify({ j })).toBe(JSON.stringify({ j: `data:x;base64,${big(STREAM_OVER)}` }));
  });
});

describe("readText", () => {
  const stream = (chunks: Uint8Array[]) => {
    let pulled = 0;
    const s = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled < chunks.length) c.enqueue(chunks[pulled++]!);
        else c.close();
      },
    }, { highWaterMark: 0 });
    return { s, pulled: () => pulled };
  };

  it("decodes as it reads, multi-byte characters split across chunks included", async () => {
    const bytes = new TextEncoder().encode("héllo ☃ 😀 wörld");
    const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
    expect(await readText(stream(chunks).s, 1000)).toEqual({ text: "héllo ☃ 😀 wörld", over: false });
  });

  it("stops at the cap: reads no further, cancels the rest, says so", async () => {
    const chunk = new Uint8Array(1000).fill(65);
    const src = stream(Array.from({ length: 100 }, () => chunk));
    const r = await readText(src.s, 2500);
    expect(r).toEqual({ text: "A".repeat(2500), over: true });
    expect(src.pulled()).toBe(3);
  });
});

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "memory" })).key;
});

describe("through the gateway", () => {
  it.each(["gemini-2.0-flash", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])(
    "%s: a large inline image reaches the upstream whole, byte for byte",
    async (model) => {
      const data = big(2 * STREAM_OVER, "iVBO");
      const seen: { body: string }[] = [];
      mockUpstream(async (call) => {
        seen.push({ body: call.body });
        if (call.url.includes("anthropic")) return Response.json({ id: "m", type: "message", role: "assistant", model: "c", content: [{ type: "text", text: "ok" }], stop_reason: "end_turn", usage: { input_tokens: 1, output_tokens: 1 } });
        if (call.url.includes("openai")) return Response.json({ id: "c", model: "gpt-4o-mini", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
        return Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] });
      });
      const r = await genai(model, "generateContent", { contents: [{ role: "user", parts: [{ text: "what is it" }, { inlineData: { mimeType: "image/png", data } }] }] }, key);
      expect(r.status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.body).toContain(data);
      if (model.startsWith("openai")) expect(JSON.parse(seen[0]!.body).messages[0].content[1].image_url.url).toBe(`data:image/png;base64,${data}`);
    },
  );

  it("a chunked upload over MAX_BODY_BYTES is a 413 (and a usage row), read no further than the cap", async () => {
    const max = 64 * 1024;
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled++;
        c.enqueue(new TextEncoder().encode(pulled === 1 ? '{"contents":[{"parts":[{"text":"' : "x".repeat(16 * 1024)));
        if (pulled > 1000) c.close();
      },
    }, { highWaterMark: 0 });
    const ctx = createExecutionContext();
    const req = new Request(`${BASE}/genai/v1beta/models/gemini-2.0-flash:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key },
      body,
    });
    expect(req.headers.get("content-length")).toBeNull();
    const r = await worker.fetch(req, { ...env, MAX_BODY_BYTES: String(max) }, ctx);
    await waitOnExecutionContext(ctx);
    await flushUsage();
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ error: { code: 413, status: "INVALID_ARGUMENT" } });
    expect(pulled).toBeLessThan(10);
    expect(await usageRow(r.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 413 });
  });

  it("an upstream error body is read no further than its first 64 KiB", async () => {
    let sent = 0;
    mockUpstream(() => new Response(new ReadableStream<Uint8Array>({
      pull(c) {
        const piece = new TextEncoder().encode(sent === 0 ? '{"error":{"code":400,"message":"' : "y".repeat(8192));
        sent += piece.byteLength;
        c.enqueue(piece);
      },
    }, { highWaterMark: 0 }), { status: 400, headers: { "content-type": "application/json" } }));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(400);
    const e = ((await r.json()) as { error: { message: string } }).error;
    expect(e.message.length).toBeLessThanOrEqual(2100);
    expect(sent).toBeLessThanOrEqual(ERROR_BODY_BYTES + 3 * 8192);
  });
});
