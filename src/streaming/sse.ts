/**
 * Server-sent events: a parser (bytes → events) and the encoder for what we send.
 * Events end at a blank line; lines may end in \n, \r\n or \r, and a network chunk may end anywhere,
 * even between the \r and \n of one line ending.
 */
import type { ByteParser } from "./parser";

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/** `onBytes` hears of every network chunk (liveness, for timeouts), before it is parsed. */
export function sseEvents(onBytes?: () => void): ByteParser<SseEvent> {
  const decoder = new TextDecoder();
  let buf = "";
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  // A chunk that ended in "\r" may be followed by "\n" in the next one: that "\n" is not a new line.
  let skipLeadingLf = false;

  const dispatch = (emit: (e: SseEvent) => void) => {
    if (data.length) emit({ data: data.join("\n"), event, id });
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

  const drain = (emit: (e: SseEvent) => void) => {
    let start = 0;
    if (skipLeadingLf && buf.charCodeAt(0) === 10) start = 1;
    skipLeadingLf = false;
    for (let i = start; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      line(buf.slice(start, i), emit);
      if (c === 13) {
        if (i + 1 === buf.length) skipLeadingLf = true;
        else if (buf.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    buf = buf.slice(start);
  };

  return {
    push(bytes, emit) {
      onBytes?.();
      buf += decoder.decode(bytes, { stream: true });
      drain(emit);
    },
    end(emit) {
      buf += decoder.decode();
      if (buf) {
        drain(emit);
        if (buf) line(buf, emit);
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

/** One Gemini SSE event, framed the way Gemini frames it. */
export function encodeSse(value: object): Uint8Array {
  return encoder.encode(`data: ${(value as { [VERBATIM]?: string })[VERBATIM] ?? JSON.stringify(value)}\r\n\r\n`);
}
