/** The last stage: turn what happened into a usage row and hand it off after the response. */
import { settleRecords } from "../governance/settle";
import { costUsd } from "../usage/prices";
import { tokensOf, type AttemptInfo, type CallRecord, type Outcome, type SessionInfo } from "../usage/record";
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
  /** A Live session's close and tokens by modality. */
  session?: SessionInfo;
  /** The cost when the caller priced the call itself (a Live session prices audio apart). */
  costUsd?: number;
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
    cost_usd: end.costUsd ?? costUsd(price, tokens),
    latency_ms: Date.now() - ctx.startedAt,
    ttfb_ms: end.ttfbMs,
    ...(end.session ? { session: end.session } : {}),
  };
}

/** The call's row, with its admission settled: the reservation gives way to what the call used. */
export function recordCall(ctx: CallScope, end: CallEnd): void {
  const record = buildRecord(ctx, end);
  const settle = ctx.gate.finish({ tokens: record.tokens.input + record.tokens.output, usd: record.cost_usd });
  if (settle) record.settle = settle;
  ctx.waitUntil(
    writeUsage(ctx.env, record).catch((e) => console.error(`usage row ${record.request_id} lost: ${describeError(e)}`)),
  );
  if (settle) {
    ctx.waitUntil(
      settleRecords(ctx.env, record.request_id, [record]).catch((e) =>
        console.error("governance settlement failed", record.request_id, describeError(e)),
      ),
    );
  }
}
