/**
 * The one place the gateway waits on a timer: the attempt loop's backoff, the usage sink's retry of a hand-off, a
 * resource route's wait for its row. A wait ends early (rejecting) when its signal aborts, so a client that goes
 * away never leaves a retry pending. Tests replace `waits.sleep` (vi.spyOn) to see delays without waiting.
 */
export const waits = {
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
  /** Jitter source, in [0, 1). */
  random: (): number => Math.random(),
};
