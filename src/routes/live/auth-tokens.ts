/**
 * `POST /genai/{v}/auth_tokens` (what `ai.authTokens.create` calls): a virtual key issues an ephemeral token for
 * the Live API (src/live/tokens.ts). Issuing is a request of the key (its status, rate limit and allow-list apply)
 * and gets a usage row, without tokens or cost.
 */
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { clock } from "../../governance/clock";
import { serveCall } from "../../http/call";
import { issueToken, MAX_TOKEN_BODY_BYTES } from "../../live/tokens";
import { readJson } from "../../pipeline/body";
import { gatewayHeaders, JSON_TYPE } from "../../pipeline/respond";

export function createAuthToken(c: Context<AppEnv>): Promise<Response> {
  const req = c.req.raw;
  return serveCall(c, { action: "createAuthToken", model: "", verify: true }, async (call) => {
    const body = await readJson(req, MAX_TOKEN_BODY_BYTES);
    await call.gate.admit({ tokens: 0, usd: 0 });
    const token = await issueToken(c.env, call.config, call.gate.record, body, clock.now());
    call.end({ target: null, index: null, attempts: [], status: 200, outcome: "ok", error: null, usage: undefined, ttfbMs: null });
    const h = gatewayHeaders(call);
    h["content-type"] = JSON_TYPE;
    return new Response(JSON.stringify(token), { status: 200, headers: h });
  });
}
