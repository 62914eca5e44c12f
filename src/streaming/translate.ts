/** Upstream bytes → events (a ByteParser) → Gemini chunks through a provider's per-stream translator. */
import type { GenerateContentResponse, UsageMetadata } from "../gemini/schema";
import type { ByteParser } from "./parser";
import { ShrinkingSize } from "./shrink";
import { sseEvents, type SseEvent } from "./sse";

/**
 * A provider's per-stream state machine: one upstream event (an SSE event, an event-stream message) → zero or more
 * Gemini chunks. Declared here, where the loop that pulls it is; each provider (src/providers/) supplies its own.
 */
export interface StreamTranslator<E> {
  event(e: E): GenerateContentResponse[];
  /** Called once when the upstream stream ends; may flush held state (e.g. a last tool call). */
  end(): GenerateContentResponse[];
  /** Usage reported so far, before the last chunk (what a stream cut short is charged). */
  usage?(): UsageMetadata | undefined;
}

/** A streamed answer being decoded: its Gemini chunks, and the usage its upstream has reported so far. */
export interface DecodedStream {
  chunks: ReadableStream<GenerateContentResponse>;
  usage(): UsageMetadata | undefined;
}

/**
 * The decoding of every provider that streams server-sent events: bytes → SSE events → its translator, made for
 * each call (`C` is the provider's call, src/providers/types.ts `ProviderCall`). `onBytes` hears of every network
 * chunk (liveness, for timeouts).
 */
export function sseDecoder<C>(translator: (call: C) => StreamTranslator<SseEvent>) {
  return (body: ReadableStream<Uint8Array>, call: C, onBytes: () => void): DecodedStream => decoded(body, sseEvents(onBytes), translator(call));
}

/** An upstream body through a parser and a translator, with the usage the translator has seen so far. */
export function decoded<E>(body: ReadableStream<Uint8Array>, parser: ByteParser<E>, t: StreamTranslator<E>): DecodedStream {
  return { chunks: pulled(body, parser, t), usage: () => t.usage?.() };
}

/** Bounds of the buffer a stream's network chunks are read into, when its parser allows one buffer for all. */
const MIN_READ_BYTES = 4 * 1024;
const MAX_READ_BYTES = 64 * 1024;

/**
 * Chunks pulled from the upstream body as the client asks for them: each pull reads network chunks until one
 * translates to something, then hands that on. One reader and one plain loop, with no stream stages in between
 * (two piped TransformStreams cost each chunk their queues and promise hops). An error (a malformed event, an
 * upstream error event) errors the stream and cancels the upstream body; so does the client's cancel.
 *
 * When the parser decodes bytes as they come (SSE), network chunks are read into one reused buffer: a new buffer
 * per chunk lives outside the JS heap until a collection finds it, and a fast stream piled up tens of MiB of them.
 * The buffer starts small and doubles while reads fill it (a fast stream), and halves when they use little of it:
 * a slow stream's pending read holds its buffer the whole time, and thousands of them may be open at once.
 */
export function pulled<E>(body: ReadableStream<Uint8Array>, parser: ByteParser<E>, t: StreamTranslator<E>): ReadableStream<GenerateContentResponse> {
  const reader = readerOf(body, parser.consumesBytes === true);
  let buffer = new ArrayBuffer(reader.byob ? MIN_READ_BYTES : 0);
  const shrink = new ShrinkingSize(MIN_READ_BYTES);
  const read = async (): Promise<ReadableStreamReadResult<Uint8Array>> => {
    if (!reader.byob) return reader.r.read();
    const r = await reader.r.read(new Uint8Array(buffer));
    if (r.done) return { done: true, value: undefined };
    // The read took the buffer and gives it back in the result; the parser is done with it before the next read.
    const n = r.value.byteLength;
    const size = r.value.buffer.byteLength;
    const kept = shrink.after(n, size);
    const next = n === size && size < MAX_READ_BYTES ? size * 2 : kept;
    buffer = next === size ? (r.value.buffer as ArrayBuffer) : new ArrayBuffer(next);
    return r;
  };
  const out: GenerateContentResponse[] = [];
  const take = (e: E) => {
    for (const chunk of t.event(e)) out.push(chunk);
  };
  return new ReadableStream<GenerateContentResponse>(
    {
      async pull(controller) {
        try {
          while (!out.length) {
            const r = await read();
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
          reader.r.cancel(e).catch(() => {});
          throw e;
        }
      },
      cancel: (reason) => reader.r.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

type AnyReader = { byob: true; r: ReadableStreamBYOBReader } | { byob: false; r: ReadableStreamDefaultReader<Uint8Array> };

/** A BYOB reader where wanted and the body is a byte stream (a fetch body is; a JS-built stream may not be). */
function readerOf(body: ReadableStream<Uint8Array>, wantByob: boolean): AnyReader {
  if (wantByob) {
    try {
      return { byob: true, r: body.getReader({ mode: "byob" }) };
    } catch {
      // Not a byte stream: read it chunk by chunk.
    }
  }
  return { byob: false, r: body.getReader() };
}
