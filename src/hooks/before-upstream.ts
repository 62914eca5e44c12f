/**
 * The hooks stage of a model action: between planning and the upstream. With no hook configured the call goes to
 * `execute` at once; else each `beforeUpstream` in turn may rewrite the request or answer the call itself
 * (src/hooks/hook.ts says what such an answer records).
 */
import { assertTargetAllowed } from "../auth/authenticate";
import { GatewayError, toGatewayError } from "../gemini/errors";
import type { GenerateContentResponse } from "../gemini/schema";
import type { CallContext } from "../pipeline/context";
import { AllTargetsFailed, execute, type AttemptLimits, type Served } from "../pipeline/execute";
import { canonicalJson } from "../lib/canonical-json";
import { targetString, type Target } from "../lib/target";
import type { ProviderCall } from "../providers/types";
import type { BeforeUpstream, Hook } from "./hook";
import { hookFailed, hooksFor } from "./registry";

/**
 * What the upstream or a hook answered: `answeredBy` names the hook; `answerHeaders` are the hooks' for the answer;
 * `engaged` the hooks that see the answer (src/hooks/hook.ts, "Engaged hooks"); none: the plain path.
 */
export type Answered = Served & { answeredBy?: string; answerHeaders?: Record<string, string>; engaged?: readonly Hook[] };

/**
 * The call's answer: a hook's, or the upstream's through `execute`. `canonical`: the body's canonical JSON, computed
 * once when a hook first asks (src/pipeline/body.ts `validateText`).
 */
export function upstreamThroughHooks(
  ctx: CallContext,
  targets: Target[],
  body: ProviderCall["body"],
  limits: AttemptLimits,
  headers: Headers,
  canonical: () => string,
): Promise<Answered> {
  const hooks = hooksFor(ctx.config);
  if (!hooks.length) return execute(ctx, targets, body, limits);
  return beforeUpstream(hooks, ctx, targets, body, limits, headers, canonical);
}

function lazyCanonical(body: ProviderCall["body"]): () => string {
  let text: string | undefined;
  return () => (text ??= canonicalJson(body));
}

async function beforeUpstream(
  hooks: readonly Hook[],
  ctx: CallContext,
  targets: Target[],
  body: ProviderCall["body"],
  limits: AttemptLimits,
  headers: Headers,
  canonical: () => string,
): Promise<Answered> {
  const sets: Record<string, string>[] = [];
  // The hooks engaged so far: the whole list while every hook engages (its identity is what answerTap remembers).
  let engaged: Hook[] | undefined;
  let all = true;
  for (let i = 0; i < hooks.length; i++) {
    const hook = hooks[i]!;
    let r: BeforeUpstream | undefined | void;
    if (hook.engages && !hook.engages(ctx)) r = undefined;
    else if (!hook.beforeUpstream) r = {};
    else {
      try {
        r = await hook.beforeUpstream(ctx, { body, targets, headers, canonical });
      } catch (e) {
        throw hookFailed(hook, "beforeUpstream", e);
      }
    }
    if (!r) {
      if (all) engaged = hooks.slice(0, i);
      all = false;
      continue;
    }
    if (!all) engaged!.push(hook);
    if (r.headers) sets.push(r.headers);
    if (r.error) throw withHeaders(r.error, gathered(sets));
    if (r.answer || r.events) {
      // Only the hooks engaged so far see a hook's answer: the later ones' `beforeUpstream` never ran.
      return withAnswerHeaders(await answered(ctx, targets[0]!, r, hook), sets, all ? hooks.slice(0, i + 1) : engaged);
    }
    if (r.body) {
      body = r.body;
      canonical = lazyCanonical(body);
    }
  }
  const seeing = all ? hooks : engaged!.length ? engaged : undefined;
  if (!sets.length && !seeing) return execute(ctx, targets, body, limits);
  let served: Answered;
  try {
    served = await execute(ctx, targets, body, limits);
  } catch (e) {
    // The hooks' headers go with an error answer too (a miss that then failed upstream still says `miss`).
    if (e instanceof AllTargetsFailed) throw new AllTargetsFailed(withHeaders(e.error, gathered(sets)), e.attempts);
    throw e instanceof GatewayError ? withHeaders(e, gathered(sets)) : e;
  }
  return withAnswerHeaders(served, sets, seeing);
}

/**
 * The hooks' headers, gathered when the answer's headers are built (not before): a hook may still add to the object
 * it gave until then (a guardrail that acts on a JSON answer names itself).
 */
function withAnswerHeaders(served: Answered, sets: Record<string, string>[], engaged: readonly Hook[] | undefined): Answered {
  if (engaged?.length) served.engaged = engaged;
  if (sets.length) Object.defineProperty(served, "answerHeaders", { get: () => gathered(sets), enumerable: true, configurable: true });
  return served;
}

const gathered = (sets: Record<string, string>[]) => (sets.length ? Object.assign({}, ...sets) as Record<string, string> : undefined);

/** A hook's error answer, with the headers hooks gave for the answer (its own win). */
function withHeaders(e: GatewayError, headers: Record<string, string> | undefined): GatewayError {
  if (!headers) return e;
  return new GatewayError(e.code, e.message, { status: e.status, details: e.details, headers: { ...headers, ...e.headers } });
}

/**
 * A hook's answer, served as the primary target's would be once the key may use it and admission allowed the call
 * (refused the way `execute` refuses, attempt and all).
 */
async function answered(ctx: CallContext, target: Target, r: BeforeUpstream, hook: Hook): Promise<Answered> {
  const started = Date.now();
  const refused = (e: unknown, reason: string) => {
    const ge = toGatewayError(e);
    return new AllTargetsFailed(ge, [{ target: targetString(target), status: ge.code, reason, latency_ms: Date.now() - started, skipped: true }]);
  };
  try {
    assertTargetAllowed(ctx.gate.record, target);
  } catch (e) {
    throw refused(e, "not allowed for key");
  }
  try {
    // A request slot only: an answer that uses nothing upstream reserves no tokens or cost (a cache hit is served
    // to a key whose budget could not pay for the call it stands for).
    await ctx.admit(true);
    await ctx.gate.verified();
  } catch (e) {
    throw refused(e, "refused by governance");
  }
  const served: Answered = { target, index: 0, attempts: [], secrets: [], answeredBy: hook.name };
  if (!ctx.stream) {
    if (!r.answer) throw hookFailed(hook, "beforeUpstream", new Error("a call that is not streamed takes an answer, not events"));
    served.json = r.answer;
    if (r.raw !== undefined) served.raw = r.raw;
    return served;
  }
  const events = r.events ?? [r.answer!];
  if (!events.length) throw hookFailed(hook, "beforeUpstream", new Error("a stream's answer needs at least one event"));
  const heard = { at: Date.now() };
  let next = 1;
  // Pulled one event at a time, as the client takes them (the same loop as an upstream's stream).
  const rest = new ReadableStream<GenerateContentResponse>({
    pull(c) {
      heard.at = Date.now();
      if (next < events.length) c.enqueue(events[next++]!);
      else c.close();
    },
  }, { highWaterMark: 0 }).getReader();
  served.stream = { first: events[0]!, rest, abort: new AbortController(), heard };
  return served;
}
