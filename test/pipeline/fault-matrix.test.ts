/**
 * The fault matrix: every upstream failure × streaming / not × with / without a fallback, through the Worker's own
 * fetch in workerd, with real D1 usage rows. Waits between retries go through `waits.sleep`, which records the
 * delay and returns at once; timeouts use a 50 ms first-byte limit against an upstream that never answers.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { waits } from "../../src/lib/sleep";
import {
  createKey, flushUsage, genaiRequest, genaiSettled, hang, mockUpstream, readSse, sseResponse, textRequest, usageRow, type UpstreamCall,
} from "../helpers/worker";

/** Retries on, as deployed: 2 retries of the same target; backoff ceiling 100 ms, then 200 ms; waits capped at 5 s. */
const RETRY_ENV = { EDGEWAY_RETRIES: "2", EDGEWAY_RETRY_BASE_MS: "100", EDGEWAY_RETRY_MAX_DELAY_MS: "5000" };
const FALLBACK = "mock/echo";
const MOCK_TEXT = "This is the edgeway mock model. You said: hi";

const chunk = (text: string) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }] });
const event = (c: unknown) => `data: ${JSON.stringify(c)}\r\n\r\n`;
const geminiError = (code: number, status: string) => ({ error: { code, message: `status ${code}`, status } });

type Mode = "json" | "stream";
interface Fault {
  name: string;
  /** The upstream's answer to every call, for a non-stream or a stream request. */
  upstream: (c: UpstreamCall, mode: Mode) => Response | Promise<Response>;
  /** Gemini calls when the primary is the only target (retries included). */
  calls: number;
  /** What the caller sees when there is no fallback. */
  status: number;
  /** The attempt's reason in the usage row and details, or one per mode. */
  reason: string | Record<Mode, string>;
  /** Waits the loop asked for between retries (undefined: backoff, checked against its bounds). */
  delays?: number[];
  headers?: Record<string, string>;
}

const FAULTS: Fault[] = [
  {
    name: "500",
    upstream: () => Response.json(geminiError(500, "INTERNAL"), { status: 500 }),
    calls: 3, status: 500, reason: "upstream 500",
  },
  {
    name: "503",
    upstream: () => Response.json(geminiError(503, "UNAVAILABLE"), { status: 503 }),
    calls: 3, status: 503, reason: "upstream 503",
  },
  {
    name: "429 + Retry-After: 1 (under the cap: waited exactly, then retried)",
    upstream: () => Response.json(geminiError(429, "RESOURCE_EXHAUSTED"), { status: 429, headers: { "retry-after": "1" } }),
    calls: 3, status: 429, reason: "upstream 429", delays: [1000, 1000], headers: { "retry-after": "1" },
  },
  {
    name: "429 + Retry-After: 30 (over the cap: no wait, move on)",
    upstream: () => Response.json(geminiError(429, "RESOURCE_EXHAUSTED"), { status: 429, headers: { "retry-after": "30" } }),
    calls: 1, status: 429, reason: "upstream 429", delays: [], headers: { "retry-after": "30" },
  },
  {
    name: "hang (first-byte timeout, not retried)",
    // Non-stream: no response at all. Stream: headers, then silence.
    upstream: (c, mode) => (mode === "json" ? hang(c) : sseResponse([], {}, "hang")),
    calls: 1, status: 504, reason: "timeout", delays: [],
  },
  {
    name: "connection reset",
    upstream: (_c, mode) => {
      if (mode === "json") throw new TypeError("Network connection lost.");
      return sseResponse([], {}, "cut");
    },
    calls: 3, status: 502, reason: { json: "network error", stream: "stream cut before first byte" },
  },
  {
    name: "invalid JSON (malformed answer, not retried)",
    upstream: (_c, mode) => (mode === "json" ? new Response("{not json", { status: 200 }) : sseResponse(["data: {not json\r\n\r\n"])),
    calls: 1, status: 502, reason: "malformed answer", delays: [],
  },
];

let key: string;
let delays: number[];
beforeAll(async () => {
  key = (await createKey({ name: "fault-matrix" })).key;
});
beforeEach(() => {
  delays = [];
  vi.spyOn(waits, "sleep").mockImplementation(async (ms) => void delays.push(ms));
});
afterEach(() => vi.restoreAllMocks());

async function send(mode: Mode, fallbacks: string[], env: Record<string, string> = RETRY_ENV) {
  const action = mode === "stream" ? "streamGenerateContent" : "generateContent";
  const body = textRequest("hi", { fallbacks });
  const res = await genaiSettled("gemini-2.0-flash", action, body, key, {
    query: mode === "stream" ? "?alt=sse" : "", headers: { "x-edgeway-timeout-ms": "50" }, env,
  });
  const text = await res.text();
  const row = await usageRow(res.headers.get("x-edgeway-request-id"));
  return { res, text, row: row!, attempts: JSON.parse(row!.attempts_json as string) as { target: string; status: number; reason: string }[] };
}

const replyText = (mode: Mode, text: string) =>
  mode === "json"
    ? JSON.parse(text).candidates[0].content.parts[0].text
    : text.split("\r\n\r\n").filter(Boolean).map((e) => JSON.parse(e.slice(6)).candidates[0].content.parts[0].text).join("");

describe.each<Mode>(["json", "stream"])("fault matrix (%s)", (mode) => {
  describe.each(FAULTS)("$name", (fault) => {
    const reason = typeof fault.reason === "string" ? fault.reason : fault.reason[mode];
    it("without fallbacks: retried as the policy says, then the upstream's error", async () => {
      const calls = mockUpstream((c) => fault.upstream(c, mode));
      const { res, text, row, attempts } = await send(mode, []);
      expect(calls).toHaveLength(fault.calls);
      expect(res.status).toBe(fault.status);
      expect(res.headers.get("content-type")).toMatch(/application\/json/);
      const err = JSON.parse(text).error;
      expect(err.code).toBe(fault.status);
      for (const [h, v] of Object.entries(fault.headers ?? {})) expect(res.headers.get(h)).toBe(v);
      expect(res.headers.get("x-edgeway-attempts")).toBe(String(fault.calls));
      // Every retry is an attempt in the details (when there was more than one) and in the usage row.
      if (fault.calls > 1) expect(err.details.map((d: { reason: string }) => d.reason)).toEqual(Array(fault.calls).fill(reason));
      expect(attempts.map((a) => [a.target, a.status, a.reason])).toEqual(
        Array(fault.calls).fill(["gemini/gemini-2.0-flash", fault.status, reason]),
      );
      expect(row).toMatchObject({ status: fault.status, outcome: "error", provider: null, fallback_index: null, attempts: fault.calls });
      checkDelays(fault, fault.calls - 1);
    });

    it("with a fallback: retried, then the fallback's answer", async () => {
      const calls = mockUpstream((c) => fault.upstream(c, mode));
      const { res, text, row, attempts } = await send(mode, [FALLBACK]);
      expect(calls).toHaveLength(fault.calls);
      expect(res.status).toBe(200);
      expect(replyText(mode, text)).toBe(MOCK_TEXT);
      expect(res.headers.get("x-edgeway-provider")).toBe("mock");
      expect(res.headers.get("x-edgeway-model")).toBe("echo");
      expect(res.headers.get("x-edgeway-attempts")).toBe(String(fault.calls + 1));
      expect(attempts.map((a) => a.reason)).toEqual([...Array(fault.calls).fill(reason), "ok"]);
      expect(attempts.at(-1)!.target).toBe(FALLBACK);
      expect(row).toMatchObject({ status: 200, outcome: "ok", provider: "mock", model: "echo", fallback_index: 1, attempts: fault.calls + 1 });
      checkDelays(fault, fault.calls - 1);
    });
  });

  it("retries off (EDGEWAY_RETRIES=0): a 503 goes straight to the fallback", async () => {
    const calls = mockUpstream(() => new Response("down", { status: 503 }));
    const { res } = await send(mode, [FALLBACK], { ...RETRY_ENV, EDGEWAY_RETRIES: "0" });
    expect(calls).toHaveLength(1);
    expect(res.headers.get("x-edgeway-attempts")).toBe("2");
    expect(delays).toEqual([]);
  });

  it("a 503 then a success on the retry: one answer, from the primary", async () => {
    const calls = mockUpstream((c) => {
      if (calls.length === 1) return new Response("down", { status: 503 });
      return mode === "json" ? Response.json({ candidates: chunk("second").candidates }) : sseResponse([event(chunk("second"))]);
    });
    const { res, text, row } = await send(mode, [FALLBACK]);
    expect(calls).toHaveLength(2);
    expect(replyText(mode, text)).toBe("second");
    expect(res.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(res.headers.get("x-edgeway-attempts")).toBe("2");
    expect(row).toMatchObject({ outcome: "ok", provider: "gemini", fallback_index: 0, attempts: 2 });
  });
});

describe("a stream cut after its first byte", () => {
  it.each([[[] as string[]], [[FALLBACK]]])("ends with one error event, never a second answer (fallbacks %j)", async (fallbacks) => {
    // The upstream drops only once the client has read the first event: bytes are out, so no retry or fallback.
    let clientSawFirst!: () => void;
    const gate = new Promise<void>((r) => (clientSawFirst = r));
    const calls = mockUpstream(() => sseResponse([event(chunk("partial"))], {}, gate));
    // Read by hand (not genaiSettled): the cut must wait until the client has the first event.
    const ctx = createExecutionContext();
    const req = genaiRequest("gemini-2.0-flash", "streamGenerateContent", textRequest("hi", { fallbacks }), key, { query: "?alt=sse" });
    const res = await worker.fetch(req, { ...env, ...RETRY_ENV }, ctx);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"partial"');
    clientSawFirst();
    let text = first;
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    await waitOnExecutionContext(ctx);

    expect(calls).toHaveLength(1);
    expect(res.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(res.headers.get("x-edgeway-attempts")).toBe("1");
    const events = (await readSse(new Response(text))) as Record<string, any>[];
    expect(events).toHaveLength(2);
    expect(events[0]!.candidates[0].content.parts[0].text).toBe("partial");
    expect(events[1]).toMatchObject({ error: { code: 502, status: "UNAVAILABLE" } });
    expect(text).not.toContain("edgeway mock model");
    await flushUsage();
    const row = (await usageRow(res.headers.get("x-edgeway-request-id")))!;
    expect(JSON.parse(row.attempts_json as string).map((a: { reason: string }) => a.reason)).toEqual(["ok"]);
    expect(row).toMatchObject({ status: 502, outcome: "error", provider: "gemini", fallback_index: 0, attempts: 1 });
    expect(delays).toEqual([]);
  });

  it("a cut before the client saw anything is retried instead", async () => {
    const calls = mockUpstream(() => (calls.length === 1 ? sseResponse([], {}, "cut") : sseResponse([event(chunk("whole"))])));
    const { res, text } = await send("stream", []);
    expect(calls).toHaveLength(2);
    expect(res.status).toBe(200);
    expect(replyText("stream", text)).toBe("whole");
    expect(res.headers.get("x-edgeway-attempts")).toBe("2");
  });
});

/** Retry-After waits are exact; backoff waits are full jitter: within [0, min(cap, base·2^retry)). */
function checkDelays(fault: Fault, retries: number) {
  if (fault.delays) return expect(delays).toEqual(fault.delays);
  expect(delays).toHaveLength(retries);
  delays.forEach((d, i) => {
    expect(d).toBeGreaterThanOrEqual(0);
    expect(d).toBeLessThan(100 * 2 ** i);
  });
}
