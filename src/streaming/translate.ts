/** Upstream SSE events → Gemini chunks through a provider's per-stream translator, one event at a time. */
import type { GenerateContentResponse } from "../gemini/schema";
import type { StreamTranslator } from "../providers/types";
import type { SseEvent } from "./sse";

export function translateStream(t: StreamTranslator): TransformStream<SseEvent, GenerateContentResponse> {
  return new TransformStream({
    transform(e, controller) {
      for (const chunk of t.event(e)) controller.enqueue(chunk);
    },
    flush(controller) {
      for (const chunk of t.end()) controller.enqueue(chunk);
    },
  });
}
