/** The inference routes: route → auth → body → plan → execute → respond (→ record, after the response). */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../auth/authenticate";
import { identifyDirectCaller } from "../auth/direct";
import { getModel, listModels } from "../catalog/models";
import { getConfig } from "../config";
import type { Env } from "../env";
import { errorResponse } from "../gemini/errors";
import { readJson, validateBody } from "../pipeline/body";
import type { CallContext, CallScope } from "../pipeline/context";
import { AllTargetsFailed, execute } from "../pipeline/execute";
import { respondError, respondJson, respondStream } from "../pipeline/respond";
import { requestTimeoutMs, TIMEOUT_HEADER } from "../pipeline/timeout";
import { planTargets } from "../plan/chain";
import { parseGenaiPath } from "./genai-path";

export async function handleGenai(c: Context<{ Bindings: Env }>): Promise<Response> {
  const startedAt = Date.now();
  const requestId = crypto.randomUUID();
  const req = c.req.raw;
  const url = new URL(req.url);
  const idHeader = { "x-edgeway-request-id": requestId };
  // Set once an inference call is attributed to a key: from then on every outcome leaves exactly one usage row.
  let scope: CallScope | undefined;
  try {
    const route = parseGenaiPath(req.method, url.pathname);
    const config = getConfig(c.env);
    const direct = config.directKeys ? await identifyDirectCaller(req, url) : undefined;
    const key = direct?.key ?? await identifyKey(req, url, c.env.VIRTUAL_KEYS).catch((e) => {
      // A bad model or action is answered before a bad key, as it always was.
      throw route.kind === "action" && route.invalid ? route.invalid : e;
    });
    if (route.kind !== "action") {
      assertKeyUsable(key);
      if (route.kind === "list") return Response.json(listModels(config, key, !!direct), { headers: idHeader });
      return Response.json(getModel(config, key, route.target, route.raw, !!direct), { headers: idHeader });
    }
    scope = {
      requestId, startedAt, env: c.env, config, key, direct: direct?.secret,
      action: route.actionName,
      requestedModel: route.raw,
      stream: route.actionName === "streamGenerateContent",
      waitUntil: (p) => c.executionCtx.waitUntil(p),
      admission: {},
    };
    assertKeyUsable(key);
    if (route.invalid) throw route.invalid;

    const { body, fallbacks } = validateBody(route.action, await readJson(req, config.maxBodyBytes));
    const targets = planTargets(route.target, fallbacks, key);
    const limits = { timeoutMs: requestTimeoutMs(req.headers.get(TIMEOUT_HEADER), config.retry), signal: req.signal };
    const ctx: CallContext = { ...scope, action: route.action, version: route.version };
    const served = await execute(ctx, targets, body, limits);
    return served.stream ? respondStream(ctx, served, limits.timeoutMs) : respondJson(ctx, served);
  } catch (e) {
    if (!scope) return errorResponse(e, idHeader);
    return e instanceof AllTargetsFailed ? respondError(scope, e.error, e.attempts) : respondError(scope, e, []);
  }
}
