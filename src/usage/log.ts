/** An error as the usage writers log it: its message only, bounded. Rows hold no secrets, nor do D1's messages. */
export function describeError(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, 300);
}
