/**
 * A model action: identify key → admission check (status, rate limit: before the body is read) → body → plan →
 * execute (the request slot and worst case are taken before the first upstream attempt) → respond → record.
 * From the moment the key is known, every outcome is recorded exactly once (a usage row, or a refusal counter).
 */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../auth/authenticate";
import { directKeys, identifyDirectCaller, ungoverned } from "../auth/direct";
import type { AppEnv } from "../env";
import { Gate } from "../governance/gate";
import { refusalFor, unpriced, worstCase } from "../governance/worst-case";
import { readJson, validateBody } from "../pipeline/body";
import type { CallContext, CallScope } from "../pipeline/context";
import { AllTargetsFailed } from "../pipeline/execute";
import { upstreamThroughHooks } from "../hooks/before-upstream";
import { respondError, respondJson, respondStream } from "../pipeline/respond";
import { requestTimeoutMs, TIMEOUT_HEADER } from "../pipeline/timeout";
import { planTargets } from "../plan/chain";
import { targetString, type Target } from "../lib/target";
import { assertReferencesOwned } from "../resources/references";
import type { ActionRoute } from "./genai-path";

export async function modelAction(c: Context<AppEnv>, route: ActionRoute): Promise<Response> {
  const { requestId, startedAt, config } = c.var;
  const req = c.req.raw;
  const url = new URL(req.url);
  // A caller's own provider key (DIRECT_KEYS=on): used for this call only, with nothing to govern.
  const direct = config.directKeys ? await identifyDirectCaller(req, url) : undefined;
  // A bad model or action is answered before a bad key.
  const presented = direct?.key ?? await identifyKey(req, url, c.env.VIRTUAL_KEYS).catch((e) => {
    throw route.invalid ?? e;
  });
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const scope: CallScope = {
    requestId, startedAt, env: c.env, config, key: presented,
    gate: direct ? ungoverned(presented) : new Gate(c.env, waitUntil, presented),
    action: route.actionName,
    requestedModel: route.model,
    stream: route.actionName === "streamGenerateContent",
    waitUntil,
  };
  try {
    assertKeyUsable(presented);
    await scope.gate.check();
    scope.key = scope.gate.record;
    if (route.invalid) throw route.invalid;
    // The presented key is for the provider of the model the call names (its fallbacks get only keys given for them).
    if (direct) scope.direct = directKeys(direct, route.target.provider);

    const { body, fallbacks, references } = validateBody(route.action, await readJson(req, config.maxBodyBytes));
    // A direct caller's files and caches live in its own provider project, under its own key: not ours to scope.
    const usesResources = !direct && (await assertReferencesOwned(c.env, scope.key, references));
    const targets = planTargets(route.target, fallbacks, scope.key);
    const unpricedTargets = budgetable(scope, targets);
    const worst = worstCase(config, route.action, body, targets);
    scope.inputTokens = worst.inputTokens;
    let admitted: Promise<void> | undefined;
    const ctx: CallContext = {
      ...scope, action: route.action, version: route.version, unpriced: unpricedTargets, usesResources,
      admit: (nothing) => (admitted ??= scope.gate.admit(nothing ? { tokens: 0, usd: 0 } : { tokens: worst.tokens, usd: worst.usd })),
    };
    const limits = { timeoutMs: requestTimeoutMs(req.headers.get(TIMEOUT_HEADER), config.retry), signal: req.signal };
    const served = await upstreamThroughHooks(ctx, targets, body, limits, req.headers);
    return served.stream ? respondStream(ctx, served, limits.timeoutMs, limits.signal) : respondJson(ctx, served);
  } catch (e) {
    return e instanceof AllTargetsFailed ? respondError(scope, e.error, e.attempts) : respondError(scope, e, []);
  }
}

/**
 * A key or team with a budget pays only for priced models: an unpriced primary is refused (403, naming the model
 * and how to price it); unpriced fallbacks are returned, to be skipped.
 */
export function budgetable(scope: CallScope, targets: Target[]): ReadonlySet<string> | undefined {
  if (!scope.gate.budgeted) return undefined;
  const free = unpriced(scope.config, targets, scope.action);
  if (!free.length) return undefined;
  if (free[0] === targets[0]) throw refusalFor(scope.config, targets[0]!, targetString(targets[0]!), scope.action);
  return new Set(free.map(targetString));
}
