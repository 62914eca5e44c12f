/** Runs SSE bytes through the real parser and a provider's stream translator, split wherever a test chooses. */
import type { GenerateContentResponse } from "../../src/gemini/schema";
import type { StreamTranslator } from "../../src/providers/types";
import { sseEvents, type SseEvent } from "../../src/streaming/sse";
import { pulled } from "../../src/streaming/translate";

/** The UTF-8 bytes of `text`, cut at the given byte offsets (so a cut may fall inside a multi-byte character). */
export function splitBytes(text: string, cuts: number[]): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(bytes.slice(start, c));
    start = c;
  }
  out.push(bytes.slice(start));
  return out;
}

/** Byte offset of the n-th occurrence (0-based) of `needle` in `text`, plus `delta`. */
export function byteOffset(text: string, needle: string, delta = 0, nth = 0): number {
  let i = -1;
  for (let k = 0; k <= nth; k++) {
    i = text.indexOf(needle, i + 1);
    if (i < 0) throw new Error(`"${needle}" not found`);
  }
  return new TextEncoder().encode(text.slice(0, i)).length + delta;
}

export async function runStream(t: StreamTranslator<SseEvent>, pieces: Uint8Array[]): Promise<GenerateContentResponse[]> {
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of pieces) c.enqueue(p);
      c.close();
    },
  });
  const out: GenerateContentResponse[] = [];
  const reader = pulled(body, sseEvents(), t).getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) return out;
    out.push(r.value);
  }
}
