/** The last stage: turn what happened into a usage row and hand it off after the response. */
import { settleRecords } from "../governance/settle";
import { costUsd } from "../usage/prices";
import { tokensOf, type AttemptInfo, type CallRecord, type Outcome } from "../usage/record";
import { describeError } from "../usage/log";
import { writeUsage } from "../usage/sink";
import type { UsageMetadata } from "../gemini/schema";
import type { Target } from "../plan/target";
import type { CallScope } from "./context";

export interface CallEnd {
  target: Target | null;
  index: number | null;
  attempts: AttemptInfo[];
  status: number;
  outcome: Outcome;
  error: string | null;
  usage: UsageMetadata | undefined;
  ttfbMs: number | null;
}

export function buildRecord(ctx: CallScope, end: CallEnd): CallRecord {
  const tokens = tokensOf(end.usage);
  const price = end.target ? ctx.config.price(end.target.provider, end.target.model) : undefined;
  return {
    request_id: ctx.requestId,
    ts: ctx.startedAt,
    key_id: ctx.key.id,
    team_id: ctx.key.team_id ?? null,
    // Bounded: a rejected model string is whatever the caller sent.
    requested_model: ctx.requestedModel.slice(0, 300),
    provider: end.target?.provider ?? null,
    model: end.target?.model ?? null,
    action: ctx.action,
    stream: ctx.stream,
    status: end.status,
    outcome: end.outcome,
    // Upstream messages can be long; a row must stay small enough for D1 (and for the buffer's batches). Redacted
    // before the cut, which could leave a run of a key too short to recognise.
    error: end.error === null ? null : ctx.config.redact(end.error).slice(0, 1000),
    attempts: end.attempts.map((a) => ({ ...a, reason: ctx.config.redact(a.reason) })),
    fallback_index: end.index,
    tokens,
    cost_usd: costUsd(price, tokens),
    latency_ms: Date.now() - ctx.startedAt,
    ttfb_ms: end.ttfbMs,
    ...settleRefs(ctx),
  };
}

export function recordCall(ctx: CallScope, end: CallEnd): void {
  const record = buildRecord(ctx, end);
  ctx.waitUntil(
    writeUsage(ctx.env, record).catch((e) => console.error(`usage row ${record.request_id} lost: ${describeError(e)}`)),
  );
  ctx.waitUntil(
    settleRecords(ctx.env, record.request_id, [record]).catch((e) =>
      console.error("governance settlement failed", record.request_id, describeError(e)),
    ),
  );
}

/** The Governors admission said meter this call (a call refused before admission settles nowhere). */
function settleRefs(ctx: CallScope): Pick<CallRecord, "settle"> {
  const m = ctx.admission.metered;
  if (!m || (!m.key && !m.team)) return {};
  return { settle: { ...(m.key ? { key: "" } : {}), ...(m.team ? { team: "" } : {}) } };
}
