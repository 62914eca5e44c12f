/**
 * One call's span, following the OpenTelemetry GenAI semantic conventions (client spans: `gen_ai.operation.name`,
 * `gen_ai.provider.name` and the older `gen_ai.system`, request and response model, token usage, finish reasons,
 * `error.type`) with edgeway's own attributes (`edgeway.*`), its upstream attempts and guardrail actions as span
 * events. Built from the call's usage row after the response (src/observe/traces/exporter.ts), never on the hot path.
 */
import type { CallRecord } from "../../usage/row";
import { SPAN_KIND_CLIENT, STATUS_ERROR, type Attr, type SpanData, type SpanEvent } from "./otlp";
import { parseTraceparent } from "./traceparent";
import { capturedRedactor } from "../captured";

/** What the hook saw of a call besides its row. */
export interface CallTrace {
  row: CallRecord;
  /** The caller's `traceparent` header as sent (checked when the span is built). */
  traceparent?: string;
  /** From the answer: the model that answered (`modelVersion`), its id, each candidate's finish reason. */
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  /** Captured content as JSON text, not yet redacted (only with content capture on). */
  input?: string;
  system?: string;
  output?: string;
  /** The answer's text as the hook gathered it: made JSON text when the span is built, after the response. */
  answer?: { readonly chars: number; json(): string | undefined };
  /** A direct caller's own provider keys: redacted from the captured content with the gateway's secrets. */
  own?: readonly string[];
  /** The span, once built (a retried batch sends the same ids). */
  span?: SpanData;
}

/** The conventions' operation names for Gemini's actions; any other action is named as it is. */
const OPERATIONS: Record<string, string> = {
  generateContent: "generate_content",
  streamGenerateContent: "generate_content",
  embedContent: "embeddings",
  batchEmbedContents: "embeddings",
};

/** The conventions' `gen_ai.provider.name` values for the providers that have one; others by their own name. */
const PROVIDERS: Record<string, string> = {
  gemini: "gcp.gemini",
  vertex: "gcp.vertex_ai",
  openai: "openai",
  anthropic: "anthropic",
  bedrock: "aws.bedrock",
  azure: "azure.ai.openai",
  groq: "groq",
};

/** Longest status message and attribute text (an error is already cut to 1,000 characters in the row). */
const MAX_TEXT = 1_000;

/** Random bytes drawn 4 KiB at a time: one call to the generator serves a batch's ids. */
const pool = new Uint8Array(4096);
let used = pool.length;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** `bytes` random bytes as hex; never all zero (an invalid id). */
export function randomId(bytes: number): string {
  if (used + bytes > pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  let s = "";
  let any = 0;
  for (let i = 0; i < bytes; i++) {
    const b = pool[used++]!;
    any |= b;
    s += HEX[b];
  }
  return any ? s : randomId(bytes);
}

export function spanOf(t: CallTrace, redact: (s: string) => string): SpanData {
  const r = t.row;
  const parent = parseTraceparent(t.traceparent);
  const op = OPERATIONS[r.action] ?? r.action;
  const requestModel = r.provider && r.requested_model.startsWith(`${r.provider}/`) ? r.requested_model.slice(r.provider.length + 1) : r.requested_model;
  const a: Attr[] = [["gen_ai.operation.name", op]];
  if (r.provider) {
    const provider = PROVIDERS[r.provider] ?? r.provider;
    a.push(["gen_ai.provider.name", provider], ["gen_ai.system", provider]);
  }
  if (requestModel) a.push(["gen_ai.request.model", requestModel]);
  const responseModel = t.responseModel ?? r.model;
  if (responseModel) a.push(["gen_ai.response.model", responseModel]);
  if (t.responseId) a.push(["gen_ai.response.id", t.responseId.slice(0, 200)]);
  if (t.finishReasons?.length) a.push(["gen_ai.response.finish_reasons", t.finishReasons]);
  if (r.provider) a.push(["gen_ai.usage.input_tokens", r.tokens.input], ["gen_ai.usage.output_tokens", r.tokens.output]);
  if (r.tokens.cached) a.push(["edgeway.usage.cached_tokens", r.tokens.cached]);
  if (r.tokens.thinking) a.push(["edgeway.usage.thinking_tokens", r.tokens.thinking]);
  a.push(["http.response.status_code", r.status]);
  if (r.outcome === "error") a.push(["error.type", String(r.status)]);
  a.push(
    ["edgeway.request_id", r.request_id],
    ["edgeway.key.id", r.key_id],
  );
  if (r.team_id) a.push(["edgeway.team.id", r.team_id]);
  a.push(
    ["edgeway.action", r.action],
    ["edgeway.stream", r.stream],
    ["edgeway.outcome", r.outcome],
    ["edgeway.cost_usd", { double: r.cost_usd }],
    ["edgeway.attempts", r.attempts.length],
  );
  if (r.fallback_index !== null) a.push(["edgeway.fallback_index", r.fallback_index]);
  if (r.ttfb_ms !== null) a.push(["edgeway.ttfb_ms", r.ttfb_ms]);
  if (r.cache) a.push(["edgeway.cache", r.cache]);
  if (r.saved_usd) a.push(["edgeway.saved_usd", { double: r.saved_usd }]);
  if (r.unpriced) a.push(["edgeway.unpriced", r.unpriced]);
  // A Live session: how it ended and who ended it (its tokens are the usage attributes above).
  if (r.session) a.push(["edgeway.live.close_code", r.session.close_code], ["edgeway.live.closed_by", r.session.closed_by]);
  if (r.guardrails?.length) a.push(["edgeway.guardrails", r.guardrails.map((g) => `${g.policy}:${g.stage}:${g.action}`)]);
  const output = t.output ?? t.answer?.json();
  if (t.input || t.system || output) {
    const clean = capturedRedactor(redact, t.own);
    if (t.input) a.push(["gen_ai.input.messages", clean(t.input)]);
    if (t.system) a.push(["gen_ai.system_instructions", clean(t.system)]);
    if (output) a.push(["gen_ai.output.messages", clean(output)]);
  }

  const end = r.ts + Math.max(0, r.latency_ms);
  const events: SpanEvent[] = [];
  // Attempts carry their duration, not their start: each is placed where the ones before it leave off.
  let at = r.ts;
  r.attempts.forEach((x, i) => {
    at = Math.min(end, at + Math.max(0, x.latency_ms));
    const attrs: Attr[] = [
      ["edgeway.attempt.index", i],
      ["edgeway.attempt.target", x.target],
      ["http.response.status_code", x.status],
      ["edgeway.attempt.reason", redact(x.reason).slice(0, MAX_TEXT)],
      ["edgeway.attempt.latency_ms", x.latency_ms],
    ];
    if (x.credential) attrs.push(["edgeway.attempt.credential", x.credential]);
    if (x.skipped) attrs.push(["edgeway.attempt.skipped", true]);
    events.push({ timeMs: at, name: "edgeway.upstream.attempt", attributes: attrs });
  });
  for (const g of r.guardrails ?? []) {
    const attrs: Attr[] = [
      ["edgeway.guardrail.policy", g.policy],
      ["edgeway.guardrail.stage", g.stage],
      ["edgeway.guardrail.action", g.action],
      ["edgeway.guardrail.entities", Object.entries(g.entities).map(([k, n]) => `${k}=${n}`).join(",")],
    ];
    if (g.cost_usd) attrs.push(["edgeway.guardrail.cost_usd", { double: g.cost_usd }]);
    events.push({ timeMs: g.stage === "input" ? r.ts : end, name: "edgeway.guardrail", attributes: attrs });
  }
  events.sort((x, y) => x.timeMs - y.timeMs);

  return {
    traceId: parent?.traceId ?? randomId(16),
    spanId: randomId(8),
    ...(parent ? { parentSpanId: parent.spanId } : {}),
    name: requestModel ? `${op} ${requestModel}` : op,
    kind: SPAN_KIND_CLIENT,
    startMs: r.ts,
    endMs: end,
    attributes: a,
    events,
    // Success leaves the status unset, as the conventions ask; an aborted call is not an error of the gateway's.
    status: r.outcome === "error" ? { code: STATUS_ERROR, message: redact(r.error ?? `status ${r.status}`).slice(0, MAX_TEXT) } : { code: 0 },
    // Sampled (every call is recorded), and whether the parent came from the caller (remote).
    flags: 0x01 | 0x100 | (parent ? 0x200 : 0),
  };
}
