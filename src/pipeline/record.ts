/**
 * The last stage: what happened to a call, handed off after the response. A call that used a provider (or failed
 * for any other reason) leaves one usage row; a refusal of the key leaves only a count (src/usage/refusals.ts).
 */
import { billableOf, costOf } from "../usage/cost";
import { tokensOf, type CallRecord } from "../usage/row";
import { minuteOf, REFUSAL_CODES, refusalReason } from "../usage/refusals";
import { countRefusal, handOffRow } from "../usage/sink";
import type { CallEnd, CallScope } from "./context";
import { upstreamAttempts } from "./execute";
import { afterCall } from "../hooks/after-call";
import { hooksFor } from "../hooks/registry";

export type { CallEnd };

export function buildRecord(ctx: CallScope, end: CallEnd): CallRecord {
  // A hook's answer used nothing upstream, whatever its usageMetadata says: no tokens, no cost (src/hooks/hook.ts).
  const upstream = end.answeredBy === undefined;
  const tokens = tokensOf(upstream ? end.usage : undefined);
  const price = end.target ? ctx.config.price(end.target.provider, end.target.model) : undefined;
  const cost = end.target && upstream ? (end.priced ? end.priced(price) : costOf(price, billableOf(end.usage, end.units))) : undefined;
  return {
    request_id: ctx.requestId,
    ts: ctx.startedAt,
    key_id: ctx.keyId,
    team_id: ctx.teamId,
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
    cost_usd: cost?.usd ?? 0,
    latency_ms: Date.now() - ctx.startedAt,
    ttfb_ms: end.ttfbMs,
    ...(end.session ? { session: end.session } : {}),
    ...(cost?.unpriced.length ? { unpriced: cost.unpriced.join(",") } : {}),
  };
}

/**
 * The call's row, with its admission settled: the reservation gives way to what the call used, and the row goes to
 * the usage buffer, which settles it with its Governors once it is in D1. A refusal is counted instead. Every call
 * ends here exactly once, so this is where the hooks' `afterCall` runs (src/hooks/hook.ts).
 */
export function recordCall(ctx: CallScope, end: CallEnd): void {
  const record = buildRecord(ctx, end);
  // The hooks first: what one spent for the call (a guardrail's judge model) is in the cost the call settles.
  const hooks = hooksFor(ctx.config);
  if (hooks.length) afterCall(hooks, ctx, record);
  // A hook's answer (a cache hit) used no tokens, whatever its row shows (a hit's are the original's): none for tpm.
  const tokens = end.answeredBy === undefined ? record.tokens.input + record.tokens.output : 0;
  const settle = ctx.gate.finish({ tokens, usd: record.cost_usd });
  if (isRefusal(end)) {
    // Nothing was used: there is nothing to settle.
    countRefusal(ctx.env, ctx.waitUntil, {
      key_id: record.key_id,
      team_id: record.team_id,
      minute: minuteOf(ctx.startedAt),
      status: end.status,
      reason: refusalReason(end.status, end.error ?? ""),
    });
    return;
  }
  if (settle) record.settle = settle;
  handOffRow(ctx.env, ctx.waitUntil, record);
}

/**
 * A refusal: the key's status, allow-list, budget or rate limit said no (401/402/403/429) before any upstream call.
 * The same statuses from an upstream (after an attempt went out) are the provider's answers and stay rows.
 */
function isRefusal(end: CallEnd): boolean {
  return end.target === null && REFUSAL_CODES.has(end.status) && upstreamAttempts(end.attempts) === 0;
}
