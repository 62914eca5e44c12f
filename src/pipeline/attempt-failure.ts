/**
 * Why an attempt failed, and what the attempt loop (./execute.ts) may do next: try a later target, try this one
 * again after a wait, cool the credential down. Every way an attempt ends short is classified here, once.
 */
import { GatewayError, StreamedUpstreamError } from "../gemini/errors";
import type { Target } from "../lib/target";
import { credentialFault, decodeError, faultOf } from "../providers/credentials/fault";
import type { Provider } from "../providers/types";
import type { AttemptTimer } from "./timeout";

export interface FailureInit {
  /** The error to show if this is what the caller finally sees. */
  error: GatewayError;
  /** A later target may be tried. */
  retryable: boolean;
  /** What the attempt's row detail says. */
  reason: string;
  /** This same target may be tried again after a wait. */
  sameTarget?: boolean;
  /** The wait the upstream asked for. */
  retryAfterMs?: number;
  /**
   * The credential's own fault (src/providers/credentials/fault.ts): refused as a credential (`credential`) or
   * throttled at this model (`model`); it cools down and another is tried.
   */
  credentialFault?: "credential" | "model";
}

export class AttemptFailure extends Error {
  readonly error: GatewayError;
  readonly retryable: boolean;
  readonly reason: string;
  readonly sameTarget: boolean;
  readonly retryAfterMs?: number;
  readonly credentialFault?: "credential" | "model";

  constructor(init: FailureInit) {
    super(init.reason);
    this.error = init.error;
    this.retryable = init.retryable;
    this.reason = init.reason;
    this.sameTarget = init.sameTarget ?? false;
    this.retryAfterMs = init.retryAfterMs;
    this.credentialFault = init.credentialFault;
  }
}

/** A fault as the pool knows it, or undefined for the request's own (`none`). */
const poolFault = (fault: "credential" | "model" | "none") => (fault === "none" ? undefined : fault);

/**
 * A non-2xx, non-3xx answer. A refusal of the caller's own key is theirs to fix; a refusal of the gateway's
 * credential is a 502 another target may serve; a 429 or 5xx is transient (the same target, after a wait).
 */
export function refusedFailure(provider: Provider, status: number, text: string, secrets: readonly string[], direct: boolean, retryAfter: number | undefined): AttemptFailure {
  const e = provider.error(status, text, secrets);
  const fault = faultOf(status, text);
  const reason = `upstream ${status}`;
  if (status === 401 || status === 403 || fault === "credential") {
    // The caller's own key, refused: theirs to fix, and no other target would take it either.
    if (direct) return new AttemptFailure({ error: new GatewayError(status, `${e.message} (your provider key was refused)`), retryable: false, reason });
    // The gateway's own provider key was refused: not the caller's credential (their 401/403 means their virtual
    // key), so it is a 502 and another target may serve. Only a refusal of the credential itself benches it and
    // has another credential tried; a 403 the request caused (a model the project may not use) benches nothing.
    const why = fault === "credential" ? "the gateway's provider credentials were refused" : "refused for this request";
    const error = new GatewayError(502, `${e.message} (upstream HTTP ${status}: ${why})`);
    return new AttemptFailure({ error, retryable: true, reason, credentialFault: fault === "credential" ? "credential" : undefined });
  }
  const transient = status === 429 || status >= 500;
  return new AttemptFailure({
    error: withRetryAfter(e, retryAfter), retryable: transient, reason, sameTarget: transient, retryAfterMs: retryAfter, credentialFault: poolFault(fault),
  });
}

/** A stream that failed before its first chunk: an error event the upstream sent, or a cut or garbled stream. */
export function streamOpenFailure(provider: Provider, e: unknown, secrets: readonly string[]): AttemptFailure {
  if (e instanceof SyntaxError) return malformed(provider, e);
  const error = streamError(provider, e, secrets);
  const transient = error.code === 429 || error.code >= 500;
  const upstream = e instanceof StreamedUpstreamError;
  return new AttemptFailure({
    error, retryable: transient, sameTarget: transient,
    reason: upstream ? `upstream ${error.code}` : "stream cut before first byte",
    credentialFault: upstream ? poolFault(credentialFault(error.code, decodeError(JSON.stringify(e.body)))) : undefined,
  });
}

/** The Gemini error for a stream that broke: an error event the upstream sent, or a cut/garbled stream. */
export function streamError(provider: Provider, e: unknown, secrets: readonly string[]): GatewayError {
  // The upstream's own error event goes through the adapter's error mapping, which redacts every secret it may echo.
  if (e instanceof StreamedUpstreamError) return provider.error(e.body.error.code ?? 500, JSON.stringify(e.body), secrets);
  if (e instanceof GatewayError) return e;
  return new GatewayError(502, `${provider.name}: upstream stream failed (${(e as Error)?.message ?? String(e)})`);
}

/** An attempt our own timer stopped: the timeout, the call's deadline, or the client leaving. */
export function stoppedFailure(timer: AttemptTimer, target: Target, timeoutMs: number): AttemptFailure | undefined {
  switch (timer.stopped) {
    case "timeout":
      // A target that stayed silent this long is unlikely to answer faster now: the next target is the better bet.
      return new AttemptFailure({ error: new GatewayError(504, `${target.provider}: no answer within ${timeoutMs} ms`), retryable: true, reason: "timeout" });
    case "deadline":
      return new AttemptFailure({ error: new GatewayError(504, `${target.provider}: call deadline exceeded`), retryable: true, reason: "deadline exceeded" });
    case "cancelled":
      return new AttemptFailure({ error: new GatewayError(499, "client disconnected"), retryable: false, reason: "client disconnected" });
  }
  return undefined;
}

/** A 2xx answer we cannot read: retrying the same target would most likely read the same thing. */
export function malformed(provider: Provider, e: unknown): AttemptFailure {
  // A JSON parser's message quotes the upstream's text; ours (a translator's TypeError) describes the shape.
  const msg = e instanceof SyntaxError ? "not valid JSON" : ((e as Error)?.message ?? String(e));
  return new AttemptFailure({ error: new GatewayError(502, `${provider.name}: malformed upstream answer (${msg})`), retryable: true, reason: "malformed answer" });
}

/** Passes the upstream's Retry-After on, in case this error is what the caller finally sees. */
function withRetryAfter(e: GatewayError, ms: number | undefined): GatewayError {
  if (ms === undefined) return e;
  return new GatewayError(e.code, e.message, { status: e.status, headers: { ...e.headers, "retry-after": String(Math.ceil(ms / 1000)) } });
}

export function asGatewayError(e: unknown, code: number): GatewayError {
  return e instanceof GatewayError ? e : new GatewayError(code, (e as Error)?.message ?? String(e));
}

/** Anything thrown during an attempt, as a failure: a GatewayError's 429 or 5xx may go to a later target. */
export function asFailure(e: unknown): AttemptFailure {
  if (e instanceof AttemptFailure) return e;
  const ge = asGatewayError(e, 500);
  return new AttemptFailure({ error: ge, retryable: ge.code === 429 || ge.code >= 500, reason: ge.message });
}
