import { describe, expect, it } from "vitest";
import { parserStream } from "../../src/streaming/parser";
import { sseEvents, type SseEvent } from "../../src/streaming/sse";

async function parse(chunks: (string | Uint8Array)[]): Promise<SseEvent[]> {
  const enc = new TextEncoder();
  const out: SseEvent[] = [];
  const src = new ReadableStream<Uint8Array>({
    start(c) {
      for (const ch of chunks) c.enqueue(typeof ch === "string" ? enc.encode(ch) : ch);
      c.close();
    },
  });
  const reader = src.pipeThrough(parserStream(sseEvents())).getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return out;
    out.push(r.value);
  }
}

describe("sseEvents", () => {
  const events = ['{"a":1}', '{"b":"x\\ny"}', '{"c":3}'];

  it.each([
    ["\\n\\n", "\n\n"],
    ["\\r\\n\\r\\n", "\r\n\r\n"],
    ["\\r\\r", "\r\r"],
  ])("splits events separated by %s", async (_n, sep) => {
    const body = events.map((e) => `data: ${e}${sep}`).join("");
    expect((await parse([body])).map((e) => e.data)).toEqual(events);
  });

  it("handles every possible chunk boundary, including between \\r and \\n", async () => {
    const body = events.map((e) => `data: ${e}\r\n\r\n`).join("");
    for (let i = 1; i < body.length; i++) {
      const got = await parse([body.slice(0, i), body.slice(i)]);
      expect(got.map((e) => e.data), `split at ${i}`).toEqual(events);
    }
  });

  it("parses the same events however an event is spread over many network chunks", async () => {
    const long = JSON.stringify({ text: "x".repeat(5000) + "é\u2028🌍" });
    const body = `: hi\r\ndata: ${long}\r\n\r\nevent: e\ndata: a\rdata: b\r\rdata: ${long}\n\n`;
    const whole = await parse([body]);
    expect(whole.map((e) => e.data)).toEqual([long, "a\nb", long]);
    const bytes = new TextEncoder().encode(body);
    for (const size of [1, 2, 3, 7, 64, 1000, 4097]) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.slice(i, i + size));
      expect(await parse(pieces), `pieces of ${size}`).toEqual(whole);
    }
  });

  it("delivers byte-by-byte input and multi-byte UTF-8 split across chunks", async () => {
    const body = 'data: {"t":"héllo 🌍"}\n\n';
    const bytes = new TextEncoder().encode(body);
    const enc = new TextDecoder();
    const src = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const r = await src.pipeThrough(parserStream(sseEvents())).getReader().read();
    expect(enc.decode(new TextEncoder().encode(r.value!.data))).toBe('{"t":"héllo 🌍"}');
  });

  it("reads event names, joins multi-line data, skips comments, flushes an unterminated last event", async () => {
    const got = await parse([": keep-alive\n", "event: message_start\ndata: {\"x\":\n", "data: 1}\n\n", "data: [DONE]"]);
    expect(got).toEqual([
      { event: "message_start", data: '{"x":\n1}', id: undefined },
      { event: undefined, data: "[DONE]", id: undefined },
    ]);
  });
});
