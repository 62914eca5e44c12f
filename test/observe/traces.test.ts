/**
 * OpenTelemetry traces: what a collector receives, decoded with the official OpenTelemetry protobuf definitions
 * (the decoders generated from opentelemetry-proto that @opentelemetry/otlp-transformer ships), never with the
 * gateway's own code. Real calls through the Worker with the upstream and the collector as outbound fetches: span
 * attributes of a JSON call and a stream, an error, the caller's traceparent (and malformed ones ignored), the JSON
 * protocol, the headers, content capture off by default and redacted when on, and a collector that answers 500,
 * hangs or redirects (the call unaffected, the redirect not followed, drops counted and shown in /admin/metrics); the
 * queue's bound under 10,000 calls' worth of spans; and tracing off engaging no hook at all.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import root from "@opentelemetry/otlp-transformer/build/esm/generated/root.js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { getConfig } from "../../src/config";
import { hooksFor } from "../../src/hooks/registry";
import { exporterFor, SpanExporter } from "../../src/observe/traces/exporter";
import { encodeProtobuf, type Attr } from "../../src/observe/traces/otlp";
import { parseHeaders, traceSettings } from "../../src/observe/traces/settings";
import { parseTraceparent } from "../../src/observe/traces/traceparent";
import type { CallRecord } from "../../src/usage/row";
import { createTeam } from "../helpers/governance";
import { admin, createKey, gatedStream, genaiRequest, hang, sseResponse, textRequest, type UpstreamCall } from "../helpers/worker";

vi.setConfig({ testTimeout: 60_000 });

const ExportRequest = (root as any).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const COLLECTOR = "https://collector.test/otlp";
const OTLP_KEY = "otlp-secret-key-0123456789abcdef";
const VARS = {
  OTEL_EXPORTER_OTLP_ENDPOINT: `${COLLECTOR}/`,
  OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${OTLP_KEY}, Authorization=Basic%20ZWRnZXdheTpzZWNyZXQ=`,
  OTEL_SERVICE_NAME: "edgeway-test",
};

afterEach(() => vi.restoreAllMocks());
beforeEach(async () => {
  await env.DB.batch([env.DB.prepare("DELETE FROM trace_drops"), env.DB.prepare("DELETE FROM trace_outbox")]);
});

type Export = { url: string; redirect: string; headers: Headers; body: Uint8Array; signal: AbortSignal };
type Attrs = Record<string, unknown>;
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  attrs: Attrs;
  events: { name: string; time: bigint; attrs: Attrs }[];
  status: { code?: number; message?: string };
  flags: number;
}

const hex = (b: Uint8Array | number[] | undefined) => (b ? [...b].map((x) => x.toString(16).padStart(2, "0")).join("") : "");

/** AnyValue as a plain value (int64 as a number: the gateway's are small). */
function plain(v: any): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return { double: v.doubleValue };
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(plain);
  throw new Error(`unexpected AnyValue ${JSON.stringify(v)}`);
}
const attrsOf = (kvs: any[] | undefined): Attrs => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, plain(kv.value)]));

/** The official decoder's reading of an export: the resource's attributes and every span. */
function decode(body: Uint8Array): { resource: Attrs; scope: { name: string; version: string }; spans: Span[] } {
  const o = ExportRequest.toObject(ExportRequest.decode(body), { longs: String, enums: Number, bytes: Array });
  expect(o.resourceSpans).toHaveLength(1);
  const rs = o.resourceSpans[0];
  expect(rs.scopeSpans).toHaveLength(1);
  return {
    resource: attrsOf(rs.resource.attributes),
    scope: rs.scopeSpans[0].scope,
    spans: rs.scopeSpans[0].spans.map((s: any) => ({
      traceId: hex(s.traceId),
      spanId: hex(s.spanId),
      parentSpanId: s.parentSpanId?.length ? hex(s.parentSpanId) : undefined,
      name: s.name,
      kind: s.kind,
      start: BigInt(s.startTimeUnixNano),
      end: BigInt(s.endTimeUnixNano),
      attrs: attrsOf(s.attributes),
      events: (s.events ?? []).map((e: any) => ({ name: e.name, time: BigInt(e.timeUnixNano), attrs: attrsOf(e.attributes) })),
      status: s.status ?? {},
      flags: s.flags ?? 0,
    })),
  };
}

/**
 * One outbound fetch mock for the upstream and the collector: exports to COLLECTOR are recorded and answered by
 * `collector` (200 by default); anything else is an upstream call answered by `upstream`.
 */
function outbound(upstream: (c: UpstreamCall) => Response | Promise<Response>, collector: (e: Export, n: number) => Response | Promise<Response> = () => new Response(null, { status: 200 })) {
  const exports: Export[] = [];
  const others: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    if (req.url.startsWith(COLLECTOR)) {
      const e = { url: req.url, redirect: init?.redirect ?? req.redirect, headers: req.headers, body: new Uint8Array(await req.arrayBuffer()), signal: req.signal };
      exports.push(e);
      return collector(e, exports.length);
    }
    if (!req.url.startsWith("https://gemini.upstream.test")) others.push(req.url);
    return upstream({ url: req.url, method: req.method, headers: req.headers, body: await req.text(), signal: req.signal });
  });
  return { exports, others };
}

/** A Worker env with these vars (one object, so one config and one exporter for every call made with it). */
function traced(vars: Record<string, string> = {}) {
  const e = { ...env, ...VARS, ...vars } as typeof env;
  const exporter = exporterFor(getConfig(e).traces!);
  exporter.gatherMs = 0;
  return { env: e, exporter };
}

/** A call through the Worker with `t`'s env; resolves once its body is read and its waitUntil work has ended. */
async function call(t: { env: typeof env }, model: string, action: string, body: unknown, key: string, headers: Record<string, string> = {}) {
  const ctx = createExecutionContext();
  const query = action === "streamGenerateContent" ? "?alt=sse" : "";
  const res = await worker.fetch(genaiRequest(model, action, body, key, { headers, query }), t.env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return { res, text };
}

const answer = (text = "Hello there", extra: Record<string, unknown> = {}) => ({
  candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
  usageMetadata: { promptTokenCount: 7, candidatesTokenCount: 3, totalTokenCount: 10 },
  modelVersion: "gemini-2.5-flash-001",
  responseId: "resp-abc",
  ...extra,
});

const dropsIn = async () => Object.fromEntries((await env.DB.prepare("SELECT reason, count FROM trace_drops").all<{ reason: string; count: number }>()).results.map((r) => [r.reason, r.count]));

describe("the protobuf encoder", () => {
  it("writes what the official decoder reads back: every value type, non-ASCII text, long strings, negative and large ints", () => {
    const attrs: Attr[] = [
      ["ascii", "plain"],
      ["empty", ""],
      ["utf8", "héllo wörld — 日本語 🚀 \ud800 lone"],
      ["long", "x".repeat(20_000) + "é"],
      ["int", 123_456_789_012],
      ["negative", -42],
      ["zero", 0],
      ["double", { double: 0.000123 }],
      ["bool", false],
      ["array", ["STOP", "日本", ""]],
      ["ключ", "value under a non-ASCII key"],
    ];
    const bytes = encodeProtobuf({ serviceName: "svc", scopeName: "edgeway", scopeVersion: "1" }, [
      { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", parentSpanId: "00f067aa0ba902b7", name: "n", kind: 3, startMs: 1_765_000_000_123, endMs: 1_765_000_000_456, attributes: attrs, events: [{ timeMs: 1_765_000_000_200, name: "ev", attributes: [["k", 1]] }], status: { code: 2, message: "bad" }, flags: 0x301 },
      { traceId: "ffffffffffffffffffffffffffffffff", spanId: "0000000000000001", name: "second", kind: 3, startMs: 1, endMs: 2, attributes: [], events: [], status: { code: 0 }, flags: 0x101 },
    ]);
    const { resource, spans } = decode(bytes);
    expect(resource["service.name"]).toBe("svc");
    expect(spans).toHaveLength(2);
    const [a, b] = spans;
    // A lone surrogate is written as U+FFFD, as TextEncoder writes it.
    expect(a!.attrs).toEqual({ ...Object.fromEntries(attrs), utf8: "héllo wörld — 日本語 🚀 \ufffd lone" });
    expect(a!).toMatchObject({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", parentSpanId: "00f067aa0ba902b7", kind: 3, flags: 0x301 });
    expect(a!.start).toBe(1_765_000_000_123_000_000n);
    expect(a!.end).toBe(1_765_000_000_456_000_000n);
    expect(a!.events).toEqual([{ name: "ev", time: 1_765_000_000_200_000_000n, attrs: { k: 1 } }]);
    expect(a!.status).toEqual({ code: 2, message: "bad" });
    expect(b!).toMatchObject({ traceId: "ffffffffffffffffffffffffffffffff", spanId: "0000000000000001", parentSpanId: undefined, name: "second", attrs: {} });
  });
});

describe("a call's span", () => {
  it("a JSON call: GenAI attributes, edgeway's, the attempt as an event, OTLP protobuf with the configured headers", async () => {
    const team = await createTeam({ name: "traces-team" });
    const k = await createKey({ name: "traces-json", team_id: team.id });
    const t = traced();
    const { exports } = outbound(() => Response.json(answer()));
    const { res, text } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key);
    expect(res.status).toBe(200);
    expect(JSON.parse(text).candidates[0].content.parts[0].text).toBe("Hello there");
    expect(exports).toHaveLength(1);
    const e = exports[0]!;
    expect(e.url).toBe(`${COLLECTOR}/v1/traces`);
    expect(e.redirect).toBe("manual");
    expect(e.headers.get("content-type")).toBe("application/x-protobuf");
    expect(e.headers.get("x-api-key")).toBe(OTLP_KEY);
    expect(e.headers.get("authorization")).toBe("Basic ZWRnZXdheTpzZWNyZXQ=");
    const { resource, scope, spans } = decode(e.body);
    expect(resource["service.name"]).toBe("edgeway-test");
    expect(scope.name).toBe("edgeway");
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.name).toBe("generate_content gemini-2.5-flash");
    expect(s.kind).toBe(3); // SPAN_KIND_CLIENT, as the GenAI conventions ask
    expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(s.parentSpanId).toBeUndefined();
    expect(s.end >= s.start).toBe(true);
    expect(s.status.code ?? 0).toBe(0);
    expect(s.attrs).toMatchObject({
      "gen_ai.operation.name": "generate_content",
      "gen_ai.provider.name": "gcp.gemini",
      "gen_ai.system": "gcp.gemini",
      "gen_ai.request.model": "gemini-2.5-flash",
      "gen_ai.response.model": "gemini-2.5-flash-001",
      "gen_ai.response.id": "resp-abc",
      "gen_ai.response.finish_reasons": ["STOP"],
      "gen_ai.usage.input_tokens": 7,
      "gen_ai.usage.output_tokens": 3,
      "http.response.status_code": 200,
      "edgeway.request_id": res.headers.get("x-edgeway-request-id"),
      "edgeway.key.id": k.id,
      "edgeway.team.id": team.id,
      "edgeway.stream": false,
      "edgeway.outcome": "ok",
      "edgeway.attempts": 1,
    });
    expect((s.attrs["edgeway.cost_usd"] as { double: number }).double).toBeGreaterThan(0);
    expect(s.attrs["error.type"]).toBeUndefined();
    // Content is off by default.
    expect(Object.keys(s.attrs).filter((a) => a.includes("messages") || a.includes("instructions"))).toEqual([]);
    expect(s.events).toHaveLength(1);
    expect(s.events[0]).toMatchObject({ name: "edgeway.upstream.attempt", attrs: { "edgeway.attempt.target": "gemini/gemini-2.5-flash", "http.response.status_code": 200, "edgeway.attempt.reason": "ok" } });
    expect(s.events[0]!.time >= s.start && s.events[0]!.time <= s.end).toBe(true);
    expect(t.exporter.stats).toMatchObject({ exported: 1, parked: 0, dropped: { backlog: 0, rejected: 0, outbox: 0 } });
  });

  it("a stream: the finish reason and usage of its last event, the stream flag and time to first byte", async () => {
    const k = await createKey({ name: "traces-stream" });
    const t = traced();
    const ev = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const { exports } = outbound(() =>
      sseResponse([
        ev({ candidates: [{ content: { role: "model", parts: [{ text: "Once" }] }, index: 0 }], modelVersion: "gemini-2.5-flash-001", responseId: "resp-stream" }),
        ev({ candidates: [{ content: { role: "model", parts: [{ text: " upon" }] }, finishReason: "MAX_TOKENS", index: 0 }], usageMetadata: { promptTokenCount: 11, candidatesTokenCount: 5, thoughtsTokenCount: 2, totalTokenCount: 18 }, modelVersion: "gemini-2.5-flash-001" }),
      ]),
    );
    const { res, text } = await call(t, "gemini/gemini-2.5-flash", "streamGenerateContent", textRequest("a story"), k.key);
    expect(res.status).toBe(200);
    expect(text).toContain("upon");
    const s = decode(exports[0]!.body).spans[0]!;
    expect(s.attrs).toMatchObject({
      "gen_ai.operation.name": "generate_content",
      "gen_ai.response.model": "gemini-2.5-flash-001",
      "gen_ai.response.id": "resp-stream",
      "gen_ai.response.finish_reasons": ["MAX_TOKENS"],
      "gen_ai.usage.input_tokens": 11,
      "gen_ai.usage.output_tokens": 7, // the answer and thinking, as the row counts output
      "edgeway.usage.thinking_tokens": 2,
      "edgeway.stream": true,
      "edgeway.action": "streamGenerateContent",
    });
    expect(typeof s.attrs["edgeway.ttfb_ms"]).toBe("number");
  });

  it("a stream the client leaves: a span all the same, outcome aborted, not an error", async () => {
    const k = await createKey({ name: "traces-aborted" });
    const t = traced();
    const up = gatedStream(`data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "Once" }] }, index: 0 }], modelVersion: "gemini-2.5-flash-001" })}\r\n\r\n`);
    const { exports } = outbound(() => up.response());
    const ctx = createExecutionContext();
    const res = await worker.fetch(genaiRequest("gemini/gemini-2.5-flash", "streamGenerateContent", textRequest("a story"), k.key, { query: "?alt=sse" }), t.env, ctx);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("Once");
    await reader.cancel();
    // The upstream's connection drops once the gateway has let go (as a real one would when cancelled).
    up.cut();
    await waitOnExecutionContext(ctx);
    await t.exporter.settled();
    const s = exports.flatMap((e) => decode(e.body).spans)[0]!;
    expect(s.attrs).toMatchObject({ "edgeway.outcome": "aborted", "edgeway.stream": true, "gen_ai.response.model": "gemini-2.5-flash-001" });
    expect(s.attrs["error.type"]).toBeUndefined();
    expect(s.status.code ?? 0).toBe(0);
  });

  it("an error: status ERROR, error.type, each failed attempt as an event; a secret in the upstream's error is not exported", async () => {
    const k = await createKey({ name: "traces-error" });
    const t = traced();
    const { exports } = outbound(() => Response.json({ error: { code: 500, message: "boom test-gemini-key", status: "INTERNAL" } }, { status: 500 }));
    const { res } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key);
    expect(res.status).toBe(500);
    const s = decode(exports[0]!.body).spans[0]!;
    expect(s.status.code).toBe(2); // STATUS_CODE_ERROR
    expect(s.status.message).toContain("boom");
    expect(s.attrs["error.type"]).toBe("500");
    expect(s.attrs["edgeway.outcome"]).toBe("error");
    expect(s.events.map((e) => e.attrs["http.response.status_code"])).toEqual([500]);
    expect(new TextDecoder().decode(exports[0]!.body)).not.toContain("test-gemini-key");
  });

  it("a refused call (rate limit) is a span too", async () => {
    const k = await createKey({ name: "traces-refused", rate_limit: { rpm: 1 } });
    const t = traced();
    const { exports } = outbound(() => Response.json(answer()));
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("one"), k.key);
    const second = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("two"), k.key);
    expect(second.res.status).toBe(429);
    const spans = exports.flatMap((e) => decode(e.body).spans);
    expect(spans.map((s) => s.attrs["http.response.status_code"])).toEqual([200, 429]);
    expect(spans[1]!.attrs["error.type"]).toBe("429");
  });
});

describe("traceparent", () => {
  const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
  const PARENT = "00f067aa0ba902b7";

  it("a caller's traceparent is the span's parent (its trace, its span as parent, marked remote)", async () => {
    const k = await createKey({ name: "traces-parent" });
    const t = traced();
    const { exports } = outbound(() => Response.json(answer()));
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key, { traceparent: `00-${TRACE}-${PARENT}-01` });
    const s = decode(exports[0]!.body).spans[0]!;
    expect(s.traceId).toBe(TRACE);
    expect(s.parentSpanId).toBe(PARENT);
    expect(s.spanId).not.toBe(PARENT);
    expect(s.flags & 0x300).toBe(0x300); // has-is-remote and is-remote
    expect(s.flags & 0x1).toBe(1);
  });

  it("a malformed traceparent is ignored: a new trace, no parent, the call unaffected", async () => {
    const k = await createKey({ name: "traces-bad-parent" });
    const t = traced();
    const bad = [
      `00-${TRACE.toUpperCase()}-${PARENT}-01`, // upper case
      `00-${"0".repeat(32)}-${PARENT}-01`, // all-zero trace id
      `00-${TRACE}-${"0".repeat(16)}-01`, // all-zero parent
      `ff-${TRACE}-${PARENT}-01`, // forbidden version
      `00-${TRACE}-${PARENT}-01-extra`, // version 00 has four fields
      `00-${TRACE.slice(1)}-${PARENT}-01`, // short
      `00-${TRACE}-${PARENT}`, // no flags
      "garbage",
      `01-${TRACE}-${PARENT}-01-${"x".repeat(10_000)}`, // a later version's extra fields, but 10 KB of them
    ];
    const { exports } = outbound(() => Response.json(answer()));
    for (const h of bad) {
      const { res } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key, { traceparent: h });
      expect(res.status).toBe(200);
    }
    const spans = exports.flatMap((e) => decode(e.body).spans);
    expect(spans).toHaveLength(bad.length);
    for (const s of spans) {
      expect(s.parentSpanId).toBeUndefined();
      expect(s.traceId).not.toBe(TRACE);
      expect(s.flags & 0x200).toBe(0);
    }
    // A later version may carry more fields: its first four still count.
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-00-more`)).toEqual({ traceId: TRACE, spanId: PARENT, flags: 0 });
  });
});

describe("protocol, headers and content", () => {
  it("OTEL_EXPORTER_OTLP_PROTOCOL=http/json posts OTLP/JSON: hex ids, 64-bit integers as strings, the same attributes", async () => {
    const k = await createKey({ name: "traces-json-protocol" });
    const t = traced({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" });
    const { exports } = outbound(() => Response.json(answer()));
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    const e = exports[0]!;
    expect(e.headers.get("content-type")).toBe("application/json");
    const o = JSON.parse(new TextDecoder().decode(e.body));
    const s = o.resourceSpans[0].scopeSpans[0].spans[0];
    expect(s.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(s.parentSpanId).toBe("00f067aa0ba902b7");
    expect(s.startTimeUnixNano).toMatch(/^\d{19}$/);
    const attrs = Object.fromEntries(s.attributes.map((a: any) => [a.key, a.value]));
    expect(attrs["gen_ai.usage.input_tokens"]).toEqual({ intValue: "7" });
    expect(attrs["gen_ai.response.finish_reasons"]).toEqual({ arrayValue: { values: [{ stringValue: "STOP" }] } });
    expect(attrs["edgeway.cost_usd"].doubleValue).toBeGreaterThan(0);
    expect(o.resourceSpans[0].resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "edgeway-test" } });
    // The official definitions read it too, once its ids are the bytes proto3's JSON mapping expects (OTLP/JSON
    // differs from it only there: hex instead of base64).
    const b64 = (h: string) => btoa(String.fromCharCode(...h.match(/../g)!.map((x) => parseInt(x, 16))));
    for (const span of o.resourceSpans[0].scopeSpans[0].spans) for (const f of ["traceId", "spanId", "parentSpanId"]) if (span[f]) span[f] = b64(span[f]);
    const back = ExportRequest.toObject(ExportRequest.fromObject(o), { longs: String, bytes: Array });
    expect(attrsOf(back.resourceSpans[0].scopeSpans[0].spans[0].attributes)["gen_ai.request.model"]).toBe("gemini-2.5-flash");
    expect(hex(back.resourceSpans[0].scopeSpans[0].spans[0].traceId)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
  });

  it("content capture: on, prompts and answers go as gen_ai.*.messages with every secret redacted; the collector never sees one", async () => {
    const k = await createKey({ name: "traces-content" });
    const t = traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" });
    const { exports } = outbound(() => Response.json(answer("Here is the answer")));
    // The provider's key, the admin token and the collector's own key, pasted into a prompt.
    const prompt = `my keys: test-gemini-key and test-admin-token-0123456789abcdef and ${OTLP_KEY}`;
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest(prompt, { systemInstruction: { parts: [{ text: "be brief" }] } }), k.key);
    const raw = new TextDecoder().decode(exports[0]!.body);
    for (const secret of ["test-gemini-key", "test-admin-token-0123456789abcdef", OTLP_KEY]) expect(raw).not.toContain(secret);
    const s = decode(exports[0]!.body).spans[0]!;
    const input = JSON.parse(s.attrs["gen_ai.input.messages"] as string);
    expect(input[0].role).toBe("user");
    expect(input[0].parts[0].type).toBe("text");
    expect(input[0].parts[0].content).toContain("my keys:");
    expect(input[0].parts[0].content).toContain("[redacted]");
    expect(JSON.parse(s.attrs["gen_ai.system_instructions"] as string)).toEqual([{ type: "text", content: "be brief" }]);
    expect(JSON.parse(s.attrs["gen_ai.output.messages"] as string)).toEqual([
      { role: "assistant", parts: [{ type: "text", content: "Here is the answer" }], finish_reason: "STOP" },
    ]);
  });

  it("content capture: a virtual key and a direct caller's own provider keys pasted into a prompt (or echoed back) are redacted too", async () => {
    const k = await createKey({ name: "traces-content-keys" });
    const t = traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true", DIRECT_KEYS: "on" });
    const OWN = "AIzaSyCallersOwnGeminiKey0123456789abcd";
    const OTHER = "sk-ant-callers-own-anthropic-key-0123456789";
    const { exports } = outbound((c) => Response.json(answer(`you said: ${JSON.parse(c.body).contents[0].parts[0].text}`)));
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest(`my key is ${k.key}`), k.key);
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest(`mine: ${OWN} and ${OTHER}`, { fallbacks: ["anthropic/claude-haiku-4-5"] }), OWN, {
      "x-edgeway-direct-key-anthropic": OTHER,
    });
    expect(exports).toHaveLength(2);
    const raw = exports.map((e) => new TextDecoder().decode(e.body)).join("\n");
    for (const secret of [k.key, OWN, OTHER]) expect(raw).not.toContain(secret);
    const [a, b] = exports.map((e) => decode(e.body).spans[0]!);
    expect(a!.attrs["gen_ai.input.messages"]).toContain("my key is [redacted]");
    expect(a!.attrs["gen_ai.output.messages"]).toContain("you said: my key is [redacted]");
    expect(b!.attrs["gen_ai.input.messages"]).toMatch(/mine: (\[redacted\])+ and (\[redacted\])+"/);
  });

  it("content capture with guardrails: the prompt as it went upstream (redacted), the answer as the caller got it, the actions as events; a blocked prompt is never captured", async () => {
    const GUARDRAILS = JSON.stringify({ pii_redact: { kind: "pii", on: "both", action: "redact" }, words: { kind: "regex", on: "input", action: "block", patterns: ["(?i)project\\s+nightingale"] } });
    const t = traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true", GUARDRAILS });
    expect(hooksFor(getConfig(t.env)).map((h) => h.name)).toEqual(["traces", "log-bodies", "guardrails", "traces-content", "log-bodies-request", "response-cache"]);
    const ctx = createExecutionContext();
    const made = await worker.fetch(new Request("https://gw.test/admin/keys", { method: "POST", headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" }, body: JSON.stringify({ name: "traces-guarded", guardrails: ["pii_redact", "words"] }) }), t.env, ctx);
    await waitOnExecutionContext(ctx);
    const k = await made.json<{ key: string }>();
    const { exports } = outbound(() => Response.json(answer("write to bob@example.com")));
    const { text } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("mail alice@example.com please"), k.key);
    expect(text).not.toContain("bob@example.com");
    const s = decode(exports[0]!.body).spans[0]!;
    const raw = new TextDecoder().decode(exports[0]!.body);
    expect(raw).not.toContain("alice@example.com");
    expect(raw).not.toContain("bob@example.com");
    expect(s.attrs["gen_ai.input.messages"]).toContain("mail ");
    expect(s.attrs["edgeway.guardrails"]).toEqual(["pii_redact:input:redact", "pii_redact:output:redact"]);
    expect(s.events.filter((e) => e.name === "edgeway.guardrail").map((e) => e.attrs["edgeway.guardrail.entities"])).toEqual(["email=1", "email=1"]);
    // Blocked: answered by the guardrail, no upstream call, and no prompt in the span.
    const blocked = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("tell me about Project Nightingale"), k.key);
    expect(blocked.res.status).toBe(200);
    const b = decode(exports[1]!.body).spans[0]!;
    expect(b.attrs["gen_ai.input.messages"]).toBeUndefined();
    expect(new TextDecoder().decode(exports[1]!.body)).not.toContain("Nightingale");
    expect(b.attrs["edgeway.guardrails"]).toEqual(["words:input:block"]);
  });

  it("content capture on, a stream: the answer's text gathered across events", async () => {
    const k = await createKey({ name: "traces-content-stream" });
    const t = traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" });
    const ev = (o: unknown) => `data: ${JSON.stringify(o)}\r\n\r\n`;
    const { exports } = outbound(() =>
      sseResponse([
        ev({ candidates: [{ content: { role: "model", parts: [{ text: "Once" }] }, index: 0 }] }),
        ev({ candidates: [{ content: { role: "model", parts: [{ text: " upon a time" }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 4 } }),
      ]),
    );
    await call(t, "gemini/gemini-2.5-flash", "streamGenerateContent", textRequest("a story"), k.key);
    const s = decode(exports[0]!.body).spans[0]!;
    expect(JSON.parse(s.attrs["gen_ai.output.messages"] as string)[0].parts[0].content).toBe("Once upon a time");
  });

  it("OTEL_EXPORTER_OTLP_HEADERS: URL-decoded, base64 padding kept, bad entries left out and never logged", () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    expect(parseHeaders("Authorization=Basic%20dXNlcjpwYXNz==,x-honeycomb-team=abc123, ,bad entry with-secret-value,=novalue,x-ok=a%2Cb")).toEqual({
      authorization: "Basic dXNlcjpwYXNz==",
      "x-honeycomb-team": "abc123",
      "x-ok": "a,b",
    });
    const logged = errors.mock.calls.flat().join("\n");
    expect(logged).toContain("entry 4");
    expect(logged).not.toContain("with-secret-value");
    // An endpoint that is not http(s) turns traces off rather than sending them anywhere.
    expect(traceSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://x" } as typeof env, [])).toBeUndefined();
    expect(traceSettings({ ...env, OTEL_EXPORTER_OTLP_ENDPOINT: "https://c.example/base?x=1" } as typeof env, [])!.url).toBe("https://c.example/base/v1/traces?x=1");
  });
});

describe("a collector that fails", () => {
  it("answers 500: the call is unaffected, the batch is dropped as rejected, counted in D1 and in /admin/metrics; nothing secret logged", async () => {
    const k = await createKey({ name: "traces-500" });
    const t = traced({ OTEL_EXPORTER_OTLP_ENDPOINT: `${COLLECTOR}/tok-in-path-123` });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { exports } = outbound(() => Response.json(answer()), () => new Response("down", { status: 500 }));
    const { res, text } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key);
    expect(res.status).toBe(200);
    expect(JSON.parse(text).candidates).toHaveLength(1);
    expect(exports).toHaveLength(1); // not retried: OTLP retries 429, 502, 503, 504 only
    expect(t.exporter.stats.dropped.rejected).toBe(1);
    expect(await dropsIn()).toEqual({ rejected: 1 });
    const logged = errors.mock.calls.flat().join("\n");
    expect(logged).toContain("collector answered 500");
    for (const secret of [OTLP_KEY, "ZWRnZXdheTpzZWNyZXQ", "tok-in-path-123"]) expect(logged).not.toContain(secret);
    vi.restoreAllMocks();
    const metrics = await (await admin("/metrics")).text();
    expect(metrics).toContain("# TYPE edgeway_trace_spans_dropped_total counter");
    expect(metrics).toContain('edgeway_trace_spans_dropped_total{reason="rejected"} 1');
    expect(metrics).not.toContain('edgeway_trace_spans_dropped_total{reason="backlog"}');
  });

  it("redirects: not followed (the Location is never fetched), the batch dropped and counted", async () => {
    const k = await createKey({ name: "traces-redirect" });
    const t = traced();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { exports, others } = outbound(() => Response.json(answer()), () => new Response(null, { status: 307, headers: { location: "https://evil.test/steal" } }));
    const { res } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key);
    expect(res.status).toBe(200);
    expect(exports).toHaveLength(1);
    expect(exports[0]!.redirect).toBe("manual");
    expect(others).toEqual([]);
    expect(await dropsIn()).toEqual({ rejected: 1 });
  });

  it("answers 503 (retryable): the batch is sent again after the backoff, the same span, nothing dropped", async () => {
    const k = await createKey({ name: "traces-503" });
    const t = traced();
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { exports } = outbound(() => Response.json(answer()), (_, n) => new Response(null, { status: n === 1 ? 503 : 200, headers: { "retry-after": "1" } }));
    const { res } = await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key);
    expect(res.status).toBe(200);
    expect(exports).toHaveLength(2);
    const [first, second] = exports.map((e) => decode(e.body).spans[0]!);
    expect(second!.spanId).toBe(first!.spanId);
    expect(second!.traceId).toBe(first!.traceId);
    expect(t.exporter.stats).toMatchObject({ exported: 1, parked: 0, dropped: { backlog: 0, rejected: 0, outbox: 0 } });
    expect(await dropsIn()).toEqual({});
  });

  it("hangs: the call is answered before any export; the export gives up at the timeout, the span is parked in the outbox, then goes (the same span) once the collector is back", async () => {
    const k = await createKey({ name: "traces-hang" });
    const t = traced({ OTEL_EXPORTER_OTLP_TIMEOUT: "100" });
    t.exporter.leaderMs = 600; // one attempt per leader here (its backoff is 1 s)
    vi.spyOn(console, "error").mockImplementation(() => {});
    let up = false;
    const { exports } = outbound(() => Response.json(answer()), (e) => (up ? new Response(null, { status: 200 }) : hang({ signal: e.signal } as UpstreamCall)));
    const ctx = createExecutionContext();
    const res = await worker.fetch(genaiRequest("gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key), t.env, ctx);
    // The answer is whole before the collector was even asked: export happens after the response.
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text()).candidates).toHaveLength(1);
    await waitOnExecutionContext(ctx);
    expect(exports).toHaveLength(1);
    expect(exports[0]!.signal.aborted).toBe(true);
    // No time left in the leader's window for another try: kept in D1, not in memory, not dropped.
    expect(t.exporter.queue).toHaveLength(0);
    expect(t.exporter.stats).toMatchObject({ parked: 1, dropped: { backlog: 0, rejected: 0, outbox: 0 } });
    expect(await env.DB.prepare("SELECT spans FROM trace_outbox").all()).toMatchObject({ results: [{ spans: 1 }] });
    const first = decode(exports[0]!.body).spans[0]!;
    // The collector is back: the next call's leader waits out the backoff, sends its own span, and then, the
    // collector being up, the parked batch.
    up = true;
    t.exporter.leaderMs = 30_000;
    await call(t, "gemini/gemini-2.5-flash", "generateContent", textRequest("again"), k.key);
    const delivered = exports.slice(1).flatMap((e) => decode(e.body).spans);
    expect(delivered).toHaveLength(2);
    expect(delivered.map((s) => s.spanId)).toContain(first.spanId);
    expect(t.exporter.queue).toHaveLength(0);
    expect(t.exporter.stats.fromOutbox).toBe(1);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM trace_outbox").first("n")).toBe(0);
  });
});

describe("the queue's bound", () => {
  const row = (i: number): CallRecord => ({
    request_id: `req-${i}`, ts: Date.now(), key_id: "k", team_id: null, requested_model: "gemini/gemini-2.5-flash", provider: "gemini",
    model: "gemini-2.5-flash", action: "generateContent", stream: false, status: 200, outcome: "ok", error: null, attempts: [],
    fallback_index: 0, tokens: { input: 1, output: 1, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0, latency_ms: 5, ttfb_ms: 5,
  });

  it("the call that fills a batch does not encode or send it on its own path: the export waits for the next turn", async () => {
    const exporter = new SpanExporter(getConfig({ ...env, ...VARS } as typeof env).traces!);
    const { exports } = outbound(() => new Response(null, { status: 500 }));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 512; i++) exporter.queue.push({ row: row(i) });
    exporter.add({ row: row(512) }, env.DB, (p) => pending.push(p));
    // Synchronously after add (as the call goes on to hand back its answer): nothing taken, built or sent.
    expect(exporter.queue).toHaveLength(513);
    expect(exporter.queue.every((t) => t.span === undefined)).toBe(true);
    expect(exports).toHaveLength(0);
    await Promise.all(pending);
    expect(exports.length).toBeGreaterThan(0);
  });

  it("10,000 calls' spans while the collector is down: at most MAX_QUEUE wait in memory, the oldest dropped first and counted, the rest parked", async () => {
    const settings = getConfig({ ...env, ...VARS, OTEL_EXPORTER_OTLP_TIMEOUT: "100" } as typeof env).traces!;
    const exporter = new SpanExporter(settings);
    exporter.gatherMs = 0;
    exporter.leaderMs = 600; // one try: the leader does not wait out its backoff (1 s)
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { exports } = outbound(() => new Response(null, { status: 500 }), () => Promise.reject(new TypeError("connection refused")));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 10_000; i++) exporter.add({ row: row(i) }, env.DB, (p) => pending.push(p));
    // One leader for all of them.
    expect(pending).toHaveLength(1);
    expect(exporter.queue).toHaveLength(exporter.maxQueue);
    expect(exporter.maxQueue).toBe(2_048);
    expect(exporter.queue[0]!.row.request_id).toBe(`req-${10_000 - 2_048}`);
    expect(exporter.queue.at(-1)!.row.request_id).toBe("req-9999");
    await Promise.all(pending);
    expect(exports.length).toBeGreaterThan(0);
    // The failed batch went back to the front, and with no time for another try the newest 2,048 went to the
    // outbox (four batches): nothing more dropped, nothing left in memory.
    expect(exporter.queue).toHaveLength(0);
    expect(exporter.stats.parked).toBe(2_048);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n, SUM(spans) AS spans FROM trace_outbox").first()).toEqual({ n: 4, spans: 2_048 });
    expect(exporter.stats.dropped).toEqual({ backlog: 10_000 - 2_048, rejected: 0, outbox: 0 });
    expect(await dropsIn()).toEqual({ backlog: 10_000 - 2_048 });
    // A batch is at most MAX_BATCH spans.
    expect(decode(exports[0]!.body).spans).toHaveLength(512);
  });
});

describe("the queue's bound in bytes", () => {
  it("captured content counts: 100 calls with 1 MB answers keep about 16 MB, the oldest dropped", async () => {
    const settings = getConfig({ ...env, ...VARS, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" } as typeof env).traces!;
    const exporter = new SpanExporter(settings);
    exporter.gatherMs = 0;
    const big = "y".repeat(512 * 1024); // 1 MB as UTF-16
    const pending: Promise<unknown>[] = [];
    const row = (i: number) => ({ request_id: `big-${i}` }) as CallRecord;
    for (let i = 0; i < 100; i++) exporter.add({ row: row(i), output: big }, env.DB, (p) => pending.push(p));
    expect(exporter.queue.length).toBeGreaterThanOrEqual(14);
    expect(exporter.queue.length).toBeLessThanOrEqual(16);
    expect(exporter.queue.at(-1)!.row.request_id).toBe("big-99");
    expect(exporter.stats.dropped.backlog).toBe(100 - exporter.queue.length);
    // Taken away before the leader's first turn: nothing is sent, and its run ends by counting the drops.
    exporter.queue.length = 0;
    const { exports } = outbound(() => new Response(null, { status: 500 }));
    await Promise.all(pending);
    expect(exports).toEqual([]);
    expect(await dropsIn()).toEqual({ backlog: exporter.stats.dropped.backlog });
  });
});

describe("tracing off", () => {
  it("no OTEL_EXPORTER_OTLP_ENDPOINT: no traces hook; with no other hook configured the call takes the plain path", () => {
    // No other feature that configures a hook (the response cache off, no LOG_BUCKET, no GUARDRAILS).
    const bare = { ...env, RESPONSE_CACHE: "off", LOG_BUCKET: undefined } as typeof env;
    const off = getConfig(bare);
    expect(off.traces).toBeUndefined();
    expect(hooksFor(off)).toHaveLength(0);
    const on = getConfig({ ...bare, ...VARS } as typeof env);
    expect(hooksFor(on).map((h) => h.name)).toEqual(["traces"]);
    // First of the configured hooks.
    expect(hooksFor(getConfig({ ...env, ...VARS } as typeof env)).map((h) => h.name)).toEqual(["traces", "log-bodies", "log-bodies-request", "response-cache"]);
  });

  it("a call with tracing off sends nothing anywhere but its upstream", async () => {
    const k = await createKey({ name: "traces-off" });
    const { exports, others } = outbound(() => Response.json(answer()));
    const { res } = await call({ env }, "gemini/gemini-2.5-flash", "generateContent", textRequest("hi"), k.key, { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(res.status).toBe(200);
    expect(exports).toEqual([]);
    expect(others).toEqual([]);
  });
});

describe("a Live session", () => {
  const LIVE = "/genai/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent";

  it("is one span once its socket closes: the session's model and tokens, how and by whom it closed; content never captured there", async () => {
    const k = await createKey({ name: "traces-live" });
    const t = traced({ OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT: "true" });
    const exports: Export[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const req = new Request(input as RequestInfo, init);
      if (req.url.startsWith(COLLECTOR)) {
        exports.push({ url: req.url, redirect: req.redirect, headers: req.headers, body: new Uint8Array(await req.arrayBuffer()), signal: req.signal });
        return new Response(null, { status: 200 });
      }
      // The upstream's Live socket: setupComplete, then one turn with its usage.
      const pair = new WebSocketPair();
      pair[1].accept();
      pair[1].addEventListener("message", (e) => {
        if (typeof e.data !== "string" || !e.data.includes('"setup"')) return;
        pair[1].send(JSON.stringify({ setupComplete: {} }));
        pair[1].send(JSON.stringify({
          serverContent: { modelTurn: { parts: [{ text: "a secret answer" }] }, turnComplete: true },
          usageMetadata: { promptTokenCount: 12, responseTokenCount: 4, totalTokenCount: 16 },
        }));
      });
      return new Response(null, { status: 101, webSocket: pair[0] });
    });
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`https://gw.test${LIVE}`, { headers: { upgrade: "websocket", "x-goog-api-key": k.key } }), t.env, ctx);
    expect(res.status).toBe(101);
    const requestId = res.headers.get("x-edgeway-request-id");
    const ws = res.webSocket!;
    const frames: string[] = [];
    ws.addEventListener("message", (e) => frames.push(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)));
    ws.accept();
    ws.send(JSON.stringify({ setup: { model: "models/gemini-2.0-flash-live-001" } }));
    ws.send(JSON.stringify({ clientContent: { turns: [{ role: "user", parts: [{ text: "a secret prompt" }] }], turnComplete: true } }));
    await vi.waitFor(() => expect(frames.some((f) => f.includes("turnComplete"))).toBe(true));
    expect(exports).toHaveLength(0); // nothing until the session ends
    ws.close(1000, "done");
    await vi.waitFor(() => expect(exports).toHaveLength(1), { timeout: 10_000 });
    const raw = new TextDecoder().decode(exports[0]!.body);
    expect(raw).not.toContain("a secret prompt");
    expect(raw).not.toContain("a secret answer");
    const spans = decode(exports[0]!.body).spans;
    expect(spans).toHaveLength(1);
    const s = spans[0]!;
    expect(s.attrs).toMatchObject({
      "edgeway.request_id": requestId,
      "edgeway.key.id": k.id,
      "gen_ai.request.model": expect.stringContaining("gemini-2.0-flash-live-001"),
      "gen_ai.usage.input_tokens": 12,
      "gen_ai.usage.output_tokens": 4,
      "edgeway.outcome": "ok",
      "edgeway.live.close_code": 1000,
      "edgeway.live.closed_by": "client",
    });
    expect(s.attrs["gen_ai.input.messages"]).toBeUndefined();
    expect(s.end).toBeGreaterThan(s.start);
  });
});
