/**
 * `Authorization: Bearer <token>` for /admin/*: the root `ADMIN_TOKEN` (compared in constant time), or a scoped
 * admin token (`sk-ew-admin-…`), looked up by its hash in the one object that holds them on every request, so a
 * deleted token is refused at once (src/auth/admin-tokens.ts). With no ADMIN_TOKEN set the admin API does not exist;
 * with one shorter than MIN_ADMIN_TOKEN characters it is refused (a guessable token would put every key at risk).
 */
import type { MiddlewareHandler } from "hono";
import { ADMIN_TOKEN_RE, adminTokens } from "../../auth/admin-tokens";
import { bearerToken } from "../../auth/credential";
import { sha256Hex, timingSafeEqualStr } from "../../auth/crypto";
import type { AppEnv } from "../../env";
import { errorResponse, GatewayError } from "../../gemini/errors";
import { ROOT } from "./access";

export const MIN_ADMIN_TOKEN = 32;

export const adminAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) return errorResponse(new GatewayError(404, "admin API is disabled (ADMIN_TOKEN is not set)"));
  if (token.length < MIN_ADMIN_TOKEN) {
    return errorResponse(new GatewayError(
      503,
      `admin API is disabled: ADMIN_TOKEN is ${token.length} characters long, and must be at least ${MIN_ADMIN_TOKEN} ` +
        "(e.g. `openssl rand -base64 33 | npx wrangler secret put ADMIN_TOKEN`)",
    ));
  }
  const given = bearerToken(c.req.header("authorization"));
  if (!given) return errorResponse(new GatewayError(401, "admin API needs Authorization: Bearer <ADMIN_TOKEN or an admin token>"));
  if (await timingSafeEqualStr(given, token)) {
    c.set("actor", ROOT);
  } else {
    // The lookup is by hash (an index, not a comparison of secrets); a malformed token is not looked up at all.
    const rec = ADMIN_TOKEN_RE.test(given) ? await adminTokens(c.env).byHash(await sha256Hex(given)) : null;
    if (!rec) return errorResponse(new GatewayError(401, "admin token not valid"));
    c.set("actor", { id: rec.id, name: rec.name, role: rec.role, team_id: rec.team_id });
  }
  await next();
};
