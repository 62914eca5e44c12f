/**
 * One OTLP/HTTP export (src/observe/traces/exporter.ts from memory, src/observe/traces/outbox.ts from D1): never
 * follows a redirect, gives up at the timeout, and sorts the answer as OTLP does: a 2xx is delivered; no answer, a
 * network error, 429, 502, 503 or 504 are worth another try (the same bytes, so the same span ids); anything else
 * rejects the batch for good. Never throws; the error names no header and no URL (they may hold a token).
 */
import type { TraceSettings } from "./settings";

export type PostResult = { ok: true } | { ok: false; error: string; retryAfterMs?: number };

export async function postOtlp(s: TraceSettings, body: Uint8Array | string, contentType: string, timeoutMs: number): Promise<PostResult> {
  const headers = { ...s.headers, "content-type": contentType };
  try {
    const res = await fetch(s.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true };
    if (res.status >= 300 && res.status < 400) return { ok: false, error: `collector redirected (${res.status}), not followed` };
    if ([429, 502, 503, 504].includes(res.status)) {
      return { ok: false, error: `collector answered ${res.status}`, retryAfterMs: retryAfter(res.headers.get("retry-after")) };
    }
    return { ok: false, error: `collector answered ${res.status}` };
  } catch (e) {
    const name = (e as Error)?.name;
    const error = name === "TimeoutError" || name === "AbortError" ? `no answer within ${timeoutMs} ms` : "collector unreachable";
    return { ok: false, error, retryAfterMs: 0 };
  }
}

export const contentTypeOf = (s: TraceSettings) => (s.json ? "application/json" : "application/x-protobuf");

/** Retry-After in seconds (a date is taken as no hint). */
function retryAfter(v: string | null): number {
  const n = Number(v);
  return v && Number.isFinite(n) && n >= 0 ? n * 1000 : 0;
}
