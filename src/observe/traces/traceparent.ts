/** A W3C Trace Context `traceparent` (version 00 and later versions' first four fields), checked as the spec says. */

export interface ParentContext {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  spanId: string;
  /** The caller's trace flags (bit 0: sampled). */
  flags: number;
}

const FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The caller's span, or undefined for a header that is absent or malformed (which is ignored, never an error). */
export function parseTraceparent(header: string | null | undefined): ParentContext | undefined {
  if (!header || header.length > 512) return undefined;
  const m = FORMAT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  // ff is forbidden; version 00 has exactly four fields; a later version may add fields after a dash.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, flags: parseInt(flags!, 16) };
}
