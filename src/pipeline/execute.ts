/**
 * The attempt loop: for each planned target, ask its adapter for the upstream request, call it, and translate
 * the answer. Moves on to the next target only on failures a retry elsewhere can fix (network, 429, 5xx, a
 * malformed answer); any other 4xx means the request itself is wrong and is answered at once.
 */
import { assertTargetAllowed } from "../auth/authenticate";
import { GatewayError } from "../gemini/errors";
import { admit } from "../governance/admit";
import type { GenerateContentResponse } from "../gemini/schema";
import { targetString, type Target } from "../plan/target";
import { StreamedUpstreamError } from "../providers/gemini";
import type { GeminiJson, Provider, ProviderCall } from "../providers/types";
import { sseParser } from "../streaming/sse";
import { translateStream } from "../streaming/translate";
import type { AttemptInfo } from "../usage/record";
import type { CallContext } from "./context";

export interface Served {
  target: Target;
  index: number;
  attempts: AttemptInfo[];
  /** Set when the call was a stream: the first chunk has been read, the rest is still upstream. */
  stream?: { first: GenerateContentResponse; rest: ReadableStreamDefaultReader<GenerateContentResponse>; abort: AbortController };
  json?: GeminiJson;
}

/** Thrown when no target served. `attempts` says what each one did. */
export class AllTargetsFailed extends Error {
  constructor(readonly error: GatewayError, readonly attempts: AttemptInfo[]) {
    super(error.message);
  }
}

/** A failed attempt: the error to show and whether the next target may be tried. */
class AttemptFailure extends Error {
  constructor(readonly error: GatewayError, readonly retryable: boolean, readonly reason: string) {
    super(reason);
  }
}

export async function execute(ctx: CallContext, targets: Target[], body: ProviderCall["body"]): Promise<Served> {
  const attempts: AttemptInfo[] = [];
  let primaryError: GatewayError | undefined;
  for (let index = 0; index < targets.length; index++) {
    const target = targets[index]!;
    const started = Date.now();
    try {
      const served = await attempt(ctx, target, body, index === 0);
      attempts.push({ target: targetString(target), status: 200, reason: "ok", latency_ms: Date.now() - started });
      return { ...served, target, index, attempts };
    } catch (err) {
      const f = err instanceof AttemptFailure ? err : asFailure(err);
      attempts.push({ target: targetString(target), status: f.error.code, reason: f.reason, latency_ms: Date.now() - started });
      primaryError ??= f.error;
      if (!f.retryable) throw new AllTargetsFailed(withAttempts(f.error, attempts), attempts);
    }
  }
  throw new AllTargetsFailed(withAttempts(primaryError!, attempts), attempts);
}

async function attempt(
  ctx: CallContext,
  target: Target,
  body: ProviderCall["body"],
  isPrimary: boolean,
): Promise<Pick<Served, "stream" | "json">> {
  const provider = ctx.config.providers.get(target.provider);
  if (!provider) throw new AttemptFailure(new GatewayError(400, `unknown provider "${target.provider}"`), !isPrimary, "unknown provider");
  try {
    assertTargetAllowed(ctx.key, target);
  } catch (e) {
    // A fallback the key may not use is skipped; a disallowed primary is the caller's error.
    throw new AttemptFailure(e as GatewayError, !isPrimary, "not allowed for key");
  }
  // Governance (status, rate limits, budgets) is the key's and team's, not the target's: answered, never a fallback.
  await admit(ctx).catch((e) => { throw new AttemptFailure(e, false, "refused by governance"); });
  if (!provider.actions.has(ctx.action)) {
    const e = new GatewayError(400, `provider "${provider.name}" does not support ${ctx.action}`);
    throw new AttemptFailure(e, !isPrimary, "action not supported");
  }
  if (!provider.configured) {
    throw new AttemptFailure(new GatewayError(503, `provider "${provider.name}" is not configured (no API key)`), true, "not configured");
  }
  const call: ProviderCall = { action: ctx.action, model: target.model, body, version: ctx.version };
  const local = provider.local?.(call);
  if (local) return { json: local };

  let upstreamReq: Request;
  try {
    upstreamReq = provider.request(call);
  } catch (e) {
    throw new AttemptFailure(asGatewayError(e, 400), !isPrimary, "request not translatable");
  }
  const abort = new AbortController();
  let res: Response;
  try {
    res = await (provider.fetch ? provider.fetch(new Request(upstreamReq, { signal: abort.signal })) : fetch(upstreamReq, { signal: abort.signal }));
  } catch (e) {
    throw new AttemptFailure(new GatewayError(502, `${provider.name}: upstream unreachable (${(e as Error).message})`), true, "network error");
  }
  if (!res.ok) {
    const text = await res.text().catch(() => "");
    const error = provider.error(res.status, text);
    const retryable = res.status === 429 || res.status >= 500;
    throw new AttemptFailure(error, retryable, `upstream ${res.status}`);
  }
  if (ctx.stream) return { stream: await openStream(provider, call, res, abort) };
  let json: unknown;
  try {
    json = await res.json();
    return { json: provider.response(call, json) };
  } catch (e) {
    throw new AttemptFailure(new GatewayError(502, `${provider.name}: malformed upstream answer (${(e as Error).message})`), true, "malformed answer");
  }
}

/** Opens the translated stream and waits for its first chunk: until then a failure may still fall back. */
async function openStream(provider: Provider, call: ProviderCall, res: Response, abort: AbortController) {
  if (!res.body) throw new AttemptFailure(new GatewayError(502, `${provider.name}: empty stream`), true, "malformed answer");
  const rest = res.body.pipeThrough(sseParser()).pipeThrough(translateStream(provider.stream(call))).getReader();
  try {
    const r = await rest.read();
    if (r.done) throw new Error("upstream stream ended before its first chunk");
    return { first: r.value, rest, abort };
  } catch (e) {
    abort.abort();
    rest.cancel().catch(() => {});
    if (e instanceof AttemptFailure) throw e;
    const ge = streamError(provider, e);
    throw new AttemptFailure(ge, ge.code === 429 || ge.code >= 500, "stream failed before first byte");
  }
}

/** The Gemini error for a stream that broke: an error event the upstream sent, or a cut/garbled stream. */
export function streamError(provider: Provider, e: unknown): GatewayError {
  if (e instanceof StreamedUpstreamError) {
    const code = e.body.error.code ?? 500;
    return new GatewayError(code, `${provider.name}: ${e.body.error.message ?? "stream error"}`, { status: e.body.error.status });
  }
  if (e instanceof GatewayError) return e;
  return new GatewayError(502, `${provider.name}: upstream stream failed (${(e as Error)?.message ?? String(e)})`);
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
  const ge = asGatewayError(e, 500);
  return new AttemptFailure(ge, ge.code === 429 || ge.code >= 500, ge.message);
}
