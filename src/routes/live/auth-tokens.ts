/**
 * `POST /genai/{v}/auth_tokens` (what `ai.authTokens.create` calls): a virtual key issues an ephemeral token for
 * the Live API (src/live/tokens.ts). Issuing is a request of the key (its status, rate limit and allow-list apply)
 * and gets a usage row, without tokens or cost.
 */
import type { Context } from "hono";
import { assertKeyUsable, identifyKey } from "../../auth/authenticate";
import type { AppEnv } from "../../env";
import { notFound } from "../../gemini/errors";
import { clock } from "../../governance/clock";
import { Gate } from "../../governance/gate";
import { issueToken, MAX_TOKEN_BODY_BYTES } from "../../live/tokens";
import { readJson } from "../../pipeline/body";
import type { CallScope } from "../../pipeline/context";
import { recordCall } from "../../pipeline/record";
import { gatewayHeaders, JSON_TYPE, respondError } from "../../pipeline/respond";
import type { ResourceRoute } from "../genai-path";

export async function createAuthToken(c: Context<AppEnv>, route: ResourceRoute): Promise<Response> {
  const { requestId, startedAt, config } = c.var;
  const req = c.req.raw;
  if (req.method !== "POST") throw notFound(`no route for ${req.method} /genai/${route.version}/auth_tokens (this path takes POST)`);
  const presented = await identifyKey(req, new URL(req.url), c.env.VIRTUAL_KEYS);
  const waitUntil = (p: Promise<unknown>) => c.executionCtx.waitUntil(p);
  const scope: CallScope = {
    requestId, startedAt, env: c.env, config, key: presented,
    gate: new Gate(c.env, waitUntil, presented),
    action: "createAuthToken", requestedModel: "", stream: false, waitUntil,
  };
  try {
    assertKeyUsable(presented);
    await scope.gate.check();
    await scope.gate.verified();
    scope.key = scope.gate.record;
    const body = await readJson(req, MAX_TOKEN_BODY_BYTES);
    await scope.gate.admit({ tokens: 0, usd: 0 });
    const token = await issueToken(c.env, config, scope.key, body, clock.now());
    recordCall(scope, { target: null, index: null, attempts: [], status: 200, outcome: "ok", error: null, usage: undefined, ttfbMs: null });
    const h = gatewayHeaders(scope);
    h["content-type"] = JSON_TYPE;
    return new Response(JSON.stringify(token), { status: 200, headers: h });
  } catch (e) {
    return respondError(scope, e, []);
  }
}
