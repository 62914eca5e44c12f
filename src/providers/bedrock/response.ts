/** Bedrock Converse answers → Gemini answers. Pure functions. */
import type { GenerateContentResponse, Part, UsageMetadata } from "../../gemini/schema";
import { BILLING, type BilledUsage } from "../../usage/cost";

export interface ConverseUsage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
  /** Cache writes by TTL (`5m`, `1h`), where the model reports them apart. */
  cacheDetails?: { ttl?: string; inputTokens?: number }[];
}

export interface ConverseBlock {
  text?: string;
  toolUse?: { toolUseId?: string; name?: string; input?: unknown };
  reasoningContent?: { reasoningText?: { text?: string; signature?: string }; redactedContent?: string };
}

export interface ConverseResponse {
  output?: { message?: { role?: string; content?: ConverseBlock[] } };
  stopReason?: string;
  usage?: ConverseUsage;
}

const FINISH: Record<string, string> = {
  end_turn: "STOP",
  stop_sequence: "STOP",
  tool_use: "STOP",
  max_tokens: "MAX_TOKENS",
  model_context_window_exceeded: "MAX_TOKENS",
  guardrail_intervened: "SAFETY",
  content_filtered: "SAFETY",
};

export const finishReason = (r: string) => FINISH[r] ?? "OTHER";

/**
 * Converse's inputTokens excludes cache reads and writes (as Anthropic's does); Gemini's prompt count includes them.
 * Cache writes have no Gemini field: kept for the cost off the wire (src/usage/cost.ts `BILLING`), the 1-hour ones
 * apart as `cacheDetails` reports them (Anthropic models on Bedrock bill each at its own price).
 */
export function usageMetadata(u: ConverseUsage): UsageMetadata {
  const read = count(u.cacheReadInputTokens);
  const written = count(u.cacheWriteInputTokens);
  const prompt = count(u.inputTokens) + read + written;
  const out = count(u.outputTokens);
  const m: UsageMetadata = { promptTokenCount: prompt, candidatesTokenCount: out };
  if (read) m.cachedContentTokenCount = read;
  m.totalTokenCount = prompt + out;
  if (written > 0) {
    const details = Array.isArray(u.cacheDetails) ? u.cacheDetails : [];
    const hour = Math.min(written, details.reduce((n, d) => n + (d?.ttl === "1h" ? count(d.inputTokens) : 0), 0));
    (m as BilledUsage)[BILLING] = { cache_write: written - hour, cache_write_1h: hour };
  }
  return m;
}

const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0);

export function blockPart(b: ConverseBlock): Part | undefined {
  if (typeof b.text === "string") return b.text ? { text: b.text } : undefined;
  if (b.toolUse) return { functionCall: { id: b.toolUse.toolUseId, name: b.toolUse.name ?? "", args: (b.toolUse.input ?? {}) as Record<string, unknown> } };
  const r = b.reasoningContent?.reasoningText;
  if (r) return { text: r.text ?? "", thought: true, ...(r.signature ? { thoughtSignature: r.signature } : {}) };
  return undefined;
}

export function converseResponse(r: ConverseResponse, model: string): GenerateContentResponse {
  const content = r?.output?.message?.content;
  if (!Array.isArray(content)) throw new TypeError("not a Converse answer (no output.message.content)");
  const parts = content.map(blockPart).filter((p): p is Part => !!p);
  const out: GenerateContentResponse = {
    candidates: [{ content: { role: "model", parts }, ...(r.stopReason ? { finishReason: finishReason(r.stopReason) } : {}), index: 0 }],
    modelVersion: model,
  };
  if (r.usage) out.usageMetadata = usageMetadata(r.usage);
  return out;
}

/** A ConverseStream exception's type → HTTP status (throttling is a retryable 429, overload a 503). */
const EXCEPTION_CODE: Record<string, number> = {
  throttlingException: 429,
  validationException: 400,
  accessDeniedException: 403,
  resourceNotFoundException: 404,
  serviceUnavailableException: 503,
  modelNotReadyException: 503,
  internalServerException: 500,
  modelStreamErrorException: 502,
  modelTimeoutException: 504,
};

export const exceptionCode = (type: string | undefined) => EXCEPTION_CODE[type ?? ""] ?? 500;
