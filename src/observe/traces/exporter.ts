/**
 * The isolate's span exporter: calls' traces wait in a bounded queue in this isolate's memory and go to the
 * collector in batches, from a request's waitUntil after its response, never from a call's own path.
 *
 * Like the usage hand-off (src/usage/sink.ts), one request at a time leads: the first call that finds no leader
 * gathers for GATHER_MS (unless a full batch waits), posts up to MAX_BATCH spans, and goes on while spans are
 * waiting; the other calls only add to the queue. A batch the collector could not take for now (no answer within
 * the timeout, a network error, 429, 502, 503, 504: OTLP's retryable answers) goes back to the front of the queue
 * and is sent again after a backoff (1 s doubling to MAX_BACKOFF_MS, or the collector's Retry-After), the same spans
 * under the same ids: at least once. Any other answer (a 4xx, a 500, a redirect, which is never followed) rejects the
 * batch for good: its spans are dropped and counted as `rejected`. A leader stops starting exports once LEADER_MS has
 * gone (a Worker's waitUntil ends 30 s after the response); what is left waits for the next call's leader.
 *
 * Bounded: at most MAX_QUEUE spans and about MAX_QUEUE_BYTES wait (captured content counts); when a new span finds
 * the queue full the oldest are dropped (counted as `backlog`): during an outage the newest calls are the ones kept. Drops are added to D1's `trace_drops` at the end
 * of a leader's run, and `/admin/metrics` shows them as `edgeway_trace_spans_dropped_total{reason}`.
 *
 * Not durable: spans live in one isolate's memory, so those still queued when the runtime ends the isolate are lost
 * without a count (docs/observability.md, "Traces", says when that happens and why it is so).
 */
import { waits } from "../../lib/sleep";
import { encodeJson, encodeProtobuf, type Scope } from "./otlp";
import { spanOf, type CallTrace } from "./span";
import type { TraceSettings } from "./settings";

export const MAX_QUEUE = 2_048;
/** What the queue may hold, estimated: a row is about 1 KB; captured content counts 2 bytes a character. */
export const MAX_QUEUE_BYTES = 16 * 1024 * 1024;
const ROW_BYTES = 1_024;
export const MAX_BATCH = 512;
const GATHER_MS = 1_000;
const FIRST_BACKOFF_MS = 1_000;
export const MAX_BACKOFF_MS = 15_000;
/** A leader starts no export after this long (plus its timeout, it stays within a Worker's 30 s of waitUntil). */
const LEADER_MS = 28_000;
/** The longest one export may take, whatever OTEL_EXPORTER_OTLP_TIMEOUT says: a leader must be able to start one. */
export const MAX_TIMEOUT_MS = 20_000;

export type DropReason = "backlog" | "rejected";

export interface ExporterStats {
  exported: number;
  batches: number;
  dropped: Record<DropReason, number>;
}

export class SpanExporter {
  /** Limits, per instance so the tests can make them small. */
  maxQueue = MAX_QUEUE;
  maxQueueBytes = MAX_QUEUE_BYTES;
  maxBatch = MAX_BATCH;
  gatherMs = GATHER_MS;
  maxBackoffMs = MAX_BACKOFF_MS;
  leaderMs = LEADER_MS;

  readonly queue: CallTrace[] = [];
  readonly stats: ExporterStats = { exported: 0, batches: 0, dropped: { backlog: 0, rejected: 0 } };
  /** Drops not yet added to D1. */
  private readonly unreported: Record<DropReason, number> = { backlog: 0, rejected: 0 };
  /** The queue's estimated size (`sizeOf`). */
  private queuedBytes = 0;
  private leading = false;
  private failures = 0;
  private retryAt = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly scope: Scope;
  private readonly origin: string;
  private readonly timeoutMs: number;

  constructor(private readonly settings: TraceSettings, version = "1") {
    this.scope = { serviceName: settings.serviceName, scopeName: "edgeway", scopeVersion: version };
    this.origin = new URL(settings.url).origin;
    this.timeoutMs = Math.min(settings.timeoutMs, MAX_TIMEOUT_MS);
  }

  /** Queues a finished call's trace; the first call with no leader in flight leads (in its waitUntil). */
  add(t: CallTrace, db: D1Database, waitUntil: (p: Promise<unknown>) => void): void {
    this.queue.push(t);
    this.queuedBytes += sizeOf(t);
    this.trim();
    if (this.leading) return;
    this.leading = true;
    const p = this.lead(db).finally(() => {
      this.leading = false;
      this.inFlight.delete(p);
    });
    this.inFlight.add(p);
    waitUntil(p);
  }

  /** Resolves once no leader is in flight (tests; nothing waits on it in production). */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Drops the oldest spans while the queue is over either bound. */
  private trim(): void {
    let n = 0;
    while (this.queue.length > this.maxQueue || (this.queuedBytes > this.maxQueueBytes && this.queue.length > 1)) {
      this.queuedBytes -= sizeOf(this.queue.shift()!);
      n++;
    }
    if (n) this.drop("backlog", n);
  }

  private drop(reason: DropReason, n: number): void {
    this.stats.dropped[reason] += n;
    this.unreported[reason] += n;
  }

  private async lead(db: D1Database): Promise<void> {
    const began = Date.now();
    let failed: string | undefined;
    try {
      for (let first = true; this.queue.length; first = false) {
        // Always a turn of the event loop first: the leader is the call that just queued its span, whose answer may
        // not have left yet (a JSON answer's row is recorded before its Response is handed back).
        if (first) await waits.sleep(this.queue.length < this.maxBatch ? this.gatherMs : 0);
        if (!this.queue.length) break;
        const wait = this.retryAt - Date.now();
        // Waiting out a backoff, or starting one more export, must end within the leader's time.
        if (Date.now() + Math.max(0, wait) + this.timeoutMs - began > this.leaderMs) break;
        if (wait > 0) await waits.sleep(wait);
        const batch = this.queue.splice(0, this.maxBatch);
        for (const t of batch) this.queuedBytes -= sizeOf(t);
        const r = await this.post(batch);
        if (r.ok) {
          this.failures = 0;
          this.stats.exported += batch.length;
          this.stats.batches++;
          continue;
        }
        failed = r.error;
        if (r.retryAfterMs === undefined) {
          this.drop("rejected", batch.length);
          continue;
        }
        // Back to the front, the oldest dropped if the queue has filled meanwhile.
        this.queue.unshift(...batch);
        for (const t of batch) this.queuedBytes += sizeOf(t);
        this.trim();
        this.failures++;
        const backoff = Math.min(FIRST_BACKOFF_MS * 2 ** (this.failures - 1), this.maxBackoffMs);
        this.retryAt = Date.now() + Math.min(Math.max(backoff, r.retryAfterMs), this.maxBackoffMs);
      }
    } finally {
      // One line per leader, naming the collector's origin only (its path or query may hold a token).
      if (failed) console.error(`traces: export to ${this.origin} failed: ${failed}; ${this.queue.length} spans waiting, ${this.stats.dropped.backlog + this.stats.dropped.rejected} dropped so far`);
      await this.reportDrops(db);
    }
  }

  /** One POST of a batch; never throws. `retryAfterMs` set: worth another try (0: after the usual backoff). */
  private async post(batch: CallTrace[]): Promise<{ ok: true } | { ok: false; error: string; retryAfterMs?: number }> {
    const s = this.settings;
    let body: Uint8Array | string;
    try {
      // Built once: a batch sent again carries the same span ids.
      const spans = batch.map((t) => (t.span ??= spanOf(t, s.redact)));
      body = s.json ? encodeJson(this.scope, spans) : encodeProtobuf(this.scope, spans);
    } catch (e) {
      return { ok: false, error: `spans not encoded (${String(e).slice(0, 200)})` };
    }
    const headers = { ...s.headers, "content-type": s.json ? "application/json" : "application/x-protobuf" };
    try {
      const res = await fetch(s.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(this.timeoutMs) });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true };
      if (res.status >= 300 && res.status < 400) return { ok: false, error: `collector redirected (${res.status}), not followed` };
      if ([429, 502, 503, 504].includes(res.status)) {
        return { ok: false, error: `collector answered ${res.status}`, retryAfterMs: retryAfter(res.headers.get("retry-after")) };
      }
      return { ok: false, error: `collector answered ${res.status}` };
    } catch (e) {
      const name = (e as Error)?.name;
      const error = name === "TimeoutError" || name === "AbortError" ? `no answer within ${this.timeoutMs} ms` : "collector unreachable";
      return { ok: false, error, retryAfterMs: 0 };
    }
  }

  /** Adds the drops not yet counted to D1; kept for the next leader when D1 does not take them. */
  private async reportDrops(db: D1Database): Promise<void> {
    const reasons = (Object.keys(this.unreported) as DropReason[]).filter((k) => this.unreported[k] > 0);
    if (!reasons.length) return;
    const counts = reasons.map((k) => [k, this.unreported[k]] as const);
    for (const [k, n] of counts) this.unreported[k] -= n;
    try {
      await db.batch(counts.map(([k, n]) =>
        db.prepare("INSERT INTO trace_drops (reason, count) VALUES (?1, ?2) ON CONFLICT (reason) DO UPDATE SET count = count + ?2").bind(k, n)));
    } catch (e) {
      for (const [k, n] of counts) this.unreported[k] += n;
      console.error(`traces: drop counts not stored (${String(e).slice(0, 200)})`);
    }
  }
}

/** A queued call's estimated size in memory. */
const sizeOf = (t: CallTrace) => ROW_BYTES + 2 * ((t.input?.length ?? 0) + (t.system?.length ?? 0) + (t.output?.length ?? t.answer?.chars ?? 0));

/** Retry-After in seconds (a date is taken as no hint). */
function retryAfter(v: string | null): number {
  const n = Number(v);
  return v && Number.isFinite(n) && n >= 0 ? n * 1000 : 0;
}

const exporters = new WeakMap<TraceSettings, SpanExporter>();

/** The isolate's exporter for these settings (one per config, which is one per isolate). */
export function exporterFor(settings: TraceSettings): SpanExporter {
  let e = exporters.get(settings);
  if (!e) exporters.set(settings, (e = new SpanExporter(settings)));
  return e;
}
