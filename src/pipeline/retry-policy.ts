/**
 * When and how long to wait before trying the same target again: bounded retries, exponential backoff with full
 * jitter, and the upstream's own Retry-After (seconds, HTTP date, or `retry-after-ms`) when it sent one.
 */

/** Parsed once per isolate from the EDGEWAY_* vars (see config.ts). */
export interface RetryPolicy {
  /** Extra tries of the same target after a transient failure (EDGEWAY_RETRIES). */
  retries: number;
  /** First backoff ceiling; doubles per retry (EDGEWAY_RETRY_BASE_MS). */
  baseMs: number;
  /** Longest single wait, backoff or Retry-After; a longer Retry-After moves on instead (EDGEWAY_RETRY_MAX_DELAY_MS). */
  maxDelayMs: number;
  /** Everything before the first byte to the client, all attempts and waits together (EDGEWAY_DEADLINE_MS). */
  deadlineMs: number;
  /** One attempt's wait for its first byte, unless the request's x-edgeway-timeout-ms says otherwise (EDGEWAY_TIMEOUT_MS). */
  timeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  retries: 2,
  baseMs: 250,
  maxDelayMs: 5_000,
  deadlineMs: 120_000,
  timeoutMs: 60_000,
});

/** Full jitter: uniform in [0, min(cap, base·2^retry)), so clients that failed together do not retry together. */
export function backoffMs(retry: number, p: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(p.maxDelayMs, p.baseMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

/** The upstream's requested wait in ms, or undefined when it named none (or nothing readable). */
export function retryAfterMs(headers: Headers, now: number): number | undefined {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Math.ceil(Number(ms));
  const v = headers.get("retry-after")?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  // An HTTP date starts with the day's name; Date.parse alone would also take "-1" as a year.
  const at = /^[A-Za-z]{3}, /.test(v) ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * How long to wait before retrying the same target, or undefined to move on to the next one: retries used up,
 * a Retry-After beyond the cap (waiting that long is worse than another provider), or a wait past the deadline.
 */
export function retryDelay(
  p: RetryPolicy,
  retry: number,
  requested: number | undefined,
  msLeft: number,
  random: () => number,
): number | undefined {
  if (retry >= p.retries) return undefined;
  if (requested !== undefined && requested > p.maxDelayMs) return undefined;
  const wait = requested ?? backoffMs(retry, p, random);
  return wait < msLeft ? wait : undefined;
}
