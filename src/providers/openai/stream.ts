/**
 * `chat.completion.chunk` events → Gemini stream chunks. Text and reasoning deltas go out as they arrive; a tool
 * call's argument fragments are held until the call is complete (the next call starts, or its choice finishes),
 * then sent as one functionCall part. Finish reasons are held for the usage chunk that follows them
 * (`stream_options.include_usage`), so the last Gemini chunk carries both, as Gemini's does.
 */
import type { Candidate, GenerateContentResponse, Part } from "../../gemini/schema";
import type { SseEvent } from "../../streaming/sse";
import { StreamedUpstreamError } from "../../gemini/errors";
import type { StreamTranslator } from "../types";
import { finishReason, functionCallPart, streamErrorCode, usageMetadata, type OpenAiToolCall, type OpenAiUsage } from "./response";

interface ChunkChoice {
  index?: number;
  delta?: {
    content?: string | null;
    refusal?: string | null;
    reasoning_content?: string | null;
    reasoning?: string | null;
    tool_calls?: OpenAiToolCall[] | null;
  };
  finish_reason?: string | null;
}

export interface ChatChunk {
  id?: string;
  model?: string;
  choices?: ChunkChoice[];
  usage?: OpenAiUsage | null;
  error?: { message?: string; type?: string; code?: unknown };
}

interface PendingCall {
  index: number;
  id?: string;
  name: string;
  arguments: string;
}

/** SSE events of a Chat Completions stream → Gemini chunks. */
export function openaiStream(): StreamTranslator<SseEvent> {
  const chunks = openaiChunks();
  return {
    event(e) {
      if (!e.data || e.data === "[DONE]") return [];
      return chunks.event(JSON.parse(e.data) as ChatChunk);
    },
    end: () => chunks.end(),
  };
}

/** Parsed `chat.completion.chunk` objects → Gemini chunks (for backends that frame or shape chunks their own way). */
export function openaiChunks(): StreamTranslator<ChatChunk> {
  let id: string | undefined;
  let model: string | undefined;
  /** Per choice: the tool call being assembled. */
  const calls = new Map<number, PendingCall>();
  /** Finished choices waiting for the usage chunk: choice index → Gemini finish reason. */
  const finished = new Map<number, string>();
  const refused = new Set<number>();
  let sentFinal = false;

  const chunk = (candidates: Candidate[]): GenerateContentResponse => {
    const c: GenerateContentResponse = { candidates };
    if (model) c.modelVersion = model;
    if (id) c.responseId = id;
    return c;
  };

  /** Completes a choice's pending call: a functionCall part, or a malformed-call finish. */
  const flushCall = (choice: number, parts: Part[]) => {
    const p = calls.get(choice);
    if (!p) return;
    calls.delete(choice);
    const part = functionCallPart({ id: p.id, function: { name: p.name, arguments: p.arguments } });
    if (part) parts.push(part);
    else finished.set(choice, "MALFORMED_FUNCTION_CALL");
  };

  let lastUsage: OpenAiUsage | undefined;
  const final = (usage?: OpenAiUsage | null): GenerateContentResponse[] => {
    const out: Candidate[] = [];
    for (const choice of [...calls.keys()]) {
      const parts: Part[] = [];
      flushCall(choice, parts);
      if (parts.length) out.push({ content: { role: "model", parts }, index: choice });
    }
    for (const [index, reason] of finished) out.push({ content: { role: "model", parts: [] }, finishReason: reason, index });
    finished.clear();
    if (!out.length && !usage) return [];
    const c = chunk(out);
    if (usage) c.usageMetadata = usageMetadata(usage);
    sentFinal = true;
    return [c];
  };

  return {
    event(data) {
      if (data.error) {
        throw new StreamedUpstreamError({ error: { code: streamErrorCode(data.error), message: data.error.message ?? "stream error" } });
      }
      id ??= data.id;
      model ??= data.model;
      const candidates: Candidate[] = [];
      for (const ch of data.choices ?? []) {
        const index = ch.index ?? 0;
        const parts: Part[] = [];
        const d = ch.delta ?? {};
        const reasoning = d.reasoning_content ?? d.reasoning;
        if (reasoning) parts.push({ text: reasoning, thought: true });
        if (d.content) parts.push({ text: d.content });
        if (d.refusal) {
          parts.push({ text: d.refusal });
          refused.add(index);
        }
        for (const t of d.tool_calls ?? []) {
          const pending = calls.get(index);
          // Some hosts omit `index` on continuation fragments: those continue the pending call.
          const ti = t.index ?? pending?.index ?? 0;
          // A new call index (or a fresh id) means the previous call's arguments are complete.
          if (pending && (ti !== pending.index || (t.id && pending.id && t.id !== pending.id))) flushCall(index, parts);
          const cur = calls.get(index) ?? { index: ti, id: t.id, name: "", arguments: "" };
          if (t.id) cur.id = t.id;
          // The name comes whole (some hosts repeat it on every fragment).
          if (t.function?.name && !cur.name) cur.name = t.function.name;
          if (t.function?.arguments) cur.arguments += t.function.arguments;
          calls.set(index, cur);
        }
        if (ch.finish_reason) {
          flushCall(index, parts);
          if (!finished.has(index)) finished.set(index, refused.has(index) ? "SAFETY" : finishReason(ch.finish_reason));
        }
        if (parts.length) candidates.push({ content: { role: "model", parts }, index });
      }
      const out = candidates.length ? [chunk(candidates)] : [];
      // OpenAI's usage chunk (include_usage) has no choices and ends the answer; usage on a chunk that still has
      // choices (hosts reporting running totals) is only remembered, or it would cut calls still being assembled.
      if (data.usage && !data.choices?.length) out.push(...final(data.usage));
      else if (data.usage) lastUsage = data.usage;
      return out;
    },
    // A host that sends no usage-only chunk still gets its finish reasons (and last usage) out.
    end: () => (sentFinal && !finished.size && !calls.size ? [] : final(lastUsage)),
  };
}
