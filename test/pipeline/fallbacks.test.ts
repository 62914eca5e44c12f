/** The attempt loop's rules beyond the fault matrix: what stops it, what it skips, what the caller sees. */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { waits } from "../../src/lib/sleep";
import { AttemptTimer, CLIENT_WATCH_MS } from "../../src/pipeline/timeout";
import {
  createKey, flushUsage, genai, genaiRequest, genaiSettled, hang, mockUpstream, textRequest, usageRow,
} from "../helpers/worker";

const ok = (text: string) => Response.json({ candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP" }] });
const status = (code: number, headers: Record<string, string> = {}) =>
  Response.json({ error: { code, message: `upstream said ${code}`, status: "X" } }, { status: code, headers });

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "fallbacks" })).key;
});
afterEach(() => vi.restoreAllMocks());

describe("what stops the chain", () => {
  it("a 4xx other than 429 from the primary is answered at once: no retry, no fallback", async () => {
    const calls = mockUpstream(() => status(400));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key);
    expect(calls).toHaveLength(1);
    expect(r.status).toBe(400);
    expect(r.headers.get("x-edgeway-attempts")).toBe("1");
    expect(await r.json()).toEqual({ error: { code: 400, message: "gemini: upstream said 400", status: "X" } });
  });

  it("a 4xx from a fallback ends the chain with the primary's error, every attempt in details", async () => {
    const calls = mockUpstream((c) => (c.url.includes("gemini-2.0-flash") ? status(503) : status(404)));
    const body = textRequest("x", { fallbacks: ["gemini-2.5-flash", "mock/echo"] });
    const r = await genai("gemini-2.0-flash", "generateContent", body, key);
    expect(calls).toHaveLength(2);
    expect(r.status).toBe(503);
    const { error } = (await r.json()) as { error: { code: number; message: string; details: Record<string, unknown>[] } };
    expect(error.message).toBe("gemini: upstream said 503");
    expect(error.details.map(({ target, status, reason }) => ({ target, status, reason }))).toEqual([
      { target: "gemini/gemini-2.0-flash", status: 503, reason: "upstream 503" },
      { target: "gemini/gemini-2.5-flash", status: 404, reason: "upstream 404" },
    ]);
  });

  it.each([
    [401, "the gateway's provider credentials were refused"],
    [403, "refused for this request"],
  ])("an upstream %i (the gateway's provider key refused, or the request) is a 502, and the next target serves", async (code, why) => {
    const calls = mockUpstream(() => status(code));
    const alone = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(alone.status).toBe(502);
    const { error } = (await alone.json()) as { error: { code: number; status: string; message: string } };
    expect(error).toMatchObject({ code: 502, status: "UNAVAILABLE" });
    expect(error.message).toBe(`gemini: upstream said ${code} (upstream HTTP ${code}: ${why})`);
    expect(calls).toHaveLength(1); // not retried on the same target
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
  });

  it("the deadline covers every attempt: once spent, no fallback is tried", async () => {
    const calls = mockUpstream(hang);
    const started = Date.now();
    const res = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, {
      env: { EDGEWAY_DEADLINE_MS: "100" },
      headers: { "x-edgeway-timeout-ms": "100000" }, // clamped to the deadline
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(504);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe("gemini: call deadline exceeded");
    const row = (await usageRow(res.headers.get("x-edgeway-request-id")))!;
    expect(JSON.parse(row.attempts_json as string)).toMatchObject([{ target: "gemini/gemini-2.0-flash", status: 504, reason: "deadline exceeded" }]);
  });

  it("a timed-out attempt is aborted upstream before the next target is tried", async () => {
    const calls = mockUpstream(hang);
    const res = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, {
      headers: { "x-edgeway-timeout-ms": "30" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeway-provider")).toBe("mock");
    expect(calls[0]!.signal.aborted).toBe(true);
  });

  it.each(["abc", "0", "-1", "2.5"])("x-edgeway-timeout-ms: %j is a 400 before anything goes upstream", async (v) => {
    const calls = mockUpstream(() => ok("never"));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key, { headers: { "x-edgeway-timeout-ms": v } });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT", message: expect.stringContaining("x-edgeway-timeout-ms") } });
    expect(calls).toHaveLength(0);
  });
});

describe("what the caller sees", () => {
  it("a fallback the key may not use is skipped, listed, and not counted as an upstream attempt", async () => {
    const { key } = await createKey({ name: "gemini-only", models: ["gemini-*"] });
    const calls = mockUpstream((c) => (c.url.includes("gemini-2.0-flash") ? status(503) : ok("from 2.5")));
    const body = textRequest("x", { fallbacks: ["mock/echo", "gemini-2.5-flash"] });
    const res = await genaiSettled("gemini-2.0-flash", "generateContent", body, key);
    expect(res.status).toBe(200);
    expect(calls).toHaveLength(2);
    expect(res.headers.get("x-edgeway-model")).toBe("gemini-2.5-flash");
    expect(res.headers.get("x-edgeway-attempts")).toBe("2");
    const row = (await usageRow(res.headers.get("x-edgeway-request-id")))!;
    expect(row).toMatchObject({ fallback_index: 2, outcome: "ok", model: "gemini-2.5-flash" });
    expect(JSON.parse(row.attempts_json as string).map(({ latency_ms: _, ...a }: Record<string, unknown>) => a)).toEqual([
      { target: "gemini/gemini-2.0-flash", credential: "default", status: 503, reason: "upstream 503" },
      { target: "mock/echo", status: 403, reason: "not allowed for key", skipped: true },
      { target: "gemini/gemini-2.5-flash", credential: "default", status: 200, reason: "ok" },
    ]);
  });

  it("the key's default chain is used when the body names none, retries included", async () => {
    const { key } = await createKey({ name: "chain", fallbacks: ["mock/echo"] });
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const calls = mockUpstream(() => status(500));
    const res = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: { EDGEWAY_RETRIES: "1" } });
    expect(calls).toHaveLength(2);
    expect(res.headers.get("x-edgeway-provider")).toBe("mock");
    expect(res.headers.get("x-edgeway-attempts")).toBe("3");
  });

  it("an upstream 429's Retry-After reaches the caller when it is the final answer", async () => {
    mockUpstream(() => status(429, { "retry-after-ms": "90000" }));
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("90");
  });
});

describe("a client that goes away", () => {
  it("ends a pending retry wait at once: no second upstream call", async () => {
    const ac = new AbortController();
    const calls = mockUpstream(() => {
      queueMicrotask(() => ac.abort());
      return status(503, { "retry-after-ms": "30000" });
    });
    const req = new Request(genaiRequest("gemini-2.0-flash", "generateContent", textRequest("x"), key, {}), { signal: ac.signal });
    const ctx = createExecutionContext();
    const started = Date.now();
    const res = await worker.fetch(req, { ...env, EDGEWAY_RETRIES: "2", EDGEWAY_RETRY_MAX_DELAY_MS: "60000" }, ctx);
    await waitOnExecutionContext(ctx);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(499);
    expect(calls).toHaveLength(1);
    await flushUsage();
    const row = (await usageRow(res.headers.get("x-edgeway-request-id")))!;
    expect(row).toMatchObject({ status: 499, outcome: "aborted", error: "client disconnected" });
  });

  it("stops a hanging attempt at once", async () => {
    const ac = new AbortController();
    const calls = mockUpstream((c) => {
      queueMicrotask(() => ac.abort());
      return hang(c);
    });
    const req = new Request(genaiRequest("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, {}), { signal: ac.signal });
    const ctx = createExecutionContext();
    const res = await worker.fetch(req, env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(499);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.signal.aborted).toBe(true);
  });

  it("stops an attempt the client leaves once the gateway listens to it (past CLIENT_WATCH_MS), with its 499 row", async () => {
    const ac = new AbortController();
    const calls = mockUpstream((c) => {
      setTimeout(() => ac.abort(), CLIENT_WATCH_MS * 3);
      return hang(c);
    });
    const req = new Request(genaiRequest("gemini-2.0-flash", "generateContent", textRequest("x"), key, {}), { signal: ac.signal });
    const ctx = createExecutionContext();
    const started = Date.now();
    const res = await worker.fetch(req, { ...env, EDGEWAY_TIMEOUT_MS: "60000" }, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(499);
    // Long before the 60 s timeout: the listener stopped it, not the timer.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(calls[0]!.signal.aborted).toBe(true);
    await flushUsage();
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 499, outcome: "aborted" });
  });
});

describe("the attempt's watch on the client", () => {
  /** A client signal that counts the listeners put on it. */
  const watched = () => {
    const ac = new AbortController();
    const added: string[] = [];
    const add = ac.signal.addEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((type: string, ...rest: [EventListener, AddEventListenerOptions?]) => {
      added.push(type);
      add(type, ...rest);
    }) as AbortSignal["addEventListener"];
    return { ac, added };
  };

  it("an attempt served within CLIENT_WATCH_MS never listens to the client's signal", async () => {
    const { ac, added } = watched();
    const timer = new AttemptTimer(60_000, Date.now() + 60_000, ac.signal);
    timer.release();
    await new Promise((r) => setTimeout(r, CLIENT_WATCH_MS * 2));
    expect(added).toEqual([]);
    expect(timer.stopped).toBeUndefined();
  });

  it("a client gone by CLIENT_WATCH_MS stops the attempt then, without a listener", async () => {
    const { ac, added } = watched();
    const timer = new AttemptTimer(60_000, Date.now() + 60_000, ac.signal);
    ac.abort();
    expect(timer.stopped).toBeUndefined();
    await new Promise((r) => setTimeout(r, CLIENT_WATCH_MS * 2));
    expect(timer.stopped).toBe("cancelled");
    expect(timer.signal.aborted).toBe(true);
    expect(added).toEqual([]);
  });

  it("past CLIENT_WATCH_MS the attempt listens, stops at once when the client leaves, and lets go when released", async () => {
    const { ac, added } = watched();
    const timer = new AttemptTimer(60_000, Date.now() + 60_000, ac.signal);
    const removed = vi.spyOn(ac.signal, "removeEventListener");
    await new Promise((r) => setTimeout(r, CLIENT_WATCH_MS * 2));
    expect(added).toEqual(["abort"]);
    ac.abort();
    expect(timer.stopped).toBe("cancelled");

    const other = watched();
    const released = new AttemptTimer(60_000, Date.now() + 60_000, other.ac.signal);
    const otherRemoved = vi.spyOn(other.ac.signal, "removeEventListener");
    await new Promise((r) => setTimeout(r, CLIENT_WATCH_MS * 2));
    released.release();
    expect(otherRemoved).toHaveBeenCalledTimes(1);
    other.ac.abort();
    expect(released.stopped).toBeUndefined();
    expect(removed).not.toHaveBeenCalled();
  });

  it("an upstream that keeps sending bytes does not put the watch off", async () => {
    const { ac, added } = watched();
    const timer = new AttemptTimer(60_000, Date.now() + 60_000, ac.signal);
    const touching = setInterval(() => timer.touch(), CLIENT_WATCH_MS / 4);
    try {
      await new Promise((r) => setTimeout(r, CLIENT_WATCH_MS * 3));
    } finally {
      clearInterval(touching);
    }
    expect(added).toEqual(["abort"]);
    timer.release();
  });

  it("a client already gone stops the attempt before it starts", () => {
    const ac = new AbortController();
    ac.abort();
    const timer = new AttemptTimer(60_000, Date.now() + 60_000, ac.signal);
    expect(timer.stopped).toBe("cancelled");
    expect(timer.signal.aborted).toBe(true);
  });
});
