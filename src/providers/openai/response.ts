/** OpenAI Chat Completions / Embeddings / Images answers → Gemini answers. Pure functions. */
import type { Candidate, GenerateContentResponse, Part, UsageMetadata } from "../../gemini/schema";

export interface OpenAiUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number; audio_tokens?: number } | null;
}

export interface OpenAiToolCall {
  id?: string;
  index?: number;
  type?: string;
  function?: { name?: string; arguments?: string };
}

interface ChatMessage {
  content?: string | null;
  refusal?: string | null;
  /** Not OpenAI's: reasoning text some compatible hosts (DeepSeek, vLLM, OpenRouter, Ollama) return. */
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: OpenAiToolCall[] | null;
}

export interface ChatCompletion {
  id?: string;
  model?: string;
  choices: { index?: number; message?: ChatMessage; finish_reason?: string | null }[];
  usage?: OpenAiUsage | null;
}

const FINISH: Record<string, string> = {
  stop: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
  tool_calls: "STOP",
  function_call: "STOP",
};

export const finishReason = (r: string) => FINISH[r] ?? "OTHER";

/** Gemini counts cached tokens inside promptTokenCount (as OpenAI does) and thoughts outside candidatesTokenCount. */
export function usageMetadata(u: OpenAiUsage): UsageMetadata {
  const prompt = u.prompt_tokens ?? 0;
  const completion = u.completion_tokens ?? 0;
  const thoughts = u.completion_tokens_details?.reasoning_tokens ?? 0;
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  const m: UsageMetadata = { promptTokenCount: prompt, candidatesTokenCount: completion - thoughts };
  if (cached) m.cachedContentTokenCount = cached;
  if (thoughts) m.thoughtsTokenCount = thoughts;
  m.totalTokenCount = u.total_tokens ?? prompt + completion;
  // Audio in and out, as Gemini reports modalities: priced at the audio prices (src/usage/cost.ts).
  const audioIn = u.prompt_tokens_details?.audio_tokens ?? 0;
  const audioOut = u.completion_tokens_details?.audio_tokens ?? 0;
  if (audioIn > 0) m.promptTokensDetails = modalities(audioIn, prompt - audioIn);
  if (audioOut > 0) m.candidatesTokensDetails = modalities(audioOut, completion - thoughts - audioOut);
  return m;
}

const modalities = (audio: number, text: number) => [
  ...(text > 0 ? [{ modality: "TEXT", tokenCount: text }] : []),
  { modality: "AUDIO", tokenCount: audio },
];

/** A whole tool call → a functionCall part; undefined when its arguments are not a JSON object. */
export function functionCallPart(t: OpenAiToolCall): Part | undefined {
  let args: unknown;
  try {
    args = t.function?.arguments ? JSON.parse(t.function.arguments) : {};
  } catch {
    return undefined;
  }
  if (!args || typeof args !== "object" || Array.isArray(args)) return undefined;
  return { functionCall: { ...(t.id ? { id: t.id } : {}), name: t.function?.name ?? "", args: args as Record<string, unknown> } };
}

export function chatResponse(c: ChatCompletion): GenerateContentResponse {
  if (!c || !Array.isArray(c.choices)) throw new TypeError("not a chat completion (no choices)");
  const candidates: Candidate[] = c.choices.map((ch, i) => {
    const m = ch.message ?? {};
    const parts: Part[] = [];
    const reasoning = m.reasoning_content ?? m.reasoning;
    if (reasoning) parts.push({ text: reasoning, thought: true });
    if (m.content) parts.push({ text: m.content });
    if (m.refusal) parts.push({ text: m.refusal });
    let malformed = false;
    for (const t of m.tool_calls ?? []) {
      const part = functionCallPart(t);
      if (part) parts.push(part);
      else malformed = true;
    }
    const cand: Candidate = { content: { role: "model", parts }, index: ch.index ?? i };
    if (malformed) cand.finishReason = "MALFORMED_FUNCTION_CALL";
    else if (m.refusal) cand.finishReason = "SAFETY";
    else if (ch.finish_reason) cand.finishReason = finishReason(ch.finish_reason);
    return cand;
  });
  const out: GenerateContentResponse = { candidates };
  if (c.usage) out.usageMetadata = usageMetadata(c.usage);
  if (c.model) out.modelVersion = c.model;
  if (c.id) out.responseId = c.id;
  return out;
}

interface EmbeddingList {
  data: { index?: number; embedding: number[] }[];
  usage?: { prompt_tokens?: number; total_tokens?: number };
}

/** Embeddings in request order. `usageMetadata` is the gateway's addition so usage rows carry the input tokens. */
export function embeddingsResponse(e: EmbeddingList, batch: boolean): Record<string, unknown> {
  if (!e || !Array.isArray(e.data)) throw new TypeError("not an embedding list (no data)");
  const sorted = [...e.data].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)).map((d) => ({ values: d.embedding }));
  const out: Record<string, unknown> = batch ? { embeddings: sorted } : { embedding: sorted[0] };
  if (e.usage) out.usageMetadata = { promptTokenCount: e.usage.prompt_tokens ?? 0, totalTokenCount: e.usage.total_tokens ?? e.usage.prompt_tokens ?? 0 };
  return out;
}

interface ImagesResponse {
  data: { b64_json?: string }[];
  output_format?: string;
  usage?: { input_tokens?: number; output_tokens?: number; total_tokens?: number };
}

export function imagesResponse(r: ImagesResponse): Record<string, unknown> {
  if (!r || !Array.isArray(r.data)) throw new TypeError("not an images answer (no data)");
  const mimeType = `image/${r.output_format ?? "png"}`;
  const out: Record<string, unknown> = {
    predictions: r.data.filter((d) => d.b64_json).map((d) => ({ bytesBase64Encoded: d.b64_json, mimeType })),
  };
  if (r.usage) {
    out.usageMetadata = {
      promptTokenCount: r.usage.input_tokens ?? 0,
      candidatesTokenCount: r.usage.output_tokens ?? 0,
      totalTokenCount: r.usage.total_tokens ?? (r.usage.input_tokens ?? 0) + (r.usage.output_tokens ?? 0),
    };
  }
  return out;
}

/** An OpenAI-style error code → HTTP status, for errors that arrive inside a stream (no HTTP status there). */
export function streamErrorCode(e: { code?: unknown; type?: unknown }): number {
  if (typeof e.code === "number") return e.code;
  const s = `${e.type ?? ""} ${e.code ?? ""}`;
  if (/rate_limit|quota/.test(s)) return 429;
  if (/invalid_request|context_length/.test(s)) return 400;
  if (/auth|api_key/.test(s)) return 401;
  return 500;
}
