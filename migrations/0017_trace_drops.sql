-- OpenTelemetry traces (docs/observability.md, "Traces"): spans the gateway dropped instead of exporting, by reason
-- (`backlog`: the isolate's bounded queue was full while the collector was down or slow, the oldest went first;
-- `rejected`: the collector refused a batch for good: a 4xx, a 500, a redirect). Each isolate adds its counts after
-- its exports (src/observe/traces/exporter.ts); GET /admin/metrics shows `edgeway_trace_spans_dropped_total`.
CREATE TABLE IF NOT EXISTS trace_drops (
  reason TEXT PRIMARY KEY,
  count  INTEGER NOT NULL DEFAULT 0
);
