/**
 * OTLP/HTTP request bodies for a batch of spans, hand-written (docs/observability.md, "Traces", says why: a few
 * hundred lines against an SDK's object model): `ExportTraceServiceRequest` in protobuf (opentelemetry-proto's
 * trace.proto and common.proto field numbers, below) and in OTLP/JSON (lowerCamelCase fields, ids as hex, 64-bit
 * integers as decimal strings, enums as numbers). The tests decode both with the official definitions.
 */

/** A double attribute (a number alone is an int64). */
export interface Double {
  double: number;
}
export type AttrValue = string | number | boolean | Double | string[];
export type Attr = readonly [key: string, value: AttrValue];

export interface SpanEvent {
  timeMs: number;
  name: string;
  attributes: Attr[];
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_OK = 1;
export const STATUS_ERROR = 2;

export interface SpanData {
  /** 32 hex digits. */
  traceId: string;
  /** 16 hex digits. */
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Attr[];
  events: SpanEvent[];
  status: { code: number; message?: string };
  /** W3C trace flags in bits 0-7, with the OTLP has-is-remote (0x100) and is-remote (0x200) bits. */
  flags: number;
}

export interface Scope {
  serviceName: string;
  scopeName: string;
  scopeVersion: string;
}

/** Nanoseconds since the epoch of a time in ms (exact: ms are whole, the product needs 61 bits). */
const nanos = (ms: number) => BigInt(Math.round(ms)) * 1_000_000n;

// ---------------------------------------------------------------------------------------------------------------
// Protobuf

/**
 * A protobuf writer into one growing buffer. A length-delimited field is written in place: `open` notes where its
 * content starts, `close` measures it and moves it right by its length's varint size (nesting is a few levels deep,
 * so each byte moves a few times at most).
 */
class Writer {
  buf = new Uint8Array(4096);
  private view = new DataView(this.buf.buffer);
  pos = 0;
  private readonly starts: number[] = [];
  private readonly enc = new TextEncoder();

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    // The whole buffer: a string's bytes may sit past `pos` while its length is written.
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  varint(n: number): void {
    this.room(10);
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /** A non-negative int64 as a varint (values beyond 2^53 are not written by the gateway). */
  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  string(field: number, s: string): void {
    this.stringOf(field, s, utf8Length(s));
  }

  /** A length-delimited field of bytes already encoded. */
  bytes(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.room(b.length);
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < b.length; i++) buf[p++] = b[i]!;
    this.pos = p;
  }

  /** A string whose UTF-8 length is known: ASCII is copied unit by unit (short attribute texts, most of them). */
  stringOf(field: number, s: string, len: number): void {
    this.tag(field, 2);
    this.varint(len);
    this.room(len);
    if (len === s.length) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else this.pos += this.enc.encodeInto(s, this.buf.subarray(this.pos)).written;
  }

  bytesHex(field: number, hex: string): void {
    const n = hex.length >> 1;
    this.tag(field, 2);
    this.varint(n);
    this.room(n);
    for (let i = 0; i < hex.length; i += 2) this.buf[this.pos++] = (nibble(hex.charCodeAt(i)) << 4) | nibble(hex.charCodeAt(i + 1));
  }

  fixed64(field: number, v: bigint): void {
    this.tag(field, 1);
    this.room(8);
    this.view.setBigUint64(this.pos, v, true);
    this.pos += 8;
  }

  fixed32(field: number, v: number): void {
    this.tag(field, 5);
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, 1);
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  uint(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  /** A signed int64 as protobuf writes it: two's complement, 10 bytes for a negative number. */
  int64(field: number, v: number): void {
    this.tag(field, 0);
    if (v >= 0) return this.varint(v);
    let b = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    this.room(10);
    while (b > 0x7fn) {
      this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.pos++] = Number(b);
  }

  open(field: number): void {
    this.tag(field, 2);
    this.starts.push(this.pos);
  }

  close(): void {
    const start = this.starts.pop()!;
    const len = this.pos - start;
    const size = varintSize(len);
    this.room(size);
    this.buf.copyWithin(start + size, start, this.pos);
    this.pos = start;
    this.varint(len);
    this.pos += len;
  }

}

/** A lower-case hex digit's value (ids are checked or made lower-case hex). */
const nibble = (c: number) => (c <= 57 ? c - 48 : c - 87);

/** Attribute keys as UTF-8, encoded once each: the same few dozen names in every span (bounded all the same). */
const KEYS = new Map<string, Uint8Array>();
const encoder = new TextEncoder();
function keyBytes(k: string): Uint8Array {
  let b = KEYS.get(k);
  if (!b) {
    b = encoder.encode(k);
    if (KEYS.size < 1_000) KEYS.set(k, b);
  }
  return b;
}

const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** UTF-8 length of a string, as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair: 4 bytes for 2 units
      i++;
    } else n += 2;
  }
  return n;
}

/** Bytes of a varint field's value (an int64: a negative one takes 10). */
const int64Size = (v: number) => (v < 0 ? 10 : v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : Math.ceil(Math.log2(v + 1) / 7));

/** A length-delimited field's size with its tag (fields below 16) and length prefix. */
const delimited = (len: number) => 1 + varintSize(len) + len;

/** AnyValue { string 1, bool 2, int 3, double 4, array 5 }'s size, `lens` receiving the string lengths in order. */
function anyValueSize(v: AttrValue, lens: number[]): number {
  if (typeof v === "string") {
    const n = utf8Length(v);
    lens.push(n);
    return delimited(n);
  }
  if (typeof v === "boolean") return 2;
  if (typeof v === "number") return 1 + int64Size(Math.trunc(v));
  if (Array.isArray(v)) {
    let inner = 0;
    for (const s of v) inner += delimited(anyValueSize(s, lens));
    return delimited(inner);
  }
  return 9;
}

function anyValue(w: Writer, v: AttrValue, lens: number[], at: { i: number }): void {
  if (typeof v === "string") w.stringOf(1, v, lens[at.i++]!);
  else if (typeof v === "boolean") w.uint(2, v ? 1 : 0);
  else if (typeof v === "number") w.int64(3, Math.trunc(v));
  else if (Array.isArray(v)) {
    // ArrayValue { values 1: AnyValue { string 1 } }
    let inner = 0;
    for (let j = 0; j < v.length; j++) inner += delimited(delimited(lens[at.i + j]!));
    w.tag(5, 2);
    w.varint(inner);
    for (const s of v) {
      const n = lens[at.i++]!;
      w.tag(1, 2);
      w.varint(delimited(n));
      w.stringOf(1, s, n);
    }
  } else w.double(4, v.double);
}

/**
 * KeyValue { key 1, value 2 } as field `field` of its parent, each sized first so it is written straight through
 * (no content moved after it): most of a span is its attributes.
 */
function keyValues(w: Writer, field: number, attrs: readonly Attr[]): void {
  const lens: number[] = [];
  // Indexed, not destructured: a pair destructured is an iterator per attribute.
  for (let i = 0; i < attrs.length; i++) {
    const k = attrs[i]![0];
    const v = attrs[i]![1];
    const key = keyBytes(k);
    w.tag(field, 2);
    if (typeof v === "string") {
      // The common case, without the lengths list.
      const n = utf8Length(v);
      const valueSize = delimited(n);
      w.varint(delimited(key.length) + delimited(valueSize));
      w.bytes(1, key);
      w.tag(2, 2);
      w.varint(valueSize);
      w.stringOf(1, v, n);
      continue;
    }
    lens.length = 0;
    const valueSize = anyValueSize(v, lens);
    w.varint(delimited(key.length) + delimited(valueSize));
    w.bytes(1, key);
    w.tag(2, 2);
    w.varint(valueSize);
    anyValue(w, v, lens, { i: 0 });
  }
}

/** ExportTraceServiceRequest { resource_spans 1 { resource 1 { attributes 1 }, scope_spans 2 { scope 1, spans 2 } } }. */
export function encodeProtobuf(scope: Scope, spans: readonly SpanData[]): Uint8Array {
  const w = new Writer();
  w.open(1);
  w.open(1);
  keyValues(w, 1, resourceAttrs(scope));
  w.close();
  w.open(2);
  w.open(1);
  w.string(1, scope.scopeName);
  w.string(2, scope.scopeVersion);
  w.close();
  for (const s of spans) {
    w.open(2);
    w.bytesHex(1, s.traceId);
    w.bytesHex(2, s.spanId);
    if (s.parentSpanId) w.bytesHex(4, s.parentSpanId);
    w.string(5, s.name);
    w.uint(6, s.kind);
    w.fixed64(7, nanos(s.startMs));
    w.fixed64(8, nanos(s.endMs));
    keyValues(w, 9, s.attributes);
    for (const e of s.events) {
      // Event { time_unix_nano 1, name 2, attributes 3 }
      w.open(11);
      w.fixed64(1, nanos(e.timeMs));
      w.string(2, e.name);
      keyValues(w, 3, e.attributes);
      w.close();
    }
    // Status { message 2, code 3 }
    w.open(15);
    if (s.status.message) w.string(2, s.status.message);
    if (s.status.code) w.uint(3, s.status.code);
    w.close();
    w.fixed32(16, s.flags);
    w.close();
  }
  w.close();
  w.close();
  return w.buf.slice(0, w.pos);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

function jsonValue(v: AttrValue): unknown {
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (typeof v === "number") return { intValue: String(Math.trunc(v)) };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
  return { doubleValue: v.double };
}

const jsonAttrs = (attrs: readonly Attr[]) => attrs.map(([key, v]) => ({ key, value: jsonValue(v) }));

export function encodeJson(scope: Scope, spans: readonly SpanData[]): string {
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: jsonAttrs(resourceAttrs(scope)) },
      scopeSpans: [{
        scope: { name: scope.scopeName, version: scope.scopeVersion },
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          flags: s.flags,
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: String(nanos(s.startMs)),
          endTimeUnixNano: String(nanos(s.endMs)),
          attributes: jsonAttrs(s.attributes),
          events: s.events.map((e) => ({ timeUnixNano: String(nanos(e.timeMs)), name: e.name, attributes: jsonAttrs(e.attributes) })),
          status: { ...(s.status.message ? { message: s.status.message } : {}), code: s.status.code },
        })),
      }],
    }],
  });
}

const resourceAttrs = (scope: Scope): Attr[] => [
  ["service.name", scope.serviceName],
  ["telemetry.sdk.name", "edgeway"],
  ["telemetry.sdk.language", "js"],
];
