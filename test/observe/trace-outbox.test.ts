/**
 * The trace outbox (src/observe/traces/outbox.ts): batches a leader could not deliver in its window are parked in
 * D1 and delivered by the cron (the Worker's scheduled handler, as the runtime calls it) once the collector is
 * back: the same span ids, read with the official OpenTelemetry decoders. The hostile versions: a collector down
 * for the leader's whole window and for several cron runs, one that redirects or answers 400 (dropped and counted,
 * never retried), one that hangs or answers slowly (a cron run stays within its budget), two cron runs at once (each
 * batch sent once), and an outbox past its bounds (the oldest dropped, counted in /admin/metrics).
 */
import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from "cloudflare:test";
import root from "@opentelemetry/otlp-transformer/build/esm/generated/root.js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { getConfig } from "../../src/config";
import { SpanExporter } from "../../src/observe/traces/exporter";
import { tracesCron } from "../../src/observe/traces/outbox";
import type { CallRecord } from "../../src/usage/row";
import { admin, hang, type UpstreamCall } from "../helpers/worker";

vi.setConfig({ testTimeout: 60_000 });

const ExportRequest = (root as any).opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const COLLECTOR = "https://collector.test/otlp";
const OTLP_KEY = "otlp-secret-key-0123456789abcdef";
/** One env object: one config, so the cron reads the same settings the exporter used. */
const E = {
  ...env,
  OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR,
  OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${OTLP_KEY}`,
  OTEL_EXPORTER_OTLP_TIMEOUT: "100",
} as typeof env;

afterEach(() => vi.restoreAllMocks());
beforeEach(async () => {
  await env.DB.batch([env.DB.prepare("DELETE FROM trace_drops"), env.DB.prepare("DELETE FROM trace_outbox")]);
  vi.spyOn(console, "error").mockImplementation(() => {});
});

type Export = { redirect: string; headers: Headers; body: Uint8Array; signal: AbortSignal };

/** Collector exports recorded and answered by `answer` (which may change during a test); other fetches listed. */
function collector(answer: (e: Export, n: number) => Response | Promise<Response>) {
  const exports: Export[] = [];
  const others: string[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    if (!req.url.startsWith(COLLECTOR)) {
      others.push(req.url);
      return new Response(null, { status: 404 });
    }
    const e = { redirect: init?.redirect ?? req.redirect, headers: req.headers, body: new Uint8Array(await req.arrayBuffer()), signal: req.signal };
    exports.push(e);
    return answer(e, exports.length);
  });
  return { exports, others };
}

/** The official decoder's reading of an export: each span's id and request id. */
function spansOf(body: Uint8Array): { spanId: string; requestId: string }[] {
  const o = ExportRequest.toObject(ExportRequest.decode(body), { longs: String, enums: Number, bytes: Array });
  return o.resourceSpans[0].scopeSpans[0].spans.map((s: any) => ({
    spanId: [...s.spanId].map((x: number) => x.toString(16).padStart(2, "0")).join(""),
    requestId: s.attributes.find((a: any) => a.key === "edgeway.request_id").value.stringValue,
  }));
}

const row = (i: number): CallRecord => ({
  request_id: `req-${i}`, ts: Date.now(), key_id: "k", team_id: null, requested_model: "gemini/gemini-2.5-flash", provider: "gemini",
  model: "gemini-2.5-flash", action: "generateContent", stream: false, status: 200, outcome: "ok", error: null, attempts: [],
  fallback_index: 0, tokens: { input: 1, output: 1, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0, latency_ms: 5, ttfb_ms: 5,
});

/** An exporter whose leader has time for one try only (its window shorter than the first backoff). */
function exporter(tune: (x: SpanExporter) => void = () => {}) {
  const x = new SpanExporter(getConfig(E).traces!);
  x.gatherMs = 0;
  x.leaderMs = 600;
  tune(x);
  return x;
}

/** Queues spans req-{from}..req-{to-1} and waits for the leader's run. */
async function lead(x: SpanExporter, from: number, to: number) {
  const pending: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) x.add({ row: row(i) }, E.DB, (p) => pending.push(p));
  await Promise.all(pending);
}

async function cron() {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController(), E, ctx);
  await waitOnExecutionContext(ctx);
}

const outbox = async () =>
  (await env.DB.prepare("SELECT id, attempts, next_at, spans, bytes, content_type FROM trace_outbox ORDER BY id").all<{ id: number; attempts: number; next_at: number; spans: number; bytes: number; content_type: string }>()).results;
const drops = async () => Object.fromEntries((await env.DB.prepare("SELECT reason, count FROM trace_drops").all<{ reason: string; count: number }>()).results.map((r) => [r.reason, r.count]));
/** Makes every parked row due now (as if its backoff had passed). */
const due = () => env.DB.prepare("UPDATE trace_outbox SET next_at = 0").run();

describe("a collector down for the leader's whole window", () => {
  it("the batch is parked in D1; cron runs while it is down keep it (backing off); once it is back the cron delivers it, the same span ids, and deletes it", async () => {
    let up = false;
    const { exports } = collector(() => new Response(null, { status: up ? 200 : 503 }));
    const x = exporter();
    await lead(x, 0, 3);
    expect(exports).toHaveLength(1);
    const first = spansOf(exports[0]!.body);
    expect(first.map((s) => s.requestId)).toEqual(["req-0", "req-1", "req-2"]);
    expect(x.queue).toHaveLength(0);
    expect(x.stats).toMatchObject({ exported: 0, parked: 3, dropped: { backlog: 0, rejected: 0, outbox: 0 } });
    const [parked] = await outbox();
    expect(parked).toMatchObject({ spans: 3, attempts: 0, content_type: "application/x-protobuf" });

    // The cron while the collector is still down: one try, the row kept with its attempt counted and a backoff.
    const before = Date.now();
    await cron();
    expect(exports).toHaveLength(2);
    const [kept] = await outbox();
    expect(kept).toMatchObject({ id: parked!.id, attempts: 1, spans: 3 });
    expect(kept!.next_at).toBeGreaterThanOrEqual(before + 30_000);
    // Not due yet: the next cron leaves it alone.
    await cron();
    expect(exports).toHaveLength(2);

    // The collector is back and the backoff over: the cron delivers the same bytes, with the export's headers.
    up = true;
    await due();
    await cron();
    expect(exports).toHaveLength(3);
    const delivered = exports[2]!;
    expect(delivered.redirect).toBe("manual");
    expect(delivered.headers.get("x-api-key")).toBe(OTLP_KEY);
    expect(delivered.headers.get("content-type")).toBe("application/x-protobuf");
    expect(spansOf(delivered.body)).toEqual(first);
    expect(delivered.body).toEqual(exports[0]!.body);
    expect(await outbox()).toEqual([]);
    expect(await drops()).toEqual({});
    // Delivered once: later runs send nothing.
    await cron();
    expect(exports).toHaveLength(3);
  });

  it("OTLP/JSON parks as JSON and is delivered as JSON", async () => {
    let up = false;
    const { exports } = collector(() => (up ? new Response(null, { status: 200 }) : Promise.reject(new TypeError("connection refused"))));
    const json = { ...E, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" } as typeof env;
    const x = new SpanExporter(getConfig(json).traces!);
    x.gatherMs = 0;
    x.leaderMs = 600;
    const pending: Promise<unknown>[] = [];
    x.add({ row: row(7) }, env.DB, (p) => pending.push(p));
    await Promise.all(pending);
    expect((await outbox())[0]).toMatchObject({ content_type: "application/json", spans: 1 });
    up = true;
    const run = await tracesCron(json);
    expect(run).toMatchObject({ delivered: 1, spans: 1 });
    const last = exports.at(-1)!;
    expect(last.headers.get("content-type")).toBe("application/json");
    const o = JSON.parse(new TextDecoder().decode(last.body));
    expect(o.resourceSpans[0].scopeSpans[0].spans[0].spanId).toBe(JSON.parse(new TextDecoder().decode(exports[0]!.body)).resourceSpans[0].scopeSpans[0].spans[0].spanId);
  });

  it("a big batch is split to fit D1's row size, every span parked once; a span that fits no row is dropped and counted", async () => {
    collector(() => new Response(null, { status: 503 }));
    const x = exporter((x) => (x.maxRowBytes = 1_000)); // a span is about 650 bytes here: one a row
    await lead(x, 0, 7);
    const rows = await outbox();
    expect(rows.map((r) => r.spans)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(rows.every((r) => r.bytes <= 1_000)).toBe(true);
    expect(x.stats.parked).toBe(7);
    x.maxRowBytes = 100;
    await lead(x, 7, 9);
    expect(await outbox()).toHaveLength(7);
    expect(x.stats.dropped.outbox).toBe(2);
    expect(await drops()).toEqual({ outbox: 2 });
  });
});

describe("leaders and the outbox", () => {
  it("another isolate's leader, its own export taken, delivers what was parked (the same spans), then its own spans queued meanwhile", async () => {
    let up = false;
    const { exports } = collector(() => new Response(null, { status: up ? 200 : 503 }));
    await lead(exporter(), 0, 2);
    const parked = spansOf(exports[0]!.body);
    expect((await outbox()).map((r) => r.spans)).toEqual([2]);
    up = true;
    // A fresh exporter: another isolate, which never parked anything and has not looked at the outbox yet.
    const other = exporter((x) => (x.leaderMs = 28_000));
    await lead(other, 10, 11);
    const sent = exports.slice(1).map((e) => spansOf(e.body));
    expect(sent).toEqual([[expect.objectContaining({ requestId: "req-10" })], parked]);
    expect(other.stats).toMatchObject({ exported: 1, fromOutbox: 2, parked: 0 });
    expect(await outbox()).toEqual([]);
    // It looks again only after a minute: the next leader's run makes no outbox query.
    const prepare = vi.spyOn(env.DB, "prepare");
    await lead(other, 11, 12);
    expect(prepare.mock.calls.filter(([q]) => q.includes("trace_outbox"))).toEqual([]);
  });

  it("while the collector fails, what waits beyond the batch being retried is parked before each backoff, not kept in memory", async () => {
    const { exports } = collector(() => Promise.reject(new TypeError("connection refused")));
    // Time for one backoff (1 s) and a second try, not for the second backoff (2 s).
    const x = exporter((x) => {
      x.maxBatch = 2;
      x.leaderMs = 2_500;
    });
    await lead(x, 0, 6);
    expect(exports.map((e) => spansOf(e.body).map((s) => s.requestId))).toEqual([["req-0", "req-1"], ["req-0", "req-1"]]);
    const rows = await env.DB.prepare("SELECT spans, payload FROM trace_outbox ORDER BY id").all<{ spans: number; payload: number[] | ArrayBuffer }>();
    const parkedIds = rows.results.map((r) => spansOf(r.payload instanceof ArrayBuffer ? new Uint8Array(r.payload) : Uint8Array.from(r.payload)).map((s) => s.requestId));
    // req-2..req-5 before the first backoff (two rows), req-0 and req-1 when the window ran out.
    expect(parkedIds).toEqual([["req-2", "req-3"], ["req-4", "req-5"], ["req-0", "req-1"]]);
    expect(x.queue).toHaveLength(0);
    expect(x.stats.dropped).toEqual({ backlog: 0, rejected: 0, outbox: 0 });
  });
});

describe("the outbox's bound", () => {
  it("past its rows or bytes, the oldest batches are dropped and counted as `outbox`, shown in /admin/metrics", async () => {
    const { exports } = collector(() => Promise.reject(new TypeError("connection refused")));
    const x = exporter((x) => {
      x.maxBatch = 2;
      x.outboxLimits = { maxRows: 2, maxBytes: 64 * 1024 * 1024, maxAgeMs: 86_400_000 };
    });
    await lead(x, 0, 6);
    // Three batches of two parked, the oldest dropped: req-2..req-5 are kept.
    let rows = await outbox();
    expect(rows.map((r) => r.spans)).toEqual([2, 2]);
    expect(await drops()).toEqual({ outbox: 2 });
    // By bytes: room for about one batch.
    x.outboxLimits = { maxRows: 100, maxBytes: rows[1]!.bytes + 100, maxAgeMs: 86_400_000 };
    await lead(x, 6, 8);
    rows = await outbox();
    expect(rows.map((r) => r.spans)).toEqual([2]);
    expect(await drops()).toEqual({ outbox: 6 });
    const metrics = await (await admin("/metrics")).text();
    expect(metrics).toContain('edgeway_trace_spans_dropped_total{reason="outbox"} 6');
    // What is kept is the newest.
    exports.length = 0;
    vi.restoreAllMocks();
    const back = collector(() => new Response(null, { status: 200 }));
    await due();
    await cron();
    expect(back.exports.flatMap((e) => spansOf(e.body)).map((s) => s.requestId)).toEqual(["req-6", "req-7"]);
  });

  it("a batch older than the age bound is dropped by the cron and counted, not sent", async () => {
    collector(() => new Response(null, { status: 503 }));
    await lead(exporter(), 0, 2);
    await env.DB.prepare("UPDATE trace_outbox SET created = created - 2 * 86400000, next_at = 0").run();
    vi.restoreAllMocks();
    const { exports } = collector(() => new Response(null, { status: 200 }));
    await cron();
    expect(exports).toEqual([]);
    expect(await outbox()).toEqual([]);
    expect(await drops()).toEqual({ outbox: 2 });
  });
});

describe("a collector that refuses a parked batch", () => {
  for (const [what, answer] of [
    ["redirects", () => new Response(null, { status: 307, headers: { location: "https://evil.test/steal" } })],
    ["answers 400", () => new Response("bad", { status: 400 })],
  ] as const) {
    it(`${what}: dropped and counted as rejected, never retried, the Location never fetched`, async () => {
      collector(() => new Response(null, { status: 503 }));
      await lead(exporter(), 0, 3);
      expect((await outbox()).map((r) => r.spans)).toEqual([3]);
      vi.restoreAllMocks();
      const { exports, others } = collector(answer);
      await cron();
      expect(exports).toHaveLength(1);
      expect(exports[0]!.redirect).toBe("manual");
      expect(others.filter((u) => u.includes("evil.test"))).toEqual([]);
      expect(await outbox()).toEqual([]);
      expect(await drops()).toEqual({ rejected: 3 });
      await cron();
      expect(exports).toHaveLength(1);
    });
  }
});

describe("a cron run is bounded", () => {
  it("a hanging collector: one export tried, given up at the timeout, the run ends; every batch kept", async () => {
    collector(() => new Response(null, { status: 503 }));
    const x = exporter((x) => (x.maxBatch = 1));
    await lead(x, 0, 5);
    expect(await outbox()).toHaveLength(5);
    vi.restoreAllMocks();
    const { exports } = collector((e) => hang({ signal: e.signal } as UpstreamCall));
    const run = await tracesCron(E);
    expect(exports).toHaveLength(1);
    expect(exports[0]!.signal.aborted).toBe(true);
    expect(run).toMatchObject({ delivered: 0, failed: "no answer within 100 ms" });
    const rows = await outbox();
    expect(rows).toHaveLength(5);
    expect(rows.map((r) => r.attempts)).toEqual([1, 0, 0, 0, 0]);
  });

  it("a 429 with a Retry-After of days: honoured only up to 10 minutes, the batch kept", async () => {
    collector(() => new Response(null, { status: 503 }));
    await lead(exporter(), 0, 1);
    vi.restoreAllMocks();
    const { exports } = collector(() => new Response(null, { status: 429, headers: { "retry-after": "999999" } }));
    const before = Date.now();
    expect(await tracesCron(E)).toMatchObject({ delivered: 0, failed: "collector answered 429" });
    expect(exports).toHaveLength(1);
    const [row] = await outbox();
    expect(row!.attempts).toBe(1);
    expect(row!.next_at).toBeGreaterThanOrEqual(before + 30_000);
    expect(row!.next_at).toBeLessThanOrEqual(Date.now() + 600_000);
  });

  it("a slow collector: the run starts no export that could end past its budget, the rest waits for the next run", async () => {
    collector(() => new Response(null, { status: 503 }));
    await lead(exporter((x) => (x.maxBatch = 1)), 0, 10);
    vi.restoreAllMocks();
    // Each answer takes at least 80 ms; with a 400 ms budget and a 100 ms timeout, no export starts after 300 ms.
    const { exports } = collector(() => new Promise((r) => setTimeout(() => r(new Response(null, { status: 200 })), 80)));
    await due();
    const run = await tracesCron(E, { budgetMs: 400 });
    expect(exports.length).toBeGreaterThanOrEqual(1);
    expect(exports.length).toBeLessThanOrEqual(4);
    expect(run!.delivered).toBe(exports.length);
    expect(await outbox()).toHaveLength(10 - exports.length);
  });

  it("two cron runs at once: each parked batch is sent once", async () => {
    collector(() => new Response(null, { status: 503 }));
    await lead(exporter((x) => (x.maxBatch = 1)), 0, 6);
    vi.restoreAllMocks();
    const { exports } = collector(() => new Promise((r) => setTimeout(() => r(new Response(null, { status: 200 })), 20)));
    await due();
    const runs = await Promise.all([tracesCron(E), tracesCron(E)]);
    expect(runs.reduce((n, r) => n + r!.delivered, 0)).toBe(6);
    const ids = exports.flatMap((e) => spansOf(e.body)).map((s) => s.requestId).sort();
    expect(ids).toEqual(["req-0", "req-1", "req-2", "req-3", "req-4", "req-5"]);
    expect(await outbox()).toEqual([]);
  });

  it("traces off: the cron reads nothing", async () => {
    const prepare = vi.spyOn(env.DB, "prepare");
    expect(await tracesCron(env)).toBeUndefined();
    expect(prepare).not.toHaveBeenCalled();
  });
});
