/**
 * The attempt loop. For each planned target: check it (`checkTarget`), admit the call, choose a credential (the
 * caller's own key, the one holding the call's files and caches, or the pool's pick: src/providers/credentials/choice.ts),
 * have the adapter `prepare` the upstream request with it, `send` it, and `translate` the answer (or `openStream`).
 * A failure is classified once (./attempt-failure.ts). A credential the upstream refused as a credential, or
 * throttled at this model (src/providers/credentials/fault.ts), cools down, and another healthy one that serves the
 * model is tried at once, before any wait or fallback. A transient failure (network error, 429, 5xx, a stream cut
 * before its first chunk) is retried on the same target after `retryWait`; when retries are used up, or the failure
 * is a timeout or a malformed answer, the next target is tried. Any other 4xx means the request itself is wrong and
 * is answered at once. Nothing has reached the client until `execute` returns, so no failure here can splice two
 * answers together.
 */
import { assertTargetAllowed } from "../auth/authenticate";
import { GatewayError } from "../gemini/errors";
import { refusalFor, unpriced } from "../governance/worst-case";
import type { GenerateContentResponse, UsageMetadata } from "../gemini/schema";
import { targetString, type Target } from "../lib/target";
import { chooseCredential, coolDown, pinnedCredential, recovered, type CredentialChoice } from "../providers/credentials/choice";
import { servesModel } from "../providers/credentials/pool";
import { upstreamFetch } from "../providers/transport";
import { CredentialFailure, type Credential, type GeminiJson, type Provider, type ProviderCall, type UpstreamRequest } from "../providers/types";
import type { AttemptInfo } from "../usage/row";
import { asFailure, asGatewayError, AttemptFailure, malformed, refusedFailure, stoppedFailure, streamOpenFailure } from "./attempt-failure";
import type { CallContext } from "./context";
import { readText } from "./body";
import { retryAfterMs, retryDelay, type RetryPolicy } from "./retry-policy";
import { waits } from "../lib/sleep";
import { AttemptTimer } from "./timeout";

export { streamError } from "./attempt-failure";

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

/** The most of an upstream's error body that is read. */
export const ERROR_BODY_BYTES = 64 * 1024;

/** What one attempt got as far as, for the loop to record and act on. */
interface Trace {
  /** An upstream (or token endpoint) was called; a target passed over before that is listed as skipped. */
  upstream: boolean;
  /** The credential the attempt went with, and the pool that keeps its health. */
  choice?: CredentialChoice;
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
      const info = () => ({ target: targetString(target), ...(trace.choice?.credential.label ? { credential: trace.choice.credential.label } : {}) });
      try {
        const served = await attempt(ctx, target, body, index === 0, timer, trace, tried);
        timer.release();
        if (trace.choice) recovered(trace.choice, target.model);
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
        if (coolCredential(f, trace, tried, target.model)) continue;
        if (!f.sameTarget) continue targets;
        const waited = await retryWait(policy, retry++, f, deadlineAt, limits.signal).catch(() => {
          throw fail(new GatewayError(499, "client disconnected"));
        });
        if (!waited) continue targets;
      }
    }
  }
  throw fail(primaryError!);
}

/** A credential at fault cools down in its pool; true when another healthy one is left to try at once. */
function coolCredential(f: AttemptFailure, trace: Trace, tried: Set<string>, model: string): boolean {
  const choice = trace.choice;
  if (!choice?.pool) return false;
  tried.add(choice.credential.label);
  if (!f.credentialFault) return false;
  coolDown(choice, f.credentialFault, model, f.retryAfterMs);
  // Another healthy credential may well be served where this one was throttled or refused: try it now.
  return !choice.pinned && choice.pool.hasFresh(model, tried);
}

/**
 * Waits before the same target is tried again (the upstream's Retry-After, else backoff). False when the retries
 * or the call's deadline are used up: the next target is tried instead. Rejects when the client goes away.
 */
async function retryWait(policy: RetryPolicy, retry: number, f: AttemptFailure, deadlineAt: number, signal?: AbortSignal): Promise<boolean> {
  const wait = retryDelay(policy, retry, f.retryAfterMs, deadlineAt - Date.now(), waits.random);
  if (wait === undefined) return false;
  await waits.sleep(wait, signal);
  return true;
}

/** One attempt at one target: checked, admitted, then answered locally or by the upstream. */
async function attempt(
  ctx: CallContext,
  target: Target,
  body: ProviderCall["body"],
  isPrimary: boolean,
  timer: AttemptTimer,
  trace: Trace,
  tried: ReadonlySet<string>,
): Promise<Pick<Served, "stream" | "json" | "raw" | "secrets">> {
  const { provider, directKey, pinned } = checkTarget(ctx, target, isPrimary);
  // After the checks that need no round trip, so a call refused by them takes no request slot.
  // Governance (status, rate limits, budgets) is the key's and team's, not the target's: answered, never a fallback.
  await ctx.admit().catch((e) => { throw new AttemptFailure({ error: e, retryable: false, reason: "refused by governance" }); });
  const call: ProviderCall = { action: ctx.action, model: target.model, body, version: ctx.version };
  const secrets = callSecrets(ctx, provider, pinned);
  const local = localAnswer(provider, call, isPrimary);
  if (local) {
    trace.upstream = true;
    return { json: local, secrets };
  }
  const choice = chooseCredential(provider, target.model, { direct: directKey, pinned, tried })!;
  trace.choice = choice;
  const upstream = await prepare(provider, call, choice.credential, isPrimary, timer, trace);
  trace.upstream = true;
  const res = await send(provider, upstream, timer);
  if (!res.ok) throw await failureOf(ctx, provider, res, timer, secrets);
  if (ctx.stream) return { stream: await openStream(provider, call, res, timer, secrets), secrets };
  return translate(provider, call, res, timer, secrets);
}

/**
 * What needs no round trip: the provider exists and serves the action, the key may use the target, the caller's own
 * key (if any) may go there, and a credential serves the model. A primary that fails here is the caller's error; a
 * fallback is skipped.
 */
function checkTarget(ctx: CallContext, target: Target, isPrimary: boolean): { provider: Provider; directKey?: string; pinned?: Credential } {
  const skip = (error: GatewayError, reason: string, retryable = !isPrimary) => new AttemptFailure({ error, retryable, reason });
  const provider = ctx.config.providers.get(target.provider);
  if (!provider) throw skip(new GatewayError(400, `unknown provider "${target.provider}"`), "unknown provider");
  if (ctx.unpriced?.has(targetString(target))) throw skip(refusalFor(ctx.config, target, targetString(target), ctx.action), "no price (budget)", true);
  try {
    assertTargetAllowed(ctx.gate.record, target);
  } catch (e) {
    // A fallback the key may not use is skipped; a disallowed primary is the caller's error.
    throw skip(e as GatewayError, "not allowed for key");
  }
  if (!provider.actions.has(ctx.action)) {
    throw skip(new GatewayError(400, `provider "${provider.name}" does not support ${ctx.action}`), "action not supported");
  }
  const directKey = ctx.direct?.keys.get(provider.name);
  if (ctx.direct && directKey === undefined) {
    // A caller's key is for the provider of the model it called: sent to any other, it would leak to a third party.
    const e = new GatewayError(403, `the caller's own key is for provider "${ctx.direct.owner}", not "${provider.name}"`);
    throw skip(e, `direct key for ${ctx.direct.owner}`);
  }
  if (ctx.direct && !provider.direct) {
    // A keyless host or a binding would run on the operator's account with no governance: a direct call never may.
    throw skip(new GatewayError(403, `provider "${provider.name}" does not take a caller's own key; use a virtual key`), "no direct keys");
  }
  if (ctx.direct) return { provider, directKey };
  if (!provider.configured) {
    throw skip(new GatewayError(503, `provider "${provider.name}" is not configured (no API key)`), "not configured", true);
  }
  const pinned = pinnedCredential(provider, !!ctx.usesResources);
  if (!(pinned ? servesModel(pinned, target.model) : provider.pool.serves(target.model))) {
    const e = new GatewayError(503, pinned
      ? `provider "${provider.name}": the files or caches this call uses are held by credential "${pinned.label}", which does not serve model "${target.model}"`
      : `provider "${provider.name}" has no credential for model "${target.model}"`);
    throw skip(e, "no credential for model", true);
  }
  return { provider, pinned };
}

/** Every secret an upstream error of this call could echo: the pool's, and a direct or pinned key outside it. */
function callSecrets(ctx: CallContext, provider: Provider, pinned: Credential | undefined): readonly string[] {
  if (ctx.direct) return [...provider.pool.secrets, ...ctx.direct.keys.values()];
  return pinned && !provider.pool.holds(pinned) ? [...provider.pool.secrets, ...pinned.secrets] : provider.pool.secrets;
}

/** An answer the adapter gives without calling upstream, if it has one for this call. */
function localAnswer(provider: Provider, call: ProviderCall, isPrimary: boolean): GeminiJson | undefined {
  try {
    return provider.local?.(call);
  } catch (e) {
    throw new AttemptFailure({ error: asGatewayError(e, 400), retryable: !isPrimary, reason: "request not translatable" });
  }
}

/** The adapter's upstream request (a token minted, a request signed); a credential it could not use is the credential's fault. */
async function prepare(provider: Provider, call: ProviderCall, credential: Credential, isPrimary: boolean, timer: AttemptTimer, trace: Trace): Promise<UpstreamRequest> {
  try {
    return await timer.race(provider.prepare(call, credential, timer.signal));
  } catch (e) {
    if (timer.stopped) throw e;
    if (!(e instanceof CredentialFailure)) {
      throw new AttemptFailure({ error: asGatewayError(e, 400), retryable: !isPrimary, reason: "request not translatable" });
    }
    trace.upstream = true;
    if (e.kind === "unreachable") {
      throw new AttemptFailure({ error: new GatewayError(502, `${provider.name}: ${e.message}`), retryable: true, reason: "network error", sameTarget: true });
    }
    const who = credential.label ? `credential "${credential.label}"` : "credential";
    const error = new GatewayError(502, `${provider.name}: ${who} refused: ${e.message}`);
    throw new AttemptFailure({ error, retryable: true, reason: "credential refused", credentialFault: "credential" });
  }
}

/** The upstream call, with the attempt's signal; a redirect is refused (another target may serve). */
async function send(provider: Provider, upstream: UpstreamRequest, timer: AttemptTimer): Promise<Response> {
  let res: Response;
  try {
    res = await timer.race(upstreamFetch(provider, upstream.url, { method: "POST", headers: upstream.headers, body: upstream.body, signal: timer.signal }));
  } catch (e) {
    const error = new GatewayError(502, `${provider.name}: upstream unreachable (${(e as Error).message})`);
    throw new AttemptFailure({ error, retryable: true, reason: "network error", sameTarget: true });
  }
  if (res.status >= 300 && res.status < 400) {
    res.body?.cancel().catch(() => {});
    // This target would redirect again.
    const e = new GatewayError(502, `${provider.name}: upstream answered a redirect (HTTP ${res.status}), which the gateway does not follow`);
    throw new AttemptFailure({ error: e, retryable: true, reason: `upstream ${res.status}` });
  }
  return res;
}

/** An upstream error answer, classified. An error body may be any size (a hostile upstream's too): its first 64 KiB say what went wrong. */
async function failureOf(ctx: CallContext, provider: Provider, res: Response, timer: AttemptTimer, secrets: readonly string[]): Promise<AttemptFailure> {
  const text = res.body ? await timer.race(readText(res.body, ERROR_BODY_BYTES)).then((r) => r.text, () => "") : "";
  return refusedFailure(provider, res.status, text, secrets, !!ctx.direct, retryAfterMs(res.headers, Date.now()));
}

/** A 2xx JSON answer, translated to Gemini's shape by the adapter. */
async function translate(provider: Provider, call: ProviderCall, res: Response, timer: AttemptTimer, secrets: readonly string[]): Promise<Pick<Served, "json" | "raw" | "secrets">> {
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
    throw streamOpenFailure(provider, e, secrets);
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
    throw new AttemptFailure({ error: e as GatewayError, retryable: false, reason: "refused by governance" });
  }
  // A budget this isolate learnt of only now (its KV record did not show one): an unpriced model is refused as
  // it would have been at planning, the primary with the 403, a fallback skipped for the next target.
  if (ctx.gate.budgeted && unpriced(ctx.config, [target], ctx.action).length) {
    cancel();
    throw new AttemptFailure({ error: refusalFor(ctx.config, target, targetString(target), ctx.action), retryable: !isPrimary, reason: "no price (budget)" });
  }
}

function withAttempts(e: GatewayError, attempts: AttemptInfo[]): GatewayError {
  if (attempts.length < 2) return e;
  const details = attempts.map((a) => ({ "@type": "type.googleapis.com/edgeway.v1.Attempt", ...a }));
  return new GatewayError(e.code, e.message, { status: e.status, details, headers: e.headers });
}
