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
 * gone (a Worker's waitUntil ends 30 s after the response).
 *
 * Durable past the leader's window: whatever the leader cannot deliver in it (the collector still failing when its
 * time runs out, or spans still queued then) is encoded once and parked in D1 (src/observe/traces/outbox.ts), and
 * while the collector fails the queue beyond the batch being retried is parked before each backoff, so an outage
 * fills D1, bounded, rather than the isolate's memory. The cron delivers parked batches, and so does a leader whose
 * export has just succeeded (at once if this isolate parked some, else at most once a minute).
 *
 * Bounded: at most MAX_QUEUE spans and about MAX_QUEUE_BYTES wait in memory (captured content counts); when a new
 * span finds the queue full the oldest are dropped (counted as `backlog`): during an outage the newest calls are the
 * ones kept. A batch D1 would not take is dropped as `outbox`. Drops are added to D1's `trace_drops` at the end of a
 * leader's run, and `/admin/metrics` shows them as `edgeway_trace_spans_dropped_total{reason}`.
 *
 * What can still be lost without a count: spans queued when the runtime ends the isolate before a leader has sent or
 * parked them (docs/observability.md, "Traces", says when that happens).
 */
import { waits } from "../../lib/sleep";
import { encodeJson, encodeProtobuf, type Scope } from "./otlp";
import { MAX_ROW_BYTES, deliverParked, OUTBOX_LIMITS, park, type Parcel } from "./outbox";
import { contentTypeOf, postOtlp, type PostResult } from "./post";
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

export type DropReason = "backlog" | "rejected" | "outbox";

/** How often, at most, a healthy leader looks for batches other isolates parked. */
const OUTBOX_CHECK_MS = 60_000;
/** Parked batches a leader delivers at most, after its own exports. */
const LEADER_OUTBOX_ROWS = 16;
/** Parking the rest may take this long past LEADER_MS (a D1 write; waitUntil's 30 s leave room). */
const PARK_GRACE_MS = 1_000;

export interface ExporterStats {
  exported: number;
  batches: number;
  /** Spans this isolate parked in the outbox, and parked spans its leaders delivered. */
  parked: number;
  fromOutbox: number;
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
  maxRowBytes = MAX_ROW_BYTES;
  outboxLimits = OUTBOX_LIMITS;

  readonly queue: CallTrace[] = [];
  readonly stats: ExporterStats = { exported: 0, batches: 0, parked: 0, fromOutbox: 0, dropped: { backlog: 0, rejected: 0, outbox: 0 } };
  /** Drops not yet added to D1. */
  private readonly unreported: Record<DropReason, number> = { backlog: 0, rejected: 0, outbox: 0 };
  /** The queue's estimated size (`sizeOf`). */
  private queuedBytes = 0;
  private leading = false;
  private failures = 0;
  private retryAt = 0;
  /** When a healthy leader next looks at the outbox (0: at once, this isolate parked something). */
  private outboxAt = 0;
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

  /** Takes spans off the queue (from `start`, at most `n`). */
  private take(start: number, n = Infinity): CallTrace[] {
    const out = this.queue.splice(start, n);
    for (const t of out) this.queuedBytes -= sizeOf(t);
    return out;
  }

  private async lead(db: D1Database): Promise<void> {
    const began = Date.now();
    let failed: string | undefined;
    try {
      // Always a turn of the event loop first: the leader is the call that just queued its span, whose answer may
      // not have left yet (a JSON answer's row is recorded before its Response is handed back).
      await waits.sleep(this.queue.length < this.maxBatch ? this.gatherMs : 0);
      for (;;) {
        const r = await this.sendQueue(db, began);
        failed = r.failed ?? failed;
        // The collector just took a batch: parked ones may go too, in what is left of the window; then the spans
        // queued meanwhile.
        if (!r.sent || this.failures || Date.now() < this.outboxAt) break;
        await this.deliverParked(db, began);
      }
    } finally {
      // One line per leader, naming the collector's origin only (its path or query may hold a token).
      if (failed) console.error(`traces: export to ${this.origin} failed: ${failed}; ${this.stats.parked} spans parked, ${this.queue.length} waiting, ${this.stats.dropped.backlog + this.stats.dropped.rejected + this.stats.dropped.outbox} dropped so far`);
      await this.reportDrops(db);
    }
  }

  /** Sends the queue while the window lasts, parking what it cannot send. `sent`: its last export succeeded. */
  private async sendQueue(db: D1Database, began: number): Promise<{ sent: boolean; failed?: string }> {
    let sent = false;
    let failed: string | undefined;
    while (this.queue.length) {
      const wait = this.retryAt - Date.now();
      // Waiting out a backoff, or starting one more export, must end within the leader's time; what cannot is
      // parked (spans queued meanwhile too, while the grace lasts: after it, the next call's leader takes them).
      if (Date.now() + Math.max(0, wait) + this.timeoutMs - began > this.leaderMs) {
        if (Date.now() - began > this.leaderMs + PARK_GRACE_MS) break;
        await this.park(db, this.take(0));
        continue;
      }
      if (wait > 0) {
        // The collector is failing: what waits beyond the batch to retry goes to D1 rather than filling memory.
        if (this.queue.length > this.maxBatch) await this.park(db, this.take(this.maxBatch));
        await waits.sleep(wait);
      }
      const batch = this.take(0, this.maxBatch);
      const r = await this.post(batch);
      if (r.ok) {
        this.failures = 0;
        this.stats.exported += batch.length;
        this.stats.batches++;
        sent = true;
        continue;
      }
      failed = r.error;
      sent = false;
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
    return { sent, failed };
  }

  /** Encodes the spans once (split to fit a row) and parks them in the outbox; D1 refusing them drops them. */
  private async park(db: D1Database, batch: CallTrace[]): Promise<void> {
    if (!batch.length) return;
    const parcels: Parcel[] = [];
    const pack = (part: CallTrace[]) => {
      let payload: Uint8Array;
      try {
        const body = this.encode(part);
        payload = typeof body === "string" ? new TextEncoder().encode(body) : body;
      } catch (e) {
        console.error(`traces: spans not encoded (${String(e).slice(0, 200)})`);
        this.drop("outbox", part.length);
        return;
      }
      if (payload.byteLength <= this.maxRowBytes) parcels.push({ spans: part.length, contentType: contentTypeOf(this.settings), payload });
      else if (part.length > 1) {
        pack(part.slice(0, part.length >> 1));
        pack(part.slice(part.length >> 1));
      } else this.drop("outbox", 1);
    };
    for (let i = 0; i < batch.length; i += this.maxBatch) pack(batch.slice(i, i + this.maxBatch));
    try {
      await park(db, parcels, this.outboxLimits);
      const n = parcels.reduce((k, p) => k + p.spans, 0);
      this.stats.parked += n;
      this.outboxAt = 0;
    } catch (e) {
      for (const p of parcels) this.drop("outbox", p.spans);
      console.error(`traces: spans not parked (${String(e).slice(0, 200)})`);
    }
  }

  /** Parked batches (this isolate's or others'), within the leader's window. */
  private async deliverParked(db: D1Database, began: number): Promise<void> {
    this.outboxAt = Date.now() + OUTBOX_CHECK_MS;
    try {
      const run = await deliverParked(db, this.settings, { deadline: began + this.leaderMs, timeoutMs: this.timeoutMs, maxRows: LEADER_OUTBOX_ROWS });
      this.stats.fromOutbox += run.spans;
      // Rows left that this run could not reach: look again with the next leader.
      if (run.delivered === LEADER_OUTBOX_ROWS) this.outboxAt = 0;
    } catch (e) {
      console.error(`traces: outbox not read (${String(e).slice(0, 200)})`);
    }
  }

  /** The OTLP request of a batch, built once: a batch sent again (or parked) carries the same span ids. */
  private encode(batch: CallTrace[]): Uint8Array | string {
    const s = this.settings;
    const spans = batch.map((t) => (t.span ??= spanOf(t, s.redact)));
    return s.json ? encodeJson(this.scope, spans) : encodeProtobuf(this.scope, spans);
  }

  /** One POST of a batch; never throws. `retryAfterMs` set: worth another try (0: after the usual backoff). */
  private async post(batch: CallTrace[]): Promise<PostResult> {
    let body: Uint8Array | string;
    try {
      body = this.encode(batch);
    } catch (e) {
      return { ok: false, error: `spans not encoded (${String(e).slice(0, 200)})` };
    }
    return postOtlp(this.settings, body, contentTypeOf(this.settings), this.timeoutMs);
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

const exporters = new WeakMap<TraceSettings, SpanExporter>();

/** The isolate's exporter for these settings (one per config, which is one per isolate). */
export function exporterFor(settings: TraceSettings): SpanExporter {
  let e = exporters.get(settings);
  if (!e) exporters.set(settings, (e = new SpanExporter(settings)));
  return e;
}
