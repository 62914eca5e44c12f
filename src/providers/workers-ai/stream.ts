/**
 * A Workers AI stream (SSE from the binding) → Gemini chunks. Models that speak OpenAI send `chat.completion.chunk`
 * events; the others send `{"response": "<text>"}` events, whole tool calls in `tool_calls`, and `usage` near the
 * end. Both go through the one OpenAI chunk translator: native events are restated as the chunks they amount to,
 * and a native stream's finish (and usage) is sent when it ends, as it names no finish reason of its own.
 */
import type { SseEvent } from "../../streaming/sse";
import { sseDecoder } from "../../streaming/translate";
import type { OpenAiUsage } from "../openai/response";
import { openaiChunks, type ChatChunk } from "../openai/stream";
import type { StreamTranslator } from "../types";
import { wholeCall, type AiNative } from "./wire";

export function aiStream(): StreamTranslator<SseEvent> {
  const chunks = openaiChunks();
  let native = false;
  let calls = 0;
  let usage: OpenAiUsage | undefined;
  return {
    event(e) {
      if (!e.data || e.data === "[DONE]") return [];
      const data = JSON.parse(e.data) as ChatChunk & AiNative;
      if (Array.isArray(data.choices) || data.error) return chunks.event(data);
      native = true;
      if (data.usage) usage = data.usage;
      const delta: NonNullable<NonNullable<ChatChunk["choices"]>[number]["delta"]> = {};
      if (typeof data.response === "string" || typeof data.response === "number") delta.content = String(data.response);
      if (data.tool_calls?.length) {
        // Whole calls get an index each, so the translator sees each one complete before the next starts.
        delta.tool_calls = data.tool_calls.map((t) => (t.function ? t : { ...wholeCall(t), index: calls++ }));
      }
      return delta.content || delta.tool_calls ? chunks.event({ choices: [{ index: 0, delta }] }) : [];
    },
    end() {
      if (!native) return chunks.end();
      const out = chunks.event({ choices: [{ index: 0, delta: {}, finish_reason: calls ? "tool_calls" : "stop" }] });
      out.push(...chunks.event({ choices: [], ...(usage ? { usage } : {}) }));
      return [...out, ...chunks.end()];
    },
    usage: () => chunks.usage?.(),
  };
}

export const aiDecoder = sseDecoder(() => aiStream());
