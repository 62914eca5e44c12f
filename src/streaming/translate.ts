/** Upstream events → Gemini chunks through a provider's per-stream translator, one event at a time. */
import type { GenerateContentResponse } from "../gemini/schema";
import type { DecodedStream, ProviderCall, StreamDecoder, StreamTranslator } from "../providers/types";
import { sseEvents, type ByteParser, type SseEvent } from "./sse";

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
  return (body, call, onBytes) => {
    const t = translator(call);
    return { chunks: pulled(body, sseEvents(onBytes), t), usage: () => t.usage?.() };
  };
}

/**
 * Chunks pulled from the upstream body as the client asks for them: each pull reads network chunks until one
 * translates to something, then hands that on. One reader and one plain loop, with no stream stages in between
 * (two piped TransformStreams cost each chunk their queues and promise hops). An error (a malformed event, an
 * upstream error event) errors the stream and cancels the upstream body; so does the client's cancel.
 */
export function pulled<E>(body: ReadableStream<Uint8Array>, parser: ByteParser<E>, t: StreamTranslator<E>): ReadableStream<GenerateContentResponse> {
  const reader = body.getReader();
  const out: GenerateContentResponse[] = [];
  const take = (e: E) => {
    for (const chunk of t.event(e)) out.push(chunk);
  };
  return new ReadableStream<GenerateContentResponse>(
    {
      async pull(controller) {
        try {
          while (!out.length) {
            const r = await reader.read();
            if (r.done) {
              parser.end(take);
              for (const chunk of t.end()) out.push(chunk);
              for (const chunk of out.splice(0)) controller.enqueue(chunk);
              controller.close();
              return;
            }
            parser.push(r.value, take);
          }
          for (const chunk of out.splice(0)) controller.enqueue(chunk);
        } catch (e) {
          reader.cancel(e).catch(() => {});
          throw e;
        }
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** Parsed upstream events through a translator, with the usage it has seen so far. */
export function decoded<E>(events: ReadableStream<E>, t: StreamTranslator<E>): DecodedStream {
  return { chunks: events.pipeThrough(translateStream(t)), usage: () => t.usage?.() };
}
