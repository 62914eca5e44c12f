/** The inference routes: route → auth → body → plan → execute → respond (→ record, after the response). */
import type { Context } from "hono";
import { authenticate } from "../auth/authenticate";
import { getModel, listModels } from "../catalog/models";
import { getConfig } from "../config";
import type { Env } from "../env";
import { errorResponse } from "../gemini/errors";
import { readJson, validateBody } from "../pipeline/body";
import type { CallContext } from "../pipeline/context";
import { AllTargetsFailed, execute } from "../pipeline/execute";
import { requestTimeoutMs, TIMEOUT_HEADER } from "../pipeline/timeout";
import { gatewayHeaders, respondError, respondJson, respondStream } from "../pipeline/respond";
import { planTargets } from "../plan/chain";
import { parseGenaiPath } from "./genai-path";

export async function handleGenai(c: Context<{ Bindings: Env }>): Promise<Response> {
  const startedAt = Date.now();
  const requestId = crypto.randomUUID();
  const req = c.req.raw;
  const url = new URL(req.url);
  const idHeader = { "x-edgeway-request-id": requestId };
  let ctx: CallContext | undefined;
  try {
    const route = parseGenaiPath(req.method, url.pathname);
    const key = await authenticate(req, url, c.env.VIRTUAL_KEYS);
    const config = getConfig(c.env);
    if (route.kind === "list") return Response.json(listModels(config, key), { headers: idHeader });
    if (route.kind === "get") return Response.json(getModel(config, key, route.target, route.raw), { headers: idHeader });

    const { body, fallbacks } = validateBody(route.action, await readJson(req, config.maxBodyBytes));
    const targets = planTargets(route.target, fallbacks, key);
    const limits = { timeoutMs: requestTimeoutMs(req.headers.get(TIMEOUT_HEADER), config.retry), signal: req.signal };
    ctx = {
      requestId, startedAt, env: c.env, config, key,
      action: route.action,
      version: route.version,
      requestedModel: route.raw,
      stream: route.action === "streamGenerateContent",
      waitUntil: (p) => c.executionCtx.waitUntil(p),
    };
    const served = await execute(ctx, targets, body, limits);
    return served.stream ? respondStream(ctx, served) : respondJson(ctx, served);
  } catch (e) {
    if (e instanceof AllTargetsFailed && ctx) return respondError(ctx, e.error, e.attempts);
    return errorResponse(e, ctx ? gatewayHeaders(ctx) : idHeader);
  }
}
