/** Upstream events → Gemini chunks through a provider's per-stream translator, one event at a time. */
import type { GenerateContentResponse } from "../gemini/schema";
import type { DecodedStream, ProviderCall, StreamDecoder, StreamTranslator } from "../providers/types";
import { sseParser, type SseEvent } from "./sse";

export function translateStream<E>(t: StreamTranslator<E>): TransformStream<E, GenerateContentResponse> {
  return new TransformStream({
    transform(e, controller) {
      for (const chunk of t.event(e)) controller.enqueue(chunk);
    },
    flush(controller) {
      for (const chunk of t.end()) controller.enqueue(chunk);
    },
  });
}

/** The decoding of every provider that streams server-sent events: bytes → SSE events → its translator. */
export function sseDecoder(translator: (call: ProviderCall) => StreamTranslator<SseEvent>): StreamDecoder {
  return (body, call, onBytes) => decoded(body.pipeThrough(sseParser(onBytes)), translator(call));
}

/** Parsed upstream events through a translator, with the usage it has seen so far. */
export function decoded<E>(events: ReadableStream<E>, t: StreamTranslator<E>): DecodedStream {
  return { chunks: events.pipeThrough(translateStream(t)), usage: () => t.usage?.() };
}
