/**
 * streamGenerateContent in workerd: framing, split events, errors. Timing-sensitive cases (no buffering, client
 * disconnect, upstream cut) need a real socket and live in test/e2e/streaming.test.ts.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createKey, genai, mockUpstream, readSse, sseResponse, textRequest } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "streaming" })).key;
});
afterEach(() => vi.restoreAllMocks());

const chunk = (text: string, last = false) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
  ...(last ? { usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 3, totalTokenCount: 5 } } : {}),
});
const stream = (key: string, body = textRequest("hi")) => genai("gemini-2.0-flash", "streamGenerateContent", body, key, { query: "?alt=sse" });

describe("streamGenerateContent", () => {
  it.each([
    ["\\r\\n\\r\\n", "\r\n\r\n"],
    ["\\n\\n", "\n\n"],
  ])("re-frames upstream events separated by %s, split mid-event, as Gemini SSE", async (_n, sep) => {
    const wire = [chunk("Hel"), chunk("lo"), chunk("!", true)].map((c) => `data: ${JSON.stringify(c)}${sep}`).join("");
    // Split at awkward places: inside the JSON, inside "data:", between \r and \n.
    const cuts = [7, 30, wire.indexOf(sep) + 1, wire.length - 3];
    const pieces = [0, ...cuts].map((c, i, a) => wire.slice(c, a[i + 1]));
    const calls = mockUpstream(() => sseResponse(pieces));
    const r = await stream(key);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    const raw = await r.clone().text();
    expect(raw.split("\r\n\r\n").filter(Boolean)).toHaveLength(3);
    const events = (await readSse(r)) as ReturnType<typeof chunk>[];
    expect(events.map((e) => e.candidates[0]!.content.parts[0]!.text)).toEqual(["Hel", "lo", "!"]);
    expect(events[2]!.usageMetadata!.totalTokenCount).toBe(5);
    expect(calls[0]!.url).toBe("https://gemini.upstream.test/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  });

  it("answers SSE without ?alt=sse too", async () => {
    mockUpstream(() => sseResponse([`data: ${JSON.stringify(chunk("x", true))}\n\n`]));
    const r = await genai("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    expect(await readSse(r)).toHaveLength(1);
  });

  it("an upstream failure before the first byte is a normal JSON error", async () => {
    mockUpstream(() => Response.json({ error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } }, { status: 503 }));
    const r = await stream(key);
    expect(r.status).toBe(503);
    expect(r.headers.get("content-type")).toMatch(/application\/json/);
    expect(await r.json()).toMatchObject({ error: { code: 503, status: "UNAVAILABLE", message: "gemini: overloaded" } });
  });

  it("an error event sent by the upstream mid-stream is passed on as the final event with its status", async () => {
    mockUpstream(() =>
      sseResponse([
        `data: ${JSON.stringify(chunk("a"))}\r\n\r\n`,
        `data: ${JSON.stringify({ error: { code: 500, message: "internal", status: "INTERNAL" } })}\r\n\r\n`,
      ]),
    );
    const events = (await readSse(await stream(key))) as any[];
    expect(events).toHaveLength(2);
    expect(events[1]).toEqual({ error: { code: 500, message: "gemini: internal", status: "INTERNAL" } });
  });

  it("redacts the provider key from an upstream error event", async () => {
    mockUpstream(() =>
      sseResponse([
        `data: ${JSON.stringify(chunk("a"))}\r\n\r\n`,
        `data: ${JSON.stringify({ error: { code: 403, message: "key test-gemini-key was revoked", status: "PERMISSION_DENIED" } })}\r\n\r\n`,
      ]),
    );
    const events = (await readSse(await stream(key))) as any[];
    expect(events[1].error.message).toBe("gemini: key [redacted] was revoked");
  });

  it("an upstream silent past the timeout after the first byte is cancelled; the stream ends with a 504 event", async () => {
    let aborted = false;
    mockUpstream((call) => {
      call.signal.addEventListener("abort", () => (aborted = true));
      return sseResponse([`data: ${JSON.stringify(chunk("first"))}\r\n\r\n`], {}, "hang");
    });
    const r = await genai("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, {
      query: "?alt=sse",
      headers: { "x-edgeway-timeout-ms": "50" },
    });
    const events = (await readSse(r)) as any[];
    expect(events).toHaveLength(2);
    expect(events[0].candidates[0].content.parts[0].text).toBe("first");
    expect(events[1]).toEqual({ error: { code: 504, status: "DEADLINE_EXCEEDED", message: "gemini: no data from the upstream for 50 ms" } });
    expect(aborted).toBe(true);
  });

  it("the mock provider streams deterministic word chunks with usage on the last", async () => {
    const r = await genai("mock/echo", "streamGenerateContent", textRequest("hello there"), key, { query: "?alt=sse" });
    const events = (await readSse(r)) as any[];
    const text = events.map((e) => e.candidates[0].content.parts[0].text).join("");
    expect(text).toBe("This is the edgeway mock model. You said: hello there");
    expect(events.length).toBe(text.split(" ").length);
    expect(events.at(-1).candidates[0].finishReason).toBe("STOP");
    expect(events.at(-1).usageMetadata.totalTokenCount).toBeGreaterThan(0);
  });
});
