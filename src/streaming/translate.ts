/** Upstream bytes → events (a ByteParser) → Gemini chunks through a provider's per-stream translator. */
import type { GenerateContentResponse } from "../gemini/schema";
import type { DecodedStream, ProviderCall, StreamDecoder, StreamTranslator } from "../providers/types";
import type { ByteParser } from "./parser";
import { sseEvents, type SseEvent } from "./sse";

/** The decoding of every provider that streams server-sent events: bytes → SSE events → its translator. */
export function sseDecoder(translator: (call: ProviderCall) => StreamTranslator<SseEvent>): StreamDecoder {
  return (body, call, onBytes) => decoded(body, sseEvents(onBytes), translator(call));
}

/** An upstream body through a parser and a translator, with the usage the translator has seen so far. */
export function decoded<E>(body: ReadableStream<Uint8Array>, parser: ByteParser<E>, t: StreamTranslator<E>): DecodedStream {
  return { chunks: pulled(body, parser, t), usage: () => t.usage?.() };
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
