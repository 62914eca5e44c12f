import type { LineScanner } from "./line-scan";

/**
 * Counts an upload's bytes (and newlines: a JSONL batch input's request count) as they stream through to the
 * upstream, never holding more than the chunk in hand, and stops the stream the moment it passes its limit.
 */
export interface Meter {
  readonly stream: ReadableStream<Uint8Array>;
  bytes: number;
  /** Newline bytes seen. */
  lines: number;
  /** Whether the last byte seen (or, before any, the one before this stream) was a newline. */
  endsNl: boolean;
  /** Set when the stream passed `limit` and was stopped. */
  over: boolean;
  /**
   * Aborted the moment the stream passes its limit: the upstream request carrying the stream must be sent with it,
   * so the upstream sees a broken request rather than a body that merely ended early.
   */
  signal: AbortSignal;
}

const NL = 10;

/** `scan`, when given, reads each chunk's lines as it passes (src/resources/line-scan.ts). */
export function meter(body: ReadableStream<Uint8Array>, limit: number, endsNl = true, exactLength?: number, signal?: AbortSignal, scan?: LineScanner): Meter {
  const stop = new AbortController();
  const m = { bytes: 0, lines: 0, endsNl, over: false, signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal } as Meter & { stream: ReadableStream<Uint8Array> };
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        m.bytes += chunk.byteLength;
        if (m.bytes > limit) {
          m.over = true;
          const e = new RangeError(`upload exceeds ${limit} bytes`);
          stop.abort(e);
          c.error(e);
          return;
        }
        for (let i = chunk.indexOf(NL); i >= 0; i = chunk.indexOf(NL, i + 1)) m.lines++;
        if (chunk.byteLength) m.endsNl = chunk[chunk.byteLength - 1] === NL;
        scan?.push(chunk);
        c.enqueue(chunk);
      },
    }),
  );
  // With a declared length the upstream is sent it too (and the runtime holds the body to exactly that length).
  m.stream = exactLength === undefined ? counted : counted.pipeThrough(new FixedLengthStream(exactLength));
  return m;
}
