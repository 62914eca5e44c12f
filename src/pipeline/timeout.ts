/**
 * Time limits of one attempt: the first-byte timeout (x-edgeway-timeout-ms, else EDGEWAY_TIMEOUT_MS), the whole
 * call's deadline, and the client going away. "First byte" is the first thing the gateway could send the client:
 * the first translated chunk of a stream, or the whole JSON answer otherwise; while a stream's upstream keeps
 * sending bytes that translate to nothing yet, the timeout counts from the latest of them.
 */
import { badRequest } from "../gemini/errors";
import type { RetryPolicy } from "./retry-policy";

export const TIMEOUT_HEADER = "x-edgeway-timeout-ms";

/** The request's first-byte timeout in ms: the header (clamped to the deadline), else the configured one. */
export function requestTimeoutMs(header: string | null, p: RetryPolicy): number {
  if (header === null) return p.timeoutMs;
  const v = header.trim();
  if (!/^\d{1,12}$/.test(v) || Number(v) < 1) {
    throw badRequest(`${TIMEOUT_HEADER} must be a whole number of milliseconds, at least 1 (got "${header.slice(0, 40)}")`);
  }
  return Math.min(Number(v), p.deadlineMs);
}

/** Why an attempt was stopped before its first byte. */
export type StopReason = "timeout" | "deadline" | "cancelled";

/**
 * How long an attempt runs before it listens to the client's signal. A listener on the incoming request's signal
 * costs about 5 % of a fast call's gateway CPU, while a model call that answers this fast is over before a leaving
 * client would matter: so the attempt's one timer first fires here, stops the attempt if the client has gone, and
 * only then listens. A client that leaves stops the upstream call within this long, or at once later on.
 */
export const CLIENT_WATCH_MS = 100;

/** Aborts one attempt on whichever comes first: its timeout, the call's deadline, or the client's signal. */
export class AttemptTimer {
  readonly controller = new AbortController();
  stopped: StopReason | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onCancel = () => this.stop("cancelled");
  private stoppedPromise: Promise<never> | undefined;
  private rejectStopped: ((reason: unknown) => void) | undefined;
  private released = false;
  /** When the client's signal is first looked at; undefined once it is listened to (or there is none). */
  private watchAt: number | undefined;
  private listening = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly deadlineAt: number,
    private readonly client?: AbortSignal,
  ) {
    if (client?.aborted) {
      this.stop("cancelled");
      return;
    }
    if (client) this.watchAt = Date.now() + CLIENT_WATCH_MS;
    this.arm();
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    const now = Date.now();
    const left = Math.max(0, this.deadlineAt - now);
    const [ms, why]: [number, StopReason] = this.timeoutMs < left ? [this.timeoutMs, "timeout"] : [left, "deadline"];
    if (this.watchAt !== undefined && this.watchAt - now < ms) {
      this.timer = setTimeout(() => this.watch(), Math.max(0, this.watchAt - now));
    } else {
      this.timer = setTimeout(() => this.stop(why), ms);
    }
  }

  /** The attempt outlived CLIENT_WATCH_MS: stop it if the client has gone, else listen from now on. */
  private watch(): void {
    this.watchAt = undefined;
    if (this.stopped || this.released) return;
    if (this.client!.aborted) return this.stop("cancelled");
    this.client!.addEventListener("abort", this.onCancel, { once: true });
    this.listening = true;
    this.arm();
  }

  /**
   * The upstream sent bytes (an event that translates to nothing yet, such as a tool call's argument fragment, or a
   * keep-alive): it is alive, so the timeout counts from now. The deadline still holds.
   */
  touch(): void {
    if (!this.stopped && !this.released) this.arm();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(why: StopReason): void {
    if (this.stopped) return;
    this.stopped = why;
    this.controller.abort(new DOMException(`attempt stopped: ${why}`, "AbortError"));
    this.rejectStopped?.(this.signal.reason);
  }

  /** The first byte is here: the timers no longer apply (the stream's own cancel takes over). */
  release(): void {
    this.released = true;
    clearTimeout(this.timer);
    if (this.listening) this.client!.removeEventListener("abort", this.onCancel);
  }

  /** `p`, or a rejection as soon as the attempt stops, whether or not the transport honours the signal. */
  race<T>(p: Promise<T>): Promise<T> {
    // Settled by stop() itself (cheaper than a listener on the signal, which every attempt would add).
    this.stoppedPromise ??= new Promise<never>((_, reject) => {
      if (this.stopped) reject(this.signal.reason);
      else this.rejectStopped = reject;
    });
    this.stoppedPromise.catch(() => {});
    return Promise.race([p, this.stoppedPromise]);
  }
}
