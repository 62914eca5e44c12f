/** One usage row per authenticated inference call, with the right content, written after the response. */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { estimateTokens } from "../../src/gemini/text";
import { mockReplyText } from "../../src/providers/mock/answer";
import { counters, createTeam, freezeClock } from "../helpers/governance";
import { admin, createKey, flushUsage, gatedStream, genai, genaiCall, mockUpstream, sseResponse, textRequest, usageRow } from "../helpers/worker";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

const chunk = (text: string, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }], ...extra })}\r\n\r\n`;

describe("usage row per call", () => {
  it("non-stream: served model, tokens and cost from the mock's usage and the price table; no secret", async () => {
    const team = await createTeam();
    const { key, id } = await createKey({ team_id: team.id });
    const req = textRequest("hello there, usage log");
    const { res, settled } = await genaiCall("mock/echo", "generateContent", req, key);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { usageMetadata: { promptTokenCount: number; candidatesTokenCount: number } };
    await settled();

    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    const input = estimateTokens("hello there, usage log");
    const output = estimateTokens(mockReplyText(req));
    expect(answer.usageMetadata).toMatchObject({ promptTokenCount: input, candidatesTokenCount: output });
    expect(row).toMatchObject({
      key_id: id, team_id: team.id, requested_model: "mock/echo", provider: "mock", model: "echo",
      action: "generateContent", stream: 0, status: 200, outcome: "ok", error: null, attempts: 1, fallback_index: 0,
      input_tokens: input, output_tokens: output, cached_tokens: 0, thinking_tokens: 0,
    });
    // mock/* costs $1 in and $2 out per 1M tokens.
    expect(row!.cost_usd).toBeCloseTo((input * 1 + output * 2) / 1e6, 12);
    expect(row!.ts).toBeTypeOf("number");
    expect(row!.ttfb_ms).toBeTypeOf("number");
    expect(row!.latency_ms as number).toBeGreaterThanOrEqual(row!.ttfb_ms as number);
    expect(JSON.parse(row!.attempts_json as string)).toEqual([
      { target: "mock/echo", status: 200, reason: "ok", latency_ms: expect.any(Number) },
    ]);
    expect(JSON.stringify(row)).not.toContain(key);
    expect(JSON.stringify(row)).not.toContain("usage log"); // no prompt
  });

  it("tokens and cost for a Gemini answer with cached and thinking tokens", async () => {
    const { key } = await createKey();
    mockUpstream(() =>
      Response.json({
        candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP" }],
        usageMetadata: { promptTokenCount: 1000, candidatesTokenCount: 200, cachedContentTokenCount: 400, thoughtsTokenCount: 50 },
      }),
    );
    const { res, settled } = await genaiCall("gemini-2.5-flash", "generateContent", textRequest("x"), key);
    expect(res.status).toBe(200);
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ provider: "gemini", model: "gemini-2.5-flash", input_tokens: 1000, output_tokens: 250, cached_tokens: 400, thinking_tokens: 50 });
    // gemini-2.5-flash*: $0.30 in, $0.03 cached in, $2.50 out (thinking is billed as output).
    expect(row!.cost_usd).toBeCloseTo((600 * 0.3 + 400 * 0.03 + 250 * 2.5) / 1e6, 12);
  });

  it("tool-use prompt tokens (Gemini's toolUsePromptTokenCount, outside promptTokenCount) are input: on the row apart, priced once, settled by the budget, shown by /admin/logs and /admin/usage", async () => {
    freezeClock();
    const { key, id } = await createKey({ budget: { max_usd: 1 } });
    mockUpstream(() =>
      Response.json({
        candidates: [{ content: { role: "model", parts: [{ text: "hi" }] }, finishReason: "STOP" }],
        usageMetadata: {
          promptTokenCount: 1000, toolUsePromptTokenCount: 300, candidatesTokenCount: 200, cachedContentTokenCount: 400,
          thoughtsTokenCount: 50, totalTokenCount: 1550,
        },
      }),
    );
    const { res, settled } = await genaiCall("gemini-2.5-flash", "generateContent", textRequest("x", { generationConfig: { maxOutputTokens: 1000 } }), key);
    expect(res.status).toBe(200);
    await settled();
    const requestId = res.headers.get("x-edgeway-request-id");
    const row = await usageRow(requestId);
    expect(row).toMatchObject({ input_tokens: 1300, tool_use_tokens: 300, cached_tokens: 400, output_tokens: 250, thinking_tokens: 50 });
    // gemini-2.5-flash*: $0.30 in (the tool-use prompt too), $0.03 cached in, $2.50 out: (900 × 0.3 + 400 × 0.03 + 250 × 2.5) / 1M.
    const usd = 0.000907;
    expect(row!.cost_usd).toBeCloseTo(usd, 12);
    expect((await counters("key", id)).spent_usd).toBeCloseTo(usd, 12);
    const logs = (await (await admin(`/logs?request_id=${requestId}`, { method: "GET" })).json()) as { logs: { tokens: Record<string, number> }[] };
    expect(logs.logs[0]!.tokens).toEqual({ input: 1300, output: 250, cached: 400, thinking: 50, tool_use: 300 });
    const sums = (await (await admin(`/usage?key_id=${id}`, { method: "GET" })).json()) as { totals: Record<string, number> };
    expect(sums.totals).toMatchObject({ input_tokens: 1300, tool_use_tokens: 300, cost_usd: usd });
  });

  it("stream: the tool-use prompt tokens of the last usageMetadata are input, priced once; a hostile count (negative) is 0", async () => {
    const { key } = await createKey();
    const up = gatedStream(chunk("Hello", { usageMetadata: { promptTokenCount: 7, toolUsePromptTokenCount: -5000 } }));
    mockUpstream(() => up.response());
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key, { query: "?alt=sse" });
    const reader = res.body!.getReader();
    await reader.read();
    up.finish(chunk(" world", { usageMetadata: { promptTokenCount: 7, toolUsePromptTokenCount: 20, candidatesTokenCount: 3 } }));
    while (!(await reader.read()).done);
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ input_tokens: 27, tool_use_tokens: 20, output_tokens: 3 });
    // gemini-2.0-flash*: $0.10 in, $0.40 out.
    expect(row!.cost_usd).toBeCloseTo((27 * 0.1 + 3 * 0.4) / 1e6, 12);

    const hostile = gatedStream(chunk("Hi", { usageMetadata: { promptTokenCount: 7, toolUsePromptTokenCount: -5000, candidatesTokenCount: 1 } }));
    mockUpstream(() => hostile.response());
    const second = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key, { query: "?alt=sse" });
    hostile.finish("");
    await second.res.text();
    await second.settled();
    const row2 = await usageRow(second.res.headers.get("x-edgeway-request-id"));
    expect(row2).toMatchObject({ input_tokens: 7, tool_use_tokens: 0, output_tokens: 1 });
    expect(row2!.cost_usd).toBeCloseTo((7 * 0.1 + 1 * 0.4) / 1e6, 12);
  });

  it("stream: usage seen by the tap, latency until the stream ended (not until the headers)", async () => {
    const { key, id } = await createKey();
    const up = gatedStream(chunk("Hello"));
    mockUpstream(() => up.response());
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_700_000_000_000);
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key, { query: "?alt=sse" });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("Hello");
    vi.setSystemTime(1_700_000_004_321);
    up.finish(chunk(" world", { usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 3 } }));
    while (!(await reader.read()).done);
    await settled();

    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({
      key_id: id, provider: "gemini", model: "gemini-2.0-flash", action: "streamGenerateContent", stream: 1, status: 200,
      outcome: "ok", error: null, input_tokens: 7, output_tokens: 3, ts: 1_700_000_000_000, ttfb_ms: 0, latency_ms: 4321,
    });
    expect(row!.cost_usd).toBeCloseTo((7 * 0.1 + 3 * 0.4) / 1e6, 12);
  });

  it("mock stream through the real service binding: one row with the final chunk's usage", async () => {
    const { key } = await createKey();
    const req = textRequest("stream me please");
    const res = await genai("mock/echo", "streamGenerateContent", req, key, { query: "?alt=sse" });
    await res.text();
    // The row is handed off after the response: flush the usage log, then read it.
    await flushUsage();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ stream: 1, outcome: "ok", input_tokens: estimateTokens("stream me please"), output_tokens: estimateTokens(mockReplyText(req)) });
  });

  it("client abort mid-stream (its signal, as a deployed runtime reports a disconnect): aborted row with the usage seen so far; the upstream is cancelled at once", async () => {
    const { key } = await createKey();
    const up = gatedStream(chunk("partial", { usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 1 } }));
    const calls = mockUpstream(() => up.response());
    const ac = new AbortController();
    // The upstream stays silent: only the client's signal can end this stream.
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ stream: 1, status: 499, outcome: "aborted", error: "client disconnected", input_tokens: 11, output_tokens: 1, provider: "gemini" });
    expect(calls[0]!.signal.aborted).toBe(true);
    // The client's side of the stream is errored, not left open.
    await expect(reader.read()).rejects.toBeDefined();
  });

  it("client abort mid-stream (its side of the stream cancelled, noticed at the next write): aborted row; the upstream is cancelled", async () => {
    const { key } = await createKey();
    const up = gatedStream(chunk("partial", { usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 1 } }));
    const calls = mockUpstream(() => up.response());
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    // The runtime reports a cancelled response when the gateway next writes to it.
    up.next(chunk("more", { usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 2 } }));
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ stream: 1, status: 499, outcome: "aborted", error: "client disconnected", input_tokens: 11, output_tokens: 2, provider: "gemini" });
    expect(calls[0]!.signal.aborted).toBe(true);
  });

  it("upstream cut mid-stream: outcome error with the usage seen so far", async () => {
    const { key } = await createKey();
    const up = gatedStream(chunk("partial", { usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 2 } }));
    mockUpstream(() => up.response());
    const { res, settled } = await genaiCall("gemini-2.0-flash", "streamGenerateContent", textRequest("x"), key);
    const reader = res.body!.getReader();
    await reader.read();
    up.cut();
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    expect(text).toContain('"error"');
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ stream: 1, status: 502, outcome: "error", input_tokens: 5, output_tokens: 2 });
    expect(row!.error).toContain("connection reset by peer");
  });

  it("upstream error: status, message and the attempt are logged; nothing served", async () => {
    const { key } = await createKey();
    mockUpstream(() => Response.json({ error: { code: 500, message: "backend exploded", status: "INTERNAL" } }, { status: 500 }));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(res.status).toBe(500);
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({
      requested_model: "gemini/gemini-2.0-flash", provider: null, model: null, status: 500, outcome: "error",
      error: "gemini: backend exploded", attempts: 1, fallback_index: null, input_tokens: 0, cost_usd: 0, ttfb_ms: null,
    });
    expect(JSON.parse(row!.attempts_json as string)).toEqual([
      { target: "gemini/gemini-2.0-flash", credential: "default", status: 500, reason: "upstream 500", latency_ms: expect.any(Number) },
    ]);
  });

  it("fallback: the row names the target that served, its index and every attempt", async () => {
    const { key } = await createKey();
    mockUpstream(() => Response.json({ error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } }, { status: 503 }));
    const { res, settled } = await genaiCall("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key);
    expect(res.status).toBe(200);
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ requested_model: "gemini/gemini-2.0-flash", provider: "mock", model: "echo", outcome: "ok", attempts: 2, fallback_index: 1 });
    expect(JSON.parse(row!.attempts_json as string)).toEqual([
      { target: "gemini/gemini-2.0-flash", credential: "default", status: 503, reason: "upstream 503", latency_ms: expect.any(Number) },
      { target: "mock/echo", status: 200, reason: "ok", latency_ms: expect.any(Number) },
    ]);
  });
});

describe("calls that fail before execute still leave exactly one row (refusals are counted instead: refusals.test.ts)", () => {
  const cases: { name: string; model: string; action: string; body: unknown; key?: Record<string, unknown>; env?: Record<string, string>; status: number; error: string }[] = [
    { name: "invalid JSON body", model: "mock/echo", action: "generateContent", body: "{nope", status: 400, error: "invalid JSON payload" },
    { name: "invalid request body", model: "mock/echo", action: "generateContent", body: { contents: "x" }, status: 400, error: "invalid generateContent request" },
    { name: "bad model string", model: "bad%20model!", action: "generateContent", body: textRequest("x"), status: 400, error: 'invalid model "bad model!"' },
    { name: "unknown action", model: "mock/echo", action: "fooBar", body: textRequest("x"), status: 400, error: 'unknown action "fooBar"' },
    { name: "body too large", model: "mock/echo", action: "generateContent", body: textRequest("x".repeat(2048)), key: {}, env: { MAX_BODY_BYTES: "1024" }, status: 413, error: "exceeds the 1024-byte limit" },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const team = await createTeam();
      const { key, id } = await createKey({ team_id: team.id, ...c.key });
      const { res, settled } = await genaiCall(c.model, c.action, c.body, key, { env: c.env });
      expect(res.status).toBe(c.status);
      expect(res.headers.get("x-edgeway-attempts")).toBe("0");
      await settled();
      const rows = await env.DB.prepare("SELECT * FROM usage WHERE key_id = ?").bind(id).all();
      expect(rows.results).toHaveLength(1);
      const row = rows.results[0]!;
      expect(row).toMatchObject({
        request_id: res.headers.get("x-edgeway-request-id"), team_id: team.id, action: c.action, status: c.status,
        outcome: "error", attempts: 0, provider: null, fallback_index: null, cost_usd: 0,
        stream: c.action === "streamGenerateContent" ? 1 : 0,
      });
      expect(row.error).toContain(c.error);
      expect(JSON.parse(row.attempts_json as string)).toEqual([]);
    });
  }

  it("unauthenticated 401s leave no row (there is no key to attribute); a bad model still answers 400 first", async () => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM usage").first<number>("n");
    const { res, settled } = await genaiCall("mock/echo", "generateContent", textRequest("x"), `sk-bf-${"0".repeat(40)}`);
    expect(res.status).toBe(401);
    await settled();
    expect(await usageRow(res.headers.get("x-edgeway-request-id"))).toBeNull();
    const bad = await genai("bad%20model!", "generateContent", textRequest("x"), "nope");
    expect(bad.status).toBe(400);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM usage").first<number>("n")).toBe(before);
  });
});
