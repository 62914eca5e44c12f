/**
 * A model action, opened as every call is (src/http/call.ts: identify, scope, admission check, record) → body →
 * plan → execute (the request slot and worst case are taken before the first upstream attempt) → respond.
 * A bad model or action is answered before a bad key, and after the key's status and rate.
 */
import type { Context } from "hono";
import { directKeys } from "../auth/direct";
import type { AppEnv } from "../env";
import { serveCall } from "../http/call";
import { refusalFor, unpriced, worstCase } from "../governance/worst-case";
import { readBodyText, validateText } from "../pipeline/body";
import type { CallContext, CallScope } from "../pipeline/context";
import { upstreamThroughHooks } from "../hooks/before-upstream";
import { respondJson, respondStream } from "../pipeline/respond";
import { requestTimeoutMs, TIMEOUT_HEADER } from "../pipeline/timeout";
import { planTargets } from "../plan/chain";
import { targetString, type Target } from "../lib/target";
import { assertReferencesOwned } from "../resources/references";
import type { ActionRoute } from "./model-path";

export function modelAction(c: Context<AppEnv>, route: ActionRoute): Promise<Response> {
  const opening = {
    action: route.actionName, model: route.model, stream: route.actionName === "streamGenerateContent",
    direct: true, invalid: route.invalid,
  };
  return serveCall(c, opening, async (scope) => {
    if (route.invalid) throw route.invalid;
    const { config } = scope;
    const req = c.req.raw;
    const caller = c.var.caller;
    // The presented key is for the provider of the model the call names (its fallbacks get only keys given for them).
    if (caller.kind === "direct") scope.direct = directKeys(caller.direct, route.target.provider);

    const parsed = validateText(route.action, await readBodyText(req, config.maxBodyBytes));
    const { body, fallbacks, references } = parsed;
    // A direct caller's files and caches live in its own provider project, under its own key: not ours to scope.
    const usesResources = !scope.direct && (await assertReferencesOwned(c.env, scope.gate.record, references));
    const targets = planTargets(route.target, fallbacks, scope.gate.record);
    const unpricedTargets = budgetable(scope, targets);
    let admitted: Promise<void> | undefined;
    const ctx: CallContext = Object.assign(scope, {
      action: route.action, version: route.version, unpriced: unpricedTargets, usesResources,
      // The worst case only when something may be used upstream (a hook's answer, a cache hit, reserves nothing).
      admit: (nothing?: boolean) => (admitted ??= nothing ? scope.gate.admit({ tokens: 0, usd: 0 }) : admitWorst()),
    });
    const admitWorst = () => {
      const worst = worstCase(config, route.action, body, targets);
      scope.inputTokens = worst.inputTokens;
      return scope.gate.admit({ tokens: worst.tokens, usd: worst.usd });
    };
    const limits = { timeoutMs: requestTimeoutMs(req.headers.get(TIMEOUT_HEADER), config.retry), signal: req.signal };
    const served = await upstreamThroughHooks(ctx, targets, body, limits, req.headers, parsed.canonical);
    if (served.answeredBy) parsed.keep();
    return served.stream ? respondStream(ctx, served, limits.timeoutMs, limits.signal) : respondJson(ctx, served);
  });
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
