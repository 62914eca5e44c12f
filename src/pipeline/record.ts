/**
 * The last stage: what happened to a call, handed off after the response. A call that used a provider (or failed
 * for any other reason) leaves one usage row; a refusal of the key leaves only a count (src/usage/refusals.ts).
 */
import { costUsd } from "../usage/prices";
import { tokensOf, type AttemptInfo, type CallRecord, type Outcome } from "../usage/record";
import { minuteOf, REFUSAL_CODES, refusalReason } from "../usage/refusals";
import { countRefusal, handOffRow } from "../usage/sink";
import type { UsageMetadata } from "../gemini/schema";
import type { Target } from "../plan/target";
import type { CallScope } from "./context";
import { upstreamAttempts } from "./execute";

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
    // Upstream messages can be long; a row must stay small enough for D1 (and for the buffer's batches).
    error: end.error === null ? null : end.error.slice(0, 1000),
    attempts: end.attempts,
    fallback_index: end.index,
    tokens,
    cost_usd: costUsd(price, tokens),
    latency_ms: Date.now() - ctx.startedAt,
    ttfb_ms: end.ttfbMs,
    ...settleRefs(ctx),
  };
}

export function recordCall(ctx: CallScope, end: CallEnd): void {
  if (isRefusal(end)) {
    countRefusal(ctx.env, ctx.waitUntil, {
      key_id: ctx.key.id,
      team_id: ctx.key.team_id ?? null,
      minute: minuteOf(ctx.startedAt),
      status: end.status,
      reason: refusalReason(end.status, end.error ?? ""),
    });
    return;
  }
  handOffRow(ctx.env, ctx.waitUntil, buildRecord(ctx, end));
}

/**
 * A refusal: the key's status, allow-list, budget or rate limit said no (401/402/403/429) before any upstream call.
 * The same statuses from an upstream (after an attempt went out) are the provider's answers and stay rows.
 */
function isRefusal(end: CallEnd): boolean {
  return end.target === null && REFUSAL_CODES.has(end.status) && upstreamAttempts(end.attempts) === 0;
}

/** The Governors admission said meter this call (a call refused before admission settles nowhere). */
function settleRefs(ctx: CallScope): Pick<CallRecord, "settle"> {
  const m = ctx.admission.metered;
  if (!m || (!m.key && !m.team)) return {};
  return { settle: { ...(m.key ? { key: "" } : {}), ...(m.team ? { team: "" } : {}) } };
}
