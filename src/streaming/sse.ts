/**
 * Server-sent events: a parser (bytes → events) and the encoder for what we send.
 * Events end at a blank line; lines may end in \n, \r\n or \r, and a network chunk may end anywhere,
 * even between the \r and \n of one line ending.
 */
import type { ByteParser } from "./parser";
import { ShrinkingSize } from "./shrink";

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/**
 * `onBytes` hears of every network chunk (liveness, for timeouts), before it is parsed. Each network chunk's text is
 * scanned once: an unfinished line is kept as pieces and joined when it ends, so an event that arrives in many small
 * network chunks costs its length, not its length times the number of chunks (a growing buffer rescanned and
 * re-flattened on every chunk made a 16 KiB event cost ~1 ms and a heap of garbage).
 */
export function sseEvents(onBytes?: () => void): ByteParser<SseEvent> {
  const decoder = new TextDecoder();
  let partial: string[] = [];
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  // A chunk that ended in "\r" may be followed by "\n" in the next one: that "\n" is not a new line.
  let skipLeadingLf = false;

  const dispatch = (emit: (e: SseEvent) => void) => {
    if (data.length) emit({ data: data.length === 1 ? data[0]! : data.join("\n"), event, id });
    data = [];
    event = undefined;
  };

  const line = (l: string, emit: (e: SseEvent) => void) => {
    if (l === "") return dispatch(emit);
    if (l.charCodeAt(0) === 58 /* ':' comment */) return;
    const colon = l.indexOf(":");
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
  };

  const scan = (t: string, emit: (e: SseEvent) => void) => {
    if (!t) return;
    let start = 0;
    if (skipLeadingLf && t.charCodeAt(0) === 10) start = 1;
    skipLeadingLf = false;
    // The next \n and \r at or after `start` (-1: none in this text); each is searched for again only once passed.
    let lf = t.indexOf("\n", start);
    let cr = t.indexOf("\r", start);
    while (lf >= 0 || cr >= 0) {
      const i = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      const piece = t.slice(start, i);
      if (partial.length) {
        partial.push(piece);
        line(partial.join(""), emit);
        partial = [];
      } else line(piece, emit);
      let next = i + 1;
      if (i === cr) {
        if (next === t.length) skipLeadingLf = true;
        else if (t.charCodeAt(next) === 10) next++;
      }
      start = next;
      if (lf >= 0 && lf < start) lf = t.indexOf("\n", start);
      if (cr >= 0 && cr < start) cr = t.indexOf("\r", start);
    }
    if (start < t.length) partial.push(start ? t.slice(start) : t);
  };

  return {
    consumesBytes: true,
    push(bytes, emit) {
      onBytes?.();
      scan(decoder.decode(bytes, { stream: true }), emit);
    },
    end(emit) {
      scan(decoder.decode(), emit);
      if (partial.length) {
        line(partial.join(""), emit);
        partial = [];
      }
      dispatch(emit);
    },
  };
}

const encoder = new TextEncoder();

/**
 * The exact JSON text a chunk was parsed from, for chunks forwarded unchanged (native Gemini): sending that text
 * again saves a stringify per chunk. Kept on the chunk itself (a symbol key, invisible to JSON) so it dies with it.
 */
const VERBATIM = Symbol("verbatim");

export function forwardVerbatim<T extends object>(chunk: T, json: string): T {
  // A multi-line `data:` payload would need re-framing; re-serialising it is simpler and as cheap.
  if (!json.includes("\n") && !json.includes("\r")) (chunk as { [VERBATIM]?: string })[VERBATIM] = json;
  return chunk;
}

/** A shallow copy of a chunk to be changed: it is sent as serialised, no longer as the upstream's own text. */
export function editable<T extends object>(chunk: T): T {
  const copy = { ...chunk };
  delete (copy as { [VERBATIM]?: string })[VERBATIM];
  return copy;
}

/** The JSON text of a chunk: the upstream's own, when it was forwarded verbatim. */
export const jsonOf = (value: object): string => (value as { [VERBATIM]?: string })[VERBATIM] ?? JSON.stringify(value);

/** One Gemini SSE event, framed the way Gemini frames it. */
export function encodeSse(value: object): Uint8Array {
  return encoder.encode(`data: ${jsonOf(value)}\r\n\r\n`);
}

/** The least a stream's frame buffer holds; it grows to fit an event and shrinks as ShrinkingSize says. */
const MIN_FRAME_BYTES = 4 * 1024;

/**
 * Frames a stream's events into one reused buffer: each frame is a view that is valid until the next `frame` call,
 * so its writer must wait for each write to finish (a WritableStream is done with a chunk once the write's promise
 * settles). A new buffer per event lives outside the V8 heap until a collection finds it, and a fast stream piles up
 * megabytes of them. The buffer starts small and shrinks again after a run of small events: a slow stream holds it
 * for its whole life, and thousands of them may be open at once.
 */
export class SseFrames {
  private buf = new Uint8Array(MIN_FRAME_BYTES);
  private readonly shrink = new ShrinkingSize(MIN_FRAME_BYTES);

  frame(value: object): Uint8Array {
    let at = this.put("data: ", 0);
    at = this.put(jsonOf(value), at);
    at = this.put("\r\n\r\n", at);
    const size = this.buf.byteLength;
    const frame = this.buf.subarray(0, at);
    // A smaller buffer takes the next frame; this one stays whole until the writer is done with it.
    const next = this.shrink.after(at, size);
    if (next !== size) this.buf = new Uint8Array(next);
    return frame;
  }

  /** Writes `s` as UTF-8 at `at`, growing the buffer (and keeping what is written) when it does not fit. */
  private put(s: string, at: number): number {
    for (let from = 0; ; ) {
      const { read, written } = encoder.encodeInto(from ? s.slice(from) : s, this.buf.subarray(at));
      at += written;
      from += read;
      if (from >= s.length) return at;
      // At most three bytes per UTF-16 unit left; doubling keeps a stream of growing events from regrowing each time.
      const bigger = new Uint8Array(Math.max(this.buf.byteLength * 2, at + (s.length - from) * 3));
      bigger.set(this.buf.subarray(0, at));
      this.buf = bigger;
    }
  }
}
