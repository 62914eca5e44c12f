/**
 * The attempt loop. For each planned target: take a credential from its provider's pool (or the caller's own key on
 * a direct call), have the adapter prepare the upstream request with it, call it, translate the answer. A credential
 * the upstream refused as a credential, or throttled at this model (src/providers/credentials/fault.ts), cools down,
 * and another healthy one that serves the model is tried at once, before any wait or fallback. A transient failure (network error, 429, 5xx, a stream cut before its
 * first chunk) is retried on the same target with backoff; when retries are used up, or the failure is a timeout or
 * a malformed answer, the next target is tried. Any other 4xx means the request itself is wrong and is answered at
 * once. Nothing has reached the client until `execute` returns, so no failure here can splice two answers together.
 */
import { assertTargetAllowed } from "../auth/authenticate";
import { GatewayError, StreamedUpstreamError } from "../gemini/errors";
import { refusalFor, unpriced } from "../governance/worst-case";
import type { GenerateContentResponse, UsageMetadata } from "../gemini/schema";
import { targetString, type Target } from "../lib/target";
import { credentialFault, decodeError, faultOf } from "../providers/credentials/fault";
import { servesModel, type CredentialPool } from "../providers/credentials/pool";
import { CredentialFailure, type Credential, type GeminiJson, type Provider, type ProviderCall, type UpstreamRequest } from "../providers/types";
import type { AttemptInfo } from "../usage/row";
import type { CallContext } from "./context";
import { readText } from "./body";
import { retryAfterMs, retryDelay } from "./retry-policy";
import { waits } from "../lib/sleep";
import { AttemptTimer } from "./timeout";

export interface Served {
  target: Target;
  index: number;
  attempts: AttemptInfo[];
  /** Every secret an upstream error of this call could echo (the pool's, a direct key): redacted from stream errors. */
  secrets: readonly string[];
  /** Set when the call was a stream: the first chunk has been read, the rest is still upstream. */
  stream?: {
    first: GenerateContentResponse;
    rest: ReadableStreamDefaultReader<GenerateContentResponse>;
    abort: AbortController;
    /** When the upstream last sent bytes (a tool call's argument fragments translate to nothing until complete). */
    heard: { at: number };
    /** Usage the provider reported so far (e.g. Anthropic's input count at the stream's start). */
    partialUsage?: () => UsageMetadata | undefined;
  };
  json?: GeminiJson;
  /** The upstream's own text of `json`, when the adapter passed it through untranslated. */
  raw?: string;
}

/** Per-request limits that come from the HTTP request rather than config. */
export interface AttemptLimits {
  /** First-byte timeout of each attempt, in ms. */
  timeoutMs: number;
  /** The client's signal: a caller that goes away stops the current attempt and any retry wait. */
  signal?: AbortSignal;
}

/** Thrown when no target served. `attempts` says what each one did. */
export class AllTargetsFailed extends Error {
  constructor(readonly error: GatewayError, readonly attempts: AttemptInfo[]) {
    super(error.message);
  }
}

/**
 * A failed attempt: the error to show, whether a later target may be tried (`retryable`), whether this same target
 * may be tried again after a wait (`sameTarget`), and the wait the upstream asked for.
 */
class AttemptFailure extends Error {
  constructor(
    readonly error: GatewayError,
    readonly retryable: boolean,
    readonly reason: string,
    readonly sameTarget = false,
    readonly retryAfterMs?: number,
    /**
     * The credential's own fault (src/providers/credentials/fault.ts): refused as a credential (`credential`) or
     * throttled at this model (`model`); it cools down and another is tried.
     */
    readonly credentialFault?: "credential" | "model",
  ) {
    super(reason);
  }
}

/** The most of an upstream's error body that is read. */
export const ERROR_BODY_BYTES = 64 * 1024;

/** What one attempt got as far as, for the loop to record and act on. */
interface Trace {
  /** An upstream (or token endpoint) was called; a target passed over before that is listed as skipped. */
  upstream: boolean;
  pool?: CredentialPool;
  credential?: Credential;
  /** The credential was not the pool's choice but the one holding the call's files and caches: no other will do. */
  pinned?: boolean;
}

/** How many attempts went upstream (retries included); targets skipped before calling out are not counted. */
export const upstreamAttempts = (attempts: readonly AttemptInfo[]) => attempts.filter((a) => !a.skipped).length;

export async function execute(
  ctx: CallContext,
  targets: Target[],
  body: ProviderCall["body"],
  limits: AttemptLimits = { timeoutMs: ctx.config.retry.timeoutMs },
): Promise<Served> {
  const policy = ctx.config.retry;
  const deadlineAt = ctx.startedAt + policy.deadlineMs;
  const attempts: AttemptInfo[] = [];
  let primaryError: GatewayError | undefined;
  const fail = (e: GatewayError) => new AllTargetsFailed(withAttempts(e, attempts), attempts);

  targets: for (let index = 0; index < targets.length; index++) {
    const target = targets[index]!;
    // Labels of the credentials this call already used at this target: a retry prefers another one.
    const tried = new Set<string>();
    for (let retry = 0; ; ) {
      if (primaryError && Date.now() >= deadlineAt) break targets;
      const started = Date.now();
      const timer = new AttemptTimer(limits.timeoutMs, deadlineAt, limits.signal);
      const trace: Trace = { upstream: false };
      const info = () => ({ target: targetString(target), ...(trace.credential?.label ? { credential: trace.credential.label } : {}) });
      try {
        const served = await attempt(ctx, target, body, index === 0, timer, trace, tried);
        timer.release();
        if (trace.credential) trace.pool?.recovered(trace.credential, target.model);
        await verified(ctx, served, target, index === 0);
        attempts.push({ ...info(), status: 200, reason: "ok", latency_ms: Date.now() - started });
        return { ...served, target, index, attempts };
      } catch (err) {
        timer.release();
        timer.controller.abort();
        const f = stoppedFailure(timer, target, limits.timeoutMs) ?? asFailure(err);
        attempts.push({
          ...info(), status: f.error.code, reason: f.reason, latency_ms: Date.now() - started,
          ...(trace.upstream ? {} : { skipped: true as const }),
        });
        if (index === 0) primaryError = f.error;
        if (timer.stopped === "cancelled") throw fail(f.error);
        if (timer.stopped === "deadline") break targets;
        // The request itself is wrong: no other target will take it either.
        if (!f.retryable) throw fail(primaryError ?? f.error);
        const { pool, credential } = trace;
        if (pool && credential) {
          tried.add(credential.label);
          if (f.credentialFault && !ctx.direct) pool.cool(credential, f.credentialFault, target.model, f.retryAfterMs);
          // Another healthy credential may well be served where this one was throttled or refused: try it now.
          if (f.credentialFault && !trace.pinned && pool.hasFresh(target.model, tried)) continue;
        }
        if (!f.sameTarget) continue targets;
        const wait = retryDelay(policy, retry, f.retryAfterMs, deadlineAt - Date.now(), waits.random);
        retry++;
        if (wait === undefined) continue targets;
        try {
          await waits.sleep(wait, limits.signal);
        } catch {
          throw fail(new GatewayError(499, "client disconnected"));
        }
      }
    }
  }
  throw fail(primaryError!);
}

async function attempt(
  ctx: CallContext,
  target: Target,
  body: ProviderCall["body"],
  isPrimary: boolean,
  timer: AttemptTimer,
  trace: Trace,
  tried: ReadonlySet<string>,
): Promise<Pick<Served, "stream" | "json" | "raw" | "secrets">> {
  const provider = ctx.config.providers.get(target.provider);
  if (!provider) throw new AttemptFailure(new GatewayError(400, `unknown provider "${target.provider}"`), !isPrimary, "unknown provider");
  if (ctx.unpriced?.has(targetString(target))) throw new AttemptFailure(refusalFor(ctx.config, target, targetString(target), ctx.action), true, "no price (budget)");
  try {
    assertTargetAllowed(ctx.gate.record, target);
  } catch (e) {
    // A fallback the key may not use is skipped; a disallowed primary is the caller's error.
    throw new AttemptFailure(e as GatewayError, !isPrimary, "not allowed for key");
  }
  if (!provider.actions.has(ctx.action)) {
    const e = new GatewayError(400, `provider "${provider.name}" does not support ${ctx.action}`);
    throw new AttemptFailure(e, !isPrimary, "action not supported");
  }
  const directKey = ctx.direct?.keys.get(provider.name);
  if (ctx.direct && directKey === undefined) {
    // A caller's key is for the provider of the model it called: sent to any other, it would leak to a third party.
    const e = new GatewayError(403, `the caller's own key is for provider "${ctx.direct.owner}", not "${provider.name}"`);
    throw new AttemptFailure(e, !isPrimary, `direct key for ${ctx.direct.owner}`);
  }
  if (ctx.direct && !provider.direct) {
    // A keyless host or a binding would run on the operator's account with no governance: a direct call never may.
    const e = new GatewayError(403, `provider "${provider.name}" does not take a caller's own key; use a virtual key`);
    throw new AttemptFailure(e, !isPrimary, "no direct keys");
  }
  if (!ctx.direct && !provider.configured) {
    throw new AttemptFailure(new GatewayError(503, `provider "${provider.name}" is not configured (no API key)`), true, "not configured");
  }
  const pinned = !ctx.direct && ctx.usesResources ? provider.resources : undefined;
  if (!ctx.direct && !(pinned ? servesModel(pinned, target.model) : provider.pool.serves(target.model))) {
    const e = new GatewayError(503, pinned
      ? `provider "${provider.name}": the files or caches this call uses are held by credential "${pinned.label}", which does not serve model "${target.model}"`
      : `provider "${provider.name}" has no credential for model "${target.model}"`);
    throw new AttemptFailure(e, true, "no credential for model");
  }
  const pooled = pinned && provider.pool.holds(pinned);
  // After the checks that need no round trip, so a call refused by them takes no request slot.
  // Governance (status, rate limits, budgets) is the key's and team's, not the target's: answered, never a fallback.
  await ctx.admit().catch((e) => { throw new AttemptFailure(e, false, "refused by governance"); });
  const call: ProviderCall = { action: ctx.action, model: target.model, body, version: ctx.version };
  const secrets = ctx.direct ? [...provider.pool.secrets, ...ctx.direct.keys.values()] : pinned && !pooled ? [...provider.pool.secrets, ...pinned.secrets] : provider.pool.secrets;
  let local: GeminiJson | undefined;
  try {
    local = provider.local?.(call);
  } catch (e) {
    throw new AttemptFailure(asGatewayError(e, 400), !isPrimary, "request not translatable");
  }
  if (local) {
    trace.upstream = true;
    return { json: local, secrets };
  }
  const credential = directKey !== undefined ? provider.direct!(directKey) : pinned ?? provider.pool.pick(target.model, tried)!;
  trace.credential = credential;
  trace.pinned = !!pinned;
  // A pinned credential outside the pool has no health of the pool's to keep.
  if (!ctx.direct && (!pinned || pooled)) trace.pool = provider.pool;
  let upstream: UpstreamRequest;
  try {
    upstream = await timer.race(provider.prepare(call, credential, timer.signal));
  } catch (e) {
    if (timer.stopped) throw e;
    if (e instanceof CredentialFailure) {
      trace.upstream = true;
      const who = credential.label ? `credential "${credential.label}"` : "credential";
      if (e.kind === "unreachable") {
        throw new AttemptFailure(new GatewayError(502, `${provider.name}: ${e.message}`), true, "network error", true);
      }
      throw new AttemptFailure(new GatewayError(502, `${provider.name}: ${who} refused: ${e.message}`), true, "credential refused", false, undefined, "credential");
    }
    throw new AttemptFailure(asGatewayError(e, 400), !isPrimary, "request not translatable");
  }
  trace.upstream = true;

  let res: Response;
  try {
    // Never follow a redirect: the key and the prompt would go, unasked, to wherever the upstream points.
    const init = { method: "POST", headers: upstream.headers, body: upstream.body, signal: timer.signal, redirect: "manual" } as const;
    res = await timer.race(provider.fetch ? provider.fetch(new Request(upstream.url, init)) : fetch(upstream.url, init));
  } catch (e) {
    throw new AttemptFailure(new GatewayError(502, `${provider.name}: upstream unreachable (${(e as Error).message})`), true, "network error", true);
  }
  if (res.status >= 300 && res.status < 400) {
    res.body?.cancel().catch(() => {});
    // Another target may serve; this one would redirect again.
    const e = new GatewayError(502, `${provider.name}: upstream answered a redirect (HTTP ${res.status}), which the gateway does not follow`);
    throw new AttemptFailure(e, true, `upstream ${res.status}`);
  }
  if (!res.ok) {
    // An error body may be any size (a hostile upstream's too): its first 64 KiB say what went wrong.
    const text = res.body ? await timer.race(readText(res.body, ERROR_BODY_BYTES)).then((r) => r.text, () => "") : "";
    const e = provider.error(res.status, text, secrets);
    const fault = faultOf(res.status, text);
    if (res.status === 401 || res.status === 403 || fault === "credential") {
      // The caller's own key, refused: theirs to fix, and no other target would take it either.
      if (ctx.direct) throw new AttemptFailure(new GatewayError(res.status, `${e.message} (your provider key was refused)`), false, `upstream ${res.status}`);
      // The gateway's own provider key was refused: not the caller's credential (their 401/403 means their virtual
      // key), so it is a 502 and another target may serve. Only a refusal of the credential itself benches it and
      // has another credential tried; a 403 the request caused (a model the project may not use) benches nothing.
      const why = fault === "credential" ? "the gateway's provider credentials were refused" : "refused for this request";
      const error = new GatewayError(502, `${e.message} (upstream HTTP ${res.status}: ${why})`);
      throw new AttemptFailure(error, true, `upstream ${res.status}`, false, undefined, fault === "credential" ? "credential" : undefined);
    }
    const transient = res.status === 429 || res.status >= 500;
    const wait = retryAfterMs(res.headers, Date.now());
    throw new AttemptFailure(withRetryAfter(e, wait), transient, `upstream ${res.status}`, transient, wait, fault === "none" ? undefined : fault);
  }
  if (ctx.stream) return { stream: await openStream(provider, call, res, timer, secrets), secrets };
  let text: string;
  let json: unknown;
  try {
    text = await timer.race(res.text());
    json = JSON.parse(text);
  } catch (e) {
    if (timer.stopped) throw e;
    throw malformed(provider, e);
  }
  let answer: GeminiJson;
  try {
    answer = provider.response(call, json);
  } catch (e) {
    throw malformed(provider, e);
  }
  // Already a Gemini answer (the adapter passed it through): its own text goes to the client, not re-serialised.
  return answer === json ? { json: answer, raw: text, secrets } : { json: answer, secrets };
}

/** Opens the translated stream and waits for its first chunk: until then a failure may still retry or fall back. */
async function openStream(provider: Provider, call: ProviderCall, res: Response, timer: AttemptTimer, secrets: readonly string[]) {
  if (!res.body) throw malformed(provider, new Error("empty stream"));
  // When the upstream last sent bytes, translated or not: what timeouts measure silence from.
  const heard = { at: Date.now() };
  const alive = () => {
    heard.at = Date.now();
    timer.touch();
  };
  const decoded = provider.decode(res.body, call, alive);
  const rest = decoded.chunks.getReader();
  try {
    const r = await timer.race(rest.read());
    if (r.done) throw new StreamCut("upstream stream ended before its first chunk");
    return { first: r.value, rest, abort: timer.controller, heard, partialUsage: decoded.usage };
  } catch (e) {
    rest.cancel().catch(() => {});
    if (timer.stopped) throw e;
    if (e instanceof SyntaxError) throw malformed(provider, e);
    const ge = streamError(provider, e, secrets);
    const transient = ge.code === 429 || ge.code >= 500;
    const reason = e instanceof StreamedUpstreamError ? `upstream ${ge.code}` : "stream cut before first byte";
    const fault = e instanceof StreamedUpstreamError ? credentialFault(ge.code, decodeError(JSON.stringify(e.body))) : "none";
    throw new AttemptFailure(ge, transient, reason, transient, undefined, fault === "none" ? undefined : fault);
  }
}

class StreamCut extends Error {}

/**
 * Before anything goes to the client: admission that was still being confirmed in the background (a key or team
 * without limits is not waited for up front) must allow the call; otherwise the upstream is cancelled.
 */
async function verified(ctx: CallContext, served: Pick<Served, "stream">, target: Target, isPrimary: boolean): Promise<void> {
  const cancel = () => {
    served.stream?.abort.abort();
    served.stream?.rest.cancel().catch(() => {});
  };
  try {
    await ctx.gate.verified();
  } catch (e) {
    cancel();
    throw new AttemptFailure(e as GatewayError, false, "refused by governance");
  }
  // A budget this isolate learnt of only now (its KV record did not show one): an unpriced model is refused as
  // it would have been at planning, the primary with the 403, a fallback skipped for the next target.
  if (ctx.gate.budgeted && unpriced(ctx.config, [target], ctx.action).length) {
    cancel();
    throw new AttemptFailure(refusalFor(ctx.config, target, targetString(target), ctx.action), !isPrimary, "no price (budget)");
  }
}

/** The Gemini error for a stream that broke: an error event the upstream sent, or a cut/garbled stream. */
export function streamError(provider: Provider, e: unknown, secrets: readonly string[]): GatewayError {
  // The upstream's own error event goes through the adapter's error mapping, which redacts every secret it may echo.
  if (e instanceof StreamedUpstreamError) return provider.error(e.body.error.code ?? 500, JSON.stringify(e.body), secrets);
  if (e instanceof GatewayError) return e;
  return new GatewayError(502, `${provider.name}: upstream stream failed (${(e as Error)?.message ?? String(e)})`);
}

/** An attempt our own timer stopped: the timeout, the call's deadline, or the client leaving. */
function stoppedFailure(timer: AttemptTimer, target: Target, timeoutMs: number): AttemptFailure | undefined {
  switch (timer.stopped) {
    case "timeout":
      // A target that stayed silent this long is unlikely to answer faster now: the next target is the better bet.
      return new AttemptFailure(new GatewayError(504, `${target.provider}: no answer within ${timeoutMs} ms`), true, "timeout");
    case "deadline":
      return new AttemptFailure(new GatewayError(504, `${target.provider}: call deadline exceeded`), true, "deadline exceeded");
    case "cancelled":
      return new AttemptFailure(new GatewayError(499, "client disconnected"), false, "client disconnected");
  }
  return undefined;
}

/** A 2xx answer we cannot read: retrying the same target would most likely read the same thing. */
function malformed(provider: Provider, e: unknown): AttemptFailure {
  // A JSON parser's message quotes the upstream's text; ours (a translator's TypeError) describes the shape.
  const msg = e instanceof SyntaxError ? "not valid JSON" : ((e as Error)?.message ?? String(e));
  return new AttemptFailure(new GatewayError(502, `${provider.name}: malformed upstream answer (${msg})`), true, "malformed answer");
}

/** Passes the upstream's Retry-After on, in case this error is what the caller finally sees. */
function withRetryAfter(e: GatewayError, ms: number | undefined): GatewayError {
  if (ms === undefined) return e;
  return new GatewayError(e.code, e.message, { status: e.status, headers: { ...e.headers, "retry-after": String(Math.ceil(ms / 1000)) } });
}

function withAttempts(e: GatewayError, attempts: AttemptInfo[]): GatewayError {
  if (attempts.length < 2) return e;
  const details = attempts.map((a) => ({ "@type": "type.googleapis.com/edgeway.v1.Attempt", ...a }));
  return new GatewayError(e.code, e.message, { status: e.status, details, headers: e.headers });
}

function asGatewayError(e: unknown, code: number): GatewayError {
  return e instanceof GatewayError ? e : new GatewayError(code, (e as Error)?.message ?? String(e));
}

function asFailure(e: unknown): AttemptFailure {
  if (e instanceof AttemptFailure) return e;
  const ge = asGatewayError(e, 500);
  return new AttemptFailure(ge, ge.code === 429 || ge.code >= 500, ge.message);
}
