/**
 * A batch's life after its creation: each time it is seen (a poll through the gateway, a list, the scheduled sweep)
 * its state is noted; the first time it is seen finished, its one usage row is written (tokens from its responses,
 * cost at the batch price, its request count) and its governance hold released. Two sightings racing write one row:
 * the `finished_at` transition in D1 picks one, and the row's request id (`batch:{name}`) is idempotent in D1 too.
 */
import { getConfig } from "../config";
import type { Env } from "../env";
import type { UsageMetadata } from "../gemini/schema";
import { release } from "../governance/hold";
import { added, billableOf, costOf, EMPTY_BILLABLE, scaled, type Cost } from "../usage/cost";
import type { Price } from "../usage/prices";
import { NO_TOKENS, tokensOf, type CallRecord, type SettleRefs, type Tokens } from "../usage/row";
import { describeError } from "../lib/describe-error";
import { handOffRow } from "../usage/sink";
import { parseTarget } from "../lib/target";
import { finishedRow } from "./finished-row";
import { resourceSettings } from "./settings";
import { ResourceStore, type ResourceRow } from "./store";
import type { Upstream } from "./upstream";

/** What a batch's row keeps from its creation for the day it finishes. */
export interface BatchMeta {
  /** The governance hold of its worst case. */
  hold: string;
  /** Settlement refs of the hold: its usage row settles under them. */
  settle?: SettleRefs;
  /** Requests and input tokens as counted at creation (embeddings report no usage of their own). */
  requests: number;
  input_tokens: number;
  action: "batchGenerateContent" | "asyncBatchEmbedContent";
  version: string;
}

/** A batch as Gemini returns it: a long-running operation whose metadata is the batch. */
export interface BatchOperation {
  name?: string;
  done?: boolean;
  error?: { code?: number; message?: string };
  metadata?: {
    state?: string;
    batchStats?: { requestCount?: string | number };
    output?: BatchOutput;
  };
  response?: BatchOutput;
}

interface BatchOutput {
  responsesFile?: string;
  inlinedResponses?: { inlinedResponses?: { response?: { usageMetadata?: UsageMetadata } }[] };
  inlinedEmbedContentResponses?: { inlinedResponses?: unknown[] };
}

const FINAL: Record<string, { status: number; outcome: CallRecord["outcome"] }> = {
  BATCH_STATE_SUCCEEDED: { status: 200, outcome: "ok" },
  BATCH_STATE_FAILED: { status: 500, outcome: "error" },
  BATCH_STATE_CANCELLED: { status: 499, outcome: "aborted" },
  BATCH_STATE_EXPIRED: { status: 504, outcome: "error" },
};

/** A batch's state, and whether it is final. */
export function batchState(op: BatchOperation): { state: string; done: boolean } {
  const state = op.metadata?.state ?? (op.done ? (op.error ? "BATCH_STATE_FAILED" : "BATCH_STATE_SUCCEEDED") : "BATCH_STATE_PENDING");
  return { state, done: op.done === true || state in FINAL };
}

/** The file a finished batch wrote its responses to, if it did. */
export const responsesFileOf = (op: BatchOperation) => (op.metadata?.output ?? op.response)?.responsesFile;

/**
 * Notes what a sighting of the batch shows; the first sighting of it finished writes its usage row and releases
 * its hold. Returns once the row is handed off (or another sighting got there first).
 */
export async function observeBatch(env: Env, upstream: Upstream, row: ResourceRow, op: BatchOperation, waitUntil: (p: Promise<unknown>) => void): Promise<void> {
  const store = new ResourceStore(env.DB);
  const { state, done } = batchState(op);
  if (!done) {
    if (state !== row.state || Date.now() - row.updated_at > 60_000) await store.setState(row.name, state);
    return;
  }
  if (row.finished_at !== null) return;
  const owner = { key_id: row.key_id, team_id: row.team_id, shared: row.shared };
  const file = responsesFileOf(op);
  if (file && /^files\/[A-Za-z0-9_-]{1,128}$/.test(file)) await store.adopt(owner, [file]);
  const meta = JSON.parse(row.meta ?? "{}") as BatchMeta;
  const target = parseTarget(row.model ?? "gemini/unknown");
  const used = await batchUsage(upstream, meta, op, file, getConfig(env).price(target.provider, target.model));
  // Only the sighting that marks it finished writes the row.
  if (!(await store.finish(row.name, state))) return;
  handOffRow(env, waitUntil, batchRecord(env, row, meta, op, state, used));
  waitUntil(
    release(env, { id: row.key_id, team_id: row.team_id }, meta.hold).catch((e) =>
      console.error(`batch ${row.name}: hold release failed (it lapses by itself): ${describeError(e)}`),
    ),
  );
}

/** A batch the upstream no longer has (deleted elsewhere, expired away): no usage can be read; its hold ends. */
export async function abandonBatch(env: Env, row: ResourceRow): Promise<void> {
  if (!(await new ResourceStore(env.DB).finish(row.name, "gone"))) return;
  const meta = JSON.parse(row.meta ?? "{}") as BatchMeta;
  if (meta.hold) await release(env, { id: row.key_id, team_id: row.team_id }, meta.hold).catch(() => {});
}

function batchRecord(env: Env, row: ResourceRow, meta: BatchMeta, op: BatchOperation, state: string, { tokens, cost }: BatchUsage): CallRecord {
  const factor = resourceSettings(env).batchPriceFactor;
  const final = FINAL[state] ?? { status: 500, outcome: "error" as const };
  const count = Number(op.metadata?.batchStats?.requestCount);
  const now = Date.now();
  const record = finishedRow("batch", row, now, {
    action: meta.action ?? "batchGenerateContent",
    status: final.status,
    outcome: final.outcome,
    error: final.outcome === "ok" ? null : (op.error?.message ?? state).slice(0, 1000),
    tokens,
    // Gemini's batch price: every line of the interactive price times the factor (storage has no batch price).
    cost_usd: scaled(cost, factor).usd,
    requests: Number.isSafeInteger(count) && count > 0 ? count : meta.requests || 1,
  });
  if (cost.unpriced.length) record.unpriced = cost.unpriced.join(",");
  if (meta.settle && Object.keys(meta.settle).length) record.settle = meta.settle;
  return record;
}

interface BatchUsage {
  tokens: Tokens;
  /** At the interactive price: each response priced on its own (its own tier), then added up. */
  cost: Cost;
}

/**
 * Tokens and cost of a finished batch: summed from its responses' usage (inline, or its responses file, read as a
 * stream); an embeddings batch reports none, so its input as counted at creation is charged.
 */
async function batchUsage(upstream: Upstream, meta: BatchMeta, op: BatchOperation, file: string | undefined, price: Price | undefined): Promise<BatchUsage> {
  const out = op.metadata?.output ?? op.response;
  let tokens: Tokens = { ...NO_TOKENS };
  let cost = costOf(price, EMPTY_BILLABLE);
  const add = (u: UsageMetadata | undefined) => {
    const t = tokensOf(u);
    tokens = {
      input: tokens.input + t.input, output: tokens.output + t.output, cached: tokens.cached + t.cached,
      thinking: tokens.thinking + t.thinking, tool_use: tokens.tool_use + t.tool_use,
    };
    cost = added(cost, costOf(price, billableOf(u)));
  };
  for (const r of out?.inlinedResponses?.inlinedResponses ?? []) add(r?.response?.usageMetadata);
  if (file) {
    const res = await upstream.download(`${meta.version ?? "v1beta"}/${file}:download?alt=media`, { method: "GET" });
    if (res.body) await eachJsonLine(res.body, (line) => add((line as { response?: { usageMetadata?: UsageMetadata } })?.response?.usageMetadata));
  }
  if (!tokens.input && !tokens.output && meta.action === "asyncBatchEmbedContent") {
    tokens.input = meta.input_tokens ?? 0;
    cost = costOf(price, billableOf({ promptTokenCount: tokens.input }));
  }
  return { tokens, cost };
}

/** A line longer than this is skipped (counted as unreadable), not held in memory. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

/** Calls `each` with every JSON line of a JSONL stream, holding one line at a time. */
export async function eachJsonLine(body: ReadableStream<Uint8Array>, each: (v: unknown) => void): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let skipping = false;
  const line = (s: string) => {
    if (!s.trim()) return;
    try {
      each(JSON.parse(s));
    } catch {
      /* not JSON: no usage to read */
    }
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    let text = value;
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      if (!skipping) line(pending + text.slice(0, nl));
      pending = "";
      skipping = false;
      text = text.slice(nl + 1);
    }
    if (!skipping) pending += text;
    if (pending.length > MAX_LINE_CHARS) {
      pending = "";
      skipping = true;
    }
  }
  if (!skipping) line(pending);
}
