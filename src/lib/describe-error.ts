/**
 * An error as the gateway logs it: its message only, bounded to 300 characters, no stack. Most come from D1, R2 and
 * Durable Object calls, whose messages hold no secret; a caller whose error may quote one redacts the result
 * (Live's upstream connection does).
 */
export function describeError(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, 300);
}
