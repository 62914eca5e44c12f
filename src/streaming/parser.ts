/**
 * A streaming byte parser (SSE, AWS event-stream): bytes in, events out, one network chunk at a time. Decoders pull
 * upstream bodies through one (src/streaming/translate.ts); `parserStream` makes one a TransformStream.
 */
export interface ByteParser<E> {
  push(bytes: Uint8Array, emit: (e: E) => void): void;
  end(emit: (e: E) => void): void;
  /**
   * True when `push` keeps no reference to the bytes once it returns (it decodes them at once): the reader may then
   * read every network chunk into one reused buffer instead of a new one per chunk.
   */
  readonly consumesBytes?: boolean;
}

export function parserStream<E>(p: ByteParser<E>): TransformStream<Uint8Array, E> {
  return new TransformStream({
    transform: (chunk, controller) => p.push(chunk, (e) => controller.enqueue(e)),
    flush: (controller) => p.end((e) => controller.enqueue(e)),
  });
}
