/**
 * Anthropic streaming events → Gemini stream chunks. Text and thinking deltas go out as they arrive; a tool_use
 * block's `input_json_delta` fragments are assembled and sent as one functionCall part at `content_block_stop`.
 * `message_delta` carries the stop reason and final output count: it becomes the last chunk, with usage.
 */
import { BILLING, type BilledUsage } from "../../usage/cost";
import type { GenerateContentResponse, Part } from "../../gemini/schema";
import type { SseEvent } from "../../streaming/sse";
import { StreamedUpstreamError } from "../../gemini/errors";
import type { StreamTranslator } from "../types";
import { errorCode, finishReason, jsonText, usageMetadata, type AnthropicBlock, type AnthropicUsage, type JsonTool } from "./response";

type Event =
  | { type: "message_start"; message: { id?: string; model?: string; usage?: AnthropicUsage } }
  | { type: "content_block_start"; index: number; content_block: AnthropicBlock }
  | { type: "content_block_delta"; index: number; delta: { type: string; text?: string; thinking?: string; signature?: string; partial_json?: string } }
  | { type: "content_block_stop"; index: number }
  | { type: "message_delta"; delta: { stop_reason?: string | null }; usage?: AnthropicUsage }
  | { type: "message_stop" }
  | { type: "ping" }
  | { type: "error"; error: { type?: string; message?: string } };

export function anthropicStream(jsonTool?: JsonTool): StreamTranslator<SseEvent> {
  let id: string | undefined;
  let model: string | undefined;
  let usage: AnthropicUsage = {};
  let malformed = false;
  let started = false;
  /** Blocks being assembled, by content index: tool calls (and a wrapped JSON answer). */
  const tools = new Map<number, { block: AnthropicBlock; json: string; streamed: boolean }>();

  const chunk = (parts: Part[], extra: Record<string, unknown> = {}): GenerateContentResponse => {
    const c: GenerateContentResponse = { candidates: [{ content: { role: "model", parts }, index: 0, ...extra }] };
    if (model) c.modelVersion = model;
    if (id) c.responseId = id;
    return c;
  };

  return {
    event(e: SseEvent) {
      if (!e.data) return [];
      const ev = JSON.parse(e.data) as Event;
      switch (ev.type) {
        case "message_start":
          id = ev.message.id;
          model = ev.message.model;
          usage = { ...ev.message.usage };
          started = true;
          return [];
        case "content_block_start": {
          const b = ev.content_block;
          if (b.type === "tool_use") {
            // The forced JSON tool's input is the answer text: an object streams as is, fragment by fragment.
            const streamed = !!jsonTool && b.name === jsonTool.name && !jsonTool.unwrap;
            tools.set(ev.index, { block: b, json: "", streamed });
            return [];
          }
          if (b.type === "text" && b.text) return [chunk([{ text: b.text }])];
          if (b.type === "thinking" && b.thinking) return [chunk([{ text: b.thinking, thought: true }])];
          return [];
        }
        case "content_block_delta": {
          const d = ev.delta;
          if (d.type === "text_delta" && d.text) return [chunk([{ text: d.text }])];
          if (d.type === "thinking_delta" && d.thinking) return [chunk([{ text: d.thinking, thought: true }])];
          // The signature closes a thinking block; the caller needs it to send the thought back next turn.
          if (d.type === "signature_delta" && d.signature) return [chunk([{ text: "", thought: true, thoughtSignature: d.signature }])];
          if (d.type === "input_json_delta") {
            const t = tools.get(ev.index);
            if (!t || !d.partial_json) return [];
            if (t.streamed) return [chunk([{ text: d.partial_json }])];
            t.json += d.partial_json;
          }
          return [];
        }
        case "content_block_stop": {
          const t = tools.get(ev.index);
          if (!t) return [];
          tools.delete(ev.index);
          if (t.streamed) return [];
          let input: unknown = t.block.input ?? {};
          if (t.json) {
            try {
              input = JSON.parse(t.json);
            } catch {
              // Reported as the finish reason in the last chunk, as Gemini does.
              malformed = true;
              return [];
            }
          }
          if (jsonTool && t.block.name === jsonTool.name) return [chunk([{ text: jsonText(input, jsonTool) }])];
          return [chunk([{ functionCall: { id: t.block.id, name: t.block.name ?? "", args: input as Record<string, unknown> } }])];
        }
        case "message_delta": {
          // message_delta's usage counts are cumulative; input counts may be absent (older API versions).
          usage = { ...usage, ...definedOnly(ev.usage ?? {}) };
          const reason = malformed ? "MALFORMED_FUNCTION_CALL" : ev.delta.stop_reason ? finishReason(ev.delta.stop_reason) : undefined;
          const c = chunk([], reason ? { finishReason: reason } : {});
          c.usageMetadata = usageMetadata(usage);
          return [c];
        }
        case "error":
          throw new StreamedUpstreamError({
            error: { code: errorCode(ev.error?.type), message: ev.error?.message ?? "stream error" },
          });
        default:
          // ping, message_stop and event types added later carry nothing for the caller.
          return [];
      }
    },
    end: () => [],
    // Input counts arrive in message_start (its output count is a placeholder): a stream cut before message_delta
    // is charged them, and its output is estimated from what was sent.
    usage: () => {
      if (!started) return undefined;
      // The cache writes (a symbol, src/usage/cost.ts) stay with the input they are part of.
      const { promptTokenCount, [BILLING]: billing } = usageMetadata(usage) as BilledUsage;
      return billing ? { promptTokenCount, [BILLING]: billing } : { promptTokenCount };
    },
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}
