/** Anthropic Messages answers → Gemini answers. Pure functions. */
import type { GenerateContentResponse, Part, UsageMetadata } from "../../gemini/schema";
import { BILLING, type BilledUsage } from "../../usage/cost";

export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  /** The cache writes by lifetime (their sum is cache_creation_input_tokens). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
}

export interface AnthropicBlock {
  type: string;
  text?: string;
  thinking?: string;
  signature?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

export interface AnthropicMessage {
  id?: string;
  model?: string;
  content: AnthropicBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage;
}

const FINISH: Record<string, string> = {
  end_turn: "STOP",
  stop_sequence: "STOP",
  tool_use: "STOP",
  pause_turn: "STOP",
  max_tokens: "MAX_TOKENS",
  model_context_window_exceeded: "MAX_TOKENS",
  refusal: "SAFETY",
};

export const finishReason = (r: string) => FINISH[r] ?? "OTHER";

/**
 * Anthropic's input_tokens excludes cache reads and writes; Gemini's promptTokenCount is the whole prompt.
 * Anthropic's output_tokens includes thinking and gives no split, so it all counts as candidates (billing is exact;
 * thoughtsTokenCount is absent).
 */
export function usageMetadata(u: AnthropicUsage): UsageMetadata {
  const read = u.cache_read_input_tokens ?? 0;
  const prompt = (u.input_tokens ?? 0) + read + (u.cache_creation_input_tokens ?? 0);
  const out = u.output_tokens ?? 0;
  const m: UsageMetadata = { promptTokenCount: prompt, candidatesTokenCount: out };
  if (read) m.cachedContentTokenCount = read;
  m.totalTokenCount = prompt + out;
  // Cache writes have no Gemini field: kept for the cost (1.25x input for 5 minutes, 2x for an hour), off the wire.
  const written = u.cache_creation_input_tokens ?? 0;
  if (written > 0) {
    const hour = Math.min(written, u.cache_creation?.ephemeral_1h_input_tokens ?? 0);
    (m as BilledUsage)[BILLING] = { cache_write: written - hour, cache_write_1h: hour };
  }
  return m;
}

/** One content block → a Gemini part; undefined for blocks with no Gemini form (redacted thinking, server tools). */
export function blockPart(b: AnthropicBlock, jsonTool: JsonTool | undefined): Part | undefined {
  switch (b.type) {
    case "text":
      return b.text ? { text: b.text } : undefined;
    case "thinking":
      return { text: b.thinking ?? "", thought: true, ...(b.signature ? { thoughtSignature: b.signature } : {}) };
    case "tool_use":
      if (jsonTool && b.name === jsonTool.name) return { text: jsonText(b.input, jsonTool) };
      return { functionCall: { id: b.id, name: b.name ?? "", args: (b.input ?? {}) as Record<string, unknown> } };
  }
  return undefined;
}

/** The forced JSON tool, when in use: its input is the answer. Non-object schemas were wrapped as `{value}`. */
export interface JsonTool {
  name: string;
  unwrap: boolean;
}

export const jsonText = (input: unknown, t: JsonTool) =>
  JSON.stringify(t.unwrap ? (input as { value?: unknown } | null)?.value ?? null : input);

export function messageResponse(m: AnthropicMessage, jsonTool?: JsonTool): GenerateContentResponse {
  if (!m || !Array.isArray(m.content)) throw new TypeError("not an Anthropic message (no content)");
  const parts = m.content.map((b) => blockPart(b, jsonTool)).filter((p): p is Part => !!p);
  const out: GenerateContentResponse = {
    candidates: [{ content: { role: "model", parts }, ...(m.stop_reason ? { finishReason: finishReason(m.stop_reason) } : {}), index: 0 }],
  };
  if (m.usage) out.usageMetadata = usageMetadata(m.usage);
  if (m.model) out.modelVersion = m.model;
  if (m.id) out.responseId = m.id;
  return out;
}

/** Anthropic error `type` → HTTP status, for error events inside a stream. Overloaded is a retryable 503. */
const ERROR_CODE: Record<string, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 503,
};

export const errorCode = (type: string | undefined) => ERROR_CODE[type ?? ""] ?? 500;
