/**
 * The upstream request body, as JSON. A small body is one `JSON.stringify`. A large one (an inline image, a long
 * document) is written out piece by piece as the upstream reads it, so a call never holds a second serialised copy
 * (and a third, encoded one) of its body next to the parsed request: the bytes are produced in slices of at most
 * `PIECE` characters, and a `FixedLengthStream` sends them with an exact Content-Length. The bytes are exactly
 * `JSON.stringify`'s.
 */

/** Bodies whose strings add up to less than this (characters) are serialised in one go. */
export const STREAM_OVER = 1 << 20;
/** The largest slice of a string serialised at once (and about the size of each chunk sent). */
const PIECE = 1 << 16;

const encoder = new TextEncoder();

/**
 * A string made of parts (a `data:` URL around a large base64 payload), serialised as their concatenation without
 * the concatenation ever being built: JSON.stringify (through toJSON) and `jsonBody` give the same text.
 */
export class JoinedString {
  constructor(readonly parts: readonly string[]) {}
  toJSON(): string {
    return this.parts.join("");
  }
}

/** The parts as one string, or, when that would be large, as a JoinedString that `jsonBody` writes part by part. */
export function joined(...parts: string[]): string | JoinedString {
  let n = 0;
  for (const p of parts) n += p.length;
  return n < STREAM_OVER ? parts.join("") : new JoinedString(parts);
}

export function jsonBody(value: unknown): BodyInit {
  if (stringChars(value) < STREAM_OVER) return JSON.stringify(value);
  const length = byteLength(value);
  let chunks: Iterator<string> | undefined;
  const source = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        chunks ??= batched(pieces(value));
        const next = chunks.next();
        if (next.done) c.close();
        else c.enqueue(encoder.encode(next.value));
      },
    },
    { highWaterMark: 0 },
  );
  const fixed = new FixedLengthStream(length);
  // A cancelled upstream call ends the pipe; nothing is waiting on it.
  source.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
}

/** The characters in every string of `v` (keys included): a cheap upper bound's worth of its size. */
function stringChars(v: unknown): number {
  let n = 0;
  const stack: unknown[] = [v];
  while (stack.length && n < STREAM_OVER) {
    const x = stack.pop();
    if (typeof x === "string") n += x.length;
    else if (x instanceof JoinedString) stack.push(...x.parts);
    else if (x && typeof x === "object") {
      if (Array.isArray(x)) for (const y of x) stack.push(y);
      else for (const k of Object.keys(x)) {
        n += k.length;
        stack.push((x as Record<string, unknown>)[k]);
      }
    }
  }
  return n;
}

/** The UTF-8 length of the serialisation, counted through a scratch buffer (nothing of its size is allocated). */
function byteLength(value: unknown): number {
  const scratch = new Uint8Array(PIECE * 3);
  let total = 0;
  for (const s of batched(pieces(value))) {
    for (let rest = s; rest.length; ) {
      const { read, written } = encoder.encodeInto(rest, scratch);
      total += written;
      rest = rest.slice(read);
    }
  }
  return total;
}

/** Joins small pieces into chunks of about PIECE characters. */
function* batched(it: Iterable<string>): Generator<string> {
  let buf = "";
  for (const s of it) {
    buf += s;
    if (buf.length >= PIECE) {
      yield buf;
      buf = "";
    }
  }
  if (buf) yield buf;
}

/** `JSON.stringify(v)`, as a sequence of pieces; no piece holds more than PIECE characters of one string. */
function* pieces(v: unknown): Generator<string> {
  if (v instanceof JoinedString) {
    yield '"';
    for (const p of v.parts) yield* stringContent(p);
    yield '"';
    return;
  }
  if (v !== null && typeof v === "object") {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return yield* pieces(toJSON.call(v));
    if (Array.isArray(v)) {
      yield "[";
      for (let i = 0; i < v.length; i++) {
        if (i) yield ",";
        yield* pieces(v[i]);
      }
      yield "]";
      return;
    }
    yield "{";
    let first = true;
    for (const k of Object.keys(v)) {
      const x = (v as Record<string, unknown>)[k];
      if (x === undefined || typeof x === "function" || typeof x === "symbol") continue;
      yield `${first ? "" : ","}${JSON.stringify(k)}:`;
      first = false;
      yield* pieces(x);
    }
    yield "}";
    return;
  }
  if (typeof v === "string" && v.length > PIECE) {
    yield '"';
    yield* stringContent(v);
    yield '"';
    return;
  }
  // undefined, a function or a symbol: left out of an object (above), null in an array, as JSON.stringify does.
  yield (JSON.stringify(v) as string | undefined) ?? "null";
}

/** A string's JSON text without its quotes, in slices of at most PIECE characters. */
function* stringContent(v: string): Generator<string> {
  for (let i = 0; i < v.length; ) {
    let end = Math.min(i + PIECE, v.length);
    // Never between the halves of a surrogate pair: each half alone would be written as a \u escape.
    const last = v.charCodeAt(end - 1);
    if (end < v.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield JSON.stringify(v.slice(i, end)).slice(1, -1);
    i = end;
  }
}
