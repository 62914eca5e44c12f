/**
 * Streaming over real sockets: the upstream is a loopback server the test drives byte by byte, the client is
 * Node's fetch. Proves no buffering, upstream cancel on client disconnect, and the error event after a cut.
 */
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mockUpstream, startGateway, type Gateway, type MockUpstream } from "./harness";

const chunk = (text: string, last = false) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
  ...(last ? { usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 3, totalTokenCount: 5 } } : {}),
});
const event = (c: unknown) => `data: ${JSON.stringify(c)}\r\n\r\n`;

/** The live upstream response of the current test, and a promise for when its socket closed. */
let live: { res: http.ServerResponse; closed: Promise<boolean> } | undefined;
let onRequest: (() => void) | undefined;
let upstream: MockUpstream;
let gw: Gateway;
let key: string;

beforeAll(async () => {
  upstream = await mockUpstream((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.flushHeaders();
    // `true` when the peer went away before we ended the response.
    const closed = new Promise<boolean>((resolve) => res.on("close", () => resolve(!res.writableEnded)));
    live = { res, closed };
    onRequest?.();
  });
  gw = await startGateway({ GEMINI_API_KEY: "k", GEMINI_BASE_URL: upstream.url });
  key = (await gw.createKey({ name: "stream-e2e" })).key;
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});

async function open(signal?: AbortSignal, headers: Record<string, string> = {}) {
  const requested = new Promise<void>((r) => (onRequest = r));
  const started = fetch(`${gw.url}/genai/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key, ...headers },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
    signal,
  });
  await requested;
  return { started, up: live! };
}

/** Six SSE comments 60 ms apart: bytes, but no event. */
async function keepAlive(res: http.ServerResponse) {
  for (let i = 0; i < 6; i++) {
    res.write(": keep-alive\n\n");
    await new Promise((r) => setTimeout(r, 60));
  }
}

function reader(res: Response) {
  const r = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  return {
    get text() {
      return text;
    },
    /** Reads until `needle` has arrived; fails the test (by timeout) if the gateway holds it back. */
    async until(needle: string) {
      while (!text.includes(needle)) {
        const x = await r.read();
        if (x.done) throw new Error(`ended before ${needle}: ${text}`);
        text += dec.decode(x.value, { stream: true });
      }
    },
    async rest() {
      for (;;) {
        const x = await r.read();
        if (x.done) return text;
        text += dec.decode(x.value, { stream: true });
      }
    },
  };
}

describe("streaming over real sockets", () => {
  it("each event reaches the client before the upstream sends the next", async () => {
    const { started, up } = await open();
    up.res.write(event(chunk("one")));
    const res = await started;
    expect(res.status).toBe(200);
    const rd = reader(res);
    await rd.until('"one"');
    // The upstream only sends "two" after the client saw "one": a buffering gateway would deadlock here.
    up.res.write(event(chunk("two")).slice(0, 20));
    up.res.write(event(chunk("two")).slice(20));
    await rd.until('"two"');
    expect(rd.text).not.toContain("three");
    up.res.end(event(chunk("three", true)));
    const all = await rd.rest();
    expect(all.split("\r\n\r\n").filter(Boolean)).toHaveLength(3);
  });

  it("a fast multi-MiB stream, events of every size arriving in odd-sized writes, comes out event for event", async () => {
    // Event sizes from a few bytes to 200 KiB, so an event spans many network reads and one read holds many events;
    // multi-byte characters land on every read boundary somewhere. The gateway reads into one reused buffer that
    // grows and shrinks: every byte must still come out where it went in.
    const texts: string[] = [];
    for (let i = 0; i < 60; i++) texts.push(`${i}:` + "é🌍x".repeat([1, 7, 300, 4096, 50_000][i % 5]!));
    const wire = Buffer.from(texts.map((t, i) => event(chunk(t, i === texts.length - 1))).join(""));
    const { started, up } = await open();
    const sent = (async () => {
      const sizes = [1, 13, 4095, 65_537, 700, 131_072, 3];
      for (let at = 0, k = 0; at < wire.length; k++) {
        const n = sizes[k % sizes.length]!;
        if (!up.res.write(wire.subarray(at, at + n))) await new Promise((r) => up.res.once("drain", r));
        at += n;
      }
      up.res.end();
    })();
    const res = await started;
    expect(res.status).toBe(200);
    const all = await reader(res).rest();
    await sent;
    const got = all.split("\r\n\r\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)).candidates[0].content.parts[0].text);
    expect(got.length).toBe(texts.length);
    expect(got).toEqual(texts);
  });

  it("a client that disconnects mid-stream cancels the upstream request", async () => {
    const ac = new AbortController();
    const { started, up } = await open(ac.signal);
    up.res.write(event(chunk("first")));
    const rd = reader(await started);
    await rd.until('"first"');
    ac.abort();
    // The runtime notices a vanished client when it next writes to it: the upstream keeps generating, and the
    // gateway must then cancel it rather than drain it. Bounded: at most 50 more events, 10 ms apart.
    for (let i = 0; i < 50 && !up.res.destroyed; i++) {
      up.res.write(event(chunk(`more ${i}`)));
      await new Promise((r) => setTimeout(r, 10));
    }
    // The upstream socket closes without the upstream ever ending its response.
    expect(await up.closed).toBe(true);
  });

  it("an upstream cut after the first byte ends the stream with one Gemini error event", async () => {
    const { started, up } = await open();
    up.res.write(event(chunk("partial")));
    const rd = reader(await started);
    await rd.until('"partial"');
    up.res.write('data: {"candidates": [{"con');
    up.res.socket!.destroy();
    const events = (await rd.rest()).split("\r\n\r\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)));
    expect(events).toHaveLength(2);
    expect(events[0].candidates[0].content.parts[0].text).toBe("partial");
    expect(events[1]).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } });
  });
});

describe("first-byte timeout", () => {
  it("counts from the upstream's latest bytes: keep-alives slower in total than the timeout do not fail the call", async () => {
    const { started, up } = await open(undefined, { "x-edgeway-timeout-ms": "150" });
    // 360 ms before the first chunk, but never 150 ms of silence.
    await keepAlive(up.res);
    up.res.end(event(chunk("late but alive", true)));
    const res = await started;
    expect(res.status).toBe(200);
    const rd = reader(res);
    await rd.until('"late but alive"');
  });
});

describe("idle timeout after the first byte", () => {
  it("counts silence from the upstream's latest bytes, so a live stream with long gaps between chunks goes on", async () => {
    const { started, up } = await open(undefined, { "x-edgeway-timeout-ms": "150" });
    up.res.write(event(chunk("first")));
    const rd = reader(await started);
    await rd.until('"first"');
    // 360 ms with no chunk, but never 150 ms without bytes.
    await keepAlive(up.res);
    up.res.end(event(chunk("second", true)));
    const all = await rd.rest();
    expect(all).toContain('"second"');
    expect(all).not.toContain('"error"');
  });
});
