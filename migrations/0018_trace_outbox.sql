-- OpenTelemetry traces (docs/observability.md, "Traces", durability): batches an isolate could not deliver in its
-- leader's window (the collector down, or the window over with spans still queued), encoded once as the OTLP request
-- and parked here until the cron or a later leader delivers them (src/observe/traces/outbox.ts). Bounded: the oldest
-- rows go first when there are too many, too many bytes, or a row is too old; their spans are counted in
-- trace_drops as `outbox`. A row is deleted only after the collector's 2xx (or counted as `rejected` when it refuses
-- it for good): at least once, the same bytes and so the same span ids on every try.
CREATE TABLE IF NOT EXISTS trace_outbox (
  id           INTEGER PRIMARY KEY AUTOINCREMENT, -- order of parking: the oldest is the smallest
  created      INTEGER NOT NULL,                  -- ms since epoch
  attempts     INTEGER NOT NULL DEFAULT 0,        -- failed deliveries from the outbox
  next_at      INTEGER NOT NULL,                  -- when it is next due (also a deliverer's claim)
  spans        INTEGER NOT NULL,                  -- spans in the payload, for the drop counts
  bytes        INTEGER NOT NULL,
  content_type TEXT NOT NULL,                     -- application/x-protobuf | application/json, as it was encoded
  payload      BLOB NOT NULL                      -- the ExportTraceServiceRequest as posted
);
CREATE INDEX IF NOT EXISTS trace_outbox_due ON trace_outbox (next_at);
