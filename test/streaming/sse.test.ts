import { describe, expect, it } from "vitest";
import { parserStream } from "../../src/streaming/parser";
import { encodeSse, forwardVerbatim, SseFrames, sseEvents, type SseEvent } from "../../src/streaming/sse";

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

describe("SseFrames", () => {
  const dec = new TextDecoder();
  const event = (text: string) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }] });

  it("frames each event byte for byte as encodeSse does, whatever its size and characters, in a buffer that grows to fit", () => {
    const frames = new SseFrames();
    // ASCII, two-, three- and four-byte characters, sizes around and far past the starting 4 KiB, and growth that
    // happens in the middle of a multi-byte run (the buffer fills between two UTF-16 units of one emoji).
    const texts = ["hi", "é".repeat(3000), "x".repeat(4070) + "😀😀😀", "€".repeat(50_000), "a", "😀".repeat(70_000), "plain"];
    for (const t of texts) {
      const value = event(t);
      const frame = frames.frame(value);
      expect(frame).toEqual(encodeSse(value));
      expect(JSON.parse(dec.decode(frame).slice(6, -4))).toEqual(value);
    }
  });

  it("sends a verbatim chunk's own text", () => {
    const raw = '{"candidates": [ {"content":{"parts":[{"text":"as sent"}]}} ]}';
    const frame = new SseFrames().frame(forwardVerbatim(JSON.parse(raw), raw));
    expect(dec.decode(frame)).toBe(`data: ${raw}\r\n\r\n`);
  });

  it("reuses one buffer while events fit, and gives a big one back after a run of small events", () => {
    const frames = new SseFrames();
    const a = frames.frame(event("one"));
    const b = frames.frame(event("two"));
    expect(b.buffer).toBe(a.buffer);
    const big = frames.frame(event("y".repeat(200_000)));
    expect(big.buffer.byteLength).toBeGreaterThanOrEqual(200_000);
    let last = big;
    for (let i = 0; i < 40; i++) last = frames.frame(event("small"));
    // Halved once per run of small frames: after 40 of them, well under the 256 KiB it had grown to.
    expect(last.buffer.byteLength).toBeLessThan(big.buffer.byteLength / 2);
    expect(dec.decode(last)).toBe(dec.decode(encodeSse(event("small"))));
  });
});
