/**
 * Retries and fallbacks over real sockets: a loopback Gemini upstream that resets connections, hangs, answers 503
 * or cuts a stream, in front of the bundled gateway in workerd. Retry waits are 1–2 ms (EDGEWAY_RETRY_BASE_MS=1);
 * timeouts use x-edgeway-timeout-ms: 100 against a real hang.
 */
import type http from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mockUpstream, startGateway, type Gateway, type MockUpstream, type SeenRequest } from "./harness";

const chunk = (text: string) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }] });
const event = (c: unknown) => `data: ${JSON.stringify(c)}\r\n\r\n`;
const MOCK_TEXT = "This is the edgeway mock model. You said: hi";

/** What the upstream does with its n-th request (0-based) of the current test. */
let behave: (n: number, req: SeenRequest, res: http.ServerResponse) => void | Promise<void>;
let seen = 0;
let upstream: MockUpstream;
let gw: Gateway;
let key: string;

beforeAll(async () => {
  upstream = await mockUpstream((req, res) => behave(seen++, req, res));
  gw = await startGateway({
    GEMINI_API_KEY: "k", GEMINI_BASE_URL: upstream.url,
    EDGEWAY_RETRIES: "2", EDGEWAY_RETRY_BASE_MS: "1", EDGEWAY_RETRY_MAX_DELAY_MS: "50",
  });
  key = (await gw.createKey({ name: "fallback-e2e" })).key;
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
});
beforeEach(() => {
  seen = 0;
});

const reset = (_n: number, req: SeenRequest, res: http.ServerResponse) => void res.socket?.destroy();
const hangForever = () => {};
const answer = (text: string) => (_n: number, _r: SeenRequest, res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP" }] }));
};
const streamAnswer = (text: string) => (_n: number, _r: SeenRequest, res: http.ServerResponse) => {
  res.writeHead(200, { "content-type": "text/event-stream" });
  res.end(event(chunk(text)));
};

function call(stream: boolean, fallbacks: string[], headers: Record<string, string> = {}) {
  const action = stream ? "streamGenerateContent?alt=sse" : "generateContent";
  return fetch(`${gw.url}/genai/v1beta/models/gemini-2.0-flash:${action}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key, ...headers },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }], fallbacks }),
  });
}

const textOf = async (stream: boolean, r: Response) => {
  const body = await r.text();
  if (!stream) return JSON.parse(body).candidates[0].content.parts[0].text as string;
  return body.split("\r\n\r\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)).candidates[0].content.parts[0].text).join("");
};

const usageRow = (requestId: string | null) => gw.usageRow(requestId);

describe.each([false, true])("real sockets (stream: %s)", (stream) => {
  it("connection reset: retried on the same target, then its answer", async () => {
    behave = (n, req, res) => (n < 2 ? reset(n, req, res) : (stream ? streamAnswer : answer)("third time")(n, req, res));
    const r = await call(stream, ["mock/echo"]);
    expect(r.status).toBe(200);
    expect(await textOf(stream, r)).toBe("third time");
    expect(seen).toBe(3);
    expect(r.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(r.headers.get("x-edgeway-attempts")).toBe("3");
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(JSON.parse(row.attempts_json as string).map((a: { reason: string }) => a.reason)).toEqual(["network error", "network error", "ok"]);
  });

  it("connection reset every time, no fallback: 502 after 3 attempts", async () => {
    behave = reset;
    const r = await call(stream, []);
    expect(r.status).toBe(502);
    expect(seen).toBe(3);
    expect(await r.json()).toMatchObject({ error: { code: 502, status: "UNAVAILABLE", details: [{}, {}, {}] } });
  });

  it("a real hang: timed out, not retried, the fallback answers", async () => {
    behave = hangForever;
    const started = Date.now();
    const r = await call(stream, ["mock/echo"], { "x-edgeway-timeout-ms": "100" });
    expect(r.status).toBe(200);
    expect(await textOf(stream, r)).toBe(MOCK_TEXT);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(seen).toBe(1);
    expect(r.headers.get("x-edgeway-attempts")).toBe("2");
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ provider: "mock", fallback_index: 1 });
    expect(JSON.parse(row.attempts_json as string).map((a: { reason: string }) => a.reason)).toEqual(["timeout", "ok"]);
  });

  it("503 with Retry-After over the cap: straight to the fallback", async () => {
    behave = (_n, _r, res) => void res.writeHead(503, { "retry-after": "120", "content-type": "application/json" }).end("{}");
    const r = await call(stream, ["mock/echo"]);
    expect(r.status).toBe(200);
    expect(seen).toBe(1);
    expect(await textOf(stream, r)).toBe(MOCK_TEXT);
  });
});

describe("a real stream cut after the first byte", () => {
  it("the client gets the first chunk and one error event, never the fallback's answer", async () => {
    let firstRead!: () => void;
    const clientSawFirst = new Promise<void>((r) => (firstRead = r));
    behave = async (_n, _r, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(event(chunk("partial")));
      await clientSawFirst;
      res.write('data: {"candidates": [{"con');
      res.socket!.destroy();
    };
    const r = await call(true, ["mock/echo"]);
    const reader = r.body!.getReader();
    const dec = new TextDecoder();
    let text = "";
    while (!text.includes('"partial"')) text += dec.decode((await reader.read()).value, { stream: true });
    firstRead();
    for (let x = await reader.read(); !x.done; x = await reader.read()) text += dec.decode(x.value, { stream: true });
    const events = text.split("\r\n\r\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)));
    expect(events).toHaveLength(2);
    expect(events[0].candidates[0].content.parts[0].text).toBe("partial");
    expect(events[1]).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } });
    expect(text).not.toContain("edgeway mock model");
    expect(seen).toBe(1);
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ provider: "gemini", outcome: "error", status: 502, attempts: 1, fallback_index: 0 });
  });
});
