/**
 * The hooks contract (src/hooks/hook.ts) through the real gateway: a test plug-in answers from beforeUpstream,
 * rewrites the request and stream events, and counts afterCall across success, upstream failure, a client gone
 * mid-stream and thrown errors — exactly once each time, with the usage row written each time.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import { GatewayError } from "../../src/gemini/errors";
import type { BeforeUpstream, Hook } from "../../src/hooks/hook";
import { hooksFor, registerHook } from "../../src/hooks/registry";
import { responseCache } from "../../src/cache/hook";
import worker from "../../src/index";
import { admin, BASE, createKey, flushUsage, gatedStream, genaiCall, mockUpstream, ownResource, sseResponse, textRequest, usageRow } from "../helpers/worker";

const removals: (() => void)[] = [];
const use = (hook: Hook) => removals.push(registerHook(hook));

afterEach(() => {
  while (removals.length) removals.pop()!();
  vi.restoreAllMocks();
});

const candidate = (text: string, extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0, ...extra }],
});
const frame = (v: unknown) => `data: ${JSON.stringify(v)}\r\n\r\n`;
const textOf = (e: any): string => e.candidates?.[0]?.content?.parts?.[0]?.text ?? "";

/** The SSE events of a body as sent: each must be one `data:` frame ended by a blank line. */
function frames(text: string): any[] {
  expect(text.endsWith("\r\n\r\n")).toBe(true);
  return text.slice(0, -4).split("\r\n\r\n").map((f) => {
    expect(f.startsWith("data: ")).toBe(true);
    return JSON.parse(f.slice(6));
  });
}

/** A plug-in that counts, per request id, its beforeUpstream and afterCall runs and keeps each call's row. */
function counter(extra: Partial<Hook> = {}) {
  const before = new Map<string, number>();
  const after = new Map<string, number>();
  const rows = new Map<string, Record<string, unknown>>();
  const hook: Hook = {
    name: "counter",
    beforeUpstream: (call) => {
      before.set(call.requestId, (before.get(call.requestId) ?? 0) + 1);
    },
    afterCall: (row, call) => {
      after.set(row.request_id, (after.get(row.request_id) ?? 0) + 1);
      rows.set(row.request_id, row as unknown as Record<string, unknown>);
      // The call's id is the row's: per-call state kept against it in beforeUpstream is found (and dropped) here.
      if (call.requestId !== row.request_id) throw new Error("another call");
    },
    ...extra,
  };
  use(hook);
  return { before, after, rows };
}

describe("hooks: answering from beforeUpstream", () => {
  it("a JSON answer: no upstream request, the answer as given, a row with no attempts, tokens or cost", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => new Response("unexpected", { status: 500 }));
    const answer = { ...candidate("from the hook", { finishReason: "STOP" }), usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4, totalTokenCount: 7 } };
    const n = counter();
    use({ name: "answers", beforeUpstream: () => ({ answer }) });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(answer);
    expect(res.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(res.headers.get("x-edgeway-model")).toBe("gemini-2.0-flash");
    expect(res.headers.get("x-edgeway-attempts")).toBe("0");
    await settled();
    expect(calls).toHaveLength(0);
    const id = res.headers.get("x-edgeway-request-id")!;
    expect(await usageRow(id)).toMatchObject({
      status: 200, outcome: "ok", provider: "gemini", model: "gemini-2.0-flash", attempts: 0, fallback_index: 0,
      input_tokens: 0, output_tokens: 0, cost_usd: 0, error: null,
    });
    expect(n.after.get(id)).toBe(1);
  });

  it("a streamed call's events are replayed as SSE frames, one event each, with no upstream request", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => new Response("unexpected", { status: 500 }));
    const events = [candidate("one "), candidate("two "), candidate("three", { finishReason: "STOP" })];
    use({ name: "replays", beforeUpstream: () => ({ events }) });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(frames(await res.text())).toEqual(events);
    await settled();
    expect(calls).toHaveLength(0);
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ stream: 1, status: 200, outcome: "ok", attempts: 0, cost_usd: 0 });
  });

  it("an error answer is the call's Gemini error and its row; later hooks' beforeUpstream do not run", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => new Response("unexpected", { status: 500 }));
    const later = vi.fn();
    use({ name: "blocks", beforeUpstream: () => ({ error: new GatewayError(400, "blocked by policy") }) });
    use({ name: "later", beforeUpstream: later });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 400, message: "blocked by policy", status: "INVALID_ARGUMENT" } });
    await settled();
    expect(calls).toHaveLength(0);
    expect(later).not.toHaveBeenCalled();
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 400, outcome: "error", attempts: 0 });
  });

  it("an answer takes a request slot (rpm) but no tokens", async () => {
    const { key } = await createKey({ rate_limit: { rpm: 2 } });
    const calls = mockUpstream(() => new Response("unexpected", { status: 500 }));
    use({ name: "answers", beforeUpstream: () => ({ answer: candidate("cached") }) });
    for (const status of [200, 200, 429]) {
      const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
      expect(res.status).toBe(status);
      await res.text();
      await settled();
    }
    expect(calls).toHaveLength(0);
  });

  it("an answer is served only for a model the key may use", async () => {
    const { key } = await createKey({ models: ["openai/*"] });
    use({ name: "answers", beforeUpstream: () => ({ answer: candidate("cached") }) });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(403);
    await settled();
  });
});

describe("hooks: rewriting", () => {
  it("beforeUpstream's body is the request the upstream gets", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => Response.json(candidate("ok", { finishReason: "STOP" })));
    use({
      name: "redacts",
      beforeUpstream: (_call, req) => {
        expect(req.targets.map((t) => `${t.provider}/${t.model}`)).toEqual(["gemini/gemini-2.0-flash"]);
        expect(req.headers.get("x-test")).toBe("seen");
        return { body: { ...req.body, contents: [{ role: "user", parts: [{ text: "my mail is [EMAIL]" }] }] } };
      },
    });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("my mail is a@b.example"), key, { headers: { "x-test": "seen" } });
    expect(res.status).toBe(200);
    await settled();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toContain("my mail is [EMAIL]");
    expect(calls[0]!.body).not.toContain("a@b.example");
  });

  it("onAnswer rewrites each stream event as it passes (real SSE frames) and a JSON answer", async () => {
    const { key } = await createKey();
    mockUpstream((call) =>
      call.url.includes("streamGenerateContent")
        ? sseResponse([frame(candidate("hello ")), frame(candidate("world")), frame({ ...candidate("", { finishReason: "STOP" }), usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 2, totalTokenCount: 4 } })])
        : Response.json({ ...candidate("hello world", { finishReason: "STOP" }), usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 2, totalTokenCount: 4 } }),
    );
    const seen: string[] = [];
    use({
      name: "shouts",
      onAnswer: (_call, a) => {
        seen.push(textOf(a));
        const c = a.candidates?.[0];
        if (!c?.content?.parts?.[0]?.text) return;
        // A spread copy of the event: its new text must go out, not the upstream's bytes it came from.
        return { ...a, candidates: [{ ...c, content: { ...c.content, parts: [{ text: c.content.parts[0].text.toUpperCase() }] } }] };
      },
    });
    const s = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    const events = frames(await s.res.text());
    await s.settled();
    expect(events.map(textOf)).toEqual(["HELLO ", "WORLD", ""]);
    expect(events[2].candidates[0].finishReason).toBe("STOP");
    expect(seen).toEqual(["hello ", "world", ""]);
    // The row charges what the upstream reported, whatever a hook changed.
    expect(await usageRow(s.res.headers.get("x-edgeway-request-id"))).toMatchObject({ outcome: "ok", input_tokens: 2, output_tokens: 2 });

    const j = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(textOf(await j.res.json())).toBe("HELLO WORLD");
    await j.settled();
  });

  it("beforeUpstream's headers go on the answer, whoever made it, under the gateway's own", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => Response.json(candidate("upstream", { finishReason: "STOP" })));
    let hit = false;
    use({
      name: "cache",
      beforeUpstream: (): BeforeUpstream =>
        hit
          ? { answer: candidate("cached", { finishReason: "STOP" }), headers: { "x-edgeway-cache": "hit", age: "3", "x-edgeway-provider": "not-mine" } }
          : { headers: { "x-edgeway-cache": "miss" } },
    });
    const miss = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(miss.res.headers.get("x-edgeway-cache")).toBe("miss");
    expect(textOf(await miss.res.json())).toBe("upstream");
    await miss.settled();
    hit = true;
    const again = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(again.res.headers.get("x-edgeway-cache")).toBe("hit");
    expect(again.res.headers.get("age")).toBe("3");
    expect(again.res.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(frames(await again.res.text()).map(textOf)).toEqual(["cached"]);
    await again.settled();
    expect(calls).toHaveLength(1);
  });

  it("onAnswer's { end } ends a stream with that event: the upstream is cancelled, the row charges what was used", async () => {
    const { key } = await createKey();
    const up = gatedStream(frame({ ...candidate("my card is "), usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1 } }));
    const calls = mockUpstream(() => up.response());
    use({
      name: "guard",
      onAnswer: (_call, a) => (textOf(a).includes("4111") ? { end: candidate("", { finishReason: "SPII" }) } : undefined),
    });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    const reader = res.body!.getReader();
    await reader.read();
    up.next(frame(candidate("4111 1111 1111 1111")));
    const rest: string[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(new TextDecoder().decode(r.value));
    expect(frames(rest.join(""))).toEqual([candidate("", { finishReason: "SPII" })]);
    await settled();
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ status: 200, outcome: "ok", input_tokens: 5 });
  });

  it("hooks see the answer last-registered first", async () => {
    const { key } = await createKey();
    mockUpstream(() => Response.json(candidate("x", { finishReason: "STOP" })));
    const order: string[] = [];
    use({ name: "first", onAnswer: () => void order.push("first") });
    use({ name: "second", onAnswer: () => void order.push("second") });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    await res.text();
    await settled();
    expect(order).toEqual(["second", "first"]);
  });
});

describe("hooks: afterCall runs exactly once for every call, and the row is written", () => {
  const once = async (n: ReturnType<typeof counter>, res: Response, expected: Record<string, unknown>) => {
    const id = res.headers.get("x-edgeway-request-id")!;
    expect(n.before.get(id)).toBe(1);
    expect(n.after.get(id)).toBe(1);
    expect(n.rows.get(id)).toMatchObject(expected);
    expect(await usageRow(id)).toMatchObject(expected);
  };

  it("success: JSON and stream", async () => {
    const { key } = await createKey();
    const n = counter();
    mockUpstream((call) =>
      call.url.includes("streamGenerateContent") ? sseResponse([frame(candidate("a", { finishReason: "STOP" }))]) : Response.json(candidate("a", { finishReason: "STOP" })),
    );
    for (const action of ["generateContent", "streamGenerateContent"]) {
      const { res, settled } = await genaiCall("gemini-2.0-flash", action, textRequest("hi"), key);
      await res.text();
      await settled();
      await once(n, res, { status: 200, outcome: "ok" });
    }
  });

  it("upstream failure: before the first byte, and a stream cut after it", async () => {
    const { key } = await createKey();
    const n = counter();
    mockUpstream(() => new Response(JSON.stringify({ error: { code: 500, message: "down", status: "INTERNAL" } }), { status: 500 }));
    const a = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(a.res.status).toBe(500);
    await a.settled();
    await once(n, a.res, { status: 500, outcome: "error" });

    vi.restoreAllMocks();
    const up = gatedStream(frame(candidate("partial")));
    mockUpstream(() => up.response());
    const b = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    const reader = b.res.body!.getReader();
    await reader.read();
    up.cut();
    while (!(await reader.read()).done);
    await b.settled();
    await once(n, b.res, { status: 502, outcome: "error" });
  });

  it("client gone mid-stream: aborted row, the upstream cancelled", async () => {
    const { key } = await createKey();
    const n = counter();
    const up = gatedStream(frame(candidate("partial")));
    const calls = mockUpstream(() => up.response());
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    up.next(frame(candidate("more")));
    await settled();
    await once(n, res, { status: 499, outcome: "aborted" });
    expect(calls[0]!.signal.aborted).toBe(true);
  });

  it("client gone during a hook's own streamed answer: aborted row, afterCall once", async () => {
    const { key } = await createKey();
    const n = counter();
    const events = Array.from({ length: 50 }, (_, i) => candidate(`event ${i} `.repeat(2000)));
    use({ name: "replays", beforeUpstream: () => ({ events }) });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await settled();
    await once(n, res, { status: 499, outcome: "aborted" });
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toMatchObject({ input_tokens: 0, output_tokens: 0, cost_usd: 0 });
  });

  it("the pipeline throws mid-stream (an upstream event that does not parse): error event, afterCall once", async () => {
    const { key } = await createKey();
    const n = counter();
    mockUpstream(() => sseResponse([frame(candidate("fine")), "data: {not json\r\n\r\n"]));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    const events = frames(await res.text());
    expect(events).toHaveLength(2);
    expect(events[1].error.code).toBe(502);
    await settled();
    await once(n, res, { status: 502, outcome: "error" });
  });

  it("a hook's beforeUpstream throws: 500, fails closed, no upstream call", async () => {
    const { key } = await createKey();
    const n = counter();
    const calls = mockUpstream(() => Response.json(candidate("a")));
    use({ name: "broken", beforeUpstream: () => { throw new Error("policy store down"); } });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).error.message).toBe('hook "broken" failed in beforeUpstream: policy store down');
    await settled();
    expect(calls).toHaveLength(0);
    await once(n, res, { status: 500, outcome: "error" });
  });

  it("a hook's onAnswer throws: a JSON call is a 500; a stream ends with an error event and the upstream is cancelled", async () => {
    const { key } = await createKey();
    const n = counter();
    let events = 0;
    use({ name: "broken", onAnswer: () => { if (++events % 2 === 0) throw new Error("tap failed"); } });
    mockUpstream(() => Response.json(candidate("a", { finishReason: "STOP" })));
    events = 1;
    const a = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(a.res.status).toBe(500);
    await a.res.text();
    await a.settled();
    await once(n, a.res, { status: 500, outcome: "error", provider: "gemini" });

    vi.restoreAllMocks();
    const up = gatedStream(frame(candidate("first")));
    const calls = mockUpstream(() => up.response());
    events = 0;
    const b = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key);
    const reader = b.res.body!.getReader();
    await reader.read();
    up.next(frame(candidate("second")));
    const rest: Uint8Array[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest.push(r.value);
    const text = new TextDecoder().decode(rest.length === 1 ? rest[0] : new Uint8Array(rest.flatMap((c) => [...c])));
    expect(frames(text)).toEqual([{ error: { code: 500, message: 'hook "broken" failed in onAnswer: tap failed', status: "INTERNAL" } }]);
    await b.settled();
    expect(calls[0]!.signal.aborted).toBe(true);
    await once(n, b.res, { status: 500, outcome: "error" });
  });

  it("another hook's afterCall throws: this one's still runs, and the row is written", async () => {
    const { key } = await createKey();
    use({ name: "throws-after", afterCall: () => { throw new Error("exporter down"); } });
    const rejects = vi.fn(() => Promise.reject(new Error("async exporter down")));
    use({ name: "rejects-after", afterCall: rejects });
    const n = counter();
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    mockUpstream(() => Response.json(candidate("a", { finishReason: "STOP" })));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    await res.text();
    await settled();
    await once(n, res, { status: 200, outcome: "ok" });
    expect(rejects).toHaveBeenCalledTimes(1);
    const logged = errors.mock.calls.map((c) => String(c[0]));
    expect(logged).toEqual(expect.arrayContaining([
      'hook "throws-after" afterCall failed: exporter down',
      'hook "rejects-after" afterCall failed: async exporter down',
    ]));
  });

  it("an error thrown in the pipeline after beforeUpstream (the provider cannot translate the request)", async () => {
    const { key } = await createKey();
    const n = counter();
    const calls = mockUpstream(() => Response.json({}));
    // A body the OpenAI translation rejects: a part it cannot express.
    const { res, settled } = await genaiCall("openai/gpt-4o-mini", "generateContent", { contents: [{ role: "user", parts: [{ fileData: { fileUri: "gs://b/x", mimeType: "video/mp4" } }] }] }, key);
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.message).toContain("openai: fileData must be");
    await settled();
    expect(calls).toHaveLength(0);
    await once(n, res, { status: res.status, outcome: "error" });
  });

  it("a call refused before the hooks stage (model not allowed) still gets its afterCall once", async () => {
    const { key } = await createKey({ models: ["openai/*"] });
    const after = vi.fn();
    use({ name: "after", afterCall: after });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(403);
    await settled();
    expect(after).toHaveBeenCalledTimes(1);
    expect(after.mock.calls[0]![0]).toMatchObject({ status: 403, request_id: res.headers.get("x-edgeway-request-id") });
  });
});

describe("hooks: afterCall beyond model actions", () => {
  it("a resource call records through the same end: one afterCall with its row", async () => {
    const { key, id: keyId } = await createKey();
    await ownResource(keyId, "file", "files/f1");
    mockUpstream(() => Response.json({ name: "files/f1", state: "ACTIVE" }));
    const after = vi.fn();
    use({ name: "after", afterCall: after });
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`${BASE}/genai/v1beta/files/f1`, { headers: { "x-goog-api-key": key } }), env, ctx);
    expect(res.status).toBe(200);
    await res.text();
    await waitOnExecutionContext(ctx);
    await flushUsage();
    const id = res.headers.get("x-edgeway-request-id");
    expect(after).toHaveBeenCalledTimes(1);
    expect(after.mock.calls[0]![0]).toMatchObject({ request_id: id, status: 200 });
    expect(await usageRow(id)).toMatchObject({ status: 200 });
  });
});

describe("hooks: engaged per call", () => {
  const streamed = [frame(candidate("a")), frame({ ...candidate("b", { finishReason: "STOP" }), usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2, totalTokenCount: 3 } })];

  it("a hook whose engages says no is not asked before the upstream nor shown the answer; its afterCall still runs", async () => {
    const { key } = await createKey();
    mockUpstream(() => sseResponse(streamed));
    const onAnswer = vi.fn();
    const beforeUpstream = vi.fn(() => ({ headers: { "x-test": "1" } }));
    const n = counter();
    use({ name: "idle", engages: () => false, beforeUpstream, onAnswer });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(await res.text()).toBe(streamed.join(""));
    expect(res.headers.get("x-test")).toBeNull();
    await settled();
    expect(beforeUpstream).not.toHaveBeenCalled();
    expect(onAnswer).not.toHaveBeenCalled();
    expect(n.after.get(res.headers.get("x-edgeway-request-id")!)).toBe(1);
  });

  it("a hook whose beforeUpstream returns nothing is done with the call: its onAnswer is not called; one that returns headers is", async () => {
    const { key } = await createKey();
    mockUpstream(() => new Response(JSON.stringify(candidate("ok", { finishReason: "STOP" })), { headers: { "content-type": "application/json" } }));
    const quiet = vi.fn();
    const heard = vi.fn();
    use({ name: "quiet", beforeUpstream: () => undefined, onAnswer: quiet });
    use({ name: "heard", beforeUpstream: () => ({ headers: { "x-heard": "yes" } }), onAnswer: heard });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-heard")).toBe("yes");
    await settled();
    expect(quiet).not.toHaveBeenCalled();
    expect(heard).toHaveBeenCalledTimes(1);
  });

  it("a hook with no beforeUpstream sees every answer; a hook's own answer is seen only by the hooks engaged before it", async () => {
    const { key } = await createKey();
    const calls = mockUpstream(() => new Response("unexpected", { status: 500 }));
    const watcher = vi.fn();
    const later = vi.fn();
    const answer = candidate("from the hook", { finishReason: "STOP" });
    use({ name: "watcher", onAnswer: watcher });
    use({ name: "answers", beforeUpstream: () => ({ answer }) });
    use({ name: "later", beforeUpstream: () => ({}), onAnswer: later });
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("hi"), key);
    expect(await res.json()).toEqual(answer);
    await settled();
    expect(calls).toHaveLength(0);
    expect(watcher).toHaveBeenCalledTimes(1);
    expect(later).not.toHaveBeenCalled();
  });

  it("the default response cache: a key with no policy and no team never reaches it; a team without one neither; a team's policy engages it", async () => {
    mockUpstream(() => sseResponse(streamed));
    const before = vi.spyOn(responseCache, "beforeUpstream");
    const tap = vi.spyOn(responseCache, "onAnswer");
    const plain = await createKey();
    const first = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("plain"), plain.key, { query: "?alt=sse" });
    expect(await first.res.text()).toBe(streamed.join(""));
    expect(first.res.headers.get("x-edgeway-cache")).toBeNull();
    await first.settled();
    expect(before).not.toHaveBeenCalled();
    expect(tap).not.toHaveBeenCalled();

    // A team without a policy: admission's read of the team is held by the isolate, so the cache is not asked.
    const bare = (await (await admin("/teams", { body: { name: "no-cache" } })).json()) as { id: string };
    const member = await createKey({ team_id: bare.id });
    for (const text of ["one", "two"]) {
      const r = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest(text), member.key, { query: "?alt=sse" });
      await r.res.text();
      await r.settled();
    }
    expect(before).not.toHaveBeenCalled();
    expect(tap).not.toHaveBeenCalled();

    // A team with a policy: engaged, and the answer is stored as it passes.
    const cached = (await (await admin("/teams", { body: { name: "cached", cache: { ttl: 60 } } })).json()) as { id: string };
    const user = await createKey({ team_id: cached.id });
    const r = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("three"), user.key, { query: "?alt=sse" });
    expect(r.res.headers.get("x-edgeway-cache")).toBe("miss");
    await r.res.text();
    await r.settled();
    expect(tap).toHaveBeenCalledTimes(2);
  });
});

describe("hooks: none configured", () => {
  it("costs a call one length check: the isolate's list is one shared empty array, again once hooks are removed", async () => {
    // The response cache is on by default; RESPONSE_CACHE=off leaves it out (README, "Response cache"). The tests'
    // wrangler.toml binds LOG_BUCKET (stored bodies); without it their hooks are not configured.
    const config = getConfig({ ...env, RESPONSE_CACHE: "off", LOG_BUCKET: undefined });
    const none = hooksFor(config);
    expect(none).toHaveLength(0);
    expect(Object.isFrozen(none)).toBe(true);
    expect(hooksFor(config)).toBe(none);
    const remove = registerHook({ name: "x" });
    expect(hooksFor(config)).toHaveLength(1);
    remove();
    expect(hooksFor(config)).toBe(none);
  });

  it("a stream goes out as the upstream's own bytes, event for event", async () => {
    const { key } = await createKey();
    // Spacing and key order no re-serialisation would keep.
    const raw = [`data: {"candidates": [{"index":0,"content":{"parts":[{"text":"a"}],"role":"model"}}]}\r\n\r\n`];
    mockUpstream(() => sseResponse(raw));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    expect(await res.text()).toBe(raw[0]);
    await settled();
  });
});
