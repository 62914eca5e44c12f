/**
 * `GET /admin/metrics`: the usage rollups (src/usage/rollups.ts) and refusal counters as Prometheus counters and
 * histograms, in the text exposition format 0.0.4.
 *
 * Workers isolates are many and short-lived, so nothing here is isolate memory: every figure is a total since the
 * first row the gateway stored, read from D1 at each scrape. The rollups only ever grow (a row is counted once, in
 * the batch that stores it; compaction moves hours into days within one transaction), so each series is a true
 * counter: Prometheus `rate()`/`increase()` work on it directly, and a series never resets (a scrape that sees a
 * lower figure would be a bug). Totals are whole days from `usage_day` before the `days_through` mark plus hours
 * from `usage_hour` from it on, in one statement, so a scrape racing compaction reads one consistent state.
 * A row reaches D1 when its buffer shard flushes (about a second), so a scrape lags calls by that much.
 */
import { LATENCY_BOUNDS, LATENCY_COLUMNS, TTFB_BOUNDS, TTFB_COLUMNS } from "../usage/rollups";

const FIGURES = [
  "requests", "calls", "input_tokens", "output_tokens", "cached_tokens", "thinking_tokens", "tool_use_tokens", "cost_usd",
  "unpriced_calls", "latency_ms_sum", "ttfb_ms_sum", "ttfb_count", "cache_hits", "saved_usd", "guardrail_actions",
  "attempts_ok", "attempts_failed",
] as const;
const SUMMED = [...FIGURES, ...LATENCY_COLUMNS, ...TTFB_COLUMNS];

const COLUMNS = `key_id, team_id, provider, model, status, ${SUMMED.join(", ")}`;
// Whole days before the mark, hours from it on (the mark is 0 until compaction first folds a day: all hours).
const TOTALS = `SELECT key_id, team_id, provider, model, status, ${SUMMED.map((c) => `total(${c}) AS ${c}`).join(", ")}
  FROM (SELECT ${COLUMNS} FROM usage_day WHERE bucket < (SELECT num FROM usage_state WHERE name = 'days_through')
        UNION ALL
        SELECT ${COLUMNS} FROM usage_hour WHERE bucket >= (SELECT coalesce(num, 0) FROM usage_state WHERE name = 'days_through'))
  GROUP BY key_id, team_id, provider, model, status
  ORDER BY key_id, team_id, provider, model, status`;
// Per-shard running totals and their hourly folds (migrations/0004_refusals.sql): the sum only grows.
const REFUSALS = `SELECT key_id, coalesce(team_id, '') AS team_id, status, reason, sum(count) AS n FROM refusals
  GROUP BY key_id, coalesce(team_id, ''), status, reason ORDER BY key_id, team_id, status, reason`;

type Row = Record<(typeof FIGURES)[number], number> & { key_id: string; team_id: string; provider: string; model: string; status: number };
type RefusalRow = { key_id: string; team_id: string; status: number; reason: string; n: number };
type DropRow = { reason: string; count: number };
// Spans the trace exporter dropped (src/observe/traces/exporter.ts), by reason (a reason appears with its first drop).
const DROPS = "SELECT reason, count FROM trace_drops ORDER BY reason";

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A label value with `\`, `"` and newlines escaped, as the exposition format requires. */
export const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

const labelSet = (pairs: [string, string | number][]) => `{${pairs.map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",")}}`;

/** A sample value: Go's ParseFloat reads JS's shortest round-trip form (`1e-7`, `0.1`). */
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN");

class Exposition {
  private readonly lines: string[] = [];
  family(name: string, type: "counter" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, labels: [string, string | number][], value: number): void {
    this.lines.push(`${name}${labelSet(labels)} ${num(value)}`);
  }
  text(): string {
    return this.lines.join("\n") + "\n";
  }
}

const groupLabels = (r: Row): [string, string | number][] => [
  ["key", r.key_id], ["team", r.team_id], ["provider", r.provider], ["model", r.model], ["status", r.status],
];

/** One histogram family from its fixed ms buckets: cumulative counts, `le` in seconds, `+Inf` equal to `_count`. */
function histogram(out: Exposition, rows: Row[], name: string, help: string, bounds: readonly number[], columns: readonly string[], sum: (typeof FIGURES)[number]) {
  out.family(name, "histogram", help);
  for (const r of rows) {
    const labels = groupLabels(r);
    let cumulative = 0;
    columns.forEach((col, i) => {
      cumulative += (r as unknown as Record<string, number>)[col] ?? 0;
      const le = i < bounds.length ? num(bounds[i]! / 1000) : "+Inf";
      out.sample(`${name}_bucket`, [...labels, ["le", le]], cumulative);
    });
    out.sample(`${name}_sum`, labels, r[sum] / 1000);
    out.sample(`${name}_count`, labels, cumulative);
  }
}

/** Renders every family from the three result sets (exported for tests of the format itself). */
export function render(rows: Row[], refusals: RefusalRow[], drops: DropRow[] = []): string {
  const out = new Exposition();
  const counter = (name: string, help: string, value: (r: Row) => number) => {
    out.family(name, "counter", help);
    for (const r of rows) out.sample(name, groupLabels(r), value(r));
  };
  counter("edgeway_requests_total", "Requests served or failed (a batch job's row counts each of its requests).", (r) => r.requests);
  counter("edgeway_calls_total", "Usage rows: calls, Live sessions, batch jobs (what the histograms count).", (r) => r.calls);
  out.family("edgeway_tokens_total", "counter", "Tokens by kind (input includes cached and tool_use; output includes thinking).");
  for (const r of rows) {
    for (const kind of ["input", "output", "cached", "thinking", "tool_use"] as const) {
      out.sample("edgeway_tokens_total", [...groupLabels(r), ["kind", kind]], r[`${kind}_tokens`]);
    }
  }
  out.family("edgeway_upstream_attempts_total", "counter", "Upstream attempts (retries and fallbacks included) by outcome; labelled by the call's served target.");
  for (const r of rows) {
    out.sample("edgeway_upstream_attempts_total", [...groupLabels(r), ["outcome", "ok"]], r.attempts_ok);
    out.sample("edgeway_upstream_attempts_total", [...groupLabels(r), ["outcome", "failed"]], r.attempts_failed);
  }
  counter("edgeway_cost_usd_total", "Cost in USD, as priced when the call ended.", (r) => r.cost_usd);
  counter("edgeway_unpriced_calls_total", "Calls some dimension of which no price covered.", (r) => r.unpriced_calls);
  counter("edgeway_cache_hits_total", "Calls answered from the response cache.", (r) => r.cache_hits);
  counter("edgeway_cache_saved_usd_total", "What the cache hits would have cost, in USD.", (r) => r.saved_usd);
  counter("edgeway_guardrail_actions_total", "Guardrail policies that acted (block, redact or flag).", (r) => r.guardrail_actions);
  histogram(out, rows, "edgeway_request_duration_seconds", "Call duration, from the request to the end of the answer.", LATENCY_BOUNDS, LATENCY_COLUMNS, "latency_ms_sum");
  histogram(out, rows, "edgeway_time_to_first_byte_seconds", "Time to the answer's first byte (calls that sent one).", TTFB_BOUNDS, TTFB_COLUMNS, "ttfb_ms_sum");
  out.family("edgeway_refusals_total", "counter", "Calls refused before any upstream call (401/402/403/429), by reason.");
  for (const r of refusals) {
    out.sample("edgeway_refusals_total", [["key", r.key_id], ["team", r.team_id], ["status", r.status], ["reason", r.reason]], r.n);
  }
  out.family("edgeway_trace_spans_dropped_total", "counter", "OpenTelemetry spans dropped, not exported: backlog (an isolate's queue was full; oldest first), rejected (by the collector) or outbox (the durable outbox was full or the batch too old; oldest first).");
  for (const d of drops) out.sample("edgeway_trace_spans_dropped_total", [["reason", d.reason]], d.count);
  return out.text();
}

/** The exposition of every counter, read from D1 in one batch (one consistent snapshot). */
export async function metricsText(db: D1Database): Promise<string> {
  const [totals, refused, drops] = await db.batch([db.prepare(TOTALS), db.prepare(REFUSALS), db.prepare(DROPS)]);
  return render(totals!.results as Row[], refused!.results as RefusalRow[], drops!.results as DropRow[]);
}
